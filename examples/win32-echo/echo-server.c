// SPDX-License-Identifier: LGPL-2.1-or-later OR MIT
/*
 * win32-echo: a TCP echo server written against Win32 and Winsock 2 the
 * way a Windows server uses an I/O completion port. The same source builds
 * on Windows (cl echo-server.c ws2_32.lib) and on Linux against
 * <iocp/win32.h> (see README).
 *
 * The listening socket and every accepted socket are associated with one
 * port; -a AcceptEx calls are kept outstanding; a pool of worker threads
 * dequeues the completions:
 *
 *   AcceptEx done   post another AcceptEx, associate the new socket with
 *                   the port, post a WSARecv on it
 *   WSARecv n > 0   WSASend the n bytes (a partial send: send the rest)
 *   WSASend done    post the next WSARecv
 *   WSARecv 0       the client closed its side: close the socket
 *
 * A connection has one operation in flight at a time, so its context
 * (whose first member is the OVERLAPPED of that operation) says which one
 * a completion belongs to.
 *
 * The worker that closes the -n'th connection posts a packet per worker
 * to stop them; the main thread joins them, closes the listening socket
 * (which aborts the outstanding AcceptEx calls), collects those, and exits
 * with status 0 if nothing failed.
 *
 *   win32-echo [-p PORT] [-t THREADS] [-n CONNECTIONS] [-a ACCEPTS]
 */
#include <winsock2.h>
#include <mswsock.h>
#include <windows.h>
#include <stdio.h>
#include <stdlib.h>

#define BUFFER_SIZE	16384
/* AcceptEx wants room for each address plus 16 bytes. */
#define ADDRESS_SIZE	(sizeof(SOCKADDR_IN) + 16)
#define MAX_REPORTED	10

/* Completion keys; a posted packet with KEY_SHUTDOWN stops a worker. */
#define KEY_SHUTDOWN	0
#define KEY_LISTEN	1
#define KEY_CONNECTION	2

typedef enum { OP_ACCEPT, OP_RECV, OP_SEND } OPERATION;

typedef struct _CONNECTION {
	OVERLAPPED Overlapped;		/* of the operation in flight */
	OPERATION Operation;		/* which one it is */
	SOCKET Socket;
	WSABUF WsaBuf;
	DWORD BytesToSend;		/* received, being echoed */
	DWORD BytesSent;		/* of which sent */
	char AcceptBuffer[2 * ADDRESS_SIZE];
	char Buffer[BUFFER_SIZE];
} CONNECTION;

typedef struct _WORKER {
	HANDLE Thread;
	ULONGLONG BytesEchoed;
	DWORD Packets, Receives, Sends, PartialSends;
} WORKER;

static HANDLE g_hIocp;
static SOCKET g_ListenSocket = INVALID_SOCKET;
static LPFN_ACCEPTEX g_lpfnAcceptEx;
static LPFN_GETACCEPTEXSOCKADDRS g_lpfnGetAcceptExSockaddrs;
static DWORD g_NumThreads;
static LONG g_Target;			/* -n: stop after this many closed */
static volatile LONG g_PendingAccepts, g_Accepted, g_Closed, g_Live;
static volatile LONG g_Errors;

static void ReportError(const char *what, DWORD error)
{
	if (InterlockedIncrement(&g_Errors) <= MAX_REPORTED)
		fprintf(stderr, "win32-echo: %s failed: error %lu\n", what,
			(unsigned long)error);
}

