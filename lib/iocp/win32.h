/* SPDX-License-Identifier: LGPL-2.1-or-later OR MIT */
/*
 * <iocp/win32.h>: the Win32 I/O completion port API over /dev/iocp.
 *
 * Windows server code written against IOCP (CreateIoCompletionPort,
 * GetQueuedCompletionStatus, OVERLAPPED ReadFile/WSARecv/AcceptEx, ...)
 * builds against this header and links with -liocp-win32 -liocp. For code
 * that includes <windows.h>, <winsock2.h>, <mswsock.h> or <ws2tcpip.h>,
 * the directory iocp/windows/ next to this header holds headers of those
 * names that include this one: put it on the include path (pkg-config
 * --cflags libiocp-win32 does).
 *
 * Handles: a HANDLE or SOCKET is a file descriptor, cast: (HANDLE)fd,
 * (SOCKET)fd, and (int)(intptr_t)handle back. Sockets are made with
 * socket(2) or WSASocket(), files with open(2). Ports come from
 * CreateIoCompletionPort() and are descriptors too (never 0, so that a
 * port is never NULL). Thread handles from CreateThread() are values
 * above 2^32 that no descriptor has.
 *
 * Close a handle with CloseHandle() (or closesocket()), not close(2):
 * like Windows, that cancels its pending I/O and ends its association
 * with its port. close(2) would leave the association holding the file
 * open (see iocp_close_fd(3)).
 *
 * Errors: GetLastError()/WSAGetLastError() (one per-thread value, as on
 * Windows). Windows error codes are mapped from errno and back by
 * iocp_win32_from_errno() and iocp_win32_to_errno().
 *
 * Every difference from Windows is listed in iocp_win32(7).
 */
#ifndef IOCP_WIN32_H
#define IOCP_WIN32_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- types (LLP64 sizes, as on 64-bit Windows) --------------------------- */

#ifndef WINAPI
#define WINAPI
#endif
#ifndef CALLBACK
#define CALLBACK
#endif
#ifndef PASCAL
#define PASCAL
#endif

typedef int BOOL, *PBOOL, *LPBOOL;
typedef unsigned char BYTE, UCHAR, *PBYTE, *LPBYTE;
typedef uint16_t WORD, USHORT;
typedef uint32_t DWORD, ULONG, *PDWORD, *LPDWORD, *PULONG;
typedef int32_t LONG, *PLONG;
typedef int INT, *LPINT;
typedef unsigned int UINT;
typedef long long LONGLONG;
typedef unsigned long long ULONGLONG;
typedef intptr_t LONG_PTR, INT_PTR;
typedef uintptr_t ULONG_PTR, UINT_PTR, DWORD_PTR, *PULONG_PTR;
typedef size_t SIZE_T;
typedef char CHAR, *LPSTR;
typedef const char *LPCSTR;
typedef void VOID, *PVOID, *LPVOID, *HANDLE, *PHANDLE;
typedef const void *LPCVOID;
typedef UINT_PTR SOCKET;
typedef unsigned int GROUP;
typedef struct sockaddr SOCKADDR, *PSOCKADDR, *LPSOCKADDR;
typedef struct sockaddr_in SOCKADDR_IN, *PSOCKADDR_IN, *LPSOCKADDR_IN;
typedef struct sockaddr_in6 SOCKADDR_IN6, *PSOCKADDR_IN6;
typedef struct sockaddr_storage SOCKADDR_STORAGE;

#ifndef TRUE
#define TRUE 1
#endif
#ifndef FALSE
#define FALSE 0
#endif

#define INVALID_HANDLE_VALUE	((HANDLE)(LONG_PTR)-1)
#define INFINITE		0xFFFFFFFFu
#define MAXDWORD		0xFFFFFFFFu
#define INVALID_SOCKET		((SOCKET)~(SOCKET)0)
#define SOCKET_ERROR		(-1)

