// SPDX-License-Identifier: LGPL-2.1-or-later OR MIT
/*
 * Win32 layer: completion ports. CreateIoCompletionPort,
 * GetQueuedCompletionStatus(Ex), PostQueuedCompletionStatus,
 * SetFileCompletionNotificationModes.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "w32.h"

/* ---- ports --------------------------------------------------------------- */

static HANDLE w32_new_port(DWORD concurrency)
{
	int port = iocp_create(concurrency);

	if (port == 0) {
		/* A port is never NULL: move it off descriptor 0. */
		int fd = fcntl(port, F_DUPFD_CLOEXEC, 1);

		close(port);
		if (fd < 0) {
			w32_fail(errno);
			return NULL;
		}
		port = fd;
	}
	if (port < 0) {
		w32_fail(-port);
		return NULL;
	}
	if (!w32_update(port, ~W32_USERS_MASK, W32_IS_PORT)) {
		iocp_close(port);
		w32_fail(EMFILE);
		return NULL;
	}
	return (HANDLE)(intptr_t)port;
}

W32_API HANDLE WINAPI CreateIoCompletionPort(HANDLE FileHandle,
					     HANDLE ExistingCompletionPort,
					     ULONG_PTR CompletionKey,
					     DWORD NumberOfConcurrentThreads)
{
	struct w32_fd_entry *e;
	int fd, port, ret;
	HANDLE h;

	if (FileHandle == INVALID_HANDLE_VALUE) {
		if (ExistingCompletionPort) {
			SetLastError(ERROR_INVALID_PARAMETER);
			return NULL;
		}
		return w32_new_port(NumberOfConcurrentThreads);
	}
	fd = w32_fd(FileHandle);
	if (!w32_fd_open(fd)) {
		SetLastError(ERROR_INVALID_HANDLE);
		return NULL;
	}
	if (ExistingCompletionPort) {
		port = w32_fd(ExistingCompletionPort);
		if (!w32_is_port(port)) {
			SetLastError(ERROR_INVALID_PARAMETER);
			return NULL;
		}
		h = ExistingCompletionPort;
	} else {
		h = w32_new_port(NumberOfConcurrentThreads);
		if (!h)
			return NULL;
		port = w32_fd(h);
	}

	e = w32_entry(fd, true);
	ret = e ? iocp_associate(port, fd, CompletionKey, 0, 0) : -ENOMEM;
	if (ret < 0) {
		if (!ExistingCompletionPort)
			CloseHandle(h);
		/* As Windows: a handle already associated, or a port loop. */
		if (ret == -EEXIST || ret == -ELOOP || ret == -EPERM)
			SetLastError(ERROR_INVALID_PARAMETER);
		else if (ret == -ENOSPC)	/* the port's max_assoc */
			SetLastError(ERROR_NO_SYSTEM_RESOURCES);
		else if (ret == -EBADF)
			SetLastError(ERROR_INVALID_HANDLE);
		else
			w32_fail(-ret);
		return NULL;
	}
	atomic_store(&e->key, CompletionKey);
	w32_update(fd, W32_PORT_MASK | W32_KIND_MASK | W32_CLOSING,
		   ((uint64_t)port + 1) |
		   ((uint64_t)w32_kind_fstat(fd) << W32_KIND_SHIFT));
	return h;
}

static uint64_t w32_timeout(DWORD ms, const struct timespec *start)
{
	struct timespec now;
	uint64_t spent;

	if (ms == INFINITE)
		return IOCP_INFINITE;
	clock_gettime(CLOCK_MONOTONIC, &now);
	spent = (uint64_t)(now.tv_sec - start->tv_sec) * 1000000000ull +
		(uint64_t)now.tv_nsec - (uint64_t)start->tv_nsec;
	return spent >= ms * 1000000ull ? 0 : ms * 1000000ull - spent;
}

/* A failed dequeue: the last error GetQueuedCompletionStatus(Ex) reports. */
static DWORD w32_dequeue_error(int err)
{
	switch (err) {
	case -ETIMEDOUT:
		return WAIT_TIMEOUT;
	case -ESHUTDOWN:
		return ERROR_ABANDONED_WAIT_0;
	case -EBADF:
	case -ENOTTY:
	case -EINVAL:
		return ERROR_INVALID_HANDLE;
	default:
		return iocp_win32_from_errno(-err, 0);
	}
}