/* A new context with a new socket, and an AcceptEx for it. */
static BOOL PostAccept(void)
{
	CONNECTION *conn;
	DWORD bytes;

	conn = (CONNECTION *)calloc(1, sizeof(*conn));
	if (conn == NULL) {
		ReportError("calloc", ERROR_NOT_ENOUGH_MEMORY);
		return FALSE;
	}
	conn->Socket = WSASocket(AF_INET, SOCK_STREAM, IPPROTO_TCP, NULL, 0,
				 WSA_FLAG_OVERLAPPED);
	if (conn->Socket == INVALID_SOCKET) {
		ReportError("WSASocket", WSAGetLastError());
		free(conn);
		return FALSE;
	}
	conn->Operation = OP_ACCEPT;
	InterlockedIncrement(&g_PendingAccepts);
	/* No receive data: complete as soon as a client connects. */
	if (!g_lpfnAcceptEx(g_ListenSocket, conn->Socket, conn->AcceptBuffer,
			    0, ADDRESS_SIZE, ADDRESS_SIZE, &bytes,
			    &conn->Overlapped) &&
	    WSAGetLastError() != ERROR_IO_PENDING) {
		ReportError("AcceptEx", WSAGetLastError());
		InterlockedDecrement(&g_PendingAccepts);
		closesocket(conn->Socket);
		free(conn);
		return FALSE;
	}
	return TRUE;
}

static void CloseConnection(CONNECTION *conn)
{
	LONG closed;
	DWORD i;

	closesocket(conn->Socket);
	free(conn);
	InterlockedDecrement(&g_Live);
	closed = InterlockedIncrement(&g_Closed);
	if (closed == g_Target) {
		/* The last one: stop every worker, this one included. */
		for (i = 0; i < g_NumThreads; i++)
			if (!PostQueuedCompletionStatus(g_hIocp, 0, KEY_SHUTDOWN,
							NULL))
				ReportError("PostQueuedCompletionStatus",
					    GetLastError());
	}
}

static void PostRecv(CONNECTION *conn, WORKER *worker)
{
	DWORD flags = 0;

	ZeroMemory(&conn->Overlapped, sizeof(conn->Overlapped));
	conn->Operation = OP_RECV;
	conn->WsaBuf.buf = conn->Buffer;
	conn->WsaBuf.len = BUFFER_SIZE;
	worker->Receives++;
	/* Completed at once or pending: either way a packet will come. */
	if (WSARecv(conn->Socket, &conn->WsaBuf, 1, NULL, &flags,
		    &conn->Overlapped, NULL) == SOCKET_ERROR &&
	    WSAGetLastError() != WSA_IO_PENDING) {
		ReportError("WSARecv", WSAGetLastError());
		CloseConnection(conn);
	}
}

/* Send what is left of the received data. */
static void PostSend(CONNECTION *conn, WORKER *worker)
{
	ZeroMemory(&conn->Overlapped, sizeof(conn->Overlapped));
	conn->Operation = OP_SEND;
	conn->WsaBuf.buf = conn->Buffer + conn->BytesSent;
	conn->WsaBuf.len = conn->BytesToSend - conn->BytesSent;
	worker->Sends++;
	if (WSASend(conn->Socket, &conn->WsaBuf, 1, NULL, 0,
		    &conn->Overlapped, NULL) == SOCKET_ERROR &&
	    WSAGetLastError() != WSA_IO_PENDING) {
		ReportError("WSASend", WSAGetLastError());
		CloseConnection(conn);
	}
}