#define MAKEWORD(lo, hi)	((WORD)(((BYTE)(lo)) | ((WORD)((BYTE)(hi))) << 8))
#define LOBYTE(w)		((BYTE)((w) & 0xff))
#define HIBYTE(w)		((BYTE)(((w) >> 8) & 0xff))
#define LOWORD(l)		((WORD)((l) & 0xffff))
#define HIWORD(l)		((WORD)(((l) >> 16) & 0xffff))
#define FIELD_OFFSET(type, field)	((LONG)offsetof(type, field))
#define CONTAINING_RECORD(address, type, field) \
	((type *)((char *)(address) - offsetof(type, field)))
#define ZeroMemory(p, n)	memset((p), 0, (n))
#define CopyMemory(d, s, n)	memcpy((d), (s), (n))
#define FillMemory(p, n, c)	memset((p), (c), (n))

/* ---- OVERLAPPED ---------------------------------------------------------- */

/*
 * As on Windows: Internal holds the status (an NTSTATUS; STATUS_PENDING
 * while the operation is in progress) and InternalHigh the bytes
 * transferred. Both belong to the system from the call that starts the
 * operation until its completion is reported, and are written by the
 * thread that dequeues the completion (GetQueuedCompletionStatus(Ex)),
 * before that call returns. Offset/OffsetHigh: the file position of
 * ReadFile/WriteFile on seekable files. hEvent must be NULL: event objects
 * are not provided.
 */
typedef struct _OVERLAPPED {
	ULONG_PTR Internal;
	ULONG_PTR InternalHigh;
	union {
		struct {
			DWORD Offset;
			DWORD OffsetHigh;
		};
		PVOID Pointer;
	};
	HANDLE hEvent;
} OVERLAPPED, *LPOVERLAPPED, WSAOVERLAPPED, *LPWSAOVERLAPPED;

/* GetQueuedCompletionStatusEx(): Internal is the NTSTATUS of the operation. */
typedef struct _OVERLAPPED_ENTRY {
	ULONG_PTR lpCompletionKey;
	LPOVERLAPPED lpOverlapped;
	ULONG_PTR Internal;
	DWORD dwNumberOfBytesTransferred;
} OVERLAPPED_ENTRY, *LPOVERLAPPED_ENTRY;

#define STATUS_SUCCESS		((DWORD)0x00000000)
#define STATUS_PENDING		((DWORD)0x00000103)
#define STATUS_CANCELLED	((DWORD)0xC0000120)
#define STATUS_END_OF_FILE	((DWORD)0xC0000011)
#define STATUS_PIPE_BROKEN	((DWORD)0xC000014B)
#define STATUS_CONNECTION_RESET	((DWORD)0xC000020D)

#define HasOverlappedIoCompleted(lpOverlapped) \
	(((DWORD)(lpOverlapped)->Internal) != STATUS_PENDING)

typedef struct _WSABUF {
	ULONG len;
	CHAR *buf;
} WSABUF, *LPWSABUF;

typedef void (CALLBACK *LPWSAOVERLAPPED_COMPLETION_ROUTINE)(DWORD dwError,
	DWORD cbTransferred, LPWSAOVERLAPPED lpOverlapped, DWORD dwFlags);

/* ---- error codes (GetLastError, WSAGetLastError) ------------------------- */

