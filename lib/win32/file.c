// SPDX-License-Identifier: LGPL-2.1-or-later OR MIT
/*
 * Win32 layer: ReadFile, WriteFile, GetOverlappedResult.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "w32.h"

static uint64_t w32_offset(LPOVERLAPPED ov)
{
	return (uint64_t)ov->OffsetHigh << 32 | ov->Offset;
}

/*
 * Windows has no SIGPIPE: a write to a pipe without readers fails with
 * ERROR_BROKEN_PIPE, and the process lives on. Writes that could raise it
 * (pipes and other non-socket files; sockets are written with
 * MSG_NOSIGNAL) run with SIGPIPE blocked, and a SIGPIPE they raised is
 * taken back before it is unblocked. One that was pending already stays.
 */
struct w32_sigpipe {
	sigset_t old;
	bool pending;
};

static void w32_sigpipe_block(struct w32_sigpipe *s)
{
	sigset_t set, pending;

	sigemptyset(&set);
	sigaddset(&set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &set, &s->old);
	s->pending = sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE);
}

static void w32_sigpipe_unblock(struct w32_sigpipe *s, bool epipe)
{
	const struct timespec now = { 0, 0 };
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGPIPE);
	if (epipe && !s->pending)
		while (sigtimedwait(&set, NULL, &now) < 0 && errno == EINTR)
			;
	pthread_sigmask(SIG_SETMASK, &s->old, NULL);
}

static bool w32_may_sigpipe(bool wr, enum w32_kind kind)
{
	return wr && (kind == W32_FIFO || kind == W32_OTHER);
}

/*
 * EBADF on a descriptor that is open: it is not open for this direction,
 * which Windows reports as ERROR_ACCESS_DENIED.
 */
static int w32_rw_errno(int fd, int err)
{
	return err == EBADF && w32_fd_open(fd) ? EACCES : err;
}

/* Without a port: synchronous I/O; with an OVERLAPPED, at its offset. */
static BOOL w32_sync_rw(int fd, bool wr, void *buf, DWORD n, LPDWORD done,
			LPOVERLAPPED ov)
{
	enum w32_kind kind = w32_kind_fstat(fd);
	bool at = ov && (kind == W32_REG || kind == W32_BLK);
	uint64_t off = ov ? w32_offset(ov) : 0;
	bool sigpipe = w32_may_sigpipe(wr, kind);
	struct w32_sigpipe sp;
	size_t total = 0;
	ssize_t r;
	int err = 0;

	if (sigpipe)
		w32_sigpipe_block(&sp);
	for (;;) {
		if (wr && kind == W32_SOCK)
			r = send(fd, (char *)buf + total, n - total, MSG_NOSIGNAL);
		else if (wr)
			r = at ? pwrite(fd, (char *)buf + total, n - total,
					(off_t)(off + total)) :
				 write(fd, (char *)buf + total, n - total);
		else
			r = at ? pread(fd, buf, n, (off_t)off) : read(fd, buf, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			err = w32_rw_errno(fd, errno);
			break;
		}
		total += (size_t)r;
		/* A synchronous write writes everything, a read reads once. */
		if (!wr || total == n || !r)
			break;
	}
	if (sigpipe)
		w32_sigpipe_unblock(&sp, err == EPIPE);

	if (!err && !wr && !total && n) {
		if (kind == W32_FIFO)
			err = EPIPE;
		else if (ov && kind == W32_REG)
			err = ENODATA;
	}
	if (done)
		*done = (DWORD)total;
	if (ov) {
		ov->Internal = err ? w32_status_of(err) : STATUS_SUCCESS;
		ov->InternalHigh = total;
	}
	if (err)
		return w32_fail(err);
	return TRUE;
}

