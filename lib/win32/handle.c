// SPDX-License-Identifier: LGPL-2.1-or-later OR MIT
/*
 * Win32 layer: handles. The fd table (what CreateIoCompletionPort and
 * SetFileCompletionNotificationModes record per descriptor), cancelling
 * a handle's I/O, and closing handles.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "w32.h"

static struct w32_fd_entry *_Atomic w32_fds[W32_CHUNKS];

struct w32_fd_entry *w32_entry(int fd, bool create)
{
	struct w32_fd_entry *chunk, *expected = NULL;
	unsigned int i;

	if (fd < 0 || fd >= W32_CHUNK * W32_CHUNKS)
		return NULL;
	i = (unsigned int)fd >> W32_CHUNK_SHIFT;
	chunk = atomic_load_explicit(&w32_fds[i], memory_order_acquire);
	if (!chunk && create) {
		chunk = calloc(W32_CHUNK, sizeof(*chunk));
		if (!chunk)
			return NULL;
		if (!atomic_compare_exchange_strong(&w32_fds[i], &expected, chunk)) {
			free(chunk);
			chunk = expected;
		}
	}
	return chunk ? &chunk[fd & (W32_CHUNK - 1)] : NULL;
}

uint64_t w32_state(int fd)
{
	struct w32_fd_entry *e = w32_entry(fd, false);

	return e ? atomic_load(&e->state) : 0;
}

/* Clear the bits of @clear, then set those of @set. */
bool w32_update(int fd, uint64_t clear, uint64_t set)
{
	struct w32_fd_entry *e = w32_entry(fd, true);
	uint64_t old;

	if (!e)
		return false;
	old = atomic_load(&e->state);
	while (!atomic_compare_exchange_weak(&e->state, &old, (old & ~clear) | set))
		;
	return true;
}

enum w32_kind w32_kind_fstat(int fd)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return W32_OTHER;
	if (S_ISREG(st.st_mode))
		return W32_REG;
	if (S_ISBLK(st.st_mode))
		return W32_BLK;
	if (S_ISFIFO(st.st_mode))
		return W32_FIFO;
	if (S_ISSOCK(st.st_mode))
		return W32_SOCK;
	return W32_OTHER;
}

/*
 * A port: /dev/iocp opened (by CreateIoCompletionPort or iocp_create()).
 * Told by the device number, not by trying an ioctl on whatever @fd is.
 */
bool w32_is_port(int fd)
{
	struct stat st;

	if (w32_state(fd) & W32_IS_PORT)
		return true;
	return fd >= 0 && fstat(fd, &st) == 0 && S_ISCHR(st.st_mode) &&
	       major(st.st_rdev) == 10 && minor(st.st_rdev) == IOCP_MINOR;
}

/* The port was closed: its associations and reqs are gone. */
void w32_port_closed(int port)
{
	uint64_t mine = (uint64_t)port + 1;

	for (unsigned int i = 0; i < W32_CHUNKS; i++) {
		struct w32_fd_entry *chunk = atomic_load(&w32_fds[i]);

		if (!chunk)
			continue;
		for (unsigned int j = 0; j < W32_CHUNK; j++) {
			uint64_t old = atomic_load(&chunk[j].state);

			while ((old & W32_PORT_MASK) == mine &&
			       !atomic_compare_exchange_weak(&chunk[j].state, &old,
							     old & ~W32_PORT_MASK))
				;
		}
	}
	w32_reqs_drop_port(port);
}

/*
 * An overlapped call on @fd begins: *@state gets the descriptor's state.
 * The call counts as a user of the entry until w32_io_end(@token), which
 * it calls once its op is submitted (not around a synchronous call that
 * may block), so that closing the descriptor waits for the submit and
 * then cancels the op, which exists. -EBADF if the descriptor is being
 * closed.
 */
int w32_io_begin(int fd, uint64_t *state, struct w32_fd_entry **token)
{
	struct w32_fd_entry *e = w32_entry(fd, false);
	uint64_t old;

	*token = NULL;
	*state = 0;
	if (!e)
		return 0;
	old = atomic_load(&e->state);
	do {
		if (old & W32_CLOSING)
			return -EBADF;
		if ((old & W32_USERS_MASK) == W32_USERS_MASK) {
			*state = old;	/* uncounted: as good as before */
			return 0;
		}
	} while (!atomic_compare_exchange_weak(&e->state, &old, old + W32_USER));
	*state = old;
	*token = e;
	return 0;
}

void w32_io_end(struct w32_fd_entry *token)
{
	if (token)
		atomic_fetch_sub(&token->state, W32_USER);
}

/* ---- cancel and close ---------------------------------------------------- */

/*
 * Cancel the ops of handle @fd: the one of @ov, or all. Returns whether
 * any was found.
 */
