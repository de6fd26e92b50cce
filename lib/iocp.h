/* SPDX-License-Identifier: LGPL-2.1-or-later OR MIT */
/*
 * libiocp: a thin C library over the /dev/iocp ioctls.
 *
 * Return convention (as liburing): every function returns a non-negative
 * value on success and a negative errno value on failure. errno is not
 * used, so the calls are safe to use from any thread without saving it.
 */
#ifndef LIBIOCP_H
#define LIBIOCP_H

#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <linux/iocp.h>

#ifdef __cplusplus
extern "C" {
#endif

#define IOCP_DEVICE_PATH "/dev/iocp"

/* Open a new port with concurrency value @concurrency (0: online CPUs). */
int iocp_create(unsigned int concurrency);

/* Shut the port down (waking every waiter with -ESHUTDOWN), then close it. */
int iocp_close(int port);

/* Shut the port down without closing the file descriptor. */
int iocp_shutdown(int port);

int iocp_get_config(int port, struct iocp_config *config);
int iocp_set_config(int port, const struct iocp_config *config);

/* Read-modify-write of the concurrency value alone. */
int iocp_set_concurrency(int port, unsigned int concurrency);

/* Queue one packet. */
int iocp_post(int port, uint64_t key, uint64_t user_data, int64_t result);

/* Queue @count packets, all or none. Their flags and events must be zero. */
int iocp_post_many(int port, const struct iocp_completion *entries,
		   unsigned int count);

/*
 * Dequeue one packet, waiting up to @timeout_ns nanoseconds (0 polls,
 * IOCP_INFINITE waits for ever). Returns 1, or -ETIMEDOUT, -EINTR,
 * -ESHUTDOWN, ...
 */
int iocp_get(int port, struct iocp_completion *entry, uint64_t timeout_ns);

/*
 * Dequeue between @min and @max packets at once. Returns how many were
 * written to @entries, or a negative errno with nothing removed.
 */
int iocp_get_many(int port, struct iocp_completion *entries, unsigned int min,
		  unsigned int max, uint64_t timeout_ns);

/*
 * The calling thread stops being associated with the port (it no longer
 * counts as running there). -ENOENT if it was not associated with it.
 */
int iocp_disassociate(int port);

/*
 * Associate the open file behind @fd with the port. Each time the file
 * signals readiness for one of @events (IOCP_POLL* bits, at least one;
 * IOCP_POLLERR and IOCP_POLLHUP are reported whether asked for or not), a
 * readiness packet is queued: key @key, flags IOCP_CF_READINESS, events
 * what fired, user_data and result 0. If the file is ready already, a
 * packet is queued at once. @flags: 0 for a persistent, edge-triggered
 * association, or IOCP_ASSOC_ONESHOT for one packet, then nothing until
 * iocp_modify() re-arms it. Keys are the caller's: a pointer goes in as
 * (uint64_t)(uintptr_t)ptr.
 *
 * The association holds a reference to the file: close(@fd) does not end
 * it. End it with iocp_dissociate() or iocp_close_fd(); shutting the port
 * down or closing it ends every association. -EEXIST if the file is
 * already associated with a port, -EPERM if it cannot be polled, -ELOOP
 * if it is this port or would make a loop or too deep a chain of ports,
 * -ENOSPC at the port's max_assoc, -ESHUTDOWN, -EBADF, -EINVAL, -ENOMEM.
 */
int iocp_associate(int port, int fd, uint64_t key, uint32_t events,
		   uint32_t flags);

/*
 * Replace the key, events and flags of the association of @fd with the
 * port, and re-arm it: its queued packet, if any, is dropped, and a packet
 * with the new key is queued at once if the file is ready. Once it
 * returns, no dequeue returns the old key. -ENOENT if @fd is not
 * associated with this port.
 */
int iocp_modify(int port, int fd, uint64_t key, uint32_t events,
		uint32_t flags);

/*
 * End the association of @fd with the port: its queued packet is dropped,
 * the file reference released; once it returns, no dequeue returns its
 * key. -ENOENT if @fd is not associated with this port (also after a
 * shutdown, which ended every association). Not to be confused with
 * iocp_disassociate(), which is about the calling thread.
 */
int iocp_dissociate(int port, int fd);

/*
 * iocp_dissociate() (-ENOENT is not an error), then close(@fd): the way to
 * close a file that may be associated with the port. @fd is closed in
 * every case; the first error is returned.
 */
int iocp_close_fd(int port, int fd);

/* The number of packets queued now (nothing is removed). */
int iocp_depth(int port);

int iocp_get_stats(int port, struct iocp_stats *stats);

/* The result field of a completion, as the signed value it carries. */
static inline int64_t iocp_result(const struct iocp_completion *entry)
{
	return (int64_t)entry->result;
}

/* ---- Overlapped I/O: ops (IOCP_IOC_SUBMIT, IOCP_IOC_CANCEL) ------------ */

/*
 * An op is an I/O operation that the kernel performs on behalf of the
 * submitter, in the submitter's address space, and completes through the
 * port: exactly one packet with flags IOCP_CF_OP, user_data the op's
 * @user_data, key the file's association key with the port (0 if the file
 * is not associated) and result what the system call would have returned
 * (bytes, a new fd, 0, or -errno; short transfers as such), unless the op
 * fails or (with skip-on-success) completes at submit. Windows: the
 * OVERLAPPED operations of ReadFile, WSARecv, AcceptEx, ConnectEx, ...
 *
 * Fill a struct iocp_op with one of the iocp_prep_*() helpers below (they
 * zero the whole op first, as the kernel requires unused fields to be 0),
 * optionally add iocp_op_skip_on_success(), then pass it to iocp_submit()
 * or iocp_submit_one(). The buffers (and msghdr, iovec arrays, sockaddr,
 * socklen_t) must stay valid until the op's packet is dequeued, or until
 * iocp_shutdown()/iocp_close() of the port returns; the struct iocp_op
 * itself may be reused or freed as soon as the submit call returns.
 *
 * After submission op->status is one of:
 *   IOCP_OP_PENDING  not done yet; exactly one packet comes later.
 *   IOCP_OP_QUEUED   done at submit; op->result holds the result and its
 *                    packet is queued too (ACCEPT: result 0, the new fd is
 *                    made in whoever dequeues the packet, see below).
 *   IOCP_OP_DONE     done at submit with result >= 0 and skip-on-success
 *                    was asked: no packet. ACCEPT: result is the new fd.
 *   IOCP_OP_FAILED   failed at submit; op->result = -errno; no packet.
 * iocp_op_result() reads op->result as the signed value it carries.
 *
 * Ordering: ops of one direction (reads: READ*, RECV*, ACCEPT; writes:
 * WRITE*, SEND*, CONNECT) on one file complete in submission order. POLL
 * ops are independent. A port has at most config.max_ops ops in flight
 * (submitted, packet not yet dequeued); beyond it an op fails with -EAGAIN.
 *
 * @user_data is opaque to the kernel: typically a pointer to the caller's
 * per-operation context, as (uint64_t)(uintptr_t)ptr.
 */

static inline void iocp_prep__op(struct iocp_op *op, uint32_t opcode, int fd,
				 const void *addr, uint32_t len,
				 uint64_t offset, uint64_t user_data)
{
	/* Every field: the kernel rejects ops with stray values. */
	op->user_data = user_data;
	op->addr = (uint64_t)(uintptr_t)addr;
	op->addr2 = 0;
	op->offset = offset;
	op->result = 0;
	op->len = len;
	op->opcode = opcode;
	op->fd = (uint32_t)fd;
	op->flags = 0;
	op->op_flags = 0;
	op->status = 0;
}

/*
 * NOP: completes at once with result 0 (QUEUED, i.e. a packet, or DONE
 * with skip-on-success). A way to send oneself a packet in op order.
 */
static inline void iocp_prep_nop(struct iocp_op *op, uint64_t user_data)
{
	iocp_prep__op(op, IOCP_OP_NOP, 0, 0, 0, 0, user_data);
}

/*
 * READ/WRITE: pread(2)/pwrite(2) of @len bytes at @offset, or read(2)/
 * write(2) at the file position when @offset is IOCP_OFFSET_CURRENT (the
 * only value allowed on pipes, sockets and other unseekable files: others
 * fail with -ESPIPE). Pollable files without non-blocking support (e.g.
 * ttys) fail with -EOPNOTSUPP. Result: bytes transferred, or -errno.
 */
static inline void iocp_prep_read(struct iocp_op *op, int fd, void *buf,
				  unsigned int len, uint64_t offset,
				  uint64_t user_data)
{
	iocp_prep__op(op, IOCP_OP_READ, fd, buf, len, offset, user_data);
}

static inline void iocp_prep_write(struct iocp_op *op, int fd,
				   const void *buf, unsigned int len,
				   uint64_t offset, uint64_t user_data)
{
	iocp_prep__op(op, IOCP_OP_WRITE, fd, buf, len, offset, user_data);
}

/*
 * READV/WRITEV: preadv(2)/pwritev(2) over @iovcnt struct iovec at @iov
 * (the array, as the buffers, must stay valid until completion); @offset
 * as for iocp_prep_read().
 */
static inline void iocp_prep_readv(struct iocp_op *op, int fd,
				   const struct iovec *iov, unsigned int iovcnt,
				   uint64_t offset, uint64_t user_data)
{
	iocp_prep__op(op, IOCP_OP_READV, fd, iov, iovcnt, offset, user_data);
}

static inline void iocp_prep_writev(struct iocp_op *op, int fd,
				    const struct iovec *iov,
				    unsigned int iovcnt, uint64_t offset,
				    uint64_t user_data)
{
	iocp_prep__op(op, IOCP_OP_WRITEV, fd, iov, iovcnt, offset, user_data);
}

/*
 * RECV/SEND: recv(2)/send(2) of up to @len bytes with MSG_* @msg_flags on
 * a socket (-ENOTSOCK otherwise). The op waits until the socket is ready,
 * then transfers what it can: a SEND may complete short, as send(2) on a
 * non-blocking socket would (send the rest with another SEND); a RECV
 * completes with 0 at end of stream. SEND always adds MSG_NOSIGNAL: ops
 * never raise SIGPIPE (a SEND on a reset connection completes -EPIPE).
 */
static inline void iocp_prep_recv(struct iocp_op *op, int fd, void *buf,
				  unsigned int len, int msg_flags,
				  uint64_t user_data)
{
	iocp_prep__op(op, IOCP_OP_RECV, fd, buf, len, 0, user_data);
	op->op_flags = (uint32_t)msg_flags;
}

static inline void iocp_prep_send(struct iocp_op *op, int fd,
				  const void *buf, unsigned int len,
				  int msg_flags, uint64_t user_data)
{
	iocp_prep__op(op, IOCP_OP_SEND, fd, buf, len, 0, user_data);
	op->op_flags = (uint32_t)msg_flags;
}

/*
 * RECVMSG/SENDMSG: recvmsg(2)/sendmsg(2) with the struct msghdr at @msg
 * (which, with its name, iovecs and control buffer, must stay valid until
 * completion). RECVMSG writes back msg_namelen, msg_controllen and
 * msg_flags as recvmsg(2) does. SENDMSG control data is limited to 1024
 * bytes (-ENOBUFS beyond).
 */
static inline void iocp_prep_recvmsg(struct iocp_op *op, int fd,
				     struct msghdr *msg, int msg_flags,
				     uint64_t user_data)
{
	iocp_prep__op(op, IOCP_OP_RECVMSG, fd, msg, 0, 0, user_data);
	op->op_flags = (uint32_t)msg_flags;
}

static inline void iocp_prep_sendmsg(struct iocp_op *op, int fd,
				     const struct msghdr *msg, int msg_flags,
				     uint64_t user_data)
{
	iocp_prep__op(op, IOCP_OP_SENDMSG, fd, msg, 0, 0, user_data);
	op->op_flags = (uint32_t)msg_flags;
}

/*
 * ACCEPT: accept4(2) on the listening socket @fd. @addr (or NULL) receives
 * the peer's address, and *@addrlen (in: the size of @addr, out: the
 * address's length; required if @addr is given) as accept(2). @flags:
 * SOCK_CLOEXEC and/or SOCK_NONBLOCK for the new socket.
 *
 * The result is the new socket's fd, which is installed in the process
 * that DEQUEUES the packet, when it dequeues it (if that fails, the packet
 * carries -errno, e.g. -EMFILE, and the connection is dropped). With
 * skip-on-success, an ACCEPT done at submit (status IOCP_OP_DONE) gives
 * the fd in op->result, installed in the submitter; one that is QUEUED at
 * submit has result 0 there and the fd comes in its packet.
 */
static inline void iocp_prep_accept(struct iocp_op *op, int fd,
				    struct sockaddr *addr,
				    socklen_t *addrlen, int flags,
				    uint64_t user_data)
{
	iocp_prep__op(op, IOCP_OP_ACCEPT, fd, addr, 0, 0, user_data);
	op->addr2 = (uint64_t)(uintptr_t)addrlen;
	op->op_flags = (uint32_t)flags;
}

/*
 * CONNECT: connect(2) of socket @fd to @addr (@addrlen bytes, copied at
 * submit). Result 0 once connected, or -errno (e.g. -ECONNREFUSED).
 */
static inline void iocp_prep_connect(struct iocp_op *op, int fd,
				     const struct sockaddr *addr,
				     socklen_t addrlen, uint64_t user_data)
{
	iocp_prep__op(op, IOCP_OP_CONNECT, fd, addr, addrlen, 0, user_data);
}

/*
 * POLL: completes once @fd is ready for one of @events (IOCP_POLL* bits,
 * non-zero; IOCP_POLLERR and IOCP_POLLHUP always count), with result the
 * ready events. One-shot; -EPERM on a file that cannot be polled.
 */
static inline void iocp_prep_poll(struct iocp_op *op, int fd, uint32_t events,
				  uint64_t user_data)
{
	iocp_prep__op(op, IOCP_OP_POLL, fd, 0, 0, 0, user_data);
	op->op_flags = events;
}

/*
 * Skip-on-success for this op (IOCP_OPF_SKIP_ON_SUCCESS; Windows:
 * FILE_SKIP_COMPLETION_PORT_ON_SUCCESS): if it completes at submit with a
 * result >= 0, no packet is queued and op->status is IOCP_OP_DONE; the
 * submitter handles the result at once. Ops that stay pending still
 * complete through the port. An association made with
 * IOCP_ASSOC_SKIP_ON_SUCCESS applies it to every op on that file.
 */
static inline void iocp_op_skip_on_success(struct iocp_op *op)
{
	op->flags |= IOCP_OPF_SKIP_ON_SUCCESS;
}

/* An op's result (after submit, unless pending) as the signed value. */
static inline int64_t iocp_op_result(const struct iocp_op *op)
{
	return (int64_t)op->result;
}

/*
 * Submit @count ops (any number: batches of IOCP_MAX_BATCH are made), in
 * order. Returns 0 once every op was processed, each with its own status
 * and result written back (an op that FAILED does not stop the others);
 * or -EINVAL (@count 0), -EFAULT (an op or its status could not be
 * accessed: the ops before it were processed), -EBADF, -ENOTTY, ...
 */
int iocp_submit(int port, struct iocp_op *ops, unsigned int count);

/*
 * Submit one op. Returns its status (IOCP_OP_PENDING, IOCP_OP_QUEUED,
 * IOCP_OP_DONE or IOCP_OP_FAILED, all positive; the result is in
 * op->result), or -errno if the submission itself failed.
 */
int iocp_submit_one(int port, struct iocp_op *op);

/*
 * Cancel ops of the port not done yet; each completes through the port
 * with -ECANCELED (or with its own result if its attempt was running and
 * succeeded: exactly one packet either way). @flags: IOCP_CANCEL_USER_DATA
 * (ops with user_data @user_data) and/or IOCP_CANCEL_FD (ops on the file
 * of @fd), an op must match every one given; or IOCP_CANCEL_ALL alone.
 * Returns the number of ops found, or -ENOENT if none, -EINVAL, -EBADF.
 */
int iocp_cancel(int port, int fd, uint64_t user_data, unsigned int flags);

/* ---- end of ops ---------------------------------------------------------- */

#ifdef __cplusplus
}
#endif

#endif /* LIBIOCP_H */