#define ERROR_SUCCESS			0u
#define NO_ERROR			0u
#define ERROR_INVALID_FUNCTION		1u
#define ERROR_FILE_NOT_FOUND		2u
#define ERROR_TOO_MANY_OPEN_FILES	4u
#define ERROR_ACCESS_DENIED		5u
#define ERROR_INVALID_HANDLE		6u
#define ERROR_NOT_ENOUGH_MEMORY		8u
#define ERROR_OUTOFMEMORY		14u
#define ERROR_HANDLE_EOF		38u
#define ERROR_NOT_SUPPORTED		50u
#define ERROR_NETNAME_DELETED		64u
#define ERROR_INVALID_PARAMETER		87u
#define ERROR_BROKEN_PIPE		109u
#define ERROR_DISK_FULL			112u
#define ERROR_SEEK_ON_DEVICE		132u
#define ERROR_SEM_TIMEOUT		121u
#define ERROR_INSUFFICIENT_BUFFER	122u
#define ERROR_ALREADY_EXISTS		183u
#define ERROR_MORE_DATA			234u
#define WAIT_TIMEOUT			258u
#define ERROR_ABANDONED_WAIT_0		735u
#define ERROR_OPERATION_ABORTED		995u
#define ERROR_IO_INCOMPLETE		996u
#define ERROR_IO_PENDING		997u
#define ERROR_NOACCESS			998u
#define ERROR_IO_DEVICE			1117u
#define ERROR_NOT_FOUND			1168u
#define ERROR_CONNECTION_REFUSED	1225u
#define ERROR_ADDRESS_ALREADY_ASSOCIATED 1227u
#define ERROR_CONNECTION_ACTIVE		1230u
#define ERROR_NETWORK_UNREACHABLE	1231u
#define ERROR_HOST_UNREACHABLE		1232u
#define ERROR_CONNECTION_ABORTED	1236u
#define ERROR_NO_SYSTEM_RESOURCES	1450u
#define ERROR_NOT_CONNECTED		2250u
/*
 * An errno value that no Windows code stands for is reported as
 * IOCP_WIN32_ERRNO_BASE + errno (bit 29: application-defined codes).
 */
#define IOCP_WIN32_ERRNO_BASE		0x20000000u

#define WSA_INVALID_HANDLE		ERROR_INVALID_HANDLE
#define WSA_NOT_ENOUGH_MEMORY		ERROR_NOT_ENOUGH_MEMORY
#define WSA_INVALID_PARAMETER		ERROR_INVALID_PARAMETER
#define WSA_OPERATION_ABORTED		ERROR_OPERATION_ABORTED
#define WSA_IO_INCOMPLETE		ERROR_IO_INCOMPLETE
#define WSA_IO_PENDING			ERROR_IO_PENDING
#define WSAEINTR			10004
#define WSAEBADF			10009
#define WSAEACCES			10013
#define WSAEFAULT			10014
#define WSAEINVAL			10022
#define WSAEMFILE			10024
#define WSAEWOULDBLOCK			10035
#define WSAEINPROGRESS			10036
#define WSAEALREADY			10037
#define WSAENOTSOCK			10038
#define WSAEDESTADDRREQ			10039
#define WSAEMSGSIZE			10040
#define WSAEPROTOTYPE			10041
#define WSAENOPROTOOPT			10042
#define WSAEPROTONOSUPPORT		10043
#define WSAESOCKTNOSUPPORT		10044
#define WSAEOPNOTSUPP			10045
#define WSAEAFNOSUPPORT			10047
#define WSAEADDRINUSE			10048
#define WSAEADDRNOTAVAIL		10049
#define WSAENETDOWN			10050
#define WSAENETUNREACH			10051
#define WSAENETRESET			10052
#define WSAECONNABORTED			10053
#define WSAECONNRESET			10054
#define WSAENOBUFS			10055
#define WSAEISCONN			10056
#define WSAENOTCONN			10057
#define WSAESHUTDOWN			10058
#define WSAETIMEDOUT			10060
#define WSAECONNREFUSED			10061
#define WSAEHOSTUNREACH			10065
#define WSASYSNOTREADY			10091
#define WSAVERNOTSUPPORTED		10092
#define WSANOTINITIALISED		10093

DWORD WINAPI GetLastError(void);
void WINAPI SetLastError(DWORD dwErrCode);
int WINAPI WSAGetLastError(void);
void WINAPI WSASetLastError(int iError);

/*
 * errno -> Windows error code: the GetLastError() value (@winsock 0) or
 * the WSAGetLastError() value a Winsock function reports (@winsock 1),
 * e.g. ECONNRESET -> ERROR_NETNAME_DELETED or WSAECONNRESET. 0 -> 0.
 */
DWORD iocp_win32_from_errno(int errnum, int winsock);
/* Windows error code (either kind) -> errno; 0 -> 0, unknown -> EINVAL. */
int iocp_win32_to_errno(DWORD error);

