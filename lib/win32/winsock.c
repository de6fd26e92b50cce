// SPDX-License-Identifier: LGPL-2.1-or-later OR MIT
/*
 * Win32 layer: Winsock. WSARecv, WSASend, AcceptEx, ConnectEx, and what
 * a server needs around them.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/un.h>

#include "w32.h"

W32_API int WINAPI WSAStartup(WORD wVersionRequested, LPWSADATA lpWSAData)
{
	struct rlimit rl;

	if (!lpWSAData)
		return WSAEFAULT;
	if (LOBYTE(wVersionRequested) < 1)
		return WSAVERNOTSUPPORTED;
	/*
	 * Windows has no per-process descriptor limit a program would know
	 * to raise; a server that accepts thousands of connections expects
	 * to get them. Raise the soft limit to the hard one.
	 */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	memset(lpWSAData, 0, sizeof(*lpWSAData));
	lpWSAData->wHighVersion = MAKEWORD(2, 2);
	lpWSAData->wVersion = LOBYTE(wVersionRequested) > 2 ||
			      (LOBYTE(wVersionRequested) == 2 &&
			       HIBYTE(wVersionRequested) >= 2) ?
			      MAKEWORD(2, 2) : wVersionRequested;
	strcpy(lpWSAData->szDescription, "iocp Winsock over Linux sockets");
	strcpy(lpWSAData->szSystemStatus, "Running");
	return 0;
}

W32_API int WINAPI WSACleanup(void)
{
	return 0;
}

static SOCKET w32_socket(int af, int type, int protocol, const void *info,
			 GROUP g, DWORD flags)
{
	int fd;

	if (info || g || (flags & ~(WSA_FLAG_OVERLAPPED | WSA_FLAG_NO_HANDLE_INHERIT))) {
		SetLastError(WSAEINVAL);
		return INVALID_SOCKET;
	}
	if (flags & WSA_FLAG_NO_HANDLE_INHERIT)
		type |= SOCK_CLOEXEC;
	fd = socket(af, type, protocol);
	if (fd < 0) {
		wsa_fail(errno);
		return INVALID_SOCKET;
	}
	w32_update(fd, ~W32_USERS_MASK, (uint64_t)W32_SOCK << W32_KIND_SHIFT);
	return (SOCKET)fd;
}

W32_API SOCKET WINAPI WSASocketA(int af, int type, int protocol,
				 LPWSAPROTOCOL_INFOA lpProtocolInfo, GROUP g,
				 DWORD dwFlags)
{
	return w32_socket(af, type, protocol, lpProtocolInfo, g, dwFlags);
}

W32_API SOCKET WINAPI WSASocketW(int af, int type, int protocol,
				 LPWSAPROTOCOL_INFOW lpProtocolInfo, GROUP g,
				 DWORD dwFlags)
{
	return w32_socket(af, type, protocol, lpProtocolInfo, g, dwFlags);
}

W32_API int WINAPI iocp_win32_setsockopt(SOCKET s, int level, int optname,
					 const void *optval, socklen_t optlen)
{
	int fd = w32_sock(s);

	if (level == SOL_SOCKET && (optname == SO_UPDATE_ACCEPT_CONTEXT ||
				    optname == SO_UPDATE_CONNECT_CONTEXT)) {
		int type;
		socklen_t len = sizeof(type);

		/* Linux sockets need no context update; check the socket. */
		if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0)
			return wsa_fail(errno == EBADF ? ENOTSOCK : errno);
		return 0;
	}
	if (setsockopt(fd, level, optname, optval, optlen) < 0)
		return wsa_fail(errno == EBADF ? ENOTSOCK : errno);
	return 0;
}

#define W32_MSG_IN (MSG_PEEK | MSG_OOB)

/*
 * WSARecv/WSASend. Windows' flag bits MSG_OOB (1), MSG_PEEK (2) and
 * MSG_DONTROUTE (4) have the Linux values.
 */
