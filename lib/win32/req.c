// SPDX-License-Identifier: LGPL-2.1-or-later OR MIT
/*
 * Win32 layer: the operations in flight. Submitting an op for an
 * OVERLAPPED, the reqs (operations that need state beyond it), and
 * turning a dequeued packet into what Windows reports.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/futex.h>
#include <sys/syscall.h>

#include "w32.h"

atomic_int w32_ov_waiters;
pthread_mutex_t reqs_lock = PTHREAD_MUTEX_INITIALIZER;
struct w32_req *reqs[W32_REQ_BUCKETS];
static unsigned int w32_bucket(LPOVERLAPPED ov)
{
	uintptr_t v = (uintptr_t)ov;

	return (unsigned int)((v >> 4) ^ (v >> 12)) % W32_REQ_BUCKETS;
}

static void w32_req_insert(struct w32_req *r)
{
	unsigned int b = w32_bucket(r->ov);

	pthread_mutex_lock(&reqs_lock);
	r->refs++;
	r->next = reqs[b];
	reqs[b] = r;
	pthread_mutex_unlock(&reqs_lock);
}

struct w32_req **w32_req_find(LPOVERLAPPED ov)
{
	struct w32_req **p = &reqs[w32_bucket(ov)];

	while (*p && (*p)->ov != ov)
		p = &(*p)->next;
	return p;
}

/* Remove the req of @ov from the table; the table's reference is the caller's. */
static struct w32_req *w32_req_take(LPOVERLAPPED ov)
{
	struct w32_req **p, *r;

	pthread_mutex_lock(&reqs_lock);
	p = w32_req_find(ov);
	r = *p;
	if (r)
		*p = r->next;
	pthread_mutex_unlock(&reqs_lock);
	return r;
}

void w32_req_put(struct w32_req *r)
{
	bool last;

	pthread_mutex_lock(&reqs_lock);
	last = --r->refs == 0;
	pthread_mutex_unlock(&reqs_lock);
	if (last)
		free(r);
}

struct w32_req *w32_req_alloc(enum w32_req_kind kind, LPOVERLAPPED ov,
				     int port, int fd, size_t niov)
{
	struct w32_req *r = calloc(1, sizeof(*r) + niov * sizeof(struct iovec));

	if (!r)
		return NULL;
	r->kind = kind;
	r->ov = ov;
	r->port = port;
	r->fd = fd;
	r->cur_fd = fd;
	r->phase = 1;
	r->refs = 1;	/* the submitter's */
	return r;
}

/* The port is gone: its reqs will not complete. */
void w32_reqs_drop_port(int port)
{
	struct w32_req *r, **p, *dead = NULL;

	pthread_mutex_lock(&reqs_lock);
	for (unsigned int b = 0; b < W32_REQ_BUCKETS; b++) {
		for (p = &reqs[b]; (r = *p);) {
			if (r->port != port) {
				p = &r->next;
				continue;
			}
			*p = r->next;
			if (--r->refs == 0) {
				r->next = dead;
				dead = r;
			}
		}
	}
	pthread_mutex_unlock(&reqs_lock);
	while ((r = dead)) {
		dead = r->next;
		free(r);
	}
}

/* ---- submitting ops ------------------------------------------------------ */

/*
 * Submit @op for @ov, which is marked pending first (its packet may be
 * dequeued by another thread before the submit call returns; after that,
 * only a status without a packet lets us write @ov). Returns the status
 * (IOCP_OP_*) or -errno; *@result gets the op's result.
 */
int w32_submit(int port, struct iocp_op *op, LPOVERLAPPED ov,
		      ULONG_PTR tag, bool skip, int64_t *result)
{
	int st;

	ov->Internal = STATUS_PENDING;
	ov->InternalHigh = tag;
	if (skip)
		iocp_op_skip_on_success(op);
	st = iocp_submit_one(port, op);
	if (st < 0) {
		ov->Internal = w32_status_of(-st);
		ov->InternalHigh = 0;
		*result = st;
		return st;
	}
	*result = iocp_op_result(op);
	/* The port's max_ops: no resources, not "would block". */
	if (st == IOCP_OP_FAILED && *result == -EAGAIN)
		*result = -ENOBUFS;
	if (st == IOCP_OP_FAILED) {
		ov->Internal = w32_status_of((int)-*result);
		ov->InternalHigh = 0;
	} else if (st == IOCP_OP_DONE) {
		ov->Internal = STATUS_SUCCESS;
		ov->InternalHigh = (ULONG_PTR)*result;
	}
	return st;
}