W32_API BOOL WINAPI GetQueuedCompletionStatus(HANDLE CompletionPort,
					      LPDWORD lpNumberOfBytesTransferred,
					      PULONG_PTR lpCompletionKey,
					      LPOVERLAPPED *lpOverlapped,
					      DWORD dwMilliseconds)
{
	int port = w32_port_fd(CompletionPort);
	struct iocp_completion c;
	struct timespec start;
	struct w32_done d;
	int ret;

	if (!lpOverlapped)
		return w32_error(ERROR_INVALID_PARAMETER);
	*lpOverlapped = NULL;
	if (port < 0)
		return w32_error(ERROR_INVALID_HANDLE);
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		ret = iocp_get(port, &c, w32_timeout(dwMilliseconds, &start));
		if (ret == -EINTR)
			continue;
		if (ret < 0)
			return w32_error(w32_dequeue_error(ret));
		if (w32_complete(&c, &d))
			break;
	}
	if (lpNumberOfBytesTransferred)
		*lpNumberOfBytesTransferred = d.bytes;
	if (lpCompletionKey)
		*lpCompletionKey = d.key;
	*lpOverlapped = d.ov;
	if (d.errnum)
		return w32_fail(d.errnum);
	return TRUE;
}

#define W32_EX_STACK 64

W32_API BOOL WINAPI GetQueuedCompletionStatusEx(HANDLE CompletionPort,
						LPOVERLAPPED_ENTRY lpCompletionPortEntries,
						ULONG ulCount,
						PULONG ulNumEntriesRemoved,
						DWORD dwMilliseconds,
						BOOL fAlertable)
{
	struct iocp_completion stack[W32_EX_STACK], *c = stack;
	int port = w32_port_fd(CompletionPort);
	struct timespec start;
	ULONG n = 0;
	int ret;

	(void)fAlertable;	/* no APCs: never WAIT_IO_COMPLETION */
	if (ulNumEntriesRemoved)
		*ulNumEntriesRemoved = 0;
	if (!lpCompletionPortEntries || !ulNumEntriesRemoved || !ulCount)
		return w32_error(ERROR_INVALID_PARAMETER);
	if (port < 0)
		return w32_error(ERROR_INVALID_HANDLE);
	if (ulCount > IOCP_MAX_BATCH)
		ulCount = IOCP_MAX_BATCH;
	if (ulCount > W32_EX_STACK) {
		c = malloc(ulCount * sizeof(*c));
		if (!c)
			return w32_error(ERROR_NOT_ENOUGH_MEMORY);
	}
	clock_gettime(CLOCK_MONOTONIC, &start);
	while (!n) {
		ret = iocp_get_many(port, c, 1, ulCount,
				    w32_timeout(dwMilliseconds, &start));
		if (ret == -EINTR)
			continue;
		if (ret < 0) {
			if (c != stack)
				free(c);
			return w32_error(w32_dequeue_error(ret));
		}
		for (int i = 0; i < ret; i++) {
			LPOVERLAPPED_ENTRY e = &lpCompletionPortEntries[n];
			struct w32_done d;

			if (!w32_complete(&c[i], &d))
				continue;
			e->lpCompletionKey = d.key;
			e->lpOverlapped = d.ov;
			e->Internal = d.status;
			e->dwNumberOfBytesTransferred = d.bytes;
			n++;
		}
	}
	if (c != stack)
		free(c);
	*ulNumEntriesRemoved = n;
	return TRUE;
}

W32_API BOOL WINAPI PostQueuedCompletionStatus(HANDLE CompletionPort,
					       DWORD dwNumberOfBytesTransferred,
					       ULONG_PTR dwCompletionKey,
					       LPOVERLAPPED lpOverlapped)
{
	int port = w32_port_fd(CompletionPort), ret;

	if (port < 0)
		return w32_error(ERROR_INVALID_HANDLE);
	ret = iocp_post(port, dwCompletionKey, (uint64_t)(uintptr_t)lpOverlapped,
			(int64_t)dwNumberOfBytesTransferred);
	if (ret == -EBADF || ret == -ENOTTY || ret == -ESHUTDOWN)
		return w32_error(ERROR_INVALID_HANDLE);
	if (ret < 0)
		return w32_fail(-ret);
	return TRUE;
}

W32_API BOOL WINAPI SetFileCompletionNotificationModes(HANDLE FileHandle,
						       UCHAR Flags)
{
	int fd = w32_fd(FileHandle);
	uint64_t set = 0;

	if (Flags & ~(FILE_SKIP_COMPLETION_PORT_ON_SUCCESS |
		      FILE_SKIP_SET_EVENT_ON_HANDLE))
		return w32_error(ERROR_INVALID_PARAMETER);
	if (!w32_fd_open(fd))
		return w32_error(ERROR_INVALID_HANDLE);
	if (Flags & FILE_SKIP_COMPLETION_PORT_ON_SUCCESS)
		set |= W32_SKIP_PORT;
	if (Flags & FILE_SKIP_SET_EVENT_ON_HANDLE)
		set |= W32_SKIP_EVENT;
	if (!w32_update(fd, 0, set))
		return w32_error(ERROR_NOT_ENOUGH_MEMORY);
	return TRUE;
}