static int w32_sock_io(SOCKET s, bool send, LPWSABUF bufs, DWORD nbufs,
		       LPDWORD bytes, DWORD flags, LPWSAOVERLAPPED ov,
		       LPWSAOVERLAPPED_COMPLETION_ROUTINE routine)
{
	int fd = w32_sock(s), port, st;
	struct iovec stack[8], *iov = stack;
	struct w32_fd_entry *token;
	struct w32_req *r = NULL;
	DWORD allowed = send ? (MSG_OOB | MSG_DONTROUTE) : W32_MSG_IN;
	struct iocp_op op;
	struct msghdr msg;
	uint64_t state;
	int64_t res;
	ssize_t n;

	if (routine)
		return wsa_fail(EOPNOTSUPP);
	if (fd < 0)
		return wsa_fail(ENOTSOCK);
	if (!bufs || !nbufs)
		return wsa_fail(EFAULT);
	if (flags & ~allowed)
		return wsa_fail(EOPNOTSUPP);
	if (ov && ov->hEvent)
		return wsa_fail(EINVAL);
	if (w32_io_begin(fd, &state, &token) < 0)
		return wsa_fail(ENOTSOCK);
	port = w32_port_of(state);
	if (port < 0 || !ov || w32_kind_of(state) != W32_SOCK) {
		w32_io_end(token);	/* no op to submit */
		if (port >= 0 && w32_kind_of(state) != W32_SOCK)
			return wsa_fail(ENOTSOCK);
	}

	if (!ov || port < 0) {
		/* Blocking call (or, without a port, done at once). */
		if (nbufs > 8 && !(iov = calloc(nbufs, sizeof(*iov))))
			return wsa_fail(ENOBUFS);
		for (DWORD i = 0; i < nbufs; i++) {
			iov[i].iov_base = bufs[i].buf;
			iov[i].iov_len = bufs[i].len;
		}
		memset(&msg, 0, sizeof(msg));
		msg.msg_iov = iov;
		msg.msg_iovlen = nbufs;
		do {
			n = send ? sendmsg(fd, &msg, (int)flags | MSG_NOSIGNAL) :
				   recvmsg(fd, &msg, (int)flags);
		} while (n < 0 && errno == EINTR);
		if (iov != stack)
			free(iov);
		if (n < 0) {
			if (ov) {
				ov->Internal = w32_status_of(errno);
				ov->InternalHigh = 0;
			}
			return wsa_fail(errno == EBADF ? ENOTSOCK : errno);
		}
		if (ov) {
			ov->Internal = STATUS_SUCCESS;
			ov->InternalHigh = (ULONG_PTR)n;
		}
		if (bytes)
			*bytes = (DWORD)n;
		return 0;
	}

	if (nbufs == 1) {
		if (send)
			iocp_prep_send(&op, fd, bufs[0].buf, bufs[0].len,
				       (int)flags, (uint64_t)(uintptr_t)ov);
		else
			iocp_prep_recv(&op, fd, bufs[0].buf, bufs[0].len,
				       (int)flags, (uint64_t)(uintptr_t)ov);
		st = w32_submit(port, &op, ov, W32_K_PLAIN, w32_skip(state), &res);
	} else {
		/* The kernel reads the iovec array at each attempt: keep one. */
		r = w32_req_alloc(W32_REQ_IOV, ov, port, fd, nbufs);
		if (!r) {
			w32_io_end(token);
			return wsa_fail(ENOBUFS);
		}
		for (DWORD i = 0; i < nbufs; i++) {
			r->iov[i].iov_base = bufs[i].buf;
			r->iov[i].iov_len = bufs[i].len;
		}
		r->msg.msg_iov = r->iov;
		r->msg.msg_iovlen = nbufs;
		if (send)
			iocp_prep_sendmsg(&op, fd, &r->msg, (int)flags,
					  (uint64_t)(uintptr_t)ov);
		else
			iocp_prep_recvmsg(&op, fd, &r->msg, (int)flags,
					  (uint64_t)(uintptr_t)ov);
		st = w32_req_submit(r, &op, w32_skip(state), &res);
	}
	w32_io_end(token);
	switch (st) {
	case IOCP_OP_PENDING:
		SetLastError(WSA_IO_PENDING);
		return SOCKET_ERROR;
	case IOCP_OP_QUEUED:
	case IOCP_OP_DONE:
		if (bytes)
			*bytes = (DWORD)res;
		return 0;
	default:
		return wsa_fail(st < 0 ? -st : (int)-res);
	}
}