/*
 * Submit @op for req @r (allocated by the caller, who gives up its
 * reference): the req goes in the table first, as the packet may be
 * dequeued before the submit returns, and out again if no packet comes.
 * Returns what w32_submit() returns; @r must not be used afterwards.
 */
int w32_req_submit(struct w32_req *r, struct iocp_op *op, bool skip,
		   int64_t *res)
{
	LPOVERLAPPED ov = r->ov;
	int st;

	w32_req_insert(r);
	st = w32_submit(r->port, op, ov,
			r->kind == W32_REQ_ACCEPT ? W32_K_ACCEPT : W32_K_REQ,
			skip, res);
	if (st != IOCP_OP_PENDING && st != IOCP_OP_QUEUED &&
	    w32_req_take(ov) == r)
		w32_req_put(r);
	w32_req_put(r);
	return st;
}

/* ---- completions --------------------------------------------------------- */

static void w32_done_set(struct w32_done *d, int64_t res)
{
	if (res < 0) {
		d->errnum = (int)-res;
		d->status = w32_status_of(d->errnum);
		d->bytes = 0;
	} else {
		d->errnum = 0;
		d->status = STATUS_SUCCESS;
		d->bytes = (DWORD)res;
	}
}

static void w32_put_addr(char *slot, DWORD slot_len,
			 const struct sockaddr_storage *ss, socklen_t len)
{
	uint32_t hdr[2] = { (uint32_t)len, W32_SLOT_MAGIC };

	if (len > slot_len - W32_SLOT_HDR)
		len = slot_len - W32_SLOT_HDR;
	memcpy(slot, hdr, sizeof(hdr));
	memcpy(slot + W32_SLOT_HDR, ss, len);
}

/*
 * AcceptEx's connection @nfd arrived: make the accept socket's descriptor
 * refer to it (keeping that descriptor's association, key and modes), and
 * fill in the addresses. Returns 0 or -errno (@nfd is closed either way).
 */
static int w32_accept_finish(struct w32_req *r, int nfd)
{
	int afd = r->accept_fd, port, flags, ret = 0;
	struct sockaddr_storage ss;
	socklen_t len;
	uint64_t state = w32_state(afd);
	char *slots;

	port = w32_port_of(state);
	flags = fcntl(afd, F_GETFD);
	if (flags < 0) {
		close(nfd);
		return -errno;
	}
	if (port >= 0)
		iocp_dissociate(port, afd);
	if (dup3(nfd, afd, (flags & FD_CLOEXEC) ? O_CLOEXEC : 0) < 0)
		ret = -errno;
	close(nfd);
	if (ret)
		return ret;
	if (port >= 0) {
		struct w32_fd_entry *e = w32_entry(afd, false);

		ret = iocp_associate(port, afd, e ? atomic_load(&e->key) : 0, 0, 0);
		if (ret < 0)
			w32_update(afd, W32_PORT_MASK, 0);
	}
	w32_update(afd, W32_KIND_MASK, (uint64_t)W32_SOCK << W32_KIND_SHIFT);

	/*
	 * The peer's address came with the accept (a reset since does not
	 * lose it); the local one is the listening socket's, or the
	 * address the connection came to on a wildcard bind.
	 */
	slots = r->buf + r->len;
	len = sizeof(ss);
	memset(&ss, 0, sizeof(ss));
	if (getsockname(afd, (struct sockaddr *)&ss, &len) < 0)
		len = 0;
	w32_put_addr(slots, r->local_len, &ss, len);
	w32_put_addr(slots + r->local_len, r->remote_len, &r->peer,
		     r->peer_len < sizeof(r->peer) ? r->peer_len : sizeof(r->peer));
	return ret < 0 ? ret : 0;
}

/*
 * Start phase 2 of @r (AcceptEx's receive, ConnectEx's send), which is in
 * the table with phase 2 set; the caller holds a reference. Returns true
 * if it is under way (its packet completes @r), false with *@res set if
 * @r is complete now (and out of the table).
 *
 * The op is submitted under reqs_lock (its first attempt, on a socket,
 * cannot block), so that closing either socket, CancelIoEx and closing
 * the port, which mark or drop the req under the lock, come either before
 * (the op is not started: the descriptor may be closed or reused by now)
 * or after (they cancel the op, which exists).
 */