static bool w32_cancel(int fd, LPOVERLAPPED ov)
{
	int port = w32_port_of(w32_state(fd)), ret;
	bool found = false, req = false;

	/*
	 * AcceptEx/ConnectEx run two ops, the second maybe on another file;
	 * between the two (the first one's packet not handled yet), mark
	 * them so that the second is not started.
	 */
	pthread_mutex_lock(&reqs_lock);
	for (unsigned int b = 0; b < W32_REQ_BUCKETS; b++) {
		for (struct w32_req *r = reqs[b]; r; r = r->next) {
			if ((ov && r->ov != ov) || r->fd != fd ||
			    r->kind == W32_REQ_IOV)
				continue;
			req = true;
			ret = iocp_cancel(r->port, r->cur_fd,
					  (uint64_t)(uintptr_t)r->ov,
					  IOCP_CANCEL_FD | IOCP_CANCEL_USER_DATA);
			if (ret > 0) {
				found = true;
			} else if (r->len && !r->started2 && !r->cancel) {
				/* Between its ops: phase 2 will not start. */
				r->cancel = true;
				found = true;
			}
		}
	}
	pthread_mutex_unlock(&reqs_lock);
	if (port < 0 || (ov && req))
		return found;

	if (ov)
		ret = iocp_cancel(port, fd, (uint64_t)(uintptr_t)ov,
				  IOCP_CANCEL_FD | IOCP_CANCEL_USER_DATA);
	else
		ret = iocp_cancel(port, fd, 0, IOCP_CANCEL_FD);
	return found || ret > 0;
}

W32_API BOOL WINAPI CancelIoEx(HANDLE hFile, LPOVERLAPPED lpOverlapped)
{
	int fd = w32_fd(hFile);

	if (!w32_fd_open(fd))
		return w32_error(ERROR_INVALID_HANDLE);
	if (!w32_cancel(fd, lpOverlapped))
		return w32_error(ERROR_NOT_FOUND);
	return TRUE;
}

W32_API BOOL WINAPI CancelIo(HANDLE hFile)
{
	int fd = w32_fd(hFile);

	if (!w32_fd_open(fd))
		return w32_error(ERROR_INVALID_HANDLE);
	w32_cancel(fd, NULL);
	return TRUE;
}

/*
 * AcceptEx and ConnectEx calls on @fd, or whose accept socket is @fd,
 * which is being closed: abort them, whichever op they are at. Their
 * second op will not start (see w32_req_phase2()).
 */
static void w32_cancel_reqs_on(int fd)
{
	pthread_mutex_lock(&reqs_lock);
	for (unsigned int b = 0; b < W32_REQ_BUCKETS; b++) {
		for (struct w32_req *r = reqs[b]; r; r = r->next) {
			if (r->kind == W32_REQ_IOV ||
			    (r->fd != fd &&
			     !(r->kind == W32_REQ_ACCEPT && r->accept_fd == fd)))
				continue;
			r->cancel = true;
			iocp_cancel(r->port, r->cur_fd, (uint64_t)(uintptr_t)r->ov,
				    IOCP_CANCEL_FD | IOCP_CANCEL_USER_DATA);
		}
	}
	pthread_mutex_unlock(&reqs_lock);
}

/*
 * Close @fd as Windows closes a handle: its pending I/O is cancelled (each
 * op completes with ERROR_OPERATION_ABORTED) and its association ends.
 * Calls on it that come meanwhile fail; those that were submitting are
 * waited for, so that their ops are cancelled too.
 */
int w32_close_fd(int fd)
{
	struct w32_fd_entry *e = w32_entry(fd, false);
	uint64_t state = 0, closing;
	int port, ret;

	if (e) {
		state = atomic_fetch_or(&e->state, W32_CLOSING);
		if (state & W32_CLOSING)
			return -EBADF;	/* another thread is closing it */
		while (atomic_load(&e->state) & W32_USERS_MASK)
			sched_yield();
	}
	port = w32_port_of(state);
	if (port >= 0) {
		iocp_cancel(port, fd, 0, IOCP_CANCEL_FD);
		iocp_dissociate(port, fd);
	}
	w32_cancel_reqs_on(fd);
	ret = close(fd) < 0 ? -errno : 0;
	/* Forget it, unless the number is someone else's already. */
	if (e) {
		closing = atomic_load(&e->state);
		while ((closing & W32_CLOSING) &&
		       !atomic_compare_exchange_weak(&e->state, &closing,
						     closing & W32_USERS_MASK))
			;
	}
	return ret;
}

W32_API BOOL WINAPI CloseHandle(HANDLE hObject)
{
	int fd, ret;

	if ((uint64_t)(uintptr_t)hObject >= W32_THREAD_BASE)
		return w32_thread_close(hObject) ? TRUE :
		       w32_error(ERROR_INVALID_HANDLE);
	fd = hObject ? w32_fd(hObject) : -1;	/* NULL is no handle */
	if (!w32_fd_open(fd))
		return w32_error(ERROR_INVALID_HANDLE);
	if (w32_is_port(fd)) {
		/*
		 * Waiters get ERROR_ABANDONED_WAIT_0, ops are cancelled,
		 * associations end; forget them before the number is reused.
		 */
		iocp_shutdown(fd);
		w32_port_closed(fd);
		w32_update(fd, ~W32_USERS_MASK, 0);
		if (close(fd) < 0)
			return w32_error(ERROR_INVALID_HANDLE);
		return TRUE;
	}
	ret = w32_close_fd(fd);
	if (ret == -EBADF)
		return w32_error(ERROR_INVALID_HANDLE);
	return TRUE;
}

W32_API int WINAPI closesocket(SOCKET s)
{
	int fd = w32_sock(s), ret;

	if (fd < 0 || w32_kind_fstat(fd) != W32_SOCK)
		return wsa_fail(ENOTSOCK);
	ret = w32_close_fd(fd);
	return ret < 0 ? wsa_fail(-ret) : 0;
}