/* ---- I/O completion ports ------------------------------------------------ */

HANDLE WINAPI CreateIoCompletionPort(HANDLE FileHandle,
				     HANDLE ExistingCompletionPort,
				     ULONG_PTR CompletionKey,
				     DWORD NumberOfConcurrentThreads);
BOOL WINAPI GetQueuedCompletionStatus(HANDLE CompletionPort,
				      LPDWORD lpNumberOfBytesTransferred,
				      PULONG_PTR lpCompletionKey,
				      LPOVERLAPPED *lpOverlapped,
				      DWORD dwMilliseconds);
BOOL WINAPI GetQueuedCompletionStatusEx(HANDLE CompletionPort,
					LPOVERLAPPED_ENTRY lpCompletionPortEntries,
					ULONG ulCount,
					PULONG ulNumEntriesRemoved,
					DWORD dwMilliseconds, BOOL fAlertable);
BOOL WINAPI PostQueuedCompletionStatus(HANDLE CompletionPort,
				       DWORD dwNumberOfBytesTransferred,
				       ULONG_PTR dwCompletionKey,
				       LPOVERLAPPED lpOverlapped);
BOOL WINAPI CloseHandle(HANDLE hObject);

#define FILE_SKIP_COMPLETION_PORT_ON_SUCCESS	0x1
#define FILE_SKIP_SET_EVENT_ON_HANDLE		0x2
BOOL WINAPI SetFileCompletionNotificationModes(HANDLE FileHandle, UCHAR Flags);

BOOL WINAPI CancelIo(HANDLE hFile);
BOOL WINAPI CancelIoEx(HANDLE hFile, LPOVERLAPPED lpOverlapped);

/* ---- files --------------------------------------------------------------- */

BOOL WINAPI ReadFile(HANDLE hFile, LPVOID lpBuffer, DWORD nNumberOfBytesToRead,
		     LPDWORD lpNumberOfBytesRead, LPOVERLAPPED lpOverlapped);
BOOL WINAPI WriteFile(HANDLE hFile, LPCVOID lpBuffer,
		      DWORD nNumberOfBytesToWrite,
		      LPDWORD lpNumberOfBytesWritten, LPOVERLAPPED lpOverlapped);
BOOL WINAPI GetOverlappedResult(HANDLE hFile, LPOVERLAPPED lpOverlapped,
				LPDWORD lpNumberOfBytesTransferred, BOOL bWait);

/* ---- Winsock ------------------------------------------------------------- */

#define WSADESCRIPTION_LEN	256
#define WSASYS_STATUS_LEN	128
typedef struct WSAData {
	WORD wVersion;
	WORD wHighVersion;
	unsigned short iMaxSockets;
	unsigned short iMaxUdpDg;
	char *lpVendorInfo;
	char szDescription[WSADESCRIPTION_LEN + 1];
	char szSystemStatus[WSASYS_STATUS_LEN + 1];
} WSADATA, *LPWSADATA;

int WINAPI WSAStartup(WORD wVersionRequested, LPWSADATA lpWSAData);
int WINAPI WSACleanup(void);

typedef struct _WSAPROTOCOL_INFOA *LPWSAPROTOCOL_INFOA;
typedef struct _WSAPROTOCOL_INFOW *LPWSAPROTOCOL_INFOW;
#define WSA_FLAG_OVERLAPPED		0x01
#define WSA_FLAG_NO_HANDLE_INHERIT	0x80
SOCKET WINAPI WSASocketA(int af, int type, int protocol,
			 LPWSAPROTOCOL_INFOA lpProtocolInfo, GROUP g,
			 DWORD dwFlags);
SOCKET WINAPI WSASocketW(int af, int type, int protocol,
			 LPWSAPROTOCOL_INFOW lpProtocolInfo, GROUP g,
			 DWORD dwFlags);
#ifdef UNICODE
#define WSASocket WSASocketW
#else
#define WSASocket WSASocketA
#endif
int WINAPI closesocket(SOCKET s);