W32_API int WINAPI WSARecv(SOCKET s, LPWSABUF lpBuffers, DWORD dwBufferCount,
			   LPDWORD lpNumberOfBytesRecvd, LPDWORD lpFlags,
			   LPWSAOVERLAPPED lpOverlapped,
			   LPWSAOVERLAPPED_COMPLETION_ROUTINE lpCompletionRoutine)
{
	int ret;

	if (!lpFlags)
		return wsa_fail(EFAULT);
	ret = w32_sock_io(s, false, lpBuffers, dwBufferCount,
			  lpNumberOfBytesRecvd, *lpFlags, lpOverlapped,
			  lpCompletionRoutine);
	if (!ret)
		*lpFlags = 0;
	return ret;
}

W32_API int WINAPI WSASend(SOCKET s, LPWSABUF lpBuffers, DWORD dwBufferCount,
			   LPDWORD lpNumberOfBytesSent, DWORD dwFlags,
			   LPWSAOVERLAPPED lpOverlapped,
			   LPWSAOVERLAPPED_COMPLETION_ROUTINE lpCompletionRoutine)
{
	return w32_sock_io(s, true, lpBuffers, dwBufferCount,
			   lpNumberOfBytesSent, dwFlags, lpOverlapped,
			   lpCompletionRoutine);
}

W32_API BOOL WINAPI WSAGetOverlappedResult(SOCKET s, LPWSAOVERLAPPED lpOverlapped,
					   LPDWORD lpcbTransfer, BOOL fWait,
					   LPDWORD lpdwFlags)
{
	(void)s;
	if (!w32_overlapped_result(lpOverlapped, lpcbTransfer, 1, fWait))
		return FALSE;
	if (lpdwFlags)
		*lpdwFlags = 0;
	return TRUE;
}

/* The size of a socket's addresses, or -errno. */
static int w32_addr_size(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		return errno == EBADF ? -ENOTSOCK : -errno;
	switch (ss.ss_family) {
	case AF_INET:
		return sizeof(struct sockaddr_in);
	case AF_INET6:
		return sizeof(struct sockaddr_in6);
	default:
		return sizeof(struct sockaddr_un);
	}
}