/* AcceptEx completed: conn->Socket is the new connection. */
static void OnAccept(CONNECTION *conn, WORKER *worker)
{
	SOCKADDR *local, *remote;
	SOCKADDR_IN *sin;
	int localLen, remoteLen;
	LONG accepted;
	ULONG ip;

	InterlockedIncrement(&g_Live);
	accepted = InterlockedIncrement(&g_Accepted);
	/* Keep as many AcceptEx outstanding as before. */
	PostAccept();

	/* Give the socket the listening socket's properties. */
	if (setsockopt(conn->Socket, SOL_SOCKET, SO_UPDATE_ACCEPT_CONTEXT,
		       (char *)&g_ListenSocket, sizeof(g_ListenSocket)) ==
	    SOCKET_ERROR)
		ReportError("setsockopt(SO_UPDATE_ACCEPT_CONTEXT)",
			    WSAGetLastError());

	g_lpfnGetAcceptExSockaddrs(conn->AcceptBuffer, 0, ADDRESS_SIZE,
				   ADDRESS_SIZE, &local, &localLen, &remote,
				   &remoteLen);
	sin = (SOCKADDR_IN *)remote;
	if (local == NULL || remote == NULL || local->sa_family != AF_INET ||
	    remote->sa_family != AF_INET || sin->sin_port == 0) {
		ReportError("GetAcceptExSockaddrs", ERROR_INVALID_PARAMETER);
	} else if (accepted == 1) {
		ip = ntohl(sin->sin_addr.s_addr);
		printf("win32-echo: first connection from %lu.%lu.%lu.%lu:%u\n",
		       (unsigned long)(ip >> 24), (unsigned long)((ip >> 16) & 255),
		       (unsigned long)((ip >> 8) & 255), (unsigned long)(ip & 255),
		       (unsigned)ntohs(sin->sin_port));
	}

	if (CreateIoCompletionPort((HANDLE)conn->Socket, g_hIocp,
				   KEY_CONNECTION, 0) == NULL) {
		ReportError("CreateIoCompletionPort", GetLastError());
		CloseConnection(conn);
		return;
	}
	PostRecv(conn, worker);
}

static DWORD WINAPI WorkerThread(LPVOID param)
{
	WORKER *worker = (WORKER *)param;
	CONNECTION *conn;
	LPOVERLAPPED overlapped;
	ULONG_PTR key;
	DWORD bytes, error;
	BOOL ok;

	for (;;) {
		overlapped = NULL;
		ok = GetQueuedCompletionStatus(g_hIocp, &bytes, &key,
					       &overlapped, INFINITE);
		error = ok ? ERROR_SUCCESS : GetLastError();
		if (overlapped == NULL) {
			/* A packet we posted, or the port itself failed. */
			if (ok && key == KEY_SHUTDOWN)
				return 0;
			ReportError("GetQueuedCompletionStatus", error);
			return 1;
		}
		worker->Packets++;
		conn = CONTAINING_RECORD(overlapped, CONNECTION, Overlapped);

		switch (conn->Operation) {
		case OP_ACCEPT:
			InterlockedDecrement(&g_PendingAccepts);
			if (ok) {
				OnAccept(conn, worker);
			} else {
				/* e.g. the client reset before the accept. */
				ReportError("AcceptEx (completion)", error);
				closesocket(conn->Socket);
				free(conn);
				PostAccept();
			}
			break;
		case OP_RECV:
			if (!ok) {
				ReportError("WSARecv (completion)", error);
				CloseConnection(conn);
			} else if (bytes == 0) {
				CloseConnection(conn);	/* graceful close */
			} else {
				conn->BytesToSend = bytes;
				conn->BytesSent = 0;
				PostSend(conn, worker);
			}
			break;
		case OP_SEND:
			if (!ok) {
				ReportError("WSASend (completion)", error);
				CloseConnection(conn);
				break;
			}
			conn->BytesSent += bytes;
			worker->BytesEchoed += bytes;
			if (conn->BytesSent < conn->BytesToSend) {
				worker->PartialSends++;
				PostSend(conn, worker);
			} else {
				PostRecv(conn, worker);
			}
			break;
		}
	}
}

static BOOL GetExtension(GUID guid, void *function, DWORD size)
{
	DWORD bytes;

	if (WSAIoctl(g_ListenSocket, SIO_GET_EXTENSION_FUNCTION_POINTER,
		     &guid, sizeof(guid), function, size, &bytes, NULL,
		     NULL) == SOCKET_ERROR) {
		ReportError("WSAIoctl(SIO_GET_EXTENSION_FUNCTION_POINTER)",
			    WSAGetLastError());
		return FALSE;
	}
	return TRUE;
}