static bool w32_req_phase2(struct w32_req *r, int64_t *res)
{
	struct w32_req **p;
	struct iocp_op op;
	int64_t result = -ECANCELED;
	int st = IOCP_OP_FAILED;

	if (r->kind == W32_REQ_ACCEPT)
		iocp_prep_recv(&op, r->accept_fd, r->buf, r->len, 0,
			       (uint64_t)(uintptr_t)r->ov);
	else
		iocp_prep_send(&op, r->fd, r->buf, r->len, 0,
			       (uint64_t)(uintptr_t)r->ov);

	pthread_mutex_lock(&reqs_lock);
	p = w32_req_find(r->ov);
	if (!r->cancel && *p == r)
		st = w32_submit(r->port, &op, r->ov, W32_K_REQ, false, &result);
	if (st == IOCP_OP_PENDING || st == IOCP_OP_QUEUED) {
		r->started2 = true;
		pthread_mutex_unlock(&reqs_lock);
		return true;
	}
	/* Cancelled, or failed at once: out of the table (if still in it). */
	if (*p == r) {
		*p = r->next;
		r->refs--;
	}
	pthread_mutex_unlock(&reqs_lock);
	*res = st < 0 ? st : result;
	return false;
}

/*
 * The packet of the op of req @ov came with result *@res. Under reqs_lock,
 * so that CancelIoEx and closing the accept socket see a consistent req:
 * finish an AcceptEx's accept (unless it was cancelled: the connection is
 * dropped); then either leave the req in the table for its phase 2
 * (*@phase2 set) or take it out. Returns the req with a reference for the
 * caller, or NULL.
 */
static struct w32_req *w32_req_complete(LPOVERLAPPED ov, int64_t *res,
					bool *phase2)
{
	struct w32_req **p, *r;

	*phase2 = false;
	pthread_mutex_lock(&reqs_lock);
	p = w32_req_find(ov);
	r = *p;
	if (!r)
		goto out;
	if (r->kind == W32_REQ_ACCEPT && r->phase == 1 && *res >= 0) {
		if (r->cancel) {
			close((int)*res);
			*res = -ECANCELED;
		} else {
			*res = w32_accept_finish(r, (int)*res);
		}
	}
	if (r->kind != W32_REQ_IOV && r->phase == 1 && r->len && *res >= 0) {
		if (r->cancel) {
			*res = -ECANCELED;
		} else {
			*phase2 = true;
			r->phase = 2;
			r->cur_fd = r->kind == W32_REQ_ACCEPT ? r->accept_fd : r->fd;
			r->refs++;
			goto out;
		}
	}
	*p = r->next;	/* the table's reference is now the caller's */
out:
	pthread_mutex_unlock(&reqs_lock);
	return r;
}

/*
 * Turn a dequeued packet into what Windows reports. Returns false if the
 * packet only ended phase 1 of an AcceptEx/ConnectEx: nothing to report.
 */
bool w32_complete(const struct iocp_completion *c, struct w32_done *d)
{
	int64_t res = iocp_result(c);
	struct w32_req *r;
	ULONG_PTR tag;
	bool phase2;

	d->key = (ULONG_PTR)c->key;
	d->ov = (LPOVERLAPPED)(uintptr_t)c->user_data;
	if (!(c->flags & IOCP_CF_OP) || !d->ov) {
		/* Posted (or readiness, from the native API): as it came. */
		d->bytes = (DWORD)c->result;
		d->status = STATUS_SUCCESS;
		d->errnum = 0;
		return true;
	}

	tag = d->ov->InternalHigh;
	if (tag == W32_K_REQ || tag == W32_K_ACCEPT) {
		r = w32_req_complete(d->ov, &res, &phase2);
		if (!r) {
			/*
			 * Its port was closed while the packet was being
			 * dequeued: the operation is aborted, and an accepted
			 * connection closed.
			 */
			if (tag == W32_K_ACCEPT && res >= 0)
				close((int)res);
			res = -ECANCELED;
		} else {
			if (r->kind != W32_REQ_IOV)
				d->key = r->key;
			if (phase2 && w32_req_phase2(r, &res)) {
				w32_req_put(r);
				return false;
			}
			w32_req_put(r);
		}
	} else if (res == 0 && tag == W32_K_READ_EOF) {
		res = -ENODATA;
	} else if (res == 0 && tag == W32_K_READ_PIPE) {
		res = -EPIPE;
	}
	w32_done_set(d, res);
	/*
	 * Internal last: HasOverlappedIoCompleted() then sees both. Then
	 * wake GetOverlappedResult(bWait) callers: a waiter counts itself
	 * before it reads Internal, this reads the count after writing it
	 * (both sequentially consistent), so one of them sees the other.
	 */
	d->ov->InternalHigh = d->bytes;
	__atomic_store_n(&d->ov->Internal, (ULONG_PTR)d->status,
			 __ATOMIC_SEQ_CST);
	if (atomic_load(&w32_ov_waiters))
		syscall(SYS_futex, w32_ov_word(d->ov), FUTEX_WAKE_PRIVATE,
			INT_MAX, NULL, NULL, 0);
	return true;
}