W32_API BOOL PASCAL AcceptEx(SOCKET sListenSocket, SOCKET sAcceptSocket,
			     PVOID lpOutputBuffer, DWORD dwReceiveDataLength,
			     DWORD dwLocalAddressLength,
			     DWORD dwRemoteAddressLength,
			     LPDWORD lpdwBytesReceived, LPOVERLAPPED lpOverlapped)
{
	int lfd = w32_sock(sListenSocket), afd = w32_sock(sAcceptSocket);
	int port, size, type, st;
	socklen_t len = sizeof(type);
	struct w32_req *r;
	struct iocp_op op;
	uint64_t state;
	struct w32_fd_entry *ltoken, *atoken;
	uint64_t astate;
	int64_t res;

	(void)lpdwBytesReceived;	/* never completes at once */
	if (!lpOverlapped || lpOverlapped->hEvent)
		return w32_error(ERROR_INVALID_PARAMETER);
	if (lfd < 0 || afd < 0 ||
	    getsockopt(afd, SOL_SOCKET, SO_TYPE, &type, &len) < 0)
		return wsa_false(ENOTSOCK);
	size = w32_addr_size(lfd);
	if (size < 0)
		return wsa_false(-size);
	if (!lpOutputBuffer || dwLocalAddressLength < (DWORD)size + 16 ||
	    dwRemoteAddressLength < (DWORD)size + 16)
		return wsa_false(EFAULT);
	/* Closing either socket waits for the submit, then aborts. */
	if (w32_io_begin(lfd, &state, &ltoken) < 0)
		return wsa_false(ENOTSOCK);
	if (w32_io_begin(afd, &astate, &atoken) < 0) {
		w32_io_end(ltoken);
		return wsa_false(ENOTSOCK);
	}
	port = w32_port_of(state);
	r = port < 0 ? NULL :
	    w32_req_alloc(W32_REQ_ACCEPT, lpOverlapped, port, lfd, 0);
	if (!r) {
		w32_io_end(atoken);
		w32_io_end(ltoken);
		/* Not associated with a port: WSAEINVAL. */
		return wsa_false(port < 0 ? EINVAL : ENOBUFS);
	}
	r->accept_fd = afd;
	r->buf = lpOutputBuffer;
	r->len = dwReceiveDataLength;
	r->local_len = dwLocalAddressLength;
	r->remote_len = dwRemoteAddressLength;
	r->key = (ULONG_PTR)atomic_load(&w32_entry(lfd, false)->key);
	r->peer_len = sizeof(r->peer);
	iocp_prep_accept(&op, lfd, (struct sockaddr *)&r->peer, &r->peer_len,
			 SOCK_CLOEXEC, (uint64_t)(uintptr_t)lpOverlapped);
	st = w32_req_submit(r, &op, false, &res);
	w32_io_end(atoken);
	w32_io_end(ltoken);
	if (st == IOCP_OP_PENDING || st == IOCP_OP_QUEUED)
		return w32_error(ERROR_IO_PENDING);
	return wsa_false(st < 0 ? -st : (int)-res);
}

static void w32_get_addr(char *slot, DWORD slot_len, struct sockaddr **addr,
			 LPINT len)
{
	uint32_t hdr[2];

	memcpy(hdr, slot, sizeof(hdr));
	if (hdr[1] != W32_SLOT_MAGIC || hdr[0] > slot_len - W32_SLOT_HDR) {
		*addr = NULL;
		*len = 0;
		return;
	}
	*addr = (struct sockaddr *)(slot + W32_SLOT_HDR);
	*len = (INT)hdr[0];
}

W32_API void PASCAL GetAcceptExSockaddrs(PVOID lpOutputBuffer,
					 DWORD dwReceiveDataLength,
					 DWORD dwLocalAddressLength,
					 DWORD dwRemoteAddressLength,
					 struct sockaddr **LocalSockaddr,
					 LPINT LocalSockaddrLength,
					 struct sockaddr **RemoteSockaddr,
					 LPINT RemoteSockaddrLength)
{
	char *slots = (char *)lpOutputBuffer + dwReceiveDataLength;

	w32_get_addr(slots, dwLocalAddressLength, LocalSockaddr,
		     LocalSockaddrLength);
	w32_get_addr(slots + dwLocalAddressLength, dwRemoteAddressLength,
		     RemoteSockaddr, RemoteSockaddrLength);
}