static void Usage(void)
{
	fprintf(stderr, "usage: win32-echo [-p PORT] [-t THREADS] [-n CONNECTIONS] [-a ACCEPTS]\n"
		"  -p  TCP port on 127.0.0.1 (7777)       -t  worker threads (2 per processor)\n"
		"  -n  exit after so many have closed     -a  AcceptEx calls outstanding (16)\n");
	exit(2);
}

int main(int argc, char **argv)
{
	GUID guidAcceptEx = WSAID_ACCEPTEX;
	GUID guidGetAcceptExSockaddrs = WSAID_GETACCEPTEXSOCKADDRS;
	WORKER workers[MAXIMUM_WAIT_OBJECTS];
	HANDLE threads[MAXIMUM_WAIT_OBJECTS];
	unsigned long port = 7777, accepts = 16, value;
	ULONGLONG bytesEchoed = 0;
	DWORD packets = 0, receives = 0, sends = 0, partialSends = 0;
	DWORD i, bytes, exitCode;
	SYSTEM_INFO si;
	SOCKADDR_IN addr;
	WSADATA wsaData;
	LPOVERLAPPED overlapped;
	ULONG_PTR key;
	CONNECTION *conn;
	BOOL one = TRUE, ok;
	char *end;
	int arg;

	setvbuf(stdout, NULL, _IONBF, 0);
	GetSystemInfo(&si);
	g_NumThreads = 2 * si.dwNumberOfProcessors;
	if (g_NumThreads > MAXIMUM_WAIT_OBJECTS)
		g_NumThreads = MAXIMUM_WAIT_OBJECTS;

	for (arg = 1; arg < argc; arg += 2) {
		if (argv[arg][0] != '-' || argv[arg][1] == '\0' ||
		    argv[arg][2] != '\0' || arg + 1 >= argc)
			Usage();
		value = strtoul(argv[arg + 1], &end, 10);
		if (*end != '\0' || end == argv[arg + 1])
			Usage();
		switch (argv[arg][1]) {
		case 'p': port = value; break;
		case 't': g_NumThreads = (DWORD)value; break;
		case 'n': g_Target = (LONG)value; break;
		case 'a': accepts = value; break;
		default: Usage();
		}
	}
	if (port == 0 || port > 65535 || g_NumThreads == 0 ||
	    g_NumThreads > MAXIMUM_WAIT_OBJECTS || accepts == 0 ||
	    accepts > 1000 || g_Target < 0)
		Usage();

	if (WSAStartup(MAKEWORD(2, 2), &wsaData) != 0) {
		fprintf(stderr, "win32-echo: WSAStartup failed\n");
		return 1;
	}

	/* The port, with as many running threads as processors. */
	g_hIocp = CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, 0);
	if (g_hIocp == NULL) {
		ReportError("CreateIoCompletionPort", GetLastError());
		return 1;
	}

	g_ListenSocket = WSASocket(AF_INET, SOCK_STREAM, IPPROTO_TCP, NULL, 0,
				   WSA_FLAG_OVERLAPPED);
	if (g_ListenSocket == INVALID_SOCKET) {
		ReportError("WSASocket", WSAGetLastError());
		return 1;
	}
	if (setsockopt(g_ListenSocket, SOL_SOCKET, SO_REUSEADDR, (char *)&one,
		       sizeof(one)) == SOCKET_ERROR)
		ReportError("setsockopt(SO_REUSEADDR)", WSAGetLastError());
	ZeroMemory(&addr, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	addr.sin_port = htons((USHORT)port);
	if (bind(g_ListenSocket, (SOCKADDR *)&addr, sizeof(addr)) ==
	    SOCKET_ERROR || listen(g_ListenSocket, SOMAXCONN) == SOCKET_ERROR) {
		ReportError("bind/listen", WSAGetLastError());
		return 1;
	}
	if (CreateIoCompletionPort((HANDLE)g_ListenSocket, g_hIocp, KEY_LISTEN,
				   0) == NULL) {
		ReportError("CreateIoCompletionPort", GetLastError());
		return 1;
	}
	if (!GetExtension(guidAcceptEx, &g_lpfnAcceptEx,
			  sizeof(g_lpfnAcceptEx)) ||
	    !GetExtension(guidGetAcceptExSockaddrs,
			  &g_lpfnGetAcceptExSockaddrs,
			  sizeof(g_lpfnGetAcceptExSockaddrs)))
		return 1;

	for (i = 0; i < g_NumThreads; i++) {
		ZeroMemory(&workers[i], sizeof(workers[i]));
		workers[i].Thread = CreateThread(NULL, 0, WorkerThread,
						 &workers[i], 0, NULL);
		if (workers[i].Thread == NULL) {
			ReportError("CreateThread", GetLastError());
			return 1;
		}
		threads[i] = workers[i].Thread;
	}
	printf("win32-echo: listening on 127.0.0.1:%lu, %lu worker threads, %lu AcceptEx outstanding",
	       port, (unsigned long)g_NumThreads, accepts);
	if (g_Target)
		printf(", exit after %ld connections\n", (long)g_Target);
	else
		printf("\n");
	for (i = 0; i < accepts; i++)
		if (!PostAccept())
			return 1;

	/* The workers return once the -n'th connection has closed. */
	if (WaitForMultipleObjects(g_NumThreads, threads, TRUE, INFINITE) ==
	    WAIT_FAILED) {
		ReportError("WaitForMultipleObjects", GetLastError());
		return 1;
	}
	for (i = 0; i < g_NumThreads; i++) {
		if (!GetExitCodeThread(threads[i], &exitCode))
			ReportError("GetExitCodeThread", GetLastError());
		else if (exitCode != 0)
			ReportError("worker thread", exitCode);
		CloseHandle(threads[i]);
		packets += workers[i].Packets;
		receives += workers[i].Receives;
		sends += workers[i].Sends;
		partialSends += workers[i].PartialSends;
		bytesEchoed += workers[i].BytesEchoed;
	}

	/*
	 * Closing the listening socket aborts the outstanding AcceptEx
	 * calls: their completions come with ERROR_OPERATION_ABORTED, and
	 * only then may their contexts be freed.
	 */
	closesocket(g_ListenSocket);
	while (g_PendingAccepts > 0) {
		overlapped = NULL;
		ok = GetQueuedCompletionStatus(g_hIocp, &bytes, &key,
					       &overlapped, 10000);
		if (overlapped == NULL) {
			ReportError("GetQueuedCompletionStatus (shutdown)",
				    GetLastError());
			break;
		}
		conn = CONTAINING_RECORD(overlapped, CONNECTION, Overlapped);
		if (conn->Operation != OP_ACCEPT)
			continue;	/* a connection beyond -n: left open */
		if (!ok && GetLastError() != ERROR_OPERATION_ABORTED)
			ReportError("AcceptEx (shutdown)", GetLastError());
		InterlockedDecrement(&g_PendingAccepts);
		closesocket(conn->Socket);
		free(conn);
	}
	CloseHandle(g_hIocp);
	WSACleanup();

	printf("win32-echo: %ld connections accepted, %ld closed, %ld still open\n",
	       (long)g_Accepted, (long)g_Closed, (long)g_Live);
	printf("win32-echo: %llu bytes echoed, %lu WSARecv, %lu WSASend (%lu partial), %lu packets on %lu threads\n",
	       (unsigned long long)bytesEchoed, (unsigned long)receives,
	       (unsigned long)sends, (unsigned long)partialSends,
	       (unsigned long)packets, (unsigned long)g_NumThreads);
	printf("win32-echo: %s (%ld errors)\n",
	       g_Errors == 0 ? "clean exit" : "FAILED", (long)g_Errors);
	return g_Errors == 0 ? 0 : 1;
}