#define SD_RECEIVE	SHUT_RD
#define SD_SEND		SHUT_WR
#define SD_BOTH		SHUT_RDWR

/* Windows' MSG_PARTIAL: never set on Linux. */
#ifndef MSG_PARTIAL
#define MSG_PARTIAL	0x8000
#endif

int WINAPI WSARecv(SOCKET s, LPWSABUF lpBuffers, DWORD dwBufferCount,
		   LPDWORD lpNumberOfBytesRecvd, LPDWORD lpFlags,
		   LPWSAOVERLAPPED lpOverlapped,
		   LPWSAOVERLAPPED_COMPLETION_ROUTINE lpCompletionRoutine);
int WINAPI WSASend(SOCKET s, LPWSABUF lpBuffers, DWORD dwBufferCount,
		   LPDWORD lpNumberOfBytesSent, DWORD dwFlags,
		   LPWSAOVERLAPPED lpOverlapped,
		   LPWSAOVERLAPPED_COMPLETION_ROUTINE lpCompletionRoutine);
BOOL WINAPI WSAGetOverlappedResult(SOCKET s, LPWSAOVERLAPPED lpOverlapped,
				   LPDWORD lpcbTransfer, BOOL fWait,
				   LPDWORD lpdwFlags);

BOOL PASCAL AcceptEx(SOCKET sListenSocket, SOCKET sAcceptSocket,
		     PVOID lpOutputBuffer, DWORD dwReceiveDataLength,
		     DWORD dwLocalAddressLength, DWORD dwRemoteAddressLength,
		     LPDWORD lpdwBytesReceived, LPOVERLAPPED lpOverlapped);
void PASCAL GetAcceptExSockaddrs(PVOID lpOutputBuffer,
				 DWORD dwReceiveDataLength,
				 DWORD dwLocalAddressLength,
				 DWORD dwRemoteAddressLength,
				 struct sockaddr **LocalSockaddr,
				 LPINT LocalSockaddrLength,
				 struct sockaddr **RemoteSockaddr,
				 LPINT RemoteSockaddrLength);
BOOL PASCAL ConnectEx(SOCKET s, const struct sockaddr *name, int namelen,
		      PVOID lpSendBuffer, DWORD dwSendDataLength,
		      LPDWORD lpdwBytesSent, LPOVERLAPPED lpOverlapped);

typedef BOOL (PASCAL *LPFN_ACCEPTEX)(SOCKET, SOCKET, PVOID, DWORD, DWORD,
				     DWORD, LPDWORD, LPOVERLAPPED);
typedef void (PASCAL *LPFN_GETACCEPTEXSOCKADDRS)(PVOID, DWORD, DWORD, DWORD,
						 struct sockaddr **, LPINT,
						 struct sockaddr **, LPINT);
typedef BOOL (PASCAL *LPFN_CONNECTEX)(SOCKET, const struct sockaddr *, int,
				      PVOID, DWORD, LPDWORD, LPOVERLAPPED);

/* setsockopt() options that AcceptEx/ConnectEx users set: accepted, no-ops. */
#define SO_UPDATE_ACCEPT_CONTEXT	0x700B
#define SO_UPDATE_CONNECT_CONTEXT	0x7010
int WINAPI iocp_win32_setsockopt(SOCKET s, int level, int optname,
				 const void *optval, socklen_t optlen);

/* WSAIoctl(): SIO_GET_EXTENSION_FUNCTION_POINTER for the three above. */
typedef struct _GUID {
	uint32_t Data1;
	uint16_t Data2;
	uint16_t Data3;
	uint8_t Data4[8];
} GUID;
#define WSAID_ACCEPTEX \
	{ 0xb5367df1, 0xcbac, 0x11cf, \
	  { 0x95, 0xca, 0x00, 0x80, 0x5f, 0x48, 0xa1, 0x92 } }
#define WSAID_CONNECTEX \
	{ 0x25a207b9, 0xddf3, 0x4660, \
	  { 0x8e, 0xe9, 0x76, 0xe5, 0x8c, 0x74, 0x06, 0x3e } }