W32_API BOOL PASCAL ConnectEx(SOCKET s, const struct sockaddr *name,
			      int namelen, PVOID lpSendBuffer,
			      DWORD dwSendDataLength, LPDWORD lpdwBytesSent,
			      LPOVERLAPPED lpOverlapped)
{
	int fd = w32_sock(s), port, st;
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	struct w32_req *r = NULL;
	struct iocp_op op;
	uint64_t state;
	struct w32_fd_entry *token;
	int64_t res;

	if (!lpOverlapped || lpOverlapped->hEvent)
		return w32_error(ERROR_INVALID_PARAMETER);
	if (fd < 0)
		return wsa_false(ENOTSOCK);
	if (!name || namelen <= 0)
		return wsa_false(EFAULT);
	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		return wsa_false(errno == EBADF ? ENOTSOCK : errno);
	/* "The socket must be bound": as Windows, WSAEINVAL otherwise. */
	if ((ss.ss_family == AF_INET &&
	     !((struct sockaddr_in *)&ss)->sin_port) ||
	    (ss.ss_family == AF_INET6 &&
	     !((struct sockaddr_in6 *)&ss)->sin6_port))
		return wsa_false(EINVAL);
	if (dwSendDataLength && !lpSendBuffer)
		return wsa_false(EFAULT);
	if (w32_io_begin(fd, &state, &token) < 0)
		return wsa_false(ENOTSOCK);
	port = w32_port_of(state);
	if (port < 0) {
		w32_io_end(token);
		return wsa_false(EINVAL);
	}

	iocp_prep_connect(&op, fd, name, (socklen_t)namelen,
			  (uint64_t)(uintptr_t)lpOverlapped);
	if (!dwSendDataLength) {
		st = w32_submit(port, &op, lpOverlapped, W32_K_PLAIN,
				w32_skip(state), &res);
	} else {
		r = w32_req_alloc(W32_REQ_CONNECT, lpOverlapped, port, fd, 0);
		if (!r) {
			w32_io_end(token);
			return wsa_false(ENOBUFS);
		}
		r->buf = lpSendBuffer;
		r->len = dwSendDataLength;
		r->key = (ULONG_PTR)atomic_load(&w32_entry(fd, false)->key);
		st = w32_req_submit(r, &op, false, &res);
		if (st == IOCP_OP_PENDING || st == IOCP_OP_QUEUED) {
			w32_io_end(token);
			return w32_error(ERROR_IO_PENDING);
		}
	}
	w32_io_end(token);
	switch (st) {
	case IOCP_OP_PENDING:
		return w32_error(ERROR_IO_PENDING);
	case IOCP_OP_QUEUED:
	case IOCP_OP_DONE:
		if (lpdwBytesSent)
			*lpdwBytesSent = 0;
		return TRUE;
	default:
		return wsa_false(st < 0 ? -st : (int)-res);
	}
}

static const GUID w32_guid_acceptex = WSAID_ACCEPTEX;
static const GUID w32_guid_connectex = WSAID_CONNECTEX;
static const GUID w32_guid_sockaddrs = WSAID_GETACCEPTEXSOCKADDRS;

W32_API int WINAPI WSAIoctl(SOCKET s, DWORD dwIoControlCode, LPVOID lpvInBuffer,
			    DWORD cbInBuffer, LPVOID lpvOutBuffer,
			    DWORD cbOutBuffer, LPDWORD lpcbBytesReturned,
			    LPWSAOVERLAPPED lpOverlapped,
			    LPWSAOVERLAPPED_COMPLETION_ROUTINE lpCompletionRoutine)
{
	void *fn;
	int type;
	socklen_t len = sizeof(type);

	if (getsockopt(w32_sock(s), SOL_SOCKET, SO_TYPE, &type, &len) < 0)
		return wsa_fail(ENOTSOCK);
	if (dwIoControlCode != SIO_GET_EXTENSION_FUNCTION_POINTER ||
	    lpOverlapped || lpCompletionRoutine)
		return wsa_fail(EOPNOTSUPP);
	if (!lpvInBuffer || cbInBuffer < sizeof(GUID) || !lpvOutBuffer ||
	    cbOutBuffer < sizeof(fn) || !lpcbBytesReturned)
		return wsa_fail(EFAULT);
	if (!memcmp(lpvInBuffer, &w32_guid_acceptex, sizeof(GUID)))
		fn = (void *)AcceptEx;
	else if (!memcmp(lpvInBuffer, &w32_guid_connectex, sizeof(GUID)))
		fn = (void *)ConnectEx;
	else if (!memcmp(lpvInBuffer, &w32_guid_sockaddrs, sizeof(GUID)))
		fn = (void *)GetAcceptExSockaddrs;
	else
		return wsa_fail(EINVAL);
	memcpy(lpvOutBuffer, &fn, sizeof(fn));
	*lpcbBytesReturned = sizeof(fn);
	return 0;
}