static BOOL w32_rw(HANDLE hFile, bool wr, void *buf, DWORD n, LPDWORD done,
		   LPOVERLAPPED ov)
{
	int fd = w32_fd(hFile), port, st;
	ULONG_PTR tag = W32_K_PLAIN;
	struct w32_fd_entry *token;
	struct w32_sigpipe sp;
	struct iocp_op op;
	uint64_t state, offset;
	enum w32_kind kind;
	int64_t res;

	if (done)
		*done = 0;
	if (!w32_fd_open(fd))
		return w32_error(ERROR_INVALID_HANDLE);
	if (ov && ov->hEvent)
		return w32_error(ERROR_INVALID_PARAMETER);
	if (w32_io_begin(fd, &state, &token) < 0)
		return w32_error(ERROR_INVALID_HANDLE);
	port = w32_port_of(state);
	if (!ov || port < 0) {
		w32_io_end(token);
		return w32_sync_rw(fd, wr, buf, n, done, ov);
	}

	kind = w32_kind_of(state);
	offset = kind == W32_REG || kind == W32_BLK ? w32_offset(ov) :
		 IOCP_OFFSET_CURRENT;
	if (!wr && n && kind == W32_REG)
		tag = W32_K_READ_EOF;
	else if (!wr && n && kind == W32_FIFO)
		tag = W32_K_READ_PIPE;
	if (wr && kind == W32_SOCK)	/* a SEND op: MSG_NOSIGNAL */
		iocp_prep_send(&op, fd, buf, n, 0, (uint64_t)(uintptr_t)ov);
	else if (wr)
		iocp_prep_write(&op, fd, buf, n, offset, (uint64_t)(uintptr_t)ov);
	else
		iocp_prep_read(&op, fd, buf, n, offset, (uint64_t)(uintptr_t)ov);

	/* The first attempt runs here, and a write op raises SIGPIPE as write(2). */
	if (w32_may_sigpipe(wr, kind))
		w32_sigpipe_block(&sp);
	st = w32_submit(port, &op, ov, tag, w32_skip(state), &res);
	w32_io_end(token);
	if (w32_may_sigpipe(wr, kind))
		w32_sigpipe_unblock(&sp, res == -EPIPE);
	switch (st) {
	case IOCP_OP_PENDING:
		return w32_error(ERROR_IO_PENDING);
	case IOCP_OP_QUEUED:
		/* End of file: reported by the packet. */
		if (!res && tag != W32_K_PLAIN)
			return w32_error(ERROR_IO_PENDING);
		if (done)
			*done = (DWORD)res;
		return TRUE;
	case IOCP_OP_DONE:
		if (!res && tag != W32_K_PLAIN) {
			int err = tag == W32_K_READ_EOF ? ENODATA : EPIPE;

			ov->Internal = w32_status_of(err);
			return w32_fail(err);
		}
		if (done)
			*done = (DWORD)res;
		return TRUE;
	default:
		if (st == IOCP_OP_FAILED)
			ov->Internal = w32_status_of(w32_rw_errno(fd, (int)-res));
		return w32_fail(w32_rw_errno(fd, st < 0 ? -st : (int)-res));
	}
}

W32_API BOOL WINAPI ReadFile(HANDLE hFile, LPVOID lpBuffer,
			     DWORD nNumberOfBytesToRead,
			     LPDWORD lpNumberOfBytesRead, LPOVERLAPPED lpOverlapped)
{
	return w32_rw(hFile, false, lpBuffer, nNumberOfBytesToRead,
		      lpNumberOfBytesRead, lpOverlapped);
}

W32_API BOOL WINAPI WriteFile(HANDLE hFile, LPCVOID lpBuffer,
			      DWORD nNumberOfBytesToWrite,
			      LPDWORD lpNumberOfBytesWritten,
			      LPOVERLAPPED lpOverlapped)
{
	return w32_rw(hFile, true, (void *)lpBuffer, nNumberOfBytesToWrite,
		      lpNumberOfBytesWritten, lpOverlapped);
}

/*
 * GetOverlappedResult(bWait): wait until the thread that dequeues the
 * operation's packet has written the OVERLAPPED (w32_complete()).
 */
static DWORD w32_ov_wait(LPOVERLAPPED ov)
{
	DWORD status;

	atomic_fetch_add(&w32_ov_waiters, 1);
	while ((status = (DWORD)__atomic_load_n(&ov->Internal, __ATOMIC_SEQ_CST)) ==
	       STATUS_PENDING)
		syscall(SYS_futex, w32_ov_word(ov), FUTEX_WAIT_PRIVATE,
			STATUS_PENDING, NULL, NULL, 0);
	atomic_fetch_sub(&w32_ov_waiters, 1);
	return status;
}

BOOL w32_overlapped_result(LPOVERLAPPED ov, LPDWORD bytes, int winsock,
			   BOOL wait)
{
	DWORD status;

	if (!ov)
		return w32_error(ERROR_INVALID_PARAMETER);
	status = (DWORD)__atomic_load_n(&ov->Internal, __ATOMIC_ACQUIRE);
	if (status == STATUS_PENDING && wait)
		status = w32_ov_wait(ov);
	if (status == STATUS_PENDING)
		return w32_error(ERROR_IO_INCOMPLETE);
	if (bytes)
		*bytes = (DWORD)ov->InternalHigh;
	if (status != STATUS_SUCCESS) {
		SetLastError(iocp_win32_from_errno(w32_errno_of_status(status),
						   winsock));
		return FALSE;
	}
	return TRUE;
}

W32_API BOOL WINAPI GetOverlappedResult(HANDLE hFile, LPOVERLAPPED lpOverlapped,
					LPDWORD lpNumberOfBytesTransferred,
					BOOL bWait)
{
	(void)hFile;
	return w32_overlapped_result(lpOverlapped, lpNumberOfBytesTransferred, 0,
				     bWait);
}