#define WSAID_GETACCEPTEXSOCKADDRS \
	{ 0xb5367df2, 0xcbac, 0x11cf, \
	  { 0x95, 0xca, 0x00, 0x80, 0x5f, 0x48, 0xa1, 0x92 } }
#define SIO_GET_EXTENSION_FUNCTION_POINTER	0xC8000006u
int WINAPI WSAIoctl(SOCKET s, DWORD dwIoControlCode, LPVOID lpvInBuffer,
		    DWORD cbInBuffer, LPVOID lpvOutBuffer, DWORD cbOutBuffer,
		    LPDWORD lpcbBytesReturned, LPWSAOVERLAPPED lpOverlapped,
		    LPWSAOVERLAPPED_COMPLETION_ROUTINE lpCompletionRoutine);

/* ---- threads, the little a thread pool needs ----------------------------- */

typedef DWORD (WINAPI *LPTHREAD_START_ROUTINE)(LPVOID lpThreadParameter);
typedef struct _SECURITY_ATTRIBUTES *LPSECURITY_ATTRIBUTES;
HANDLE WINAPI CreateThread(LPSECURITY_ATTRIBUTES lpThreadAttributes,
			   SIZE_T dwStackSize,
			   LPTHREAD_START_ROUTINE lpStartAddress,
			   LPVOID lpParameter, DWORD dwCreationFlags,
			   LPDWORD lpThreadId);
BOOL WINAPI GetExitCodeThread(HANDLE hThread, LPDWORD lpExitCode);
DWORD WINAPI GetCurrentThreadId(void);

#define WAIT_OBJECT_0		0u
#define WAIT_ABANDONED		0x80u
#define WAIT_FAILED		0xFFFFFFFFu
#define STILL_ACTIVE		259u
#define MAXIMUM_WAIT_OBJECTS	64
/* Waits on thread handles (signalled when the thread has returned). */
DWORD WINAPI WaitForSingleObject(HANDLE hHandle, DWORD dwMilliseconds);
DWORD WINAPI WaitForMultipleObjects(DWORD nCount, const HANDLE *lpHandles,
				    BOOL bWaitAll, DWORD dwMilliseconds);
void WINAPI Sleep(DWORD dwMilliseconds);

typedef struct _SYSTEM_INFO {
	WORD wProcessorArchitecture;
	WORD wReserved;
	DWORD dwPageSize;
	LPVOID lpMinimumApplicationAddress;
	LPVOID lpMaximumApplicationAddress;
	DWORD_PTR dwActiveProcessorMask;
	DWORD dwNumberOfProcessors;
	DWORD dwProcessorType;
	DWORD dwAllocationGranularity;
	WORD wProcessorLevel;
	WORD wProcessorRevision;
} SYSTEM_INFO, *LPSYSTEM_INFO;
void WINAPI GetSystemInfo(LPSYSTEM_INFO lpSystemInfo);

static inline LONG InterlockedIncrement(LONG volatile *addend)
{
	return __atomic_add_fetch(addend, 1, __ATOMIC_SEQ_CST);
}

static inline LONG InterlockedDecrement(LONG volatile *addend)
{
	return __atomic_sub_fetch(addend, 1, __ATOMIC_SEQ_CST);
}

static inline LONG InterlockedExchangeAdd(LONG volatile *addend, LONG value)
{
	return __atomic_fetch_add(addend, value, __ATOMIC_SEQ_CST);
}

static inline LONG InterlockedExchange(LONG volatile *target, LONG value)
{
	return __atomic_exchange_n(target, value, __ATOMIC_SEQ_CST);
}

static inline LONG InterlockedCompareExchange(LONG volatile *dest,
					      LONG exchange, LONG comparand)
{
	__atomic_compare_exchange_n(dest, &comparand, exchange, 0,
				    __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
	return comparand;
}

#ifdef __cplusplus
}
#endif

#endif /* IOCP_WIN32_H */
