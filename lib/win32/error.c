// SPDX-License-Identifier: LGPL-2.1-or-later OR MIT
/*
 * Win32 layer: the last error, and errno <-> NTSTATUS <-> Windows codes.
 */
#include <errno.h>

#include "w32.h"

/* ---- last error ---------------------------------------------------------- */

static __thread DWORD w32_last_error;

W32_API DWORD WINAPI GetLastError(void)
{
	return w32_last_error;
}

W32_API void WINAPI SetLastError(DWORD dwErrCode)
{
	w32_last_error = dwErrCode;
}

W32_API int WINAPI WSAGetLastError(void)
{
	return (int)w32_last_error;
}

W32_API void WINAPI WSASetLastError(int iError)
{
	w32_last_error = (DWORD)iError;
}

/* ---- errno <-> NTSTATUS <-> Windows error codes -------------------------- */

/* NTSTATUS of an errno value no status stands for: customer bit, error. */
#define W32_NT_ERRNO	0xE0000000u
#define NT_NONE		0u

struct w32_errmap {
	int errnum;
	DWORD status;	/* NTSTATUS in OVERLAPPED.Internal, or NT_NONE */
	DWORD win32;	/* GetLastError() after a Win32 call */
	DWORD wsa;	/* WSAGetLastError() after a Winsock call (0: win32) */
};

/*
 * First row of an errno gives its codes; first row of a code gives its
 * errno. Socket failures of ops report what Windows reports for them in
 * GetQueuedCompletionStatus (ECONNRESET: ERROR_NETNAME_DELETED).
 */
static const struct w32_errmap w32_errors[] = {
	{ ECANCELED, STATUS_CANCELLED, ERROR_OPERATION_ABORTED, 0 },
	{ ECONNRESET, STATUS_CONNECTION_RESET, ERROR_NETNAME_DELETED, WSAECONNRESET },
	{ ECONNABORTED, 0xC0000241, ERROR_CONNECTION_ABORTED, WSAECONNABORTED },
	{ ECONNREFUSED, 0xC0000236, ERROR_CONNECTION_REFUSED, WSAECONNREFUSED },
	{ ETIMEDOUT, 0xC00000B5, ERROR_SEM_TIMEOUT, WSAETIMEDOUT },
	{ ENETUNREACH, 0xC000023C, ERROR_NETWORK_UNREACHABLE, WSAENETUNREACH },
	{ EHOSTUNREACH, 0xC000023D, ERROR_HOST_UNREACHABLE, WSAEHOSTUNREACH },
	{ EPIPE, STATUS_PIPE_BROKEN, ERROR_BROKEN_PIPE, WSAESHUTDOWN },
	{ ENOTSOCK, NT_NONE, WSAENOTSOCK, WSAENOTSOCK },
	{ EBADF, 0xC0000008, ERROR_INVALID_HANDLE, WSAENOTSOCK },
	{ EINVAL, 0xC000000D, ERROR_INVALID_PARAMETER, WSAEINVAL },
	{ ENOTTY, 0xC0000008, ERROR_INVALID_HANDLE, WSAEINVAL },
	{ EFAULT, 0xC0000005, ERROR_NOACCESS, WSAEFAULT },
	{ ENOBUFS, 0xC000009A, ERROR_NO_SYSTEM_RESOURCES, WSAENOBUFS },
	{ ENOMEM, 0xC000009A, ERROR_NOT_ENOUGH_MEMORY, WSAENOBUFS },
	{ EAGAIN, NT_NONE, ERROR_NO_SYSTEM_RESOURCES, WSAEWOULDBLOCK },
	{ EACCES, 0xC0000022, ERROR_ACCESS_DENIED, WSAEACCES },
	{ EPERM, 0xC0000022, ERROR_ACCESS_DENIED, WSAEACCES },
	{ ENOENT, 0xC0000034, ERROR_FILE_NOT_FOUND, 0 },
	{ EEXIST, 0xC0000035, ERROR_ALREADY_EXISTS, 0 },
	{ EMSGSIZE, 0x80000005, ERROR_MORE_DATA, WSAEMSGSIZE },
	{ ENOTCONN, NT_NONE, ERROR_NOT_CONNECTED, WSAENOTCONN },
	{ EISCONN, NT_NONE, ERROR_CONNECTION_ACTIVE, WSAEISCONN },
	{ EADDRINUSE, 0xC000020A, ERROR_ADDRESS_ALREADY_ASSOCIATED, WSAEADDRINUSE },
	{ EADDRNOTAVAIL, 0xC0000207, WSAEADDRNOTAVAIL, WSAEADDRNOTAVAIL },
	{ EAFNOSUPPORT, NT_NONE, WSAEAFNOSUPPORT, WSAEAFNOSUPPORT },
	{ EOPNOTSUPP, 0xC00000BB, ERROR_NOT_SUPPORTED, WSAEOPNOTSUPP },
	{ EMFILE, 0xC000011F, ERROR_TOO_MANY_OPEN_FILES, WSAEMFILE },
	{ ENFILE, 0xC000011F, ERROR_TOO_MANY_OPEN_FILES, WSAEMFILE },
	{ ENOSPC, 0xC000007F, ERROR_DISK_FULL, 0 },
	{ EIO, 0xC00000E9, ERROR_IO_DEVICE, 0 },
	{ EINTR, NT_NONE, WSAEINTR, WSAEINTR },
	{ EINPROGRESS, NT_NONE, ERROR_IO_PENDING, WSAEINPROGRESS },
	{ EALREADY, NT_NONE, WSAEALREADY, WSAEALREADY },
	{ EDESTADDRREQ, NT_NONE, WSAEDESTADDRREQ, WSAEDESTADDRREQ },
	{ EPROTOTYPE, NT_NONE, WSAEPROTOTYPE, WSAEPROTOTYPE },
	{ ENOPROTOOPT, NT_NONE, WSAENOPROTOOPT, WSAENOPROTOOPT },
	{ EPROTONOSUPPORT, NT_NONE, WSAEPROTONOSUPPORT, WSAEPROTONOSUPPORT },
	{ ESOCKTNOSUPPORT, NT_NONE, WSAESOCKTNOSUPPORT, WSAESOCKTNOSUPPORT },
	{ ENETDOWN, NT_NONE, WSAENETDOWN, WSAENETDOWN },
	{ ENETRESET, NT_NONE, WSAENETRESET, WSAENETRESET },
	{ ESHUTDOWN, NT_NONE, ERROR_ABANDONED_WAIT_0, WSAESHUTDOWN },
	{ ELOOP, NT_NONE, ERROR_INVALID_PARAMETER, WSAEINVAL },
	{ ENODATA, STATUS_END_OF_FILE, ERROR_HANDLE_EOF, 0 },
	{ ESPIPE, NT_NONE, ERROR_SEEK_ON_DEVICE, 0 },
	/* Codes only mapped back to errno. */
	{ ETIMEDOUT, NT_NONE, WAIT_TIMEOUT, 0 },
	{ ENOENT, NT_NONE, ERROR_NOT_FOUND, 0 },
	{ ENOMEM, NT_NONE, ERROR_OUTOFMEMORY, 0 },
	{ EBADF, NT_NONE, WSAEBADF, 0 },
};

#define W32_NERRORS (sizeof(w32_errors) / sizeof(w32_errors[0]))

static const struct w32_errmap *w32_by_errno(int errnum)
{
	for (size_t i = 0; i < W32_NERRORS; i++)
		if (w32_errors[i].errnum == errnum)
			return &w32_errors[i];
	return NULL;
}

W32_API DWORD iocp_win32_from_errno(int errnum, int winsock)
{
	const struct w32_errmap *m;

	if (errnum < 0)
		errnum = -errnum;
	if (!errnum)
		return ERROR_SUCCESS;
	m = w32_by_errno(errnum);
	if (!m)
		return IOCP_WIN32_ERRNO_BASE + (DWORD)errnum;
	return winsock && m->wsa ? m->wsa : m->win32;
}

W32_API int iocp_win32_to_errno(DWORD error)
{
	if (error == ERROR_SUCCESS)
		return 0;
	if (error > IOCP_WIN32_ERRNO_BASE && error < IOCP_WIN32_ERRNO_BASE + 4096)
		return (int)(error - IOCP_WIN32_ERRNO_BASE);
	for (size_t i = 0; i < W32_NERRORS; i++)
		if (w32_errors[i].win32 == error || w32_errors[i].wsa == error)
			return w32_errors[i].errnum;
	return EINVAL;
}

DWORD w32_status_of(int errnum)
{
	const struct w32_errmap *m = w32_by_errno(errnum);

	return m && m->status != NT_NONE ? m->status : W32_NT_ERRNO | (DWORD)errnum;
}

int w32_errno_of_status(DWORD status)
{
	if ((status & 0xFFFF0000u) == W32_NT_ERRNO)
		return (int)(status & 0xFFFF);
	for (size_t i = 0; i < W32_NERRORS; i++)
		if (w32_errors[i].status == status)
			return w32_errors[i].errnum;
	return EIO;
}

/* Set the last error from -errno or errno; returns FALSE. */
BOOL w32_fail(int errnum)
{
	SetLastError(iocp_win32_from_errno(errnum, 0));
	return FALSE;
}

int wsa_fail(int errnum)
{
	SetLastError(iocp_win32_from_errno(errnum, 1));
	return SOCKET_ERROR;
}

/* The same, for the Winsock functions that return a BOOL. */
BOOL wsa_false(int errnum)
{
	SetLastError(iocp_win32_from_errno(errnum, 1));
	return FALSE;
}

BOOL w32_error(DWORD error)
{
	SetLastError(error);
	return FALSE;
}

