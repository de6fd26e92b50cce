// SPDX-License-Identifier: GPL-2.0
/*
 * Conformance tests for the Win32 layer (<iocp/win32.h>, libiocp-win32).
 *
 * Each test checks one documented rule of a Win32/Winsock function, as
 * Microsoft documents it; the comment above a test quotes or closely
 * paraphrases that rule. Where the layer deliberately differs from Windows
 * (see iocp_win32(7)), the test checks the layer's documented behaviour
 * and its comment says "Differs from Windows: ...".
 *
 * Style as in iocp_test.c: every output is poisoned before a call and
 * checked after it (an output the rule says is not written must still hold
 * the poison); a thread that must still be blocked is proven so by a timed
 * join that times out (BLOCKED_MS), a thread that must wake by a timed join
 * that succeeds within a generous bound (WAKE_MS; guests run under TCG
 * emulation). Before acting on a blocked waiter, the port's statistics
 * (iocp_get_stats() on the port descriptor, which a HANDLE is) are polled
 * until the thread is really asleep in the port. Counts are exact: after
 * the packets a test expects, a dequeue with a zero timeout must time out.
 *
 * Helper threads never use ASSERT/EXPECT (those longjmp to the test's main
 * thread); they record what they saw and the main thread checks it. A
 * helper that must count as running on a port (the concurrency test)
 * spins with sched_yield() instead of sleeping: a thread that blocks lets
 * the port release another in its place (blocking awareness, as Windows).
 *
 * The tests use only the Win32 API on the ports they check, plus
 * iocp_get_stats()/iocp_set_config() on a port's descriptor to observe
 * waiters and queue depth and to set a small max_queued.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <linux/iocp.h>
#include "iocp.h"
#include "iocp/win32.h"

/* As in iocp_test.c: the harness itself is not -Wextra clean. */
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wclobbered"
#include "kselftest_harness.h"
#include "iocp_util.h"

/* A thread that must stay blocked must not return within this. */
#define BLOCKED_MS		200
/* A thread that must wake must do so within this (TCG is slow). */
#define WAKE_MS			5000
/* Bound for polling a state (a waiter asleep, a flag) until reached. */
#define STATE_WAIT_MS		5000

#define POISON_BYTE		0xcc
#define POISON_U32		0xccccccccU
#define POISON_PTR		((uintptr_t)0xccccccccccccccccULL)
#define POISON_OV		((LPOVERLAPPED)POISON_PTR)

/* A descriptor as a HANDLE, and back. */
#define H(fd)			((HANDLE)(intptr_t)(fd))
#define FD(h)			((int)(intptr_t)(h))
#define U(p)			((uintptr_t)(p))

/* ------------------------------------------------------------------ */
/* Small helpers                                                        */
/* ------------------------------------------------------------------ */

static void set_int(int *p, int v)
{
	__atomic_store_n(p, v, __ATOMIC_SEQ_CST);
}

static int get_int(const int *p)
{
	return __atomic_load_n(p, __ATOMIC_SEQ_CST);
}

/* Poll the port's statistics until @want threads wait in it. */
static bool wait_waiting(HANDLE port, uint32_t want)
{
	uint64_t deadline = now_ns() + STATE_WAIT_MS * NSEC_PER_MSEC;
	struct iocp_stats s;

	do {
		if (iocp_get_stats(FD(port), &s))
			return false;
		if (s.waiting == want)
			return true;
		usleep(1000);
	} while (now_ns() < deadline);
	return false;
}

static uint32_t port_queued(HANDLE port)
{
	struct iocp_stats s;

	if (iocp_get_stats(FD(port), &s))
		return UINT32_MAX;
	return s.queued;
}

static HANDLE new_port(DWORD concurrency)
{
	return CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, concurrency);
}

/* Whether @fd is an open descriptor. */
static bool fd_open(int fd)
{
	return fcntl(fd, F_GETFD) >= 0;
}

/* The number of open descriptors of the process. */
static int count_fds(void)
{
	int n = 0;

	for (int fd = 0; fd < 1024; fd++)
		n += fd_open(fd);
	return n;
}

/* ------------------------------------------------------------------ */
/* Dequeuing with poisoned outputs                                      */
/* ------------------------------------------------------------------ */

/* What one GetQueuedCompletionStatus call returned, outputs poisoned first. */
struct gq {
	BOOL ok;
	DWORD err;		/* GetLastError() right after the call */
	DWORD bytes;
	ULONG_PTR key;
	LPOVERLAPPED ov;
};

static void gq_get(HANDLE port, DWORD ms, struct gq *r)
{
	r->bytes = POISON_U32;
	r->key = (ULONG_PTR)POISON_PTR;
	r->ov = POISON_OV;
	SetLastError(POISON_U32);
	r->ok = GetQueuedCompletionStatus(port, &r->bytes, &r->key, &r->ov, ms);
	r->err = GetLastError();
}

/* A successful packet: TRUE and every output written. */
#define EXPECT_GQ_OK(r, b, k, o) do { \
	EXPECT_TRUE((r).ok) TH_LOG("GetQueuedCompletionStatus: FALSE, error %u", (r).err); \
	EXPECT_EQ((DWORD)(b), (r).bytes); \
	EXPECT_EQ((ULONG_PTR)(k), (r).key); \
	EXPECT_EQ(U(o), U((r).ov)); \
} while (0)

/* The packet of a failed op: FALSE, *lpOverlapped set, bytes/key written. */
#define EXPECT_GQ_FAILED(r, e, b, k, o) do { \
	EXPECT_FALSE((r).ok); \
	EXPECT_EQ((DWORD)(e), (r).err); \
	EXPECT_EQ((DWORD)(b), (r).bytes); \
	EXPECT_EQ((ULONG_PTR)(k), (r).key); \
	EXPECT_EQ(U(o), U((r).ov)); \
} while (0)

/* No packet dequeued: FALSE, *lpOverlapped NULL, bytes/key not written. */
#define EXPECT_GQ_NONE(r, e) do { \
	EXPECT_FALSE((r).ok); \
	EXPECT_EQ((DWORD)(e), (r).err); \
	EXPECT_EQ(0UL, U((r).ov)); \
	EXPECT_EQ(POISON_U32, (r).bytes); \
	EXPECT_EQ((ULONG_PTR)POISON_PTR, (r).key); \
} while (0)

/* The port has no packet: a dequeue with timeout 0 times out. */
static bool no_packet(HANDLE port)
{
	struct gq r;

	gq_get(port, 0, &r);
	return !r.ok && r.err == WAIT_TIMEOUT && r.ov == NULL;
}

/* A thread doing one GetQueuedCompletionStatus and recording the outcome. */
struct gq_waiter {
	pthread_t thread;
	HANDLE port;
	DWORD ms;
	int done;		/* atomic: set after the call returned */
	struct gq r;
};

static void *gq_waiter_fn(void *arg)
{
	struct gq_waiter *w = arg;

	gq_get(w->port, w->ms, &w->r);
	set_int(&w->done, 1);
	return NULL;
}

static int start_gq_waiter(struct gq_waiter *w, HANDLE port, DWORD ms)
{
	memset(w, 0, sizeof(*w));
	w->port = port;
	w->ms = ms;
	return pthread_create(&w->thread, NULL, gq_waiter_fn, w);
}

/* ------------------------------------------------------------------ */
/* Files and sockets                                                    */
/* ------------------------------------------------------------------ */

/* A TCP socket listening on 127.0.0.1, its address in *@a. */
static int tcp_listener(struct sockaddr_in *a)
{
	socklen_t len = sizeof(*a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	memset(a, 0, sizeof(*a));
	a->sin_family = AF_INET;
	a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)a, sizeof(*a)) ||
	    listen(fd, 16) ||
	    getsockname(fd, (struct sockaddr *)a, &len)) {
		close(fd);
		return -1;
	}
	return fd;
}

/* A connected TCP pair over loopback: *@c the client, *@s the server. */
static bool tcp_pair(int *c, int *s)
{
	struct sockaddr_in a;
	int l = tcp_listener(&a);

	*c = *s = -1;
	if (l < 0)
		return false;
	*c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (*c >= 0 && !connect(*c, (struct sockaddr *)&a, sizeof(a)))
		*s = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	close(l);
	return *c >= 0 && *s >= 0;
}

/* Poll until @n bytes can be read from socket @fd at once. */
static bool wait_readable(int fd, size_t n)
{
	uint64_t deadline = now_ns() + STATE_WAIT_MS * NSEC_PER_MSEC;
	char buf[256];

	do {
		if (recv(fd, buf, n < sizeof(buf) ? n : sizeof(buf),
			 MSG_PEEK | MSG_DONTWAIT) >= (ssize_t)n)
			return true;
		usleep(1000);
	} while (now_ns() < deadline);
	return false;
}

/* recv(2) that gives up after WAKE_MS (-1, EAGAIN) instead of hanging. */
static ssize_t recv_timed(int fd, char *buf, size_t len)
{
	struct timeval tv = { WAKE_MS / 1000, 0 };

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return recv(fd, buf, len, 0);
}

static bool unix_pair(int sv[2])
{
	return socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0;
}

/* A new empty regular file in /tmp, opened read-write. */
static int tmp_file(void)
{
	char path[] = "/tmp/iocp_win32.XXXXXX";
	int fd = mkostemp(path, O_CLOEXEC);

	if (fd >= 0)
		unlink(path);
	return fd;
}

/* ------------------------------------------------------------------ */
/* GetQueuedCompletionStatus                                            */
/* ------------------------------------------------------------------ */

/*
 * GetQueuedCompletionStatus: "If the function dequeues a completion packet
 * for a successful I/O operation from the completion port, the return
 * value is nonzero. The function stores information in the variables
 * pointed to by the lpNumberOfBytesTransferred, lpCompletionKey, and
 * lpOverlapped parameters." The OVERLAPPED's Internal gets the status
 * (STATUS_SUCCESS) and InternalHigh the bytes transferred.
 */
TEST(gqcs_success_packet)
{
	OVERLAPPED ov;
	char buf[16];
	DWORD flags = 0, n = POISON_U32;
	WSABUF wb = { sizeof(buf), buf };
	HANDLE port;
	struct gq r;
	int sv[2];

	ASSERT_TRUE(unix_pair(sv));
	port = new_port(0);
	ASSERT_NE(NULL, port);
	ASSERT_EQ(port, CreateIoCompletionPort(H(sv[0]), port, 0x51, 0));
	memset(&ov, 0, sizeof(ov));
	ASSERT_EQ(SOCKET_ERROR, WSARecv(sv[0], &wb, 1, &n, &flags, &ov, NULL));
	ASSERT_EQ(WSA_IO_PENDING, WSAGetLastError());
	ASSERT_EQ(6, write(sv[1], "abcdef", 6));

	gq_get(port, WAKE_MS, &r);
	EXPECT_GQ_OK(r, 6, 0x51, &ov);
	EXPECT_EQ(STATUS_SUCCESS, (DWORD)ov.Internal);
	EXPECT_EQ(6UL, ov.InternalHigh);
	EXPECT_EQ(0, memcmp(buf, "abcdef", 6));
	EXPECT_TRUE(no_packet(port));
	EXPECT_TRUE(CloseHandle(port));
	close(sv[0]);
	close(sv[1]);
}

/*
 * PostQueuedCompletionStatus: "The system does not use or validate these
 * values. In particular, the lpOverlapped parameter need not point to an
 * OVERLAPPED structure." So a posted packet, even with lpOverlapped NULL,
 * is dequeued as a success: GetQueuedCompletionStatus returns nonzero and
 * stores the three values.
 */
TEST(gqcs_posted_packet_null_overlapped)
{
	HANDLE port = new_port(0);
	struct gq r;

	ASSERT_NE(NULL, port);
	ASSERT_TRUE(PostQueuedCompletionStatus(port, 77, 0x1234, NULL));
	gq_get(port, 0, &r);
	EXPECT_GQ_OK(r, 77, 0x1234, NULL);
	EXPECT_TRUE(no_packet(port));
	EXPECT_TRUE(CloseHandle(port));
}

/*
 * Whether overlapped ReadFile/WriteFile work on pipes with this kernel and
 * module (they need non-blocking pipe I/O, FMODE_NOWAIT). Where they do
 * not, the tests of pipe-only rules skip, and the other ReadFile/WriteFile
 * tests use a UNIX socketpair instead of a pipe.
 */
static int pipe_ops = -1;

static bool pipe_ops_work(void)
{
	OVERLAPPED ov;
	HANDLE port;
	char b;
	int p[2];

	if (pipe_ops >= 0)
		return pipe_ops;
	port = new_port(0);
	if (!port || pipe2(p, O_CLOEXEC))
		return false;
	memset(&ov, 0, sizeof(ov));
	pipe_ops = 1;
	if (CreateIoCompletionPort(H(p[0]), port, 0, 0) == port &&
	    !ReadFile(H(p[0]), &b, 1, NULL, &ov) &&
	    GetLastError() == ERROR_NOT_SUPPORTED)
		pipe_ops = 0;
	CloseHandle(H(p[0]));
	close(p[1]);
	CloseHandle(port);
	return pipe_ops;
}

/* A byte stream for ReadFile/WriteFile: a pipe, or a UNIX socketpair. */
static bool stream_pair(int p[2])
{
	if (pipe_ops_work())
		return pipe2(p, O_CLOEXEC) == 0;
	return unix_pair(p);
}

#define NEED_PIPE_OPS() do { \
	if (!pipe_ops_work()) \
		SKIP(return, "overlapped ReadFile on a pipe fails with ERROR_NOT_SUPPORTED on this kernel (no FMODE_NOWAIT on pipes)"); \
} while (0)

/*
 * GetQueuedCompletionStatus: "If *lpOverlapped is not NULL and the
 * function dequeues a completion packet for a failed I/O operation from
 * the completion port, the function stores information about the failed
 * operation in the variables pointed to by lpNumberOfBytesTransferred,
 * lpCompletionKey, and lpOverlapped. To get extended error information,
 * call GetLastError." CancelIoEx: "the operation was canceled. GetLastError
 * returns ERROR_OPERATION_ABORTED." Internal: STATUS_CANCELLED.
 */
TEST(gqcs_failed_packet_cancelled)
{
	OVERLAPPED ov;
	char buf[8];
	DWORD flags = 0;
	WSABUF wb = { sizeof(buf), buf };
	HANDLE port;
	struct gq r;
	int sv[2];

	ASSERT_TRUE(unix_pair(sv));
	port = new_port(0);
	ASSERT_NE(NULL, port);
	ASSERT_EQ(port, CreateIoCompletionPort(H(sv[0]), port, 0x52, 0));
	memset(&ov, 0, sizeof(ov));
	ASSERT_EQ(SOCKET_ERROR, WSARecv(sv[0], &wb, 1, NULL, &flags, &ov, NULL));
	ASSERT_EQ(WSA_IO_PENDING, WSAGetLastError());
	ASSERT_TRUE(CancelIoEx(H(sv[0]), &ov));

	gq_get(port, WAKE_MS, &r);
	EXPECT_GQ_FAILED(r, ERROR_OPERATION_ABORTED, 0, 0x52, &ov);
	EXPECT_EQ(STATUS_CANCELLED, (DWORD)ov.Internal);
	EXPECT_EQ(0UL, ov.InternalHigh);
	EXPECT_TRUE(no_packet(port));
	EXPECT_TRUE(CloseHandle(port));
	close(sv[0]);
	close(sv[1]);
}

/*
 * GetQueuedCompletionStatus, failed operation: a connection reset by the
 * peer (an abortive close: SO_LINGER with a zero timeout) fails the
 * pending WSARecv; Windows reports it to GetQueuedCompletionStatus as
 * ERROR_NETNAME_DELETED ("The specified network name is no longer
 * available"), Internal STATUS_CONNECTION_RESET. FALSE, *lpOverlapped set.
 */
TEST(gqcs_failed_packet_connection_reset)
{
	struct linger lg = { 1, 0 };
	OVERLAPPED ov;
	char buf[8];
	DWORD flags = 0;
	WSABUF wb = { sizeof(buf), buf };
	HANDLE port;
	struct gq r;
	int c, s;

	ASSERT_TRUE(tcp_pair(&c, &s));
	port = new_port(0);
	ASSERT_NE(NULL, port);
	ASSERT_EQ(port, CreateIoCompletionPort(H(s), port, 0x53, 0));
	memset(&ov, 0, sizeof(ov));
	ASSERT_EQ(SOCKET_ERROR, WSARecv(s, &wb, 1, NULL, &flags, &ov, NULL));
	ASSERT_EQ(WSA_IO_PENDING, WSAGetLastError());
	ASSERT_EQ(0, setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)));
	ASSERT_EQ(0, close(c));

	gq_get(port, WAKE_MS, &r);
	EXPECT_GQ_FAILED(r, ERROR_NETNAME_DELETED, 0, 0x53, &ov);
	EXPECT_EQ(STATUS_CONNECTION_RESET, (DWORD)ov.Internal);
	EXPECT_TRUE(no_packet(port));
	EXPECT_TRUE(CloseHandle(port));
	EXPECT_EQ(0, closesocket(s));
}

/*
 * ReadFile, asynchronous handle: "If EOF is detected during subsequent
 * asynchronous operations, the call to GetOverlappedResult to obtain the
 * results of that operation returns FALSE and GetLastError returns
 * ERROR_HANDLE_EOF." Through the port: GetQueuedCompletionStatus returns
 * FALSE with *lpOverlapped set, 0 bytes, the key, ERROR_HANDLE_EOF
 * (Internal STATUS_END_OF_FILE). The layer may also detect EOF at once
 * (FALSE, ERROR_HANDLE_EOF, no packet); either way exactly one report.
 */
TEST(gqcs_failed_packet_eof)
{
	OVERLAPPED ov;
	char buf[16];
	HANDLE port;
	struct gq r;
	int fd;

	fd = tmp_file();
	ASSERT_LE(0, fd);
	ASSERT_EQ(10, pwrite(fd, "0123456789", 10, 0));
	port = new_port(0);
	ASSERT_NE(NULL, port);
	ASSERT_EQ(port, CreateIoCompletionPort(H(fd), port, 0x54, 0));

	for (int i = 0; i < 2; i++) {
		memset(&ov, 0, sizeof(ov));
		ov.Offset = i ? 4096 : 10;	/* at EOF, then past it */
		SetLastError(POISON_U32);
		ASSERT_FALSE(ReadFile(H(fd), buf, sizeof(buf), NULL, &ov));
		if (GetLastError() == ERROR_HANDLE_EOF) {
			TH_LOG("EOF reported at once, offset %u", ov.Offset);
			EXPECT_TRUE(no_packet(port));
			continue;
		}
		ASSERT_EQ(ERROR_IO_PENDING, GetLastError());
		gq_get(port, WAKE_MS, &r);
		EXPECT_GQ_FAILED(r, ERROR_HANDLE_EOF, 0, 0x54, &ov);
		EXPECT_EQ(STATUS_END_OF_FILE, (DWORD)ov.Internal);
		EXPECT_EQ(0UL, ov.InternalHigh);
		EXPECT_TRUE(no_packet(port));
	}
	EXPECT_TRUE(CloseHandle(port));
	EXPECT_TRUE(CloseHandle(H(fd)));
}

/*
 * ReadFile: "If an anonymous pipe is being used and the write handle has
 * been closed, when ReadFile attempts to read using the pipe's
 * corresponding read handle, the function returns FALSE and GetLastError
 * returns ERROR_BROKEN_PIPE." A pending read completes that way through
 * the port (Internal STATUS_PIPE_BROKEN).
 */
TEST(gqcs_failed_packet_broken_pipe)
{
	OVERLAPPED ov;
	char buf[8];
	HANDLE port;
	struct gq r;
	int p[2];

	NEED_PIPE_OPS();
	ASSERT_EQ(0, pipe2(p, O_CLOEXEC));
	port = new_port(0);
	ASSERT_NE(NULL, port);
	ASSERT_EQ(port, CreateIoCompletionPort(H(p[0]), port, 0x55, 0));
	memset(&ov, 0, sizeof(ov));
	ASSERT_FALSE(ReadFile(H(p[0]), buf, sizeof(buf), NULL, &ov));
	ASSERT_EQ(ERROR_IO_PENDING, GetLastError());
	EXPECT_TRUE(no_packet(port));
	ASSERT_EQ(0, close(p[1]));

	gq_get(port, WAKE_MS, &r);
	EXPECT_GQ_FAILED(r, ERROR_BROKEN_PIPE, 0, 0x55, &ov);
	EXPECT_EQ(STATUS_PIPE_BROKEN, (DWORD)ov.Internal);
	EXPECT_TRUE(no_packet(port));
	EXPECT_TRUE(CloseHandle(port));
	EXPECT_TRUE(CloseHandle(H(p[0])));
}

/*
 * GetQueuedCompletionStatus, dwMilliseconds: "If a completion packet does
 * not appear within the specified time, the function times out, returns
 * FALSE, and sets *lpOverlapped to NULL. ... If dwMilliseconds is zero and
 * there is no I/O operation to dequeue, the function will time out
 * immediately." "If *lpOverlapped is NULL, the function did not dequeue a
 * completion packet from the completion port. In this case, the function
 * does not store information in the variables pointed to by the
 * lpNumberOfBytesTransferred and lpCompletionKey parameters"; GetLastError
 * returns WAIT_TIMEOUT. A pending op that does not complete changes
 * nothing.
 */
TEST(gqcs_timeout)
{
	OVERLAPPED ov;
	char buf[8];
	DWORD flags = 0;
	WSABUF wb = { sizeof(buf), buf };
	uint64_t t0, spent;
	HANDLE port;
	struct gq r;
	int sv[2];

	port = new_port(0);
	ASSERT_NE(NULL, port);
	gq_get(port, 0, &r);
	EXPECT_GQ_NONE(r, WAIT_TIMEOUT);

	t0 = now_ns();
	gq_get(port, 100, &r);
	spent = now_ns() - t0;
	EXPECT_GQ_NONE(r, WAIT_TIMEOUT);
	EXPECT_LE(100 * NSEC_PER_MSEC, spent + NSEC_PER_MSEC)
		TH_LOG("a 100 ms wait returned after %llu ns", (unsigned long long)spent);

	ASSERT_TRUE(unix_pair(sv));
	ASSERT_EQ(port, CreateIoCompletionPort(H(sv[0]), port, 1, 0));
	memset(&ov, 0, sizeof(ov));
	ASSERT_EQ(SOCKET_ERROR, WSARecv(sv[0], &wb, 1, NULL, &flags, &ov, NULL));
	ASSERT_EQ(WSA_IO_PENDING, WSAGetLastError());
	gq_get(port, 50, &r);
	EXPECT_GQ_NONE(r, WAIT_TIMEOUT);
	gq_get(port, 0, &r);
	EXPECT_GQ_NONE(r, WAIT_TIMEOUT);
	EXPECT_FALSE(HasOverlappedIoCompleted(&ov));
	EXPECT_TRUE(CloseHandle(port));
	close(sv[0]);
	close(sv[1]);
}

/*
 * GetQueuedCompletionStatus: "If a call to GetQueuedCompletionStatus fails
 * because the completion port handle associated with it is closed while
 * the call is outstanding, the function returns FALSE, *lpOverlapped will
 * be NULL, and GetLastError will return ERROR_ABANDONED_WAIT_0."
 */
TEST(gqcs_port_closed_while_waiting)
{
	struct gq_waiter w;
	HANDLE port = new_port(0);

	ASSERT_NE(NULL, port);
	ASSERT_EQ(0, start_gq_waiter(&w, port, INFINITE));
	ASSERT_TRUE(wait_waiting(port, 1));
	EXPECT_EQ(ETIMEDOUT, join_ms(w.thread, BLOCKED_MS))
		TH_LOG("the INFINITE waiter returned before the port was closed");
	EXPECT_EQ(0, get_int(&w.done));

	ASSERT_TRUE(CloseHandle(port));
	ASSERT_EQ(0, join_ms(w.thread, WAKE_MS))
		TH_LOG("closing the port did not end the wait");
	EXPECT_GQ_NONE(w.r, ERROR_ABANDONED_WAIT_0);
}

/*
 * GetQueuedCompletionStatus: CompletionPort is "A handle to the completion
 * port"; a handle that is not one (closed, NULL, a pipe) fails: FALSE,
 * *lpOverlapped NULL, ERROR_INVALID_HANDLE (the system error for a bad
 * handle), nothing else written. Our layer: lpOverlapped itself NULL is
 * ERROR_INVALID_PARAMETER.
 */
TEST(gqcs_invalid_handle)
{
	HANDLE port = new_port(0), closed;
	DWORD bytes = POISON_U32;
	ULONG_PTR key = (ULONG_PTR)POISON_PTR;
	struct gq r;
	int p[2];

	ASSERT_NE(NULL, port);
	closed = port;
	ASSERT_TRUE(CloseHandle(port));
	gq_get(closed, 0, &r);
	EXPECT_GQ_NONE(r, ERROR_INVALID_HANDLE);
	gq_get(NULL, 0, &r);
	EXPECT_GQ_NONE(r, ERROR_INVALID_HANDLE);
	gq_get(INVALID_HANDLE_VALUE, 0, &r);
	EXPECT_GQ_NONE(r, ERROR_INVALID_HANDLE);
	ASSERT_EQ(0, pipe2(p, O_CLOEXEC));
	gq_get(H(p[0]), 0, &r);
	EXPECT_GQ_NONE(r, ERROR_INVALID_HANDLE);
	close(p[0]);
	close(p[1]);

	port = new_port(0);
	ASSERT_NE(NULL, port);
	ASSERT_TRUE(PostQueuedCompletionStatus(port, 1, 2, NULL));
	SetLastError(POISON_U32);
	EXPECT_FALSE(GetQueuedCompletionStatus(port, &bytes, &key, NULL, 0));
	EXPECT_EQ(ERROR_INVALID_PARAMETER, GetLastError());
	EXPECT_EQ(POISON_U32, bytes);
	/* The packet is still there. */
	gq_get(port, 0, &r);
	EXPECT_GQ_OK(r, 1, 2, NULL);
	EXPECT_TRUE(CloseHandle(port));
}

/*
 * GetQueuedCompletionStatus: "If dwMilliseconds is INFINITE, the function
 * will never time out." The waiter stays blocked until a packet comes,
 * then returns it.
 */
TEST(gqcs_infinite_waits_for_packet)
{
	struct gq_waiter w;
	HANDLE port = new_port(0);

	ASSERT_NE(NULL, port);
	ASSERT_EQ(0, start_gq_waiter(&w, port, INFINITE));
	ASSERT_TRUE(wait_waiting(port, 1));
	EXPECT_EQ(ETIMEDOUT, join_ms(w.thread, BLOCKED_MS));
	EXPECT_EQ(ETIMEDOUT, join_ms(w.thread, BLOCKED_MS));
	ASSERT_TRUE(PostQueuedCompletionStatus(port, 3, 4, (LPOVERLAPPED)0x50));
	ASSERT_EQ(0, join_ms(w.thread, WAKE_MS));
	EXPECT_GQ_OK(w.r, 3, 4, 0x50);
	EXPECT_TRUE(CloseHandle(port));
}

/* ------------------------------------------------------------------ */
/* GetQueuedCompletionStatusEx                                          */
/* ------------------------------------------------------------------ */

/* What one GetQueuedCompletionStatusEx call returned, outputs poisoned. */
struct gqx {
	BOOL ok;
	DWORD err;
	ULONG removed;
	OVERLAPPED_ENTRY e[8];
};

static void gqx_get(HANDLE port, ULONG count, DWORD ms, BOOL alertable,
		    struct gqx *r)
{
	memset(r->e, POISON_BYTE, sizeof(r->e));
	r->removed = POISON_U32;
	SetLastError(POISON_U32);
	r->ok = GetQueuedCompletionStatusEx(port, r->e, count, &r->removed, ms,
					    alertable);
	r->err = GetLastError();
}

#define EXPECT_ENTRY(en, b, k, o, st) do { \
	EXPECT_EQ((DWORD)(b), (en).dwNumberOfBytesTransferred); \
	EXPECT_EQ((ULONG_PTR)(k), (en).lpCompletionKey); \
	EXPECT_EQ(U(o), U((en).lpOverlapped)); \
	EXPECT_EQ((ULONG_PTR)(st), (en).Internal); \
} while (0)

static bool is_poison(const void *p, size_t len)
{
	const unsigned char *c = p;

	for (size_t i = 0; i < len; i++)
		if (c[i] != POISON_BYTE)
			return false;
	return true;
}

/* Poll until @n packets are queued on the port. */
static bool wait_queued(HANDLE port, uint32_t n)
{
	uint64_t deadline = now_ns() + STATE_WAIT_MS * NSEC_PER_MSEC;

	do {
		if (port_queued(port) == n)
			return true;
		usleep(1000);
	} while (now_ns() < deadline);
	return false;
}

/*
 * GetQueuedCompletionStatusEx: "Retrieves multiple completion port entries
 * simultaneously." lpCompletionPortEntries "Receives an array of
 * OVERLAPPED_ENTRY structures that hold the entries. The number of array
 * elements is provided by ulNumEntriesRemoved. The number of bytes
 * transferred during each I/O, the completion key that indicates on which
 * file each I/O occurred, and the overlapped structure address used in
 * each original I/O are all returned". The entries come in queue order;
 * the entry of a failed op does not make the call fail: its Internal holds
 * the op's NTSTATUS (STATUS_CANCELLED), as does its OVERLAPPED.
 */
TEST(gqcsex_several_entries)
{
	OVERLAPPED ov1, ov2;
	char b1[8], b2[8];
	DWORD flags = 0;
	WSABUF w1 = { sizeof(b1), b1 }, w2 = { sizeof(b2), b2 };
	HANDLE port;
	struct gqx r;
	int a[2], b[2];

	ASSERT_TRUE(unix_pair(a));
	ASSERT_TRUE(unix_pair(b));
	port = new_port(0);
	ASSERT_NE(NULL, port);
	ASSERT_EQ(port, CreateIoCompletionPort(H(a[0]), port, 0xA1, 0));
	ASSERT_EQ(port, CreateIoCompletionPort(H(b[0]), port, 0xB1, 0));
	memset(&ov1, 0, sizeof(ov1));
	memset(&ov2, 0, sizeof(ov2));

	ASSERT_TRUE(PostQueuedCompletionStatus(port, 10, 0xA, (LPOVERLAPPED)0x100));
	ASSERT_EQ(SOCKET_ERROR, WSARecv(a[0], &w1, 1, NULL, &flags, &ov1, NULL));
	ASSERT_EQ(WSA_IO_PENDING, WSAGetLastError());
	ASSERT_TRUE(CancelIoEx(H(a[0]), &ov1));
	ASSERT_TRUE(wait_queued(port, 2));
	ASSERT_EQ(SOCKET_ERROR, WSARecv(b[0], &w2, 1, NULL, &flags, &ov2, NULL));
	ASSERT_EQ(WSA_IO_PENDING, WSAGetLastError());
	ASSERT_EQ(5, write(b[1], "hello", 5));
	ASSERT_TRUE(wait_queued(port, 3));
	ASSERT_TRUE(PostQueuedCompletionStatus(port, 20, 0xB, (LPOVERLAPPED)0x200));

	gqx_get(port, 8, 0, FALSE, &r);
	EXPECT_TRUE(r.ok) TH_LOG("GetQueuedCompletionStatusEx: error %u", r.err);
	ASSERT_EQ(4U, r.removed);
	EXPECT_ENTRY(r.e[0], 10, 0xA, 0x100, STATUS_SUCCESS);
	EXPECT_ENTRY(r.e[1], 0, 0xA1, &ov1, STATUS_CANCELLED);
	EXPECT_ENTRY(r.e[2], 5, 0xB1, &ov2, STATUS_SUCCESS);
	EXPECT_ENTRY(r.e[3], 20, 0xB, 0x200, STATUS_SUCCESS);
	EXPECT_TRUE(is_poison(&r.e[4], 4 * sizeof(r.e[0])));
	EXPECT_EQ(STATUS_CANCELLED, (DWORD)ov1.Internal);
	EXPECT_EQ(0UL, ov1.InternalHigh);
	EXPECT_EQ(STATUS_SUCCESS, (DWORD)ov2.Internal);
	EXPECT_EQ(5UL, ov2.InternalHigh);
	EXPECT_EQ(0, memcmp(b2, "hello", 5));
	EXPECT_TRUE(no_packet(port));
	EXPECT_TRUE(CloseHandle(port));
	close(a[0]);
	close(a[1]);
	close(b[0]);
	close(b[1]);
}

/*
 * GetQueuedCompletionStatusEx: ulCount is "The maximum number of entries
 * to remove"; ulNumEntriesRemoved "receives the number of entries actually
 * removed". Entries past that number are not written; the rest stay
 * queued, in order, for the next call.
 */
TEST(gqcsex_ulcount_limit)
{
	HANDLE port = new_port(0);
	struct gqx r;

	ASSERT_NE(NULL, port);
	for (int i = 0; i < 5; i++)
		ASSERT_TRUE(PostQueuedCompletionStatus(port, i, 100 + i,
						       (LPOVERLAPPED)(uintptr_t)(0x1000 + i)));
	gqx_get(port, 2, 0, FALSE, &r);
	EXPECT_TRUE(r.ok);
	ASSERT_EQ(2U, r.removed);
	EXPECT_ENTRY(r.e[0], 0, 100, 0x1000, 0);
	EXPECT_ENTRY(r.e[1], 1, 101, 0x1001, 0);
	EXPECT_TRUE(is_poison(&r.e[2], 6 * sizeof(r.e[0])));

	gqx_get(port, 1, 0, FALSE, &r);
	EXPECT_TRUE(r.ok);
	ASSERT_EQ(1U, r.removed);
	EXPECT_ENTRY(r.e[0], 2, 102, 0x1002, 0);
	EXPECT_TRUE(is_poison(&r.e[1], 7 * sizeof(r.e[0])));

	gqx_get(port, 8, 0, FALSE, &r);
	EXPECT_TRUE(r.ok);
	ASSERT_EQ(2U, r.removed);
	EXPECT_ENTRY(r.e[0], 3, 103, 0x1003, 0);
	EXPECT_ENTRY(r.e[1], 4, 104, 0x1004, 0);
	EXPECT_TRUE(is_poison(&r.e[2], 6 * sizeof(r.e[0])));
	EXPECT_TRUE(no_packet(port));
	EXPECT_TRUE(CloseHandle(port));
}

/*
 * GetQueuedCompletionStatusEx, dwMilliseconds: "If a completion packet
 * does not appear within the specified time, the function times out and
 * returns FALSE." "If dwMilliseconds is zero and there are no I/O
 * operations to dequeue, the function will time out immediately."
 * GetLastError is WAIT_TIMEOUT and no entry is removed (0). Differs from
 * Windows: with fAlertable TRUE the wait is the same (no APCs or
 * completion routines exist, so never WAIT_IO_COMPLETION).
 */
TEST(gqcsex_timeout)
{
	HANDLE port = new_port(0);
	uint64_t t0, spent;
	struct gqx r;

	ASSERT_NE(NULL, port);
	gqx_get(port, 8, 0, FALSE, &r);
	EXPECT_FALSE(r.ok);
	EXPECT_EQ(WAIT_TIMEOUT, r.err);
	EXPECT_EQ(0U, r.removed);
	EXPECT_TRUE(is_poison(r.e, sizeof(r.e)));

	t0 = now_ns();
	gqx_get(port, 8, 100, TRUE, &r);
	spent = now_ns() - t0;
	EXPECT_FALSE(r.ok);
	EXPECT_EQ(WAIT_TIMEOUT, r.err);
	EXPECT_EQ(0U, r.removed);
	EXPECT_TRUE(is_poison(r.e, sizeof(r.e)));
	EXPECT_LE(100 * NSEC_PER_MSEC, spent + NSEC_PER_MSEC);

	/* fAlertable TRUE dequeues like FALSE. */
	ASSERT_TRUE(PostQueuedCompletionStatus(port, 1, 2, (LPOVERLAPPED)3));
	gqx_get(port, 8, 0, TRUE, &r);
	EXPECT_TRUE(r.ok);
	ASSERT_EQ(1U, r.removed);
	EXPECT_ENTRY(r.e[0], 1, 2, 3, 0);
	EXPECT_TRUE(CloseHandle(port));
}

/*
 * GetQueuedCompletionStatusEx: "Returns nonzero (TRUE) if successful or
 * zero (FALSE) otherwise. To get extended error information, call
 * GetLastError." Invalid parameters (ulCount 0, no entry array, no
 * ulNumEntriesRemoved): FALSE, ERROR_INVALID_PARAMETER; a handle that is
 * not a port: ERROR_INVALID_HANDLE. Nothing is dequeued.
 */
TEST(gqcsex_invalid_params)
{
	HANDLE port = new_port(0), closed;
	OVERLAPPED_ENTRY e[2];
	ULONG removed;
	struct gqx r;
	int p[2];

	ASSERT_NE(NULL, port);
	ASSERT_TRUE(PostQueuedCompletionStatus(port, 1, 1, NULL));
	gqx_get(port, 0, 0, FALSE, &r);
	EXPECT_FALSE(r.ok);
	EXPECT_EQ(ERROR_INVALID_PARAMETER, r.err);
	EXPECT_TRUE(is_poison(r.e, sizeof(r.e)));

	SetLastError(POISON_U32);
	EXPECT_FALSE(GetQueuedCompletionStatusEx(port, NULL, 2, &removed, 0, FALSE));
	EXPECT_EQ(ERROR_INVALID_PARAMETER, GetLastError());
	memset(e, POISON_BYTE, sizeof(e));
	SetLastError(POISON_U32);
	EXPECT_FALSE(GetQueuedCompletionStatusEx(port, e, 2, NULL, 0, FALSE));
	EXPECT_EQ(ERROR_INVALID_PARAMETER, GetLastError());
	EXPECT_TRUE(is_poison(e, sizeof(e)));
	EXPECT_EQ(1U, port_queued(port)) TH_LOG("an invalid call dequeued");

	gqx_get(NULL, 2, 0, FALSE, &r);
	EXPECT_FALSE(r.ok);
	EXPECT_EQ(ERROR_INVALID_HANDLE, r.err);
	EXPECT_EQ(0U, r.removed);
	ASSERT_EQ(0, pipe2(p, O_CLOEXEC));
	gqx_get(H(p[0]), 2, 0, FALSE, &r);
	EXPECT_FALSE(r.ok);
	EXPECT_EQ(ERROR_INVALID_HANDLE, r.err);
	EXPECT_EQ(0U, r.removed);
	close(p[0]);
	close(p[1]);

	closed = port;
	ASSERT_TRUE(CloseHandle(port));
	gqx_get(closed, 2, 0, FALSE, &r);
	EXPECT_FALSE(r.ok);
	EXPECT_EQ(ERROR_INVALID_HANDLE, r.err);
	EXPECT_EQ(0U, r.removed);
}

/* A thread doing one GetQueuedCompletionStatusEx (INFINITE). */
struct gqx_waiter {
	pthread_t thread;
	HANDLE port;
	struct gqx r;
};

static void *gqx_waiter_fn(void *arg)
{
	struct gqx_waiter *w = arg;

	gqx_get(w->port, 8, INFINITE, FALSE, &w->r);
	return NULL;
}

/*
 * GetQueuedCompletionStatusEx, like GetQueuedCompletionStatus: a port
 * closed while the call waits ends it with FALSE and
 * ERROR_ABANDONED_WAIT_0; no entry removed.
 */
TEST(gqcsex_port_closed_while_waiting)
{
	struct gqx_waiter w;
	HANDLE port = new_port(0);

	ASSERT_NE(NULL, port);
	memset(&w, 0, sizeof(w));
	w.port = port;
	ASSERT_EQ(0, pthread_create(&w.thread, NULL, gqx_waiter_fn, &w));
	ASSERT_TRUE(wait_waiting(port, 1));
	EXPECT_EQ(ETIMEDOUT, join_ms(w.thread, BLOCKED_MS));
	ASSERT_TRUE(CloseHandle(port));
	ASSERT_EQ(0, join_ms(w.thread, WAKE_MS));
	EXPECT_FALSE(w.r.ok);
	EXPECT_EQ(ERROR_ABANDONED_WAIT_0, w.r.err);
	EXPECT_EQ(0U, w.r.removed);
	EXPECT_TRUE(is_poison(w.r.e, sizeof(w.r.e)));
}

/* ------------------------------------------------------------------ */
/* PostQueuedCompletionStatus                                           */
/* ------------------------------------------------------------------ */

/*
 * PostQueuedCompletionStatus: "The completion packet will satisfy an
 * outstanding call to the GetQueuedCompletionStatus function. This
 * function returns with the three values passed as the second, third, and
 * fourth parameters of the call to PostQueuedCompletionStatus. The system
 * does not use or validate these values. In particular, the lpOverlapped
 * parameter need not point to an OVERLAPPED structure." Exact values,
 * every bit of a 32-bit byte count and 64-bit key and pointer, in FIFO
 * order; the pointers here point nowhere.
 */
TEST(post_round_trip_exact_values)
{
	static const struct {
		DWORD bytes;
		ULONG_PTR key;
		uintptr_t ov;
	} v[] = {
		{ 0xFFFFFFFFu, ~(ULONG_PTR)0, ~(uintptr_t)0 },
		{ 0, 0, 0 },
		{ 0x80000000u, (ULONG_PTR)1 << 63, (uintptr_t)1 << 63 },
		{ 0x12345678u, 0xFEDCBA9876543210ull, 0x0123456789ABCDEFull },
		{ 1, 0xFFFFFFFFull, 0xFFFFFFFF00000001ull },
	};
	HANDLE port = new_port(0);
	OVERLAPPED real;
	struct gqx x;
	struct gq r;
	unsigned int i;

	ASSERT_NE(NULL, port);
	for (i = 0; i < 5; i++)
		ASSERT_TRUE(PostQueuedCompletionStatus(port, v[i].bytes, v[i].key,
						       (LPOVERLAPPED)v[i].ov));
	for (i = 0; i < 5; i++) {
		gq_get(port, 0, &r);
		EXPECT_GQ_OK(r, v[i].bytes, v[i].key, v[i].ov);
	}
	EXPECT_TRUE(no_packet(port));

	for (i = 0; i < 5; i++)
		ASSERT_TRUE(PostQueuedCompletionStatus(port, v[i].bytes, v[i].key,
						       (LPOVERLAPPED)v[i].ov));
	gqx_get(port, 8, 0, FALSE, &x);
	EXPECT_TRUE(x.ok);
	ASSERT_EQ(5U, x.removed);
	for (i = 0; i < 5; i++)
		EXPECT_ENTRY(x.e[i], v[i].bytes, v[i].key, v[i].ov, 0);
	EXPECT_TRUE(no_packet(port));

	/* A real OVERLAPPED is passed through, not written. */
	memset(&real, POISON_BYTE, sizeof(real));
	ASSERT_TRUE(PostQueuedCompletionStatus(port, 9, 8, &real));
	gq_get(port, 0, &r);
	EXPECT_GQ_OK(r, 9, 8, &real);
	EXPECT_TRUE(is_poison(&real, sizeof(real)));
	EXPECT_TRUE(CloseHandle(port));
}

/*
 * PostQueuedCompletionStatus: "If the function fails, the return value is
 * zero. To get extended error information, call GetLastError." A handle
 * that is not a port: ERROR_INVALID_HANDLE. Our layer: a port whose queue
 * is full (its max_queued) fails with ERROR_NO_SYSTEM_RESOURCES, and the
 * packets queued before are intact.
 */
TEST(post_failures)
{
	struct iocp_config cfg;
	HANDLE port = new_port(0), closed;
	struct gq r;
	int p[2];

	ASSERT_NE(NULL, port);
	SetLastError(POISON_U32);
	EXPECT_FALSE(PostQueuedCompletionStatus(NULL, 1, 1, NULL));
	EXPECT_EQ(ERROR_INVALID_HANDLE, GetLastError());
	ASSERT_EQ(0, pipe2(p, O_CLOEXEC));
	SetLastError(POISON_U32);
	EXPECT_FALSE(PostQueuedCompletionStatus(H(p[1]), 1, 1, NULL));
	EXPECT_EQ(ERROR_INVALID_HANDLE, GetLastError());
	close(p[0]);
	close(p[1]);

	ASSERT_EQ(0, iocp_get_config(FD(port), &cfg));
	cfg.max_queued = 2;
	ASSERT_EQ(0, iocp_set_config(FD(port), &cfg));
	ASSERT_TRUE(PostQueuedCompletionStatus(port, 1, 1, NULL));
	ASSERT_TRUE(PostQueuedCompletionStatus(port, 2, 2, NULL));
	SetLastError(POISON_U32);
	EXPECT_FALSE(PostQueuedCompletionStatus(port, 3, 3, NULL));
	EXPECT_EQ(ERROR_NO_SYSTEM_RESOURCES, GetLastError());
	gq_get(port, 0, &r);
	EXPECT_GQ_OK(r, 1, 1, NULL);
	gq_get(port, 0, &r);
	EXPECT_GQ_OK(r, 2, 2, NULL);
	EXPECT_TRUE(no_packet(port));

	closed = port;
	ASSERT_TRUE(CloseHandle(port));
	SetLastError(POISON_U32);
	EXPECT_FALSE(PostQueuedCompletionStatus(closed, 1, 1, NULL));
	EXPECT_EQ(ERROR_INVALID_HANDLE, GetLastError());
}

/* ------------------------------------------------------------------ */
/* CreateIoCompletionPort                                               */
/* ------------------------------------------------------------------ */

static uint32_t port_concurrency(HANDLE port)
{
	struct iocp_stats s;

	if (iocp_get_stats(FD(port), &s))
		return UINT32_MAX;
	return s.concurrency;
}

/*
 * A pending WSARecv on @fd completed by 1 byte from @peer: returns the
 * key its packet carried on @port, or POISON_PTR.
 */
static ULONG_PTR key_of_op(HANDLE port, int fd, int peer)
{
	OVERLAPPED ov;
	char b;
	DWORD flags = 0;
	WSABUF wb = { 1, &b };
	struct gq r;

	memset(&ov, 0, sizeof(ov));
	if (WSARecv(fd, &wb, 1, NULL, &flags, &ov, NULL) != SOCKET_ERROR ||
	    WSAGetLastError() != WSA_IO_PENDING || write(peer, "k", 1) != 1)
		return (ULONG_PTR)POISON_PTR;
	gq_get(port, WAKE_MS, &r);
	if (!r.ok || r.ov != &ov || r.bytes != 1)
		return (ULONG_PTR)POISON_PTR;
	return r.key;
}

/*
 * CreateIoCompletionPort, FileHandle: "If INVALID_HANDLE_VALUE is
 * specified, the function creates an I/O completion port without
 * associating it with a file handle. In this case, the
 * ExistingCompletionPort parameter must be NULL and the CompletionKey
 * parameter is ignored." NumberOfConcurrentThreads: "If this parameter is
 * zero, the system allows as many concurrently running threads as there
 * are processors in the system." Return: "If the ExistingCompletionPort
 * parameter was NULL, the return value is a new handle" (never NULL, which
 * means failure: so never descriptor 0, even when 0 is free).
 */
TEST(cicp_create)
{
	HANDLE p1, p2, p3;

	p1 = CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0x77, 3);
	ASSERT_NE(NULL, p1);
	EXPECT_EQ(3U, port_concurrency(p1));
	p2 = CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, 0);
	ASSERT_NE(NULL, p2);
	EXPECT_NE(p1, p2);
	EXPECT_EQ((uint32_t)sysconf(_SC_NPROCESSORS_ONLN), port_concurrency(p2));

	/* Two independent ports. */
	ASSERT_TRUE(PostQueuedCompletionStatus(p1, 1, 1, NULL));
	EXPECT_TRUE(no_packet(p2));
	EXPECT_EQ(1U, port_queued(p1));

	/* Descriptor 0 free: the new port is still not NULL. */
	if (fd_open(0))
		ASSERT_EQ(0, close(0));
	p3 = new_port(1);
	ASSERT_NE(NULL, p3);
	EXPECT_LE(1, FD(p3));
	EXPECT_FALSE(fd_open(0)) TH_LOG("descriptor 0 left open");
	EXPECT_TRUE(PostQueuedCompletionStatus(p3, 1, 1, NULL));
	EXPECT_TRUE(CloseHandle(p3));
	EXPECT_TRUE(CloseHandle(p2));
	EXPECT_TRUE(CloseHandle(p1));
}

/*
 * CreateIoCompletionPort with a file handle and ExistingCompletionPort
 * NULL: "If the ExistingCompletionPort parameter was NULL, the return
 * value is a new handle. ... If the FileHandle parameter was a valid
 * handle, that file handle is now associated with the returned I/O
 * completion port." Its ops complete there with CompletionKey.
 */
TEST(cicp_create_and_associate)
{
	HANDLE port;
	int sv[2];

	ASSERT_TRUE(unix_pair(sv));
	port = CreateIoCompletionPort(H(sv[0]), NULL, 0xC0FFEE, 1);
	ASSERT_NE(NULL, port);
	EXPECT_NE(H(sv[0]), port);
	EXPECT_NE(INVALID_HANDLE_VALUE, port);
	EXPECT_EQ(1U, port_concurrency(port));
	EXPECT_EQ((ULONG_PTR)0xC0FFEE, key_of_op(port, sv[0], sv[1]));
	EXPECT_TRUE(no_packet(port));
	EXPECT_TRUE(CloseHandle(H(sv[0])));
	EXPECT_TRUE(CloseHandle(port));
	close(sv[1]);
}

/*
 * CreateIoCompletionPort: "If the ExistingCompletionPort parameter was a
 * valid I/O completion port handle, the return value is that same
 * handle." NumberOfConcurrentThreads: "This parameter is ignored if the
 * ExistingCompletionPort parameter is not NULL." Several handles can share
 * one port, each with its own key.
 */
TEST(cicp_associate_existing)
{
	HANDLE port = new_port(2);
	int a[2], b[2];

	ASSERT_NE(NULL, port);
	ASSERT_TRUE(unix_pair(a));
	ASSERT_TRUE(unix_pair(b));
	EXPECT_EQ(port, CreateIoCompletionPort(H(a[0]), port, 0x1111, 99));
	EXPECT_EQ(port, CreateIoCompletionPort(H(b[0]), port, 0x2222, 0));
	EXPECT_EQ(2U, port_concurrency(port));
	EXPECT_EQ((ULONG_PTR)0x2222, key_of_op(port, b[0], b[1]));
	EXPECT_EQ((ULONG_PTR)0x1111, key_of_op(port, a[0], a[1]));
	EXPECT_TRUE(no_packet(port));
	EXPECT_TRUE(CloseHandle(port));
	close(a[0]);
	close(a[1]);
	close(b[0]);
	close(b[1]);
}

/*
 * CreateIoCompletionPort: with FileHandle INVALID_HANDLE_VALUE "the
 * ExistingCompletionPort parameter must be NULL": otherwise the call fails
 * ("If the function fails, the return value is NULL"), GetLastError
 * ERROR_INVALID_PARAMETER, as Windows. ExistingCompletionPort that is not
 * a port: ERROR_INVALID_PARAMETER too.
 */
TEST(cicp_invalid_parameter)
{
	HANDLE port = new_port(0);
	int fds_before, p[2], sv[2];

	ASSERT_NE(NULL, port);
	fds_before = count_fds();
	SetLastError(POISON_U32);
	EXPECT_EQ(NULL, CreateIoCompletionPort(INVALID_HANDLE_VALUE, port, 1, 0));
	EXPECT_EQ(ERROR_INVALID_PARAMETER, GetLastError());
	EXPECT_EQ(fds_before, count_fds());

	ASSERT_EQ(0, pipe2(p, O_CLOEXEC));
	ASSERT_TRUE(unix_pair(sv));
	SetLastError(POISON_U32);
	EXPECT_EQ(NULL, CreateIoCompletionPort(H(sv[0]), H(p[0]), 1, 0));
	EXPECT_EQ(ERROR_INVALID_PARAMETER, GetLastError());
	/* sv[0] was not associated: it can be now. */
	EXPECT_EQ(port, CreateIoCompletionPort(H(sv[0]), port, 5, 0));
	EXPECT_EQ((ULONG_PTR)5, key_of_op(port, sv[0], sv[1]));
	close(p[0]);
	close(p[1]);
	close(sv[0]);
	close(sv[1]);
	EXPECT_TRUE(CloseHandle(port));
}

/*
 * CreateIoCompletionPort: "A handle can be associated with only one I/O
 * completion port, and after the association is made, the handle remains
 * associated with that I/O completion port until it is closed." A second
 * association, with the same or another port, fails with
 * ERROR_INVALID_PARAMETER (as Windows) and changes nothing; with
 * ExistingCompletionPort NULL the port it would have made is not left
 * open. Once the handle is closed, a new handle with the same number can
 * be associated anew.
 */
TEST(cicp_second_association)
{
	HANDLE p1 = new_port(0), p2 = new_port(0);
	int sv[2], fds_before, n;

	ASSERT_NE(NULL, p1);
	ASSERT_NE(NULL, p2);
	ASSERT_TRUE(unix_pair(sv));
	ASSERT_EQ(p1, CreateIoCompletionPort(H(sv[0]), p1, 1, 0));

	SetLastError(POISON_U32);
	EXPECT_EQ(NULL, CreateIoCompletionPort(H(sv[0]), p1, 2, 0));
	EXPECT_EQ(ERROR_INVALID_PARAMETER, GetLastError());
	SetLastError(POISON_U32);
	EXPECT_EQ(NULL, CreateIoCompletionPort(H(sv[0]), p2, 3, 0));
	EXPECT_EQ(ERROR_INVALID_PARAMETER, GetLastError());
	fds_before = count_fds();
	SetLastError(POISON_U32);
	EXPECT_EQ(NULL, CreateIoCompletionPort(H(sv[0]), NULL, 4, 0));
	EXPECT_EQ(ERROR_INVALID_PARAMETER, GetLastError());
	EXPECT_EQ(fds_before, count_fds()) TH_LOG("a failed create left a port open");

	EXPECT_EQ((ULONG_PTR)1, key_of_op(p1, sv[0], sv[1]));
	EXPECT_TRUE(no_packet(p2));

	/* Closed, the number reused: associated anew. */
	n = sv[0];
	ASSERT_TRUE(CloseHandle(H(sv[0])));
	close(sv[1]);
	ASSERT_TRUE(unix_pair(sv));
	ASSERT_EQ(n, sv[0]) TH_LOG("descriptor not reused; cannot check");
	EXPECT_EQ(p2, CreateIoCompletionPort(H(sv[0]), p2, 6, 0));
	EXPECT_EQ((ULONG_PTR)6, key_of_op(p2, sv[0], sv[1]));
	EXPECT_TRUE(no_packet(p1));
	EXPECT_TRUE(CloseHandle(H(sv[0])));
	close(sv[1]);
	EXPECT_TRUE(CloseHandle(p1));
	EXPECT_TRUE(CloseHandle(p2));
}

/*
 * CreateIoCompletionPort: "If the function fails, the return value is
 * NULL. To get extended error information, call the GetLastError
 * function." A FileHandle that is not open: ERROR_INVALID_HANDLE, with or
 * without an existing port; no port left open.
 */
TEST(cicp_invalid_handle)
{
	HANDLE port = new_port(0);
	int p[2], fds_before;

	ASSERT_NE(NULL, port);
	ASSERT_EQ(0, pipe2(p, O_CLOEXEC));
	close(p[0]);
	close(p[1]);
	fds_before = count_fds();
	SetLastError(POISON_U32);
	EXPECT_EQ(NULL, CreateIoCompletionPort(H(p[0]), port, 1, 0));
	EXPECT_EQ(ERROR_INVALID_HANDLE, GetLastError());
	SetLastError(POISON_U32);
	EXPECT_EQ(NULL, CreateIoCompletionPort(H(p[0]), NULL, 1, 0));
	EXPECT_EQ(ERROR_INVALID_HANDLE, GetLastError());
	EXPECT_EQ(fds_before, count_fds());
	EXPECT_TRUE(CloseHandle(port));
}

/*
 * A worker of a thread pool: dequeues once (INFINITE), then, while it
 * "processes" its packet, spins (sched_yield keeps it runnable: a thread
 * that blocked would let the port release another in its place, as
 * Windows does) until told to dequeue again: cmd 1: from the same port
 * with timeout 0; cmd 2: from @port2 (INFINITE); cmd 9: return.
 */
struct worker {
	pthread_t thread;
	HANDLE port, port2;
	int stage;		/* atomic: 1, 2, 3 after each dequeue */
	int cmd;		/* atomic */
	struct gq r1, r2, r3;
};

static void *worker_fn(void *arg)
{
	struct worker *w = arg;

	gq_get(w->port, INFINITE, &w->r1);
	set_int(&w->stage, 1);
	for (;;) {
		int cmd = get_int(&w->cmd);

		if (cmd == 9)
			return NULL;
		if (cmd == 1 && get_int(&w->stage) == 1) {
			gq_get(w->port, 0, &w->r2);
			set_int(&w->stage, 2);
		} else if (cmd == 2 && get_int(&w->stage) == 2) {
			gq_get(w->port2, INFINITE, &w->r3);
			set_int(&w->stage, 3);
		}
		sched_yield();
	}
}

static int start_worker(struct worker *w, HANDLE port, HANDLE port2)
{
	memset(w, 0, sizeof(*w));
	w->port = port;
	w->port2 = port2;
	return pthread_create(&w->thread, NULL, worker_fn, w);
}

/*
 * CreateIoCompletionPort, NumberOfConcurrentThreads: "The maximum number
 * of threads that the operating system can allow to concurrently process
 * I/O completion packets for the I/O completion port." With 1, two
 * waiting threads and two packets: only one thread is released; the other
 * stays blocked while the first runs, and the second packet stays queued.
 * The running thread that calls GetQueuedCompletionStatus again takes the
 * next packet itself (it is the most recent waiter: "the system releases
 * the last (most recent) thread associated with that port"). A thread "is
 * associated with the specified I/O completion port until it exits,
 * specifies a different I/O completion port, or frees the I/O completion
 * port": when the running thread calls GetQueuedCompletionStatus on
 * another port, the blocked one is released with the queued packet.
 */
TEST(cicp_concurrency_one)
{
	HANDLE port = new_port(1), port2 = new_port(0);
	struct worker w[2];

	ASSERT_NE(NULL, port);
	ASSERT_NE(NULL, port2);
	ASSERT_EQ(0, start_worker(&w[0], port, port2));
	ASSERT_TRUE(wait_waiting(port, 1));
	ASSERT_EQ(0, start_worker(&w[1], port, port2));
	ASSERT_TRUE(wait_waiting(port, 2));

	ASSERT_TRUE(PostQueuedCompletionStatus(port, 1, 0xC1, (LPOVERLAPPED)0x11));
	ASSERT_TRUE(PostQueuedCompletionStatus(port, 2, 0xC1, (LPOVERLAPPED)0x22));
	ASSERT_TRUE(wait_int(&w[1].stage, 1, WAKE_MS))
		TH_LOG("no thread released by two packets");
	EXPECT_GQ_OK(w[1].r1, 1, 0xC1, 0x11);
	EXPECT_EQ(ETIMEDOUT, join_ms(w[0].thread, BLOCKED_MS))
		TH_LOG("second thread released beyond concurrency 1");
	EXPECT_EQ(0, get_int(&w[0].stage));
	EXPECT_EQ(1U, port_queued(port));

	/* The running thread comes back: it takes packet 2 itself. */
	set_int(&w[1].cmd, 1);
	ASSERT_TRUE(wait_int(&w[1].stage, 2, WAKE_MS));
	EXPECT_GQ_OK(w[1].r2, 2, 0xC1, 0x22);
	EXPECT_EQ(ETIMEDOUT, join_ms(w[0].thread, BLOCKED_MS));
	EXPECT_EQ(0, get_int(&w[0].stage));

	/* A third packet while it runs: queued, the other still blocked. */
	ASSERT_TRUE(PostQueuedCompletionStatus(port, 3, 0xC1, (LPOVERLAPPED)0x33));
	EXPECT_EQ(ETIMEDOUT, join_ms(w[0].thread, BLOCKED_MS))
		TH_LOG("second thread released beyond concurrency 1");
	EXPECT_EQ(0, get_int(&w[0].stage));
	EXPECT_EQ(1U, port_queued(port));

	/* It leaves for another port: the blocked thread gets packet 3. */
	set_int(&w[1].cmd, 2);
	ASSERT_TRUE(wait_int(&w[0].stage, 1, WAKE_MS))
		TH_LOG("blocked thread not released when the running one left");
	EXPECT_GQ_OK(w[0].r1, 3, 0xC1, 0x33);
	EXPECT_EQ(0U, port_queued(port));

	set_int(&w[0].cmd, 9);
	EXPECT_EQ(0, join_ms(w[0].thread, WAKE_MS));
	ASSERT_TRUE(wait_waiting(port2, 1));
	EXPECT_TRUE(CloseHandle(port2));
	ASSERT_TRUE(wait_int(&w[1].stage, 3, WAKE_MS));
	EXPECT_GQ_NONE(w[1].r3, ERROR_ABANDONED_WAIT_0);
	set_int(&w[1].cmd, 9);
	EXPECT_EQ(0, join_ms(w[1].thread, WAKE_MS));
	EXPECT_TRUE(CloseHandle(port));
}

/*
 * I/O Completion Ports: "Threads that block their execution on an I/O
 * completion port are released in last-in-first-out (LIFO) order, and the
 * next completion packet is pulled from the I/O completion port's FIFO
 * queue for that thread." Three waiters, one packet at a time: the most
 * recent waiter is released each time, the older ones stay blocked.
 */
TEST(lifo_release_order)
{
	struct gq_waiter w[3];
	HANDLE port = new_port(8);
	int i, j;

	ASSERT_NE(NULL, port);
	for (i = 0; i < 3; i++) {
		ASSERT_EQ(0, start_gq_waiter(&w[i], port, INFINITE));
		ASSERT_TRUE(wait_waiting(port, i + 1));
	}
	for (i = 2; i >= 0; i--) {
		ASSERT_TRUE(PostQueuedCompletionStatus(port, i, 0x1F0,
						       (LPOVERLAPPED)(uintptr_t)(0x100 + i)));
		ASSERT_EQ(0, join_ms(w[i].thread, WAKE_MS))
			TH_LOG("most recent waiter %d not released", i);
		EXPECT_GQ_OK(w[i].r, i, 0x1F0, 0x100 + i);
		for (j = 0; j < i; j++) {
			EXPECT_EQ(ETIMEDOUT, join_ms(w[j].thread, BLOCKED_MS))
				TH_LOG("older waiter %d released before waiter %d", j, i);
			EXPECT_EQ(0, get_int(&w[j].done));
		}
	}
	EXPECT_TRUE(no_packet(port));
	EXPECT_TRUE(CloseHandle(port));
}

/* ------------------------------------------------------------------ */
/* ReadFile, WriteFile, GetOverlappedResult                             */
/* ------------------------------------------------------------------ */

/*
 * The one report of an overlapped ReadFile/WriteFile that did not fail at
 * once (returned TRUE, or FALSE with ERROR_IO_PENDING): its packet. If it
 * failed at once, r->ok FALSE, r->err its error and r->ov NULL.
 */
static void op_packet(HANDLE port, BOOL ok, struct gq *r)
{
	DWORD err = GetLastError();

	if (!ok && err != ERROR_IO_PENDING) {
		memset(r, 0, sizeof(*r));
		r->err = err;
		return;
	}
	gq_get(port, WAKE_MS, r);
}

/*
 * ReadFile: "If the function fails, or is completing asynchronously, the
 * return value is zero (FALSE). ... The GetLastError code ERROR_IO_PENDING
 * is not a failure; it designates the read operation is pending
 * completion asynchronously." lpNumberOfBytesRead: "ReadFile sets this
 * value to zero before doing any work or error checking."
 * HasOverlappedIoCompleted is FALSE while pending; GetOverlappedResult:
 * "If the bWait parameter is FALSE and the operation is still pending, the
 * function returns FALSE and the GetLastError function returns
 * ERROR_IO_INCOMPLETE." Once the data comes, the packet reports it and
 * GetOverlappedResult returns TRUE with the byte count.
 */
TEST(readfile_pending)
{
	OVERLAPPED ov;
	char buf[16];
	DWORD done = POISON_U32, bytes = POISON_U32;
	HANDLE port;
	struct gq r;
	int p[2];

	/* A pipe; a socketpair where pipes do not take overlapped I/O. */
	ASSERT_TRUE(stream_pair(p));
	port = new_port(0);
	ASSERT_NE(NULL, port);
	ASSERT_EQ(port, CreateIoCompletionPort(H(p[0]), port, 0x61, 0));
	memset(&ov, 0, sizeof(ov));
	SetLastError(POISON_U32);
	EXPECT_FALSE(ReadFile(H(p[0]), buf, sizeof(buf), &done, &ov));
	ASSERT_EQ(ERROR_IO_PENDING, GetLastError());
	EXPECT_EQ(0U, done);
	EXPECT_EQ(STATUS_PENDING, (DWORD)ov.Internal);
	EXPECT_FALSE(HasOverlappedIoCompleted(&ov));
	SetLastError(POISON_U32);
	EXPECT_FALSE(GetOverlappedResult(H(p[0]), &ov, &bytes, FALSE));
	EXPECT_EQ(ERROR_IO_INCOMPLETE, GetLastError());
	EXPECT_EQ(POISON_U32, bytes);
	EXPECT_TRUE(no_packet(port));

	ASSERT_EQ(3, write(p[1], "xyz", 3));
	gq_get(port, WAKE_MS, &r);
	EXPECT_GQ_OK(r, 3, 0x61, &ov);
	EXPECT_EQ(0, memcmp(buf, "xyz", 3));
	EXPECT_TRUE(HasOverlappedIoCompleted(&ov));
	EXPECT_TRUE(GetOverlappedResult(H(p[0]), &ov, &bytes, FALSE));
	EXPECT_EQ(3U, bytes);
	EXPECT_TRUE(no_packet(port));
	EXPECT_TRUE(CloseHandle(H(p[0])));
	EXPECT_TRUE(CloseHandle(port));
	close(p[1]);
}

/*
 * ReadFile/WriteFile: "If the function succeeds, the return value is
 * nonzero (TRUE)." An overlapped operation that completes at once returns
 * TRUE with the byte count, and without FILE_SKIP_COMPLETION_PORT_ON_SUCCESS
 * its completion is still queued to the port (SetFileCompletionNotificationModes:
 * that mode is what stops the I/O manager queuing a completion entry
 * "when it would ordinarily do so"): exactly one packet. Differs from
 * Windows: the OVERLAPPED of an operation that queues a packet gets its
 * Internal/InternalHigh when the packet is dequeued, so
 * HasOverlappedIoCompleted() turns true only then.
 */
TEST(readfile_writefile_completed_at_once)
{
	OVERLAPPED ov, ow;
	char buf[16];
	DWORD done = POISON_U32;
	HANDLE port;
	struct gq r;
	int p[2];

	/* A pipe; a socketpair where pipes do not take overlapped I/O. */
	ASSERT_TRUE(stream_pair(p));
	port = new_port(0);
	ASSERT_NE(NULL, port);
	ASSERT_EQ(port, CreateIoCompletionPort(H(p[0]), port, 0x62, 0));
	ASSERT_EQ(port, CreateIoCompletionPort(H(p[1]), port, 0x63, 0));

	memset(&ow, 0, sizeof(ow));
	EXPECT_TRUE(WriteFile(H(p[1]), "abcdef", 6, &done, &ow))
		TH_LOG("WriteFile to an empty pipe: error %u", GetLastError());
	EXPECT_EQ(6U, done);
	EXPECT_FALSE(HasOverlappedIoCompleted(&ow));
	gq_get(port, WAKE_MS, &r);
	EXPECT_GQ_OK(r, 6, 0x63, &ow);
	EXPECT_TRUE(HasOverlappedIoCompleted(&ow));
	EXPECT_EQ(6UL, ow.InternalHigh);
	EXPECT_TRUE(no_packet(port));

	memset(&ov, 0, sizeof(ov));
	done = POISON_U32;
	EXPECT_TRUE(ReadFile(H(p[0]), buf, 4, &done, &ov))
		TH_LOG("ReadFile with data ready: error %u", GetLastError());
	EXPECT_EQ(4U, done);
	EXPECT_EQ(0, memcmp(buf, "abcd", 4));
	EXPECT_EQ(STATUS_PENDING, (DWORD)ov.Internal);
	gq_get(port, WAKE_MS, &r);
	EXPECT_GQ_OK(r, 4, 0x62, &ov);
	EXPECT_EQ(STATUS_SUCCESS, (DWORD)ov.Internal);
	EXPECT_EQ(4UL, ov.InternalHigh);
	EXPECT_TRUE(no_packet(port));
	EXPECT_TRUE(CloseHandle(H(p[0])));
	EXPECT_TRUE(CloseHandle(H(p[1])));
	EXPECT_TRUE(CloseHandle(port));
}

/*
 * Anonymous Pipe Operations: "The WriteFile call does not return until it
 * has written the specified number of bytes to the pipe or an error
 * occurs." A write to a pipe whose read end is gone is such an error: an
 * overlapped WriteFile fails (FALSE), with ERROR_BROKEN_PIPE, at once or
 * through its packet, and raises no signal: Windows has none, and the
 * layer takes back the SIGPIPE that write(2) raises. Pending when the
 * reader goes, started after it went, and synchronous; also a WriteFile
 * on a socket whose peer is gone. SIGPIPE keeps its default action here:
 * a signal kills the test.
 */
TEST(writefile_pipe_no_reader)
{
	char big[65536];
	OVERLAPPED ov;
	HANDLE port;
	struct gq r;
	int p[2];

	NEED_PIPE_OPS();
	signal(SIGPIPE, SIG_DFL);
	ASSERT_EQ(0, pipe2(p, O_CLOEXEC));
	port = new_port(0);
	ASSERT_NE(NULL, port);
	ASSERT_EQ(port, CreateIoCompletionPort(H(p[1]), port, 0x6A, 0));

	/* Pending (pipe full) when the reader goes. */
	memset(big, 'x', sizeof(big));
	ASSERT_EQ(0, fcntl(p[1], F_SETFL, O_NONBLOCK));
	while (write(p[1], big, sizeof(big)) > 0)
		;
	ASSERT_EQ(0, fcntl(p[1], F_SETFL, 0));
	memset(&ov, 0, sizeof(ov));
	ASSERT_FALSE(WriteFile(H(p[1]), "y", 1, NULL, &ov));
	ASSERT_EQ(ERROR_IO_PENDING, GetLastError());
	ASSERT_EQ(0, close(p[0]));
	gq_get(port, WAKE_MS, &r);
	EXPECT_GQ_FAILED(r, ERROR_BROKEN_PIPE, 0, 0x6A, &ov);
	EXPECT_TRUE(no_packet(port));

	/* Started after the reader went. */
	memset(&ov, 0, sizeof(ov));
	SetLastError(POISON_U32);
	EXPECT_FALSE(WriteFile(H(p[1]), "z", 1, NULL, &ov));
	if (GetLastError() == ERROR_IO_PENDING) {
		gq_get(port, WAKE_MS, &r);
		EXPECT_GQ_FAILED(r, ERROR_BROKEN_PIPE, 0, 0x6A, &ov);
	} else {
		EXPECT_EQ(ERROR_BROKEN_PIPE, GetLastError());
	}
	EXPECT_TRUE(no_packet(port));

	/* Synchronous. */
	SetLastError(POISON_U32);
	EXPECT_FALSE(WriteFile(H(p[1]), "s", 1, NULL, NULL));
	EXPECT_EQ(ERROR_BROKEN_PIPE, GetLastError());
	EXPECT_TRUE(CloseHandle(H(p[1])));

	/* A socket: overlapped and synchronous. */
	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, p));
	ASSERT_EQ(port, CreateIoCompletionPort(H(p[1]), port, 0x6B, 0));
	ASSERT_EQ(0, close(p[0]));
	memset(&ov, 0, sizeof(ov));
	SetLastError(POISON_U32);
	EXPECT_FALSE(WriteFile(H(p[1]), "w", 1, NULL, &ov));
	if (GetLastError() == ERROR_IO_PENDING) {
		gq_get(port, WAKE_MS, &r);
		EXPECT_GQ_FAILED(r, ERROR_BROKEN_PIPE, 0, 0x6B, &ov);
	} else {
		EXPECT_EQ(ERROR_BROKEN_PIPE, GetLastError());
	}
	SetLastError(POISON_U32);
	EXPECT_FALSE(WriteFile(H(p[1]), "s", 1, NULL, NULL));
	EXPECT_EQ(ERROR_BROKEN_PIPE, GetLastError());
	EXPECT_TRUE(no_packet(port));
	EXPECT_TRUE(CloseHandle(H(p[1])));
	EXPECT_TRUE(CloseHandle(port));
}

/*
 * ReadFile/WriteFile, lpOverlapped: "For an hFile that supports byte
 * offsets, if you use this parameter you must specify a byte offset at
 * which to start reading from the file or device. This offset is
 * specified by setting the Offset and OffsetHigh members of the OVERLAPPED
 * structure." Both halves are honoured (OffsetHigh 1 is 4 GiB up), and
 * the file position is neither used nor moved. Either the call completes
 * at once (TRUE) or pends (ERROR_IO_PENDING); one packet either way.
 */
TEST(readfile_writefile_file_offsets)
{
	OVERLAPPED ov;
	char buf[8];
	HANDLE port;
	struct gq r;
	struct stat st;
	int fd;

	fd = tmp_file();
	ASSERT_LE(0, fd);
	port = new_port(0);
	ASSERT_NE(NULL, port);
	ASSERT_EQ(port, CreateIoCompletionPort(H(fd), port, 0x64, 0));

	memset(&ov, 0, sizeof(ov));
	ov.Offset = 100;
	op_packet(port, WriteFile(H(fd), "AAAA", 4, NULL, &ov), &r);
	EXPECT_GQ_OK(r, 4, 0x64, &ov);
	memset(&ov, 0, sizeof(ov));
	ov.Offset = 5;
	ov.OffsetHigh = 1;
	op_packet(port, WriteFile(H(fd), "BBBB", 4, NULL, &ov), &r);
	EXPECT_GQ_OK(r, 4, 0x64, &ov);
	EXPECT_TRUE(no_packet(port));

	ASSERT_EQ(0, fstat(fd, &st));
	EXPECT_EQ((off_t)0x100000009LL, st.st_size);
	EXPECT_EQ((off_t)0, lseek(fd, 0, SEEK_CUR));
	memset(buf, 0, sizeof(buf));
	EXPECT_EQ(4, pread(fd, buf, 4, 100));
	EXPECT_EQ(0, memcmp(buf, "AAAA", 4));
	EXPECT_EQ(4, pread(fd, buf, 4, 0x100000005LL));
	EXPECT_EQ(0, memcmp(buf, "BBBB", 4));

	memset(&ov, 0, sizeof(ov));
	memset(buf, POISON_BYTE, sizeof(buf));
	ov.Offset = 98;
	op_packet(port, ReadFile(H(fd), buf, 4, NULL, &ov), &r);
	EXPECT_GQ_OK(r, 4, 0x64, &ov);
	EXPECT_EQ(0, memcmp(buf, "\0\0AA", 4));
	memset(&ov, 0, sizeof(ov));
	memset(buf, POISON_BYTE, sizeof(buf));
	ov.Offset = 3;
	ov.OffsetHigh = 1;
	op_packet(port, ReadFile(H(fd), buf, 8, NULL, &ov), &r);
	EXPECT_GQ_OK(r, 6, 0x64, &ov);
	EXPECT_EQ(0, memcmp(buf, "\0\0BBBB", 6));
	EXPECT_TRUE(is_poison(buf + 6, 2));
	EXPECT_EQ((off_t)0, lseek(fd, 0, SEEK_CUR));
	EXPECT_TRUE(no_packet(port));
	EXPECT_TRUE(CloseHandle(H(fd)));
	EXPECT_TRUE(CloseHandle(port));
}

/*
 * SetFileCompletionNotificationModes, FILE_SKIP_COMPLETION_PORT_ON_SUCCESS:
 * "If the following three conditions are true, the I/O Manager does not
 * queue a completion entry to the port, when it would ordinarily do so.
 * The conditions are: A completion port is associated with the file
 * handle. The file is opened for asynchronous I/O. A request returns
 * success immediately without returning ERROR_PENDING." So: TRUE (or 0
 * for WSARecv/WSASend) and no packet; an operation that pends still
 * queues its packet.
 */
TEST(skip_completion_port_on_success)
{
	OVERLAPPED ov;
	char buf[16];
	DWORD done = POISON_U32, flags = 0;
	WSABUF wb = { sizeof(buf), buf };
	HANDLE port;
	struct gq r;
	int sv[2], p[2];

	ASSERT_TRUE(unix_pair(sv));
	port = new_port(0);
	ASSERT_NE(NULL, port);
	ASSERT_EQ(port, CreateIoCompletionPort(H(sv[0]), port, 0x65, 0));
	ASSERT_TRUE(SetFileCompletionNotificationModes(H(sv[0]),
			FILE_SKIP_COMPLETION_PORT_ON_SUCCESS));

	ASSERT_EQ(5, write(sv[1], "12345", 5));
	memset(&ov, 0, sizeof(ov));
	EXPECT_EQ(0, WSARecv(sv[0], &wb, 1, &done, &flags, &ov, NULL));
	EXPECT_EQ(5U, done);
	EXPECT_EQ(5UL, ov.InternalHigh);
	EXPECT_EQ(STATUS_SUCCESS, (DWORD)ov.Internal);
	EXPECT_TRUE(no_packet(port)) TH_LOG("a packet for a skipped success");

	memset(&ov, 0, sizeof(ov));
	done = POISON_U32;
	EXPECT_TRUE(WriteFile(H(sv[0]), "back", 4, &done, &ov));
	EXPECT_EQ(4U, done);
	EXPECT_TRUE(no_packet(port));
	EXPECT_EQ(4, read(sv[1], buf, sizeof(buf)));

	/* Pending: the packet comes. */
	memset(&ov, 0, sizeof(ov));
	EXPECT_EQ(SOCKET_ERROR, WSARecv(sv[0], &wb, 1, NULL, &flags, &ov, NULL));
	EXPECT_EQ(WSA_IO_PENDING, WSAGetLastError());
	ASSERT_EQ(2, write(sv[1], "67", 2));
	gq_get(port, WAKE_MS, &r);
	EXPECT_GQ_OK(r, 2, 0x65, &ov);
	EXPECT_TRUE(no_packet(port));

	/* The same on a pipe, with ReadFile. */
	if (pipe_ops_work()) {
		ASSERT_EQ(0, pipe2(p, O_CLOEXEC));
		ASSERT_EQ(port, CreateIoCompletionPort(H(p[0]), port, 0x66, 0));
		ASSERT_TRUE(SetFileCompletionNotificationModes(H(p[0]),
				FILE_SKIP_COMPLETION_PORT_ON_SUCCESS |
				FILE_SKIP_SET_EVENT_ON_HANDLE));
		ASSERT_EQ(3, write(p[1], "abc", 3));
		memset(&ov, 0, sizeof(ov));
		done = POISON_U32;
		EXPECT_TRUE(ReadFile(H(p[0]), buf, sizeof(buf), &done, &ov));
		EXPECT_EQ(3U, done);
		EXPECT_TRUE(no_packet(port));
		memset(&ov, 0, sizeof(ov));
		EXPECT_FALSE(ReadFile(H(p[0]), buf, sizeof(buf), NULL, &ov));
		EXPECT_EQ(ERROR_IO_PENDING, GetLastError());
		ASSERT_EQ(1, write(p[1], "d", 1));
		gq_get(port, WAKE_MS, &r);
		EXPECT_GQ_OK(r, 1, 0x66, &ov);
		EXPECT_TRUE(no_packet(port));
		EXPECT_TRUE(CloseHandle(H(p[0])));
		close(p[1]);
	}
	EXPECT_TRUE(CloseHandle(H(sv[0])));
	close(sv[1]);
	EXPECT_TRUE(CloseHandle(port));
}

/*
 * ReadFile/WriteFile without an OVERLAPPED: synchronous. ReadFile: "When a
 * synchronous read operation reaches the end of a file, ReadFile returns
 * TRUE and sets *lpNumberOfBytesRead to zero." "If an anonymous pipe is
 * being used and the write handle has been closed, when ReadFile attempts
 * to read using the pipe's corresponding read handle, the function
 * returns FALSE and GetLastError returns ERROR_BROKEN_PIPE." No packet
 * ever, even on a handle associated with a port.
 */
TEST(readfile_writefile_synchronous)
{
	char buf[16];
	DWORD done;
	HANDLE port;
	int fd, p[2];

	fd = tmp_file();
	ASSERT_LE(0, fd);
	port = new_port(0);
	ASSERT_NE(NULL, port);
	ASSERT_EQ(port, CreateIoCompletionPort(H(fd), port, 0x67, 0));
	done = POISON_U32;
	EXPECT_TRUE(WriteFile(H(fd), "sync", 4, &done, NULL));
	EXPECT_EQ(4U, done);
	EXPECT_EQ((off_t)4, lseek(fd, 0, SEEK_CUR));
	ASSERT_EQ((off_t)0, lseek(fd, 0, SEEK_SET));
	done = POISON_U32;
	EXPECT_TRUE(ReadFile(H(fd), buf, sizeof(buf), &done, NULL));
	EXPECT_EQ(4U, done);
	EXPECT_EQ(0, memcmp(buf, "sync", 4));
	done = POISON_U32;
	EXPECT_TRUE(ReadFile(H(fd), buf, sizeof(buf), &done, NULL))
		TH_LOG("synchronous read at EOF: error %u", GetLastError());
	EXPECT_EQ(0U, done);
	EXPECT_TRUE(no_packet(port));

	ASSERT_EQ(0, pipe2(p, O_CLOEXEC));
	ASSERT_EQ(2, write(p[1], "pi", 2));
	done = POISON_U32;
	EXPECT_TRUE(ReadFile(H(p[0]), buf, sizeof(buf), &done, NULL));
	EXPECT_EQ(2U, done);
	close(p[1]);
	done = POISON_U32;
	SetLastError(POISON_U32);
	EXPECT_FALSE(ReadFile(H(p[0]), buf, sizeof(buf), &done, NULL));
	EXPECT_EQ(ERROR_BROKEN_PIPE, GetLastError());
	EXPECT_EQ(0U, done);
	close(p[0]);
	EXPECT_TRUE(CloseHandle(H(fd)));
	EXPECT_TRUE(CloseHandle(port));
}

/*
 * ReadFile: "If hFile is not opened with FILE_FLAG_OVERLAPPED and
 * lpOverlapped is not NULL, the read operation starts at the offset
 * specified in the OVERLAPPED structure and ReadFile does not return until
 * the read operation is complete." Our layer treats a handle not
 * associated with a port that way: done at once at the offset, TRUE, the
 * OVERLAPPED's Internal/InternalHigh set, no packet anywhere. At EOF
 * (layer's documented behaviour): FALSE, ERROR_HANDLE_EOF. Differs from
 * Windows: event objects are not provided, so hEvent must be NULL (else
 * FALSE, ERROR_INVALID_PARAMETER).
 */
TEST(readfile_writefile_unassociated_overlapped)
{
	OVERLAPPED ov;
	char buf[16];
	DWORD done;
	int fd;

	fd = tmp_file();
	ASSERT_LE(0, fd);
	memset(&ov, 0, sizeof(ov));
	ov.Offset = 10;
	done = POISON_U32;
	EXPECT_TRUE(WriteFile(H(fd), "offset", 6, &done, &ov));
	EXPECT_EQ(6U, done);
	EXPECT_EQ(STATUS_SUCCESS, (DWORD)ov.Internal);
	EXPECT_EQ(6UL, ov.InternalHigh);
	EXPECT_EQ(6, pread(fd, buf, 6, 10));
	EXPECT_EQ(0, memcmp(buf, "offset", 6));

	memset(&ov, 0, sizeof(ov));
	ov.Offset = 12;
	done = POISON_U32;
	memset(buf, 0, sizeof(buf));
	EXPECT_TRUE(ReadFile(H(fd), buf, sizeof(buf), &done, &ov));
	EXPECT_EQ(4U, done);
	EXPECT_EQ(4UL, ov.InternalHigh);
	EXPECT_EQ(0, memcmp(buf, "fset", 4));

	memset(&ov, 0, sizeof(ov));
	ov.Offset = 16;
	SetLastError(POISON_U32);
	EXPECT_FALSE(ReadFile(H(fd), buf, sizeof(buf), &done, &ov));
	EXPECT_EQ(ERROR_HANDLE_EOF, GetLastError());
	EXPECT_EQ(0U, done);

	memset(&ov, 0, sizeof(ov));
	ov.hEvent = (HANDLE)(uintptr_t)0x1234;
	SetLastError(POISON_U32);
	EXPECT_FALSE(ReadFile(H(fd), buf, sizeof(buf), &done, &ov));
	EXPECT_EQ(ERROR_INVALID_PARAMETER, GetLastError());
	SetLastError(POISON_U32);
	EXPECT_FALSE(WriteFile(H(fd), "x", 1, &done, &ov));
	EXPECT_EQ(ERROR_INVALID_PARAMETER, GetLastError());
	EXPECT_EQ(16, lseek(fd, 0, SEEK_END));
	EXPECT_TRUE(CloseHandle(H(fd)));
}

/*
 * ReadFile: lpNumberOfBytesRead: "ReadFile sets this value to zero before
 * doing any work or error checking." A handle that is not open: FALSE,
 * ERROR_INVALID_HANDLE, count 0. Writing a handle not open for writing:
 * ERROR_ACCESS_DENIED ("the handle must have been created with the
 * GENERIC_WRITE access right"), overlapped or not, and no packet.
 */
TEST(readfile_writefile_bad_handles)
{
	OVERLAPPED ov;
	char buf[8];
	DWORD done;
	HANDLE port;
	int fd, p[2];

	ASSERT_EQ(0, pipe2(p, O_CLOEXEC));
	close(p[0]);
	close(p[1]);
	done = POISON_U32;
	SetLastError(POISON_U32);
	EXPECT_FALSE(ReadFile(H(p[0]), buf, sizeof(buf), &done, NULL));
	EXPECT_EQ(ERROR_INVALID_HANDLE, GetLastError());
	EXPECT_EQ(0U, done);
	done = POISON_U32;
	memset(&ov, 0, sizeof(ov));
	SetLastError(POISON_U32);
	EXPECT_FALSE(WriteFile(H(p[1]), "x", 1, &done, &ov));
	EXPECT_EQ(ERROR_INVALID_HANDLE, GetLastError());
	EXPECT_EQ(0U, done);

	/* A regular file opened read-only. */
	{
		char path[64];
		int rw = tmp_file();

		ASSERT_LE(0, rw);
		snprintf(path, sizeof(path), "/proc/self/fd/%d", rw);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		close(rw);
	}
	ASSERT_LE(0, fd);
	port = new_port(0);
	ASSERT_NE(NULL, port);
	ASSERT_EQ(port, CreateIoCompletionPort(H(fd), port, 0x69, 0));
	memset(&ov, 0, sizeof(ov));
	done = POISON_U32;
	SetLastError(POISON_U32);
	EXPECT_FALSE(WriteFile(H(fd), "x", 1, &done, &ov));
	EXPECT_EQ(ERROR_ACCESS_DENIED, GetLastError());
	EXPECT_EQ(0U, done);
	SetLastError(POISON_U32);
	EXPECT_FALSE(WriteFile(H(fd), "x", 1, &done, NULL));
	EXPECT_EQ(ERROR_ACCESS_DENIED, GetLastError());
	EXPECT_TRUE(no_packet(port));
	EXPECT_TRUE(CloseHandle(H(fd)));
	EXPECT_TRUE(CloseHandle(port));
}

/*
 * GetOverlappedResult: "If the function fails, the return value is zero.
 * To get extended error information, call GetLastError."
 * lpNumberOfBytesTransferred "receives the number of bytes that were
 * actually transferred". Completed: TRUE and the count; failed (here
 * cancelled): FALSE with the operation's error, ERROR_OPERATION_ABORTED.
 * Pending, bWait FALSE: FALSE, ERROR_IO_INCOMPLETE (bWait TRUE: see
 * getoverlappedresult_wait). WSAGetOverlappedResult gives
 * the Winsock codes (WSAECONNRESET for a reset connection,
 * WSA_OPERATION_ABORTED) and *lpdwFlags 0 on success.
 */
TEST(getoverlappedresult)
{
	struct linger lg = { 1, 0 };
	OVERLAPPED o1, o2, o3;
	char b1[8], b2[8], b3[8];
	DWORD flags = 0, bytes, oflags;
	WSABUF w1 = { sizeof(b1), b1 }, w2 = { sizeof(b2), b2 }, w3 = { sizeof(b3), b3 };
	HANDLE port;
	struct gq r;
	int c, s;

	ASSERT_TRUE(tcp_pair(&c, &s));
	port = new_port(0);
	ASSERT_NE(NULL, port);
	ASSERT_EQ(port, CreateIoCompletionPort(H(s), port, 0x68, 0));
	memset(&o1, 0, sizeof(o1));
	memset(&o2, 0, sizeof(o2));
	memset(&o3, 0, sizeof(o3));
	ASSERT_EQ(SOCKET_ERROR, WSARecv(s, &w1, 1, NULL, &flags, &o1, NULL));
	ASSERT_EQ(WSA_IO_PENDING, WSAGetLastError());

	bytes = POISON_U32;
	SetLastError(POISON_U32);
	EXPECT_FALSE(GetOverlappedResult(H(s), &o1, &bytes, FALSE));
	EXPECT_EQ(ERROR_IO_INCOMPLETE, GetLastError());
	EXPECT_EQ(POISON_U32, bytes);
	SetLastError(POISON_U32);
	oflags = POISON_U32;
	EXPECT_FALSE(WSAGetOverlappedResult(s, &o1, &bytes, FALSE, &oflags));
	EXPECT_EQ(WSA_IO_INCOMPLETE, WSAGetLastError());
	EXPECT_EQ(POISON_U32, bytes);

	ASSERT_EQ(3, write(c, "ok!", 3));
	gq_get(port, WAKE_MS, &r);
	EXPECT_GQ_OK(r, 3, 0x68, &o1);
	bytes = POISON_U32;
	EXPECT_TRUE(GetOverlappedResult(H(s), &o1, &bytes, FALSE));
	EXPECT_EQ(3U, bytes);
	bytes = oflags = POISON_U32;
	EXPECT_TRUE(WSAGetOverlappedResult(s, &o1, &bytes, TRUE, &oflags));
	EXPECT_EQ(3U, bytes);
	EXPECT_EQ(0U, oflags);

	/* Cancelled. */
	ASSERT_EQ(SOCKET_ERROR, WSARecv(s, &w2, 1, NULL, &flags, &o2, NULL));
	ASSERT_EQ(WSA_IO_PENDING, WSAGetLastError());
	ASSERT_TRUE(CancelIoEx(H(s), &o2));
	gq_get(port, WAKE_MS, &r);
	EXPECT_GQ_FAILED(r, ERROR_OPERATION_ABORTED, 0, 0x68, &o2);
	bytes = POISON_U32;
	SetLastError(POISON_U32);
	EXPECT_FALSE(GetOverlappedResult(H(s), &o2, &bytes, FALSE));
	EXPECT_EQ(ERROR_OPERATION_ABORTED, GetLastError());
	EXPECT_EQ(0U, bytes);
	SetLastError(POISON_U32);
	EXPECT_FALSE(WSAGetOverlappedResult(s, &o2, &bytes, FALSE, &oflags));
	EXPECT_EQ(WSA_OPERATION_ABORTED, WSAGetLastError());

	/* Reset by the peer. */
	ASSERT_EQ(SOCKET_ERROR, WSARecv(s, &w3, 1, NULL, &flags, &o3, NULL));
	ASSERT_EQ(WSA_IO_PENDING, WSAGetLastError());
	ASSERT_EQ(0, setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)));
	ASSERT_EQ(0, close(c));
	gq_get(port, WAKE_MS, &r);
	EXPECT_GQ_FAILED(r, ERROR_NETNAME_DELETED, 0, 0x68, &o3);
	SetLastError(POISON_U32);
	EXPECT_FALSE(WSAGetOverlappedResult(s, &o3, &bytes, FALSE, &oflags));
	EXPECT_EQ(WSAECONNRESET, WSAGetLastError());
	SetLastError(POISON_U32);
	EXPECT_FALSE(GetOverlappedResult(H(s), &o3, &bytes, FALSE));
	EXPECT_EQ(ERROR_NETNAME_DELETED, GetLastError());
	EXPECT_TRUE(no_packet(port));
	EXPECT_EQ(0, closesocket(s));
	EXPECT_TRUE(CloseHandle(port));
}

/* ------------------------------------------------------------------ */
/* WSARecv, WSASend                                                     */
/* ------------------------------------------------------------------ */

/*
 * WSARecv: "If no error occurs and the receive operation has completed
 * immediately, WSARecv returns zero. ... Otherwise, a value of
 * SOCKET_ERROR is returned, and a specific error code can be retrieved by
 * calling WSAGetLastError. The error code WSA_IO_PENDING indicates that
 * the overlapped operation has been successfully initiated and that
 * completion will be indicated at a later time." Completion is indicated
 * through the port in both cases (no FILE_SKIP_COMPLETION_PORT_ON_SUCCESS).
 * lpFlags on output: 0 (MSG_PEEK asked: the data stays).
 */
TEST(wsarecv_pending_and_immediate)
{
	OVERLAPPED ov;
	char buf[16];
	DWORD flags = 0, n;
	WSABUF wb = { sizeof(buf), buf };
	HANDLE port;
	struct gq r;
	int sv[2];

	ASSERT_TRUE(unix_pair(sv));
	port = new_port(0);
	ASSERT_NE(NULL, port);
	ASSERT_EQ(port, CreateIoCompletionPort(H(sv[0]), port, 0x71, 0));

	memset(&ov, 0, sizeof(ov));
	SetLastError(POISON_U32);
	EXPECT_EQ(SOCKET_ERROR, WSARecv(sv[0], &wb, 1, NULL, &flags, &ov, NULL));
	EXPECT_EQ(WSA_IO_PENDING, WSAGetLastError());
	EXPECT_FALSE(HasOverlappedIoCompleted(&ov));
	EXPECT_TRUE(no_packet(port));
	ASSERT_EQ(4, write(sv[1], "pend", 4));
	gq_get(port, WAKE_MS, &r);
	EXPECT_GQ_OK(r, 4, 0x71, &ov);
	EXPECT_EQ(0, memcmp(buf, "pend", 4));

	ASSERT_EQ(3, write(sv[1], "now", 3));
	memset(&ov, 0, sizeof(ov));
	memset(buf, 0, sizeof(buf));
	n = POISON_U32;
	flags = MSG_PEEK;
	EXPECT_EQ(0, WSARecv(sv[0], &wb, 1, &n, &flags, &ov, NULL))
		TH_LOG("WSARecv with data ready: error %d", WSAGetLastError());
	EXPECT_EQ(3U, n);
	EXPECT_EQ(0U, flags);
	EXPECT_EQ(0, memcmp(buf, "now", 3));
	gq_get(port, WAKE_MS, &r);
	EXPECT_GQ_OK(r, 3, 0x71, &ov);
	EXPECT_TRUE(no_packet(port));

	/* Peeked: the data is still there. */
	memset(&ov, 0, sizeof(ov));
	memset(buf, 0, sizeof(buf));
	n = POISON_U32;
	flags = 0;
	EXPECT_EQ(0, WSARecv(sv[0], &wb, 1, &n, &flags, &ov, NULL));
	EXPECT_EQ(3U, n);
	EXPECT_EQ(0, memcmp(buf, "now", 3));
	gq_get(port, WAKE_MS, &r);
	EXPECT_GQ_OK(r, 3, 0x71, &ov);
	EXPECT_TRUE(no_packet(port));
	EXPECT_EQ(0, closesocket(sv[0]));
	close(sv[1]);
	EXPECT_TRUE(CloseHandle(port));
}

/*
 * WSASend: "If no error occurs and the send operation has completed
 * immediately, WSASend returns zero. ... The error code WSA_IO_PENDING
 * indicates that the overlapped operation has been successfully initiated
 * and that completion will be indicated at a later time." A send into a
 * full socket buffer pends until the peer reads.
 */
TEST(wsasend_immediate_and_pending)
{
	OVERLAPPED ov;
	char big[4096], buf[100];
	DWORD n;
	WSABUF wb = { 5, "hello" }, wp = { sizeof(buf), buf };
	HANDLE port;
	struct gq r;
	ssize_t got;
	long total = 0, drained = 0;
	struct timeval tv = { WAKE_MS / 1000, 0 };
	int sv[2], sz = 4096;

	ASSERT_TRUE(unix_pair(sv));
	port = new_port(0);
	ASSERT_NE(NULL, port);
	ASSERT_EQ(port, CreateIoCompletionPort(H(sv[0]), port, 0x72, 0));

	memset(&ov, 0, sizeof(ov));
	n = POISON_U32;
	EXPECT_EQ(0, WSASend(sv[0], &wb, 1, &n, 0, &ov, NULL))
		TH_LOG("WSASend to an empty socket: error %d", WSAGetLastError());
	EXPECT_EQ(5U, n);
	gq_get(port, WAKE_MS, &r);
	EXPECT_GQ_OK(r, 5, 0x72, &ov);
	EXPECT_EQ(5, read(sv[1], big, sizeof(big)));
	EXPECT_EQ(0, memcmp(big, "hello", 5));

	/* Fill the socket buffer. */
	ASSERT_EQ(0, setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz)));
	memset(big, 'f', sizeof(big));
	while ((got = send(sv[0], big, sizeof(big), MSG_DONTWAIT)) > 0)
		total += got;
	ASSERT_EQ(EAGAIN, errno);
	ASSERT_EQ(0, setsockopt(sv[1], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)));
	memset(buf, 'p', sizeof(buf));
	memset(&ov, 0, sizeof(ov));
	SetLastError(POISON_U32);
	EXPECT_EQ(SOCKET_ERROR, WSASend(sv[0], &wp, 1, NULL, 0, &ov, NULL));
	EXPECT_EQ(WSA_IO_PENDING, WSAGetLastError());
	EXPECT_TRUE(no_packet(port));

	/* The peer reads everything: the send completes, all 100 bytes. */
	while (drained < total + (long)sizeof(buf)) {
		got = recv(sv[1], big, sizeof(big), 0);
		if (got <= 0)
			break;
		drained += got;
		if (drained == total + (long)sizeof(buf))
			EXPECT_EQ(0, memcmp(big + got - sizeof(buf), buf, sizeof(buf)));
	}
	EXPECT_EQ(total + (long)sizeof(buf), drained);
	gq_get(port, WAKE_MS, &r);
	EXPECT_GQ_OK(r, sizeof(buf), 0x72, &ov);
	EXPECT_TRUE(no_packet(port));
	EXPECT_EQ(0, closesocket(sv[0]));
	close(sv[1]);
	EXPECT_TRUE(CloseHandle(port));
}

/*
 * WSARecv, lpBuffers: "A pointer to an array of WSABUF structures. Each
 * WSABUF structure contains a pointer to a buffer and the length, in
 * bytes, of the buffer." "For byte stream-style sockets (for example, type
 * SOCK_STREAM), incoming data is placed into the buffers until the buffers
 * are filled, the connection is closed, or the internally buffered data is
 * exhausted." Scatter in array order, immediate and pending; a short
 * message fills the first buffers only.
 */
TEST(wsarecv_scatter)
{
	OVERLAPPED ov;
	char a[2], b[3], c[5];
	DWORD flags = 0, n;
	WSABUF wb[3] = { { 2, a }, { 3, b }, { 5, c } };
	HANDLE port;
	struct gq r;
	int s, t;

	ASSERT_TRUE(tcp_pair(&s, &t));
	port = new_port(0);
	ASSERT_NE(NULL, port);
	ASSERT_EQ(port, CreateIoCompletionPort(H(t), port, 0x73, 0));

	ASSERT_EQ(10, write(s, "0123456789", 10));
	ASSERT_TRUE(wait_readable(t, 10));
	memset(&ov, 0, sizeof(ov));
	n = POISON_U32;
	EXPECT_EQ(0, WSARecv(t, wb, 3, &n, &flags, &ov, NULL))
		TH_LOG("WSARecv: error %d", WSAGetLastError());
	EXPECT_EQ(10U, n);
	EXPECT_EQ(0, memcmp(a, "01", 2));
	EXPECT_EQ(0, memcmp(b, "234", 3));
	EXPECT_EQ(0, memcmp(c, "56789", 5));
	gq_get(port, WAKE_MS, &r);
	EXPECT_GQ_OK(r, 10, 0x73, &ov);

	memset(&ov, 0, sizeof(ov));
	memset(a, POISON_BYTE, 2);
	memset(b, POISON_BYTE, 3);
	memset(c, POISON_BYTE, 5);
	EXPECT_EQ(SOCKET_ERROR, WSARecv(t, wb, 3, NULL, &flags, &ov, NULL));
	EXPECT_EQ(WSA_IO_PENDING, WSAGetLastError());
	ASSERT_EQ(4, write(s, "wxyz", 4));
	gq_get(port, WAKE_MS, &r);
	EXPECT_GQ_OK(r, 4, 0x73, &ov);
	EXPECT_EQ(0, memcmp(a, "wx", 2));
	EXPECT_EQ(0, memcmp(b, "yz", 2));
	EXPECT_TRUE(is_poison(b + 2, 1));
	EXPECT_TRUE(is_poison(c, 5));
	EXPECT_TRUE(no_packet(port));
	EXPECT_EQ(0, closesocket(t));
	close(s);
	EXPECT_TRUE(CloseHandle(port));
}

/*
 * WSASend, lpBuffers: "A pointer to an array of WSABUF structures. Each
 * WSABUF structure contains a pointer to a buffer and the length, in
 * bytes, of the buffer." The buffers are sent as one stream, in array
 * order (gather); the packet counts all the bytes.
 */
TEST(wsasend_gather)
{
	OVERLAPPED ov;
	char buf[32];
	WSABUF wb[3] = { { 2, "ab" }, { 3, "cde" }, { 5, "fghij" } };
	HANDLE port;
	struct gq r;
	size_t got = 0;
	ssize_t k;
	int ret, s, t;

	ASSERT_TRUE(tcp_pair(&s, &t));
	port = new_port(0);
	ASSERT_NE(NULL, port);
	ASSERT_EQ(port, CreateIoCompletionPort(H(s), port, 0x74, 0));
	memset(&ov, 0, sizeof(ov));
	ret = WSASend(s, wb, 3, NULL, 0, &ov, NULL);
	EXPECT_TRUE(ret == 0 || WSAGetLastError() == WSA_IO_PENDING)
		TH_LOG("WSASend: error %d", WSAGetLastError());
	gq_get(port, WAKE_MS, &r);
	EXPECT_GQ_OK(r, 10, 0x74, &ov);
	while (got < 10 && (k = recv(t, buf + got, sizeof(buf) - got, 0)) > 0)
		got += k;
	EXPECT_EQ(10U, got);
	EXPECT_EQ(0, memcmp(buf, "abcdefghij", 10));
	EXPECT_TRUE(no_packet(port));
	EXPECT_EQ(0, closesocket(s));
	close(t);
	EXPECT_TRUE(CloseHandle(port));
}

static void CALLBACK never_called(DWORD err, DWORD n, LPWSAOVERLAPPED ov,
				  DWORD flags)
{
	(void)err;
	(void)n;
	(void)ov;
	(void)flags;
	abort();
}

/*
 * WSARecv/WSASend, lpCompletionRoutine: "A pointer to the completion
 * routine called when the receive operation has been completed". Differs
 * from Windows: completion routines are not supported: SOCKET_ERROR,
 * WSAEOPNOTSUPP, nothing started (no packet, no data moved).
 */
TEST(wsa_completion_routine_unsupported)
{
	OVERLAPPED ov;
	char buf[8];
	DWORD flags = 0;
	WSABUF wb = { sizeof(buf), buf }, ws = { 3, "abc" };
	HANDLE port;
	int sv[2];

	ASSERT_TRUE(unix_pair(sv));
	port = new_port(0);
	ASSERT_NE(NULL, port);
	ASSERT_EQ(port, CreateIoCompletionPort(H(sv[0]), port, 0x75, 0));
	ASSERT_EQ(1, write(sv[1], "z", 1));
	memset(&ov, 0, sizeof(ov));
	SetLastError(POISON_U32);
	EXPECT_EQ(SOCKET_ERROR, WSARecv(sv[0], &wb, 1, NULL, &flags, &ov, never_called));
	EXPECT_EQ(WSAEOPNOTSUPP, WSAGetLastError());
	SetLastError(POISON_U32);
	EXPECT_EQ(SOCKET_ERROR, WSASend(sv[0], &ws, 1, NULL, 0, &ov, never_called));
	EXPECT_EQ(WSAEOPNOTSUPP, WSAGetLastError());
	EXPECT_TRUE(no_packet(port));
	EXPECT_EQ(1, recv(sv[0], buf, sizeof(buf), MSG_DONTWAIT));
	EXPECT_EQ(-1, recv(sv[1], buf, sizeof(buf), MSG_DONTWAIT));
	EXPECT_EQ(0, closesocket(sv[0]));
	close(sv[1]);
	EXPECT_TRUE(CloseHandle(port));
}

/*
 * WSARecv: "Any other error code indicates that the overlapped operation
 * was not successfully initiated and no completion indication will
 * occur." "WSAECONNRESET: The virtual circuit was reset by the remote
 * side." A receive on a connection already reset fails at once with no
 * packet, with or without FILE_SKIP_COMPLETION_PORT_ON_SUCCESS.
 */
TEST(wsarecv_fails_at_once)
{
	struct linger lg = { 1, 0 };
	OVERLAPPED ov;
	char buf[8];
	DWORD flags = 0;
	WSABUF wb = { sizeof(buf), buf };
	HANDLE port;
	int c, s;

	ASSERT_TRUE(tcp_pair(&c, &s));
	port = new_port(0);
	ASSERT_NE(NULL, port);
	ASSERT_EQ(port, CreateIoCompletionPort(H(s), port, 0x79, 0));
	ASSERT_EQ(0, setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)));
	ASSERT_EQ(0, close(c));
	{
		struct pollfd pfd = { .fd = s, .events = POLLIN };

		ASSERT_EQ(1, poll(&pfd, 1, WAKE_MS)) TH_LOG("no reset seen");
	}
	memset(&ov, 0, sizeof(ov));
	SetLastError(POISON_U32);
	EXPECT_EQ(SOCKET_ERROR, WSARecv(s, &wb, 1, NULL, &flags, &ov, NULL));
	EXPECT_EQ(WSAECONNRESET, WSAGetLastError());
	EXPECT_TRUE(HasOverlappedIoCompleted(&ov));
	EXPECT_TRUE(no_packet(port)) TH_LOG("a packet for an operation that failed at once");
	EXPECT_EQ(0, closesocket(s));
	EXPECT_TRUE(CloseHandle(port));
}

/*
 * Zero-byte receives, which Windows servers post to wait for data without
 * committing a buffer: a WSARecv into a buffer of length 0 pends while no
 * data is there (no packet), then completes successfully with 0 bytes
 * once data arrives, consuming none of it; with data already there it
 * completes at once (0 bytes).
 */
TEST(wsarecv_zero_byte)
{
	OVERLAPPED ov;
	char buf[8];
	DWORD flags = 0, n;
	WSABUF wb = { 0, buf };
	HANDLE port;
	struct gq r;
	int c, s;

	ASSERT_TRUE(tcp_pair(&c, &s));
	port = new_port(0);
	ASSERT_NE(NULL, port);
	ASSERT_EQ(port, CreateIoCompletionPort(H(s), port, 0x7A, 0));
	memset(&ov, 0, sizeof(ov));
	EXPECT_EQ(SOCKET_ERROR, WSARecv(s, &wb, 1, NULL, &flags, &ov, NULL));
	EXPECT_EQ(WSA_IO_PENDING, WSAGetLastError());
	gq_get(port, BLOCKED_MS, &r);
	EXPECT_GQ_NONE(r, WAIT_TIMEOUT);
	ASSERT_EQ(3, write(c, "abc", 3));
	gq_get(port, WAKE_MS, &r);
	EXPECT_GQ_OK(r, 0, 0x7A, &ov);
	EXPECT_TRUE(no_packet(port));

	memset(&ov, 0, sizeof(ov));
	n = POISON_U32;
	EXPECT_EQ(0, WSARecv(s, &wb, 1, &n, &flags, &ov, NULL));
	EXPECT_EQ(0U, n);
	gq_get(port, WAKE_MS, &r);
	EXPECT_GQ_OK(r, 0, 0x7A, &ov);
	EXPECT_EQ(3, recv(s, buf, sizeof(buf), MSG_DONTWAIT)) TH_LOG("data consumed");
	EXPECT_TRUE(no_packet(port));
	close(c);
	EXPECT_EQ(0, closesocket(s));
	EXPECT_TRUE(CloseHandle(port));
}

/*
 * WSARecv/WSASend errors: "WSAENOTSOCK: The descriptor is not a socket."
 * A pipe (associated with a port or not), a closed descriptor and
 * INVALID_SOCKET are not sockets. Nothing is queued.
 */
TEST(wsa_not_a_socket)
{
	OVERLAPPED ov;
	char buf[8];
	DWORD flags = 0;
	WSABUF wb = { sizeof(buf), buf };
	HANDLE port;
	int p[2], q[2];

	port = new_port(0);
	ASSERT_NE(NULL, port);
	ASSERT_EQ(0, pipe2(p, O_CLOEXEC));
	ASSERT_EQ(0, pipe2(q, O_CLOEXEC));
	ASSERT_EQ(port, CreateIoCompletionPort(H(p[0]), port, 1, 0));
	ASSERT_EQ(port, CreateIoCompletionPort(H(p[1]), port, 2, 0));
	ASSERT_EQ(1, write(p[1], "d", 1));
	ASSERT_EQ(1, write(q[1], "d", 1));
	memset(&ov, 0, sizeof(ov));

	SetLastError(POISON_U32);
	EXPECT_EQ(SOCKET_ERROR, WSARecv(p[0], &wb, 1, NULL, &flags, &ov, NULL));
	EXPECT_EQ(WSAENOTSOCK, WSAGetLastError());
	SetLastError(POISON_U32);
	EXPECT_EQ(SOCKET_ERROR, WSASend(p[1], &wb, 1, NULL, 0, &ov, NULL));
	EXPECT_EQ(WSAENOTSOCK, WSAGetLastError());
	SetLastError(POISON_U32);
	EXPECT_EQ(SOCKET_ERROR, WSARecv(q[0], &wb, 1, NULL, &flags, &ov, NULL));
	EXPECT_EQ(WSAENOTSOCK, WSAGetLastError());
	SetLastError(POISON_U32);
	EXPECT_EQ(SOCKET_ERROR, WSARecv(q[0], &wb, 1, NULL, &flags, NULL, NULL));
	EXPECT_EQ(WSAENOTSOCK, WSAGetLastError());
	SetLastError(POISON_U32);
	EXPECT_EQ(SOCKET_ERROR, WSARecv(INVALID_SOCKET, &wb, 1, NULL, &flags, &ov, NULL));
	EXPECT_EQ(WSAENOTSOCK, WSAGetLastError());
	close(q[0]);
	SetLastError(POISON_U32);
	EXPECT_EQ(SOCKET_ERROR, WSASend(q[0], &wb, 1, NULL, 0, &ov, NULL));
	EXPECT_EQ(WSAENOTSOCK, WSAGetLastError());
	EXPECT_TRUE(no_packet(port));
	EXPECT_EQ(1, read(p[0], buf, sizeof(buf))) TH_LOG("data consumed");
	close(q[1]);
	EXPECT_TRUE(CloseHandle(H(p[0])));
	EXPECT_TRUE(CloseHandle(H(p[1])));
	EXPECT_TRUE(CloseHandle(port));
}

/*
 * WSARecv: "If the socket is connection oriented and the remote side has
 * shut down the connection gracefully, and all data has been received, a
 * WSARecv will complete immediately with zero bytes received." A pending
 * WSARecv completes successfully with 0 bytes (TRUE) when the peer shuts
 * down gracefully; a later one returns 0 at once with 0 bytes.
 */
TEST(wsarecv_graceful_close)
{
	OVERLAPPED ov;
	char buf[8];
	DWORD flags = 0, n;
	WSABUF wb = { sizeof(buf), buf };
	HANDLE port;
	struct gq r;
	int c, s;

	ASSERT_TRUE(tcp_pair(&c, &s));
	port = new_port(0);
	ASSERT_NE(NULL, port);
	ASSERT_EQ(port, CreateIoCompletionPort(H(s), port, 0x76, 0));
	memset(&ov, 0, sizeof(ov));
	ASSERT_EQ(SOCKET_ERROR, WSARecv(s, &wb, 1, NULL, &flags, &ov, NULL));
	ASSERT_EQ(WSA_IO_PENDING, WSAGetLastError());
	ASSERT_EQ(2, write(c, "hi", 2));
	gq_get(port, WAKE_MS, &r);
	EXPECT_GQ_OK(r, 2, 0x76, &ov);

	ASSERT_EQ(SOCKET_ERROR, WSARecv(s, &wb, 1, NULL, &flags, &ov, NULL));
	ASSERT_EQ(WSA_IO_PENDING, WSAGetLastError());
	ASSERT_EQ(0, shutdown(c, SHUT_WR));
	gq_get(port, WAKE_MS, &r);
	EXPECT_GQ_OK(r, 0, 0x76, &ov);
	EXPECT_EQ(STATUS_SUCCESS, (DWORD)ov.Internal);

	memset(&ov, 0, sizeof(ov));
	n = POISON_U32;
	EXPECT_EQ(0, WSARecv(s, &wb, 1, &n, &flags, &ov, NULL));
	EXPECT_EQ(0U, n);
	gq_get(port, WAKE_MS, &r);
	EXPECT_GQ_OK(r, 0, 0x76, &ov);
	EXPECT_TRUE(no_packet(port));
	close(c);
	EXPECT_EQ(0, closesocket(s));
	EXPECT_TRUE(CloseHandle(port));
}

/*
 * WSARecv/WSASend errors: "WSAEFAULT: The lpBuffers parameter is not
 * completely contained in a valid part of the user address space" (our
 * layer: lpBuffers NULL, dwBufferCount 0, or lpFlags NULL for WSARecv);
 * "WSAEOPNOTSUPP" for flags the socket cannot honour (our layer: any flag
 * but MSG_PEEK/MSG_OOB for WSARecv, e.g. MSG_WAITALL, and but
 * MSG_OOB/MSG_DONTROUTE for WSASend). Differs from Windows: hEvent must be
 * NULL (WSAEINVAL). Nothing is started.
 */
TEST(wsa_invalid_arguments)
{
	OVERLAPPED ov, oe;
	char buf[8];
	DWORD flags = 0;
	WSABUF wb = { sizeof(buf), buf };
	HANDLE port;
	int sv[2];

	ASSERT_TRUE(unix_pair(sv));
	port = new_port(0);
	ASSERT_NE(NULL, port);
	ASSERT_EQ(port, CreateIoCompletionPort(H(sv[0]), port, 0x77, 0));
	ASSERT_EQ(1, write(sv[1], "d", 1));
	memset(&ov, 0, sizeof(ov));
	memset(&oe, 0, sizeof(oe));
	oe.hEvent = (HANDLE)(uintptr_t)0x4321;

#define EXPECT_WSA(call, code) do { \
	SetLastError(POISON_U32); \
	EXPECT_EQ(SOCKET_ERROR, call); \
	EXPECT_EQ((int)(code), WSAGetLastError()); \
} while (0)
	EXPECT_WSA(WSARecv(sv[0], NULL, 1, NULL, &flags, &ov, NULL), WSAEFAULT);
	EXPECT_WSA(WSARecv(sv[0], &wb, 0, NULL, &flags, &ov, NULL), WSAEFAULT);
	EXPECT_WSA(WSARecv(sv[0], &wb, 1, NULL, NULL, &ov, NULL), WSAEFAULT);
	EXPECT_WSA(WSASend(sv[0], NULL, 1, NULL, 0, &ov, NULL), WSAEFAULT);
	EXPECT_WSA(WSASend(sv[0], &wb, 0, NULL, 0, &ov, NULL), WSAEFAULT);
	flags = MSG_WAITALL;
	EXPECT_WSA(WSARecv(sv[0], &wb, 1, NULL, &flags, &ov, NULL), WSAEOPNOTSUPP);
	EXPECT_EQ((DWORD)MSG_WAITALL, flags);
	flags = 0;
	EXPECT_WSA(WSASend(sv[0], &wb, 1, NULL, MSG_WAITALL, &ov, NULL), WSAEOPNOTSUPP);
	EXPECT_WSA(WSARecv(sv[0], &wb, 1, NULL, &flags, &oe, NULL), WSAEINVAL);
	EXPECT_WSA(WSASend(sv[0], &wb, 1, NULL, 0, &oe, NULL), WSAEINVAL);
#undef EXPECT_WSA
	EXPECT_TRUE(no_packet(port));
	EXPECT_EQ(1, recv(sv[0], buf, sizeof(buf), MSG_DONTWAIT));
	EXPECT_EQ(-1, recv(sv[1], buf, sizeof(buf), MSG_DONTWAIT));
	EXPECT_EQ(0, closesocket(sv[0]));
	close(sv[1]);
	EXPECT_TRUE(CloseHandle(port));
}

/* A thread making one blocking (non-overlapped) WSARecv. */
struct blocking_recv {
	pthread_t thread;
	int fd, ret, err;
	DWORD n;
	char buf[8];
};

static void *blocking_recv_fn(void *arg)
{
	struct blocking_recv *b = arg;
	WSABUF wb = { sizeof(b->buf), b->buf };
	DWORD flags = 0;

	b->n = POISON_U32;
	b->ret = WSARecv(b->fd, &wb, 1, &b->n, &flags, NULL, NULL);
	b->err = WSAGetLastError();
	return NULL;
}

/*
 * WSARecv: "If both lpOverlapped and lpCompletionRoutine are NULL, the
 * socket in this function will be treated as a non-overlapped socket."
 * The call blocks until data comes and returns 0 with the count; no
 * packet, even on a socket associated with a port.
 */
TEST(wsarecv_wsasend_nonoverlapped)
{
	struct blocking_recv b;
	WSABUF ws = { 4, "blok" };
	DWORD n = POISON_U32;
	HANDLE port;
	int sv[2];

	ASSERT_TRUE(unix_pair(sv));
	port = new_port(0);
	ASSERT_NE(NULL, port);
	ASSERT_EQ(port, CreateIoCompletionPort(H(sv[0]), port, 0x78, 0));
	memset(&b, 0, sizeof(b));
	b.fd = sv[0];
	ASSERT_EQ(0, pthread_create(&b.thread, NULL, blocking_recv_fn, &b));
	EXPECT_EQ(ETIMEDOUT, join_ms(b.thread, BLOCKED_MS))
		TH_LOG("a non-overlapped WSARecv returned without data");
	EXPECT_EQ(0, WSASend(sv[1], &ws, 1, &n, 0, NULL, NULL));
	EXPECT_EQ(4U, n);
	ASSERT_EQ(0, join_ms(b.thread, WAKE_MS));
	EXPECT_EQ(0, b.ret) TH_LOG("error %d", b.err);
	EXPECT_EQ(4U, b.n);
	EXPECT_EQ(0, memcmp(b.buf, "blok", 4));
	EXPECT_TRUE(no_packet(port));
	EXPECT_EQ(0, closesocket(sv[0]));
	EXPECT_EQ(0, closesocket(sv[1]));
	EXPECT_TRUE(CloseHandle(port));
}

/* ------------------------------------------------------------------ */
/* AcceptEx, GetAcceptExSockaddrs, ConnectEx, WSAIoctl                  */
/* ------------------------------------------------------------------ */

#define ADDR_SLOT	((DWORD)(sizeof(struct sockaddr_in) + 16))

static SOCKET new_tcp_socket(void)
{
	return WSASocket(AF_INET, SOCK_STREAM, 0, NULL, 0, WSA_FLAG_OVERLAPPED);
}

static bool same_addr(const struct sockaddr *sa, int len,
		      const struct sockaddr_in *want)
{
	const struct sockaddr_in *in = (const struct sockaddr_in *)sa;

	return sa && len == (int)sizeof(*want) && in->sin_family == AF_INET &&
	       in->sin_port == want->sin_port &&
	       in->sin_addr.s_addr == want->sin_addr.s_addr;
}

/* Whether 1 byte of data goes each way between connected @a and @b. */
static bool talks(int a, int b)
{
	char x = 0;

	return send(a, "A", 1, 0) == 1 && recv(b, &x, 1, 0) == 1 && x == 'A' &&
	       send(b, "B", 1, 0) == 1 && recv(a, &x, 1, 0) == 1 && x == 'B';
}

/*
 * AcceptEx: "If dwReceiveDataLength is zero, accepting the connection will
 * not result in a receive operation. Instead, AcceptEx completes as soon
 * as a connection arrives, without waiting for any data." "If
 * WSAGetLastError returns ERROR_IO_PENDING, then the operation was
 * successfully initiated and is still in progress." No packet before a
 * client connects; then one, with the listening socket's key, and
 * sAcceptSocket ("A descriptor identifying a socket on which to accept an
 * incoming connection") is the connection: data goes through it.
 * GetAcceptExSockaddrs "parses the data obtained from a call to the
 * AcceptEx function and passes the local and remote addresses to a
 * sockaddr structure". Our layer: an accept socket associated with a port
 * stays associated, with its key.
 */
TEST(acceptex_without_data)
{
	struct sockaddr_in la, ca;
	socklen_t len = sizeof(ca);
	struct sockaddr *lp = NULL, *rp = NULL;
	char out[2 * ADDR_SLOT];
	OVERLAPPED ov;
	DWORD bytes = POISON_U32;
	INT ll = -1, rl = -1;
	HANDLE port;
	SOCKET as;
	struct gq r;
	int l, c;

	l = tcp_listener(&la);
	ASSERT_LE(0, l);
	port = new_port(0);
	ASSERT_NE(NULL, port);
	ASSERT_EQ(port, CreateIoCompletionPort(H(l), port, 0xAC, 0));
	as = new_tcp_socket();
	ASSERT_NE(INVALID_SOCKET, as);
	ASSERT_EQ(port, CreateIoCompletionPort(H(as), port, 0xA5, 0));

	memset(&ov, 0, sizeof(ov));
	memset(out, POISON_BYTE, sizeof(out));
	SetLastError(POISON_U32);
	EXPECT_FALSE(AcceptEx(l, as, out, 0, ADDR_SLOT, ADDR_SLOT, &bytes, &ov));
	ASSERT_EQ(ERROR_IO_PENDING, WSAGetLastError());
	gq_get(port, BLOCKED_MS, &r);
	EXPECT_GQ_NONE(r, WAIT_TIMEOUT);

	c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ASSERT_LE(0, c);
	ASSERT_EQ(0, connect(c, (struct sockaddr *)&la, sizeof(la)));
	ASSERT_EQ(0, getsockname(c, (struct sockaddr *)&ca, &len));
	gq_get(port, WAKE_MS, &r);
	EXPECT_GQ_OK(r, 0, 0xAC, &ov);
	EXPECT_TRUE(no_packet(port));

	GetAcceptExSockaddrs(out, 0, ADDR_SLOT, ADDR_SLOT, &lp, &ll, &rp, &rl);
	EXPECT_TRUE(same_addr(lp, ll, &la)) TH_LOG("local address wrong (len %d)", ll);
	EXPECT_TRUE(same_addr(rp, rl, &ca)) TH_LOG("remote address wrong (len %d)", rl);
	EXPECT_EQ(0, iocp_win32_setsockopt(as, SOL_SOCKET, SO_UPDATE_ACCEPT_CONTEXT,
					   &l, sizeof(l)));

	/* The accept socket is the connection. */
	EXPECT_TRUE(talks((int)as, c));
	EXPECT_EQ((ULONG_PTR)0xA5, key_of_op(port, (int)as, c));
	EXPECT_TRUE(no_packet(port));
	EXPECT_EQ(0, closesocket(as));
	close(c);
	EXPECT_EQ(0, closesocket(l));
	EXPECT_TRUE(CloseHandle(port));
}

/*
 * AcceptEx, dwReceiveDataLength non-zero: the buffer "receives the first
 * block of data sent on a new connection"; the operation completes only
 * once a connection is accepted and data is read (a client that connects
 * and sends nothing completes nothing). The packet's byte count is the
 * data received, the data is at the start of lpOutputBuffer and the
 * addresses follow it.
 */
TEST(acceptex_with_data)
{
	struct sockaddr_in la, ca;
	socklen_t len = sizeof(ca);
	struct sockaddr *lp = NULL, *rp = NULL;
	char out[64 + 2 * ADDR_SLOT];
	OVERLAPPED ov;
	INT ll = -1, rl = -1;
	HANDLE port;
	SOCKET as;
	struct gq r;
	int l, c;

	l = tcp_listener(&la);
	ASSERT_LE(0, l);
	port = new_port(0);
	ASSERT_NE(NULL, port);
	ASSERT_EQ(port, CreateIoCompletionPort(H(l), port, 0xAD, 0));
	as = new_tcp_socket();
	ASSERT_NE(INVALID_SOCKET, as);
	memset(&ov, 0, sizeof(ov));
	memset(out, POISON_BYTE, sizeof(out));
	SetLastError(POISON_U32);
	EXPECT_FALSE(AcceptEx(l, as, out, 64, ADDR_SLOT, ADDR_SLOT, NULL, &ov));
	ASSERT_EQ(ERROR_IO_PENDING, WSAGetLastError());

	c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ASSERT_LE(0, c);
	ASSERT_EQ(0, connect(c, (struct sockaddr *)&la, sizeof(la)));
	ASSERT_EQ(0, getsockname(c, (struct sockaddr *)&ca, &len));
	gq_get(port, BLOCKED_MS, &r);
	/* Connected, no data yet: AcceptEx must not have completed. */
	EXPECT_GQ_NONE(r, WAIT_TIMEOUT);
	EXPECT_FALSE(HasOverlappedIoCompleted(&ov));

	ASSERT_EQ(5, send(c, "hello", 5, 0));
	gq_get(port, WAKE_MS, &r);
	EXPECT_GQ_OK(r, 5, 0xAD, &ov);
	EXPECT_EQ(0, memcmp(out, "hello", 5));
	EXPECT_TRUE(no_packet(port));
	GetAcceptExSockaddrs(out, 64, ADDR_SLOT, ADDR_SLOT, &lp, &ll, &rp, &rl);
	EXPECT_TRUE(same_addr(lp, ll, &la));
	EXPECT_TRUE(same_addr(rp, rl, &ca));
	EXPECT_TRUE(talks((int)as, c));
	EXPECT_EQ(0, closesocket(as));
	close(c);
	EXPECT_EQ(0, closesocket(l));
	EXPECT_TRUE(CloseHandle(port));
}

/*
 * AcceptEx: "If the function fails, AcceptEx returns FALSE. The
 * WSAGetLastError function can then be called to return extended error
 * information." dwLocalAddressLength/dwRemoteAddressLength: "This value
 * must be at least 16 bytes more than the maximum address length for the
 * transport protocol in use" (else, and for lpOutputBuffer NULL:
 * WSAEFAULT); sAcceptSocket not a socket: WSAENOTSOCK. Our layer:
 * lpOverlapped NULL: ERROR_INVALID_PARAMETER; a listening socket not
 * associated with a port: WSAEINVAL. No packet, nothing accepted.
 */
TEST(acceptex_invalid)
{
	struct sockaddr_in la;
	char out[64 + 2 * ADDR_SLOT];
	OVERLAPPED ov;
	HANDLE port;
	SOCKET as;
	int l, l2, p[2];

	l = tcp_listener(&la);
	ASSERT_LE(0, l);
	l2 = tcp_listener(&la);
	ASSERT_LE(0, l2);
	port = new_port(0);
	ASSERT_NE(NULL, port);
	ASSERT_EQ(port, CreateIoCompletionPort(H(l), port, 1, 0));
	as = new_tcp_socket();
	ASSERT_NE(INVALID_SOCKET, as);
	ASSERT_EQ(0, pipe2(p, O_CLOEXEC));
	memset(&ov, 0, sizeof(ov));

#define EXPECT_AX(call, code) do { \
	SetLastError(POISON_U32); \
	EXPECT_FALSE(call); \
	EXPECT_EQ((DWORD)(code), GetLastError()); \
} while (0)
	EXPECT_AX(AcceptEx(l, as, out, 0, ADDR_SLOT, ADDR_SLOT, NULL, NULL),
		  ERROR_INVALID_PARAMETER);
	EXPECT_AX(AcceptEx(l, as, out, 0, ADDR_SLOT - 1, ADDR_SLOT, NULL, &ov), WSAEFAULT);
	EXPECT_AX(AcceptEx(l, as, out, 0, ADDR_SLOT, ADDR_SLOT - 1, NULL, &ov), WSAEFAULT);
	EXPECT_AX(AcceptEx(l, as, NULL, 0, ADDR_SLOT, ADDR_SLOT, NULL, &ov), WSAEFAULT);
	EXPECT_AX(AcceptEx(l, p[0], out, 0, ADDR_SLOT, ADDR_SLOT, NULL, &ov), WSAENOTSOCK);
	EXPECT_AX(AcceptEx(l2, as, out, 0, ADDR_SLOT, ADDR_SLOT, NULL, &ov), WSAEINVAL);
#undef EXPECT_AX
	EXPECT_TRUE(no_packet(port));
	/* Nothing waits on the listener: a client is accepted by accept(2). */
	{
		int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), s;
		socklen_t len = sizeof(la);

		ASSERT_EQ(0, getsockname(l, (struct sockaddr *)&la, &len));
		ASSERT_EQ(0, connect(c, (struct sockaddr *)&la, sizeof(la)));
		ASSERT_EQ(0, fcntl(l, F_SETFL, O_NONBLOCK));
		s = accept4(l, NULL, NULL, SOCK_CLOEXEC);
		EXPECT_LE(0, s) TH_LOG("the connection was taken by a failed AcceptEx");
		close(s);
		close(c);
	}
	EXPECT_TRUE(no_packet(port));
	close(p[0]);
	close(p[1]);
	EXPECT_EQ(0, closesocket(as));
	EXPECT_EQ(0, closesocket(l));
	EXPECT_EQ(0, closesocket(l2));
	EXPECT_TRUE(CloseHandle(port));
}

/*
 * Our layer (as Windows, where closing a handle cancels its pending I/O):
 * closing the accept socket of a pending AcceptEx aborts it; its packet
 * reports ERROR_OPERATION_ABORTED with the listening socket's key, and a
 * later client is not taken by it.
 */
TEST(acceptex_accept_socket_closed)
{
	struct sockaddr_in la;
	char out[2 * ADDR_SLOT];
	OVERLAPPED ov;
	HANDLE port;
	SOCKET as;
	struct gq r;
	int l, c, s;

	l = tcp_listener(&la);
	ASSERT_LE(0, l);
	port = new_port(0);
	ASSERT_NE(NULL, port);
	ASSERT_EQ(port, CreateIoCompletionPort(H(l), port, 0xAE, 0));
	as = new_tcp_socket();
	ASSERT_NE(INVALID_SOCKET, as);
	memset(&ov, 0, sizeof(ov));
	EXPECT_FALSE(AcceptEx(l, as, out, 0, ADDR_SLOT, ADDR_SLOT, NULL, &ov));
	ASSERT_EQ(ERROR_IO_PENDING, WSAGetLastError());
	EXPECT_EQ(0, closesocket(as));
	gq_get(port, WAKE_MS, &r);
	EXPECT_GQ_FAILED(r, ERROR_OPERATION_ABORTED, 0, 0xAE, &ov);
	EXPECT_TRUE(no_packet(port));

	c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ASSERT_LE(0, c);
	ASSERT_EQ(0, connect(c, (struct sockaddr *)&la, sizeof(la)));
	ASSERT_EQ(0, fcntl(l, F_SETFL, O_NONBLOCK));
	s = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	EXPECT_LE(0, s);
	EXPECT_TRUE(no_packet(port));
	close(s);
	close(c);
	EXPECT_EQ(0, closesocket(l));
	EXPECT_TRUE(CloseHandle(port));
}

/*
 * AcceptEx with a client already waiting: "If no error occurs, the
 * AcceptEx function completed successfully and a value of TRUE is
 * returned." Our layer: AcceptEx never completes synchronously, so it
 * returns FALSE with ERROR_IO_PENDING even then, also with
 * FILE_SKIP_COMPLETION_PORT_ON_SUCCESS on the listening socket, and the
 * result comes as exactly one packet.
 */
TEST(acceptex_client_already_waiting)
{
	struct sockaddr_in la;
	char out[2 * ADDR_SLOT];
	OVERLAPPED ov;
	HANDLE port;
	SOCKET as;
	struct gq r;
	int l, c;

	l = tcp_listener(&la);
	ASSERT_LE(0, l);
	port = new_port(0);
	ASSERT_NE(NULL, port);
	ASSERT_EQ(port, CreateIoCompletionPort(H(l), port, 0xB0, 0));
	for (int skip = 0; skip < 2; skip++) {
		if (skip)
			ASSERT_TRUE(SetFileCompletionNotificationModes(H(l),
					FILE_SKIP_COMPLETION_PORT_ON_SUCCESS));
		c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		ASSERT_EQ(0, connect(c, (struct sockaddr *)&la, sizeof(la)));
		as = new_tcp_socket();
		ASSERT_NE(INVALID_SOCKET, as);
		memset(&ov, 0, sizeof(ov));
		SetLastError(POISON_U32);
		EXPECT_FALSE(AcceptEx(l, as, out, 0, ADDR_SLOT, ADDR_SLOT, NULL, &ov));
		EXPECT_EQ(ERROR_IO_PENDING, GetLastError());
		gq_get(port, WAKE_MS, &r);
		EXPECT_GQ_OK(r, 0, 0xB0, &ov);
		EXPECT_TRUE(no_packet(port));
		EXPECT_TRUE(talks((int)as, c));
		close(c);
		EXPECT_EQ(0, closesocket(as));
	}
	EXPECT_EQ(0, closesocket(l));
	EXPECT_TRUE(CloseHandle(port));
}

/*
 * AcceptEx is cancelled like any overlapped operation (CancelIoEx on the
 * listening socket, lpOverlapped: "only those specific I/O requests that
 * were issued for the file with the specified lpOverlapped overlapped
 * structure are canceled"): before any client, its packet reports
 * ERROR_OPERATION_ABORTED with the listening socket's key and a later
 * client is left for accept(2). Our layer: with receive data, a cancel
 * after the connection was made but before data came (the connection
 * arrived, whether its first step was handled or not) aborts it too, and
 * the connection is dropped or left unused. Without receive data, an
 * AcceptEx whose connection came (packet queued) is complete: CancelIoEx
 * finds nothing (ERROR_NOT_FOUND) and the packet reports success.
 */
TEST(acceptex_cancel)
{
	struct sockaddr_in la;
	char out[64 + 2 * ADDR_SLOT], b[4];
	OVERLAPPED ov;
	HANDLE port;
	SOCKET as;
	struct gq r;
	int l, c, s;

	l = tcp_listener(&la);
	ASSERT_LE(0, l);
	port = new_port(0);
	ASSERT_NE(NULL, port);
	ASSERT_EQ(port, CreateIoCompletionPort(H(l), port, 0xAF, 0));

	/* Before any client. */
	as = new_tcp_socket();
	ASSERT_NE(INVALID_SOCKET, as);
	memset(&ov, 0, sizeof(ov));
	ASSERT_FALSE(AcceptEx(l, as, out, 64, ADDR_SLOT, ADDR_SLOT, NULL, &ov));
	ASSERT_EQ(ERROR_IO_PENDING, GetLastError());
	EXPECT_TRUE(CancelIoEx(H(l), &ov));
	gq_get(port, WAKE_MS, &r);
	EXPECT_GQ_FAILED(r, ERROR_OPERATION_ABORTED, 0, 0xAF, &ov);
	EXPECT_TRUE(no_packet(port));
	c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ASSERT_EQ(0, connect(c, (struct sockaddr *)&la, sizeof(la)));
	ASSERT_EQ(0, fcntl(l, F_SETFL, O_NONBLOCK));
	s = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	EXPECT_LE(0, s) TH_LOG("the cancelled AcceptEx took the connection");
	close(s);
	close(c);
	EXPECT_EQ(0, closesocket(as));

	/* Connected, its first step handled, no data yet. */
	as = new_tcp_socket();
	ASSERT_NE(INVALID_SOCKET, as);
	memset(&ov, 0, sizeof(ov));
	ASSERT_FALSE(AcceptEx(l, as, out, 64, ADDR_SLOT, ADDR_SLOT, NULL, &ov));
	ASSERT_EQ(ERROR_IO_PENDING, GetLastError());
	c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ASSERT_EQ(0, connect(c, (struct sockaddr *)&la, sizeof(la)));
	gq_get(port, BLOCKED_MS, &r);
	EXPECT_GQ_NONE(r, WAIT_TIMEOUT);
	EXPECT_TRUE(CancelIoEx(H(l), &ov));
	gq_get(port, WAKE_MS, &r);
	EXPECT_GQ_FAILED(r, ERROR_OPERATION_ABORTED, 0, 0xAF, &ov);
	EXPECT_TRUE(no_packet(port));
	close(c);
	EXPECT_EQ(0, closesocket(as));

	/* Connected, its first step not handled yet (packet queued). */
	as = new_tcp_socket();
	ASSERT_NE(INVALID_SOCKET, as);
	memset(&ov, 0, sizeof(ov));
	ASSERT_FALSE(AcceptEx(l, as, out, 64, ADDR_SLOT, ADDR_SLOT, NULL, &ov));
	ASSERT_EQ(ERROR_IO_PENDING, GetLastError());
	c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ASSERT_EQ(0, connect(c, (struct sockaddr *)&la, sizeof(la)));
	ASSERT_TRUE(wait_queued(port, 1));
	EXPECT_TRUE(CancelIoEx(H(l), &ov));
	gq_get(port, WAKE_MS, &r);
	EXPECT_GQ_FAILED(r, ERROR_OPERATION_ABORTED, 0, 0xAF, &ov);
	EXPECT_TRUE(no_packet(port));
	{
		ssize_t got = recv_timed(c, b, sizeof(b));

		EXPECT_TRUE(got == 0 || (got < 0 && errno == ECONNRESET))
			TH_LOG("dropped connection still open (%zd, errno %d)", got, errno);
	}
	close(c);
	EXPECT_EQ(0, closesocket(as));

	/* No receive data: complete once the client came. */
	as = new_tcp_socket();
	ASSERT_NE(INVALID_SOCKET, as);
	memset(&ov, 0, sizeof(ov));
	ASSERT_FALSE(AcceptEx(l, as, out, 0, ADDR_SLOT, ADDR_SLOT, NULL, &ov));
	ASSERT_EQ(ERROR_IO_PENDING, GetLastError());
	c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ASSERT_EQ(0, connect(c, (struct sockaddr *)&la, sizeof(la)));
	ASSERT_TRUE(wait_queued(port, 1));
	SetLastError(POISON_U32);
	EXPECT_FALSE(CancelIoEx(H(l), &ov));
	EXPECT_EQ(ERROR_NOT_FOUND, GetLastError());
	gq_get(port, WAKE_MS, &r);
	EXPECT_GQ_OK(r, 0, 0xAF, &ov);
	EXPECT_TRUE(no_packet(port));
	EXPECT_TRUE(talks((int)as, c));
	close(c);
	EXPECT_EQ(0, closesocket(as));
	EXPECT_EQ(0, closesocket(l));
	EXPECT_TRUE(CloseHandle(port));
}

/*
 * AcceptEx over IPv6: the address lengths "must be at least 16 bytes more
 * than the maximum address length for the transport protocol in use"
 * (sizeof(struct sockaddr_in6) + 16; the IPv4 size is WSAEFAULT), and
 * GetAcceptExSockaddrs returns IPv6 addresses of that length.
 */
TEST(acceptex_ipv6)
{
	struct sockaddr_in6 la, ca;
	socklen_t len = sizeof(la);
	struct sockaddr *lp = NULL, *rp = NULL;
	const DWORD slot = sizeof(struct sockaddr_in6) + 16;
	char out[2 * (sizeof(struct sockaddr_in6) + 16)];
	OVERLAPPED ov;
	INT ll = -1, rl = -1;
	HANDLE port;
	SOCKET as;
	struct gq r;
	int l, c;

	l = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	memset(&la, 0, sizeof(la));
	la.sin6_family = AF_INET6;
	la.sin6_addr = in6addr_loopback;
	if (l < 0 || bind(l, (struct sockaddr *)&la, sizeof(la)))
		SKIP(return, "no IPv6 loopback");
	ASSERT_EQ(0, listen(l, 4));
	ASSERT_EQ(0, getsockname(l, (struct sockaddr *)&la, &len));
	port = new_port(0);
	ASSERT_NE(NULL, port);
	ASSERT_EQ(port, CreateIoCompletionPort(H(l), port, 0x66, 0));
	as = WSASocket(AF_INET6, SOCK_STREAM, 0, NULL, 0, WSA_FLAG_OVERLAPPED);
	ASSERT_NE(INVALID_SOCKET, as);
	memset(&ov, 0, sizeof(ov));
	SetLastError(POISON_U32);
	EXPECT_FALSE(AcceptEx(l, as, out, 0, ADDR_SLOT, ADDR_SLOT, NULL, &ov));
	EXPECT_EQ((DWORD)WSAEFAULT, GetLastError());
	SetLastError(POISON_U32);
	EXPECT_FALSE(AcceptEx(l, as, out, 0, slot, slot, NULL, &ov));
	ASSERT_EQ(ERROR_IO_PENDING, GetLastError());

	c = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ASSERT_LE(0, c);
	ASSERT_EQ(0, connect(c, (struct sockaddr *)&la, sizeof(la)));
	len = sizeof(ca);
	ASSERT_EQ(0, getsockname(c, (struct sockaddr *)&ca, &len));
	gq_get(port, WAKE_MS, &r);
	EXPECT_GQ_OK(r, 0, 0x66, &ov);
	GetAcceptExSockaddrs(out, 0, slot, slot, &lp, &ll, &rp, &rl);
	ASSERT_NE(NULL, lp);
	ASSERT_NE(NULL, rp);
	EXPECT_EQ((INT)sizeof(la), ll);
	EXPECT_EQ((INT)sizeof(ca), rl);
	EXPECT_EQ(AF_INET6, lp->sa_family);
	EXPECT_EQ(la.sin6_port, ((struct sockaddr_in6 *)lp)->sin6_port);
	EXPECT_EQ(0, memcmp(&((struct sockaddr_in6 *)lp)->sin6_addr, &in6addr_loopback, 16));
	EXPECT_EQ(ca.sin6_port, ((struct sockaddr_in6 *)rp)->sin6_port);
	EXPECT_TRUE(talks((int)as, c));
	close(c);
	EXPECT_EQ(0, closesocket(as));
	EXPECT_EQ(0, closesocket(l));
	EXPECT_TRUE(CloseHandle(port));
}

/* A TCP socket bound to 127.0.0.1 (any port), associated with @port. */
static SOCKET bound_socket(HANDLE port, ULONG_PTR key)
{
	struct sockaddr_in a;
	SOCKET s = new_tcp_socket();

	if (s == INVALID_SOCKET)
		return s;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind((int)s, (struct sockaddr *)&a, sizeof(a)) ||
	    CreateIoCompletionPort(H(s), port, key, 0) != port) {
		closesocket(s);
		return INVALID_SOCKET;
	}
	return s;
}

/*
 * ConnectEx errors: "WSAEINVAL: The parameter s is an unbound or a
 * listening socket." (ConnectEx requires a bound socket, unlike
 * connect.) FALSE, nothing started, no packet.
 */
TEST(connectex_unbound)
{
	struct sockaddr_in la;
	OVERLAPPED ov;
	HANDLE port;
	SOCKET s;
	int l, c;

	l = tcp_listener(&la);
	ASSERT_LE(0, l);
	port = new_port(0);
	ASSERT_NE(NULL, port);
	s = new_tcp_socket();
	ASSERT_NE(INVALID_SOCKET, s);
	ASSERT_EQ(port, CreateIoCompletionPort(H(s), port, 0xCB, 0));
	memset(&ov, 0, sizeof(ov));
	SetLastError(POISON_U32);
	EXPECT_FALSE(ConnectEx(s, (struct sockaddr *)&la, sizeof(la), NULL, 0, NULL, &ov));
	EXPECT_EQ(WSAEINVAL, WSAGetLastError());
	SetLastError(POISON_U32);
	EXPECT_FALSE(ConnectEx(s, (struct sockaddr *)&la, sizeof(la), "x", 1, NULL, &ov));
	EXPECT_EQ(WSAEINVAL, WSAGetLastError());
	EXPECT_TRUE(no_packet(port));
	ASSERT_EQ(0, fcntl(l, F_SETFL, O_NONBLOCK));
	usleep(50000);
	c = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	EXPECT_EQ(-1, c) TH_LOG("a failed ConnectEx connected");
	EXPECT_EQ(0, closesocket(s));
	close(l);
	EXPECT_TRUE(CloseHandle(port));
}

/*
 * ConnectEx: "establishes a connection to a specified socket". "On
 * success, the ConnectEx function returns TRUE. On failure, the function
 * returns FALSE. Use the WSAGetLastError function to get extended error
 * information. If a call to the WSAGetLastError function returns
 * ERROR_IO_PENDING, the operation initiated successfully and is in
 * progress." Either way one packet, on s's key, with 0 bytes; the peer
 * accepts the connection, from s's address.
 */
TEST(connectex_success)
{
	struct sockaddr_in la, sa, pa;
	socklen_t len = sizeof(sa);
	OVERLAPPED ov;
	DWORD sent = POISON_U32;
	HANDLE port;
	SOCKET s;
	struct gq r;
	BOOL ok;
	int l, srv;

	l = tcp_listener(&la);
	ASSERT_LE(0, l);
	port = new_port(0);
	ASSERT_NE(NULL, port);
	s = bound_socket(port, 0xCE);
	ASSERT_NE(INVALID_SOCKET, s);
	memset(&ov, 0, sizeof(ov));
	SetLastError(POISON_U32);
	ok = ConnectEx(s, (struct sockaddr *)&la, sizeof(la), NULL, 0, &sent, &ov);
	EXPECT_TRUE(ok || GetLastError() == ERROR_IO_PENDING)
		TH_LOG("ConnectEx: error %u", GetLastError());
	if (ok)
		EXPECT_EQ(0U, sent);
	gq_get(port, WAKE_MS, &r);
	EXPECT_GQ_OK(r, 0, 0xCE, &ov);
	EXPECT_TRUE(no_packet(port));
	EXPECT_EQ(0, iocp_win32_setsockopt(s, SOL_SOCKET, SO_UPDATE_CONNECT_CONTEXT,
					   NULL, 0));

	srv = accept4(l, (struct sockaddr *)&pa, &len, SOCK_CLOEXEC);
	ASSERT_LE(0, srv);
	len = sizeof(sa);
	ASSERT_EQ(0, getsockname((int)s, (struct sockaddr *)&sa, &len));
	EXPECT_TRUE(same_addr((struct sockaddr *)&pa, sizeof(pa), &sa));
	EXPECT_TRUE(talks((int)s, srv));
	close(srv);
	EXPECT_EQ(0, closesocket(s));
	close(l);
	EXPECT_TRUE(CloseHandle(port));
}

/*
 * ConnectEx, lpSendBuffer: "A pointer to the buffer to be transferred
 * after a connection is established." lpdwBytesSent: "the number of bytes
 * that were sent after the connection was established". The operation
 * completes after the send; its packet counts the bytes sent and the
 * peer receives them. Our layer: with send data it always pends.
 */
TEST(connectex_with_data)
{
	struct sockaddr_in la;
	char buf[16];
	OVERLAPPED ov;
	HANDLE port;
	SOCKET s;
	struct gq r;
	int l, srv;
	size_t got = 0;
	ssize_t k;

	l = tcp_listener(&la);
	ASSERT_LE(0, l);
	port = new_port(0);
	ASSERT_NE(NULL, port);
	s = bound_socket(port, 0xCD);
	ASSERT_NE(INVALID_SOCKET, s);
	memset(&ov, 0, sizeof(ov));
	SetLastError(POISON_U32);
	EXPECT_FALSE(ConnectEx(s, (struct sockaddr *)&la, sizeof(la), "request", 7,
			       NULL, &ov));
	EXPECT_EQ(ERROR_IO_PENDING, GetLastError());
	gq_get(port, WAKE_MS, &r);
	EXPECT_GQ_OK(r, 7, 0xCD, &ov);
	EXPECT_TRUE(no_packet(port));

	srv = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	ASSERT_LE(0, srv);
	while (got < 7 && (k = recv(srv, buf + got, sizeof(buf) - got, 0)) > 0)
		got += k;
	EXPECT_EQ(7U, got);
	EXPECT_EQ(0, memcmp(buf, "request", 7));
	close(srv);
	EXPECT_EQ(0, closesocket(s));
	close(l);
	EXPECT_TRUE(CloseHandle(port));
}

/*
 * ConnectEx to an address where nothing listens: the connection is
 * refused. Reported as Windows reports it: through the port, the packet
 * fails with ERROR_CONNECTION_REFUSED (FALSE, *lpOverlapped set, 0 bytes);
 * or, if the refusal is known at once, FALSE with WSAECONNREFUSED and no
 * packet. Exactly one report, with and without send data.
 */
TEST(connectex_refused)
{
	struct sockaddr_in dead;
	socklen_t len = sizeof(dead);
	OVERLAPPED ov;
	HANDLE port;
	SOCKET s;
	struct gq r;
	int d;

	/* A port where nothing listens. */
	d = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ASSERT_LE(0, d);
	memset(&dead, 0, sizeof(dead));
	dead.sin_family = AF_INET;
	dead.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ASSERT_EQ(0, bind(d, (struct sockaddr *)&dead, sizeof(dead)));
	ASSERT_EQ(0, getsockname(d, (struct sockaddr *)&dead, &len));
	port = new_port(0);
	ASSERT_NE(NULL, port);

	for (int data = 0; data < 2; data++) {
		s = bound_socket(port, 0xCF);
		ASSERT_NE(INVALID_SOCKET, s);
		memset(&ov, 0, sizeof(ov));
		SetLastError(POISON_U32);
		EXPECT_FALSE(ConnectEx(s, (struct sockaddr *)&dead, sizeof(dead),
				       data ? "x" : NULL, data, NULL, &ov));
		if (GetLastError() == (DWORD)WSAECONNREFUSED) {
			TH_LOG("refusal reported at once (data %d)", data);
			EXPECT_TRUE(no_packet(port));
		} else {
			EXPECT_EQ(ERROR_IO_PENDING, GetLastError());
			gq_get(port, WAKE_MS, &r);
			EXPECT_GQ_FAILED(r, ERROR_CONNECTION_REFUSED, 0, 0xCF, &ov);
			EXPECT_TRUE(no_packet(port));
		}
		EXPECT_EQ(0, closesocket(s));
	}
	close(d);
	EXPECT_TRUE(CloseHandle(port));
}

/*
 * WSAIoctl, SIO_GET_EXTENSION_FUNCTION_POINTER: "The lpvInBuffer
 * parameter points to a GUID whose value identifies the extension
 * function in question. The pointer to the desired function is returned in
 * the lpvOutBuffer parameter." The three GUIDs give AcceptEx, ConnectEx
 * and GetAcceptExSockaddrs themselves; an unknown GUID fails (WSAEINVAL),
 * as does a descriptor that is not a socket (WSAENOTSOCK).
 */
TEST(wsaioctl_extension_pointers)
{
	GUID ga = WSAID_ACCEPTEX, gc = WSAID_CONNECTEX,
	     gs = WSAID_GETACCEPTEXSOCKADDRS, gx = WSAID_ACCEPTEX;
	LPFN_ACCEPTEX fa = NULL;
	LPFN_CONNECTEX fc = NULL;
	LPFN_GETACCEPTEXSOCKADDRS fs = NULL;
	void *fx = NULL;
	DWORD n;
	SOCKET s = new_tcp_socket();
	int p[2];

	ASSERT_NE(INVALID_SOCKET, s);
	n = POISON_U32;
	EXPECT_EQ(0, WSAIoctl(s, SIO_GET_EXTENSION_FUNCTION_POINTER, &ga, sizeof(ga),
			      &fa, sizeof(fa), &n, NULL, NULL));
	EXPECT_EQ(sizeof(fa), n);
	EXPECT_TRUE(fa == AcceptEx);
	n = POISON_U32;
	EXPECT_EQ(0, WSAIoctl(s, SIO_GET_EXTENSION_FUNCTION_POINTER, &gc, sizeof(gc),
			      &fc, sizeof(fc), &n, NULL, NULL));
	EXPECT_EQ(sizeof(fc), n);
	EXPECT_TRUE(fc == ConnectEx);
	n = POISON_U32;
	EXPECT_EQ(0, WSAIoctl(s, SIO_GET_EXTENSION_FUNCTION_POINTER, &gs, sizeof(gs),
			      &fs, sizeof(fs), &n, NULL, NULL));
	EXPECT_EQ(sizeof(fs), n);
	EXPECT_TRUE(fs == GetAcceptExSockaddrs);

	gx.Data4[7] ^= 1;
	SetLastError(POISON_U32);
	EXPECT_EQ(SOCKET_ERROR, WSAIoctl(s, SIO_GET_EXTENSION_FUNCTION_POINTER, &gx,
					 sizeof(gx), &fx, sizeof(fx), &n, NULL, NULL));
	EXPECT_EQ(WSAEINVAL, WSAGetLastError());
	EXPECT_EQ(NULL, fx);
	ASSERT_EQ(0, pipe2(p, O_CLOEXEC));
	SetLastError(POISON_U32);
	EXPECT_EQ(SOCKET_ERROR, WSAIoctl(p[0], SIO_GET_EXTENSION_FUNCTION_POINTER, &ga,
					 sizeof(ga), &fx, sizeof(fx), &n, NULL, NULL));
	EXPECT_EQ(WSAENOTSOCK, WSAGetLastError());
	EXPECT_EQ(NULL, fx);
	close(p[0]);
	close(p[1]);
	EXPECT_EQ(0, closesocket(s));
}

/* ------------------------------------------------------------------ */
/* CancelIo, CancelIoEx, CloseHandle, closesocket                       */
/* ------------------------------------------------------------------ */

/* Start a pending WSARecv of @len bytes into @buf on @fd for @ov. */
static bool recv_pending(int fd, char *buf, ULONG len, LPOVERLAPPED ov)
{
	WSABUF wb = { len, buf };
	DWORD flags = 0;

	memset(ov, 0, sizeof(*ov));
	return WSARecv(fd, &wb, 1, NULL, &flags, ov, NULL) == SOCKET_ERROR &&
	       WSAGetLastError() == WSA_IO_PENDING;
}

/*
 * CancelIoEx, lpOverlapped: "If this parameter is not NULL, only those
 * specific I/O requests that were issued for the file with the specified
 * lpOverlapped overlapped structure are canceled". "If the function
 * succeeds, the return value is nonzero." The cancelled operation
 * completes with ERROR_OPERATION_ABORTED (one packet); the others on the
 * handle stay pending and complete normally afterwards, in order.
 */
TEST(cancelioex_specific)
{
	OVERLAPPED ov[3];
	char b[3][4];
	HANDLE port;
	struct gq r;
	int sv[2], i;

	ASSERT_TRUE(unix_pair(sv));
	port = new_port(0);
	ASSERT_NE(NULL, port);
	ASSERT_EQ(port, CreateIoCompletionPort(H(sv[0]), port, 0x81, 0));
	for (i = 0; i < 3; i++)
		ASSERT_TRUE(recv_pending(sv[0], b[i], 1, &ov[i]));
	SetLastError(POISON_U32);
	EXPECT_TRUE(CancelIoEx(H(sv[0]), &ov[1]));
	gq_get(port, WAKE_MS, &r);
	EXPECT_GQ_FAILED(r, ERROR_OPERATION_ABORTED, 0, 0x81, &ov[1]);
	EXPECT_TRUE(no_packet(port));
	EXPECT_FALSE(HasOverlappedIoCompleted(&ov[0]));
	EXPECT_FALSE(HasOverlappedIoCompleted(&ov[2]));

	ASSERT_EQ(1, write(sv[1], "a", 1));
	gq_get(port, WAKE_MS, &r);
	EXPECT_GQ_OK(r, 1, 0x81, &ov[0]);
	EXPECT_EQ('a', b[0][0]);
	ASSERT_EQ(1, write(sv[1], "c", 1));
	gq_get(port, WAKE_MS, &r);
	EXPECT_GQ_OK(r, 1, 0x81, &ov[2]);
	EXPECT_EQ('c', b[2][0]);
	EXPECT_TRUE(no_packet(port));
	EXPECT_EQ(0, closesocket(sv[0]));
	close(sv[1]);
	EXPECT_TRUE(CloseHandle(port));
}

/*
 * CancelIoEx: "If this parameter is NULL, all I/O requests for the hFile
 * parameter are canceled." Exactly one ERROR_OPERATION_ABORTED packet per
 * operation of that handle; another handle's operation on the same port
 * is untouched.
 */
TEST(cancelioex_null_cancels_all)
{
	OVERLAPPED ov[3], other;
	char b[4][4];
	HANDLE port;
	struct gq r;
	int sv[2], tv[2], i, seen = 0;

	ASSERT_TRUE(unix_pair(sv));
	ASSERT_TRUE(unix_pair(tv));
	port = new_port(0);
	ASSERT_NE(NULL, port);
	ASSERT_EQ(port, CreateIoCompletionPort(H(sv[0]), port, 0x82, 0));
	ASSERT_EQ(port, CreateIoCompletionPort(H(tv[0]), port, 0x83, 0));
	for (i = 0; i < 3; i++)
		ASSERT_TRUE(recv_pending(sv[0], b[i], 1, &ov[i]));
	ASSERT_TRUE(recv_pending(tv[0], b[3], 1, &other));

	EXPECT_TRUE(CancelIoEx(H(sv[0]), NULL));
	for (i = 0; i < 3; i++) {
		gq_get(port, WAKE_MS, &r);
		EXPECT_FALSE(r.ok);
		EXPECT_EQ(ERROR_OPERATION_ABORTED, r.err);
		EXPECT_EQ((ULONG_PTR)0x82, r.key);
		EXPECT_EQ(0U, r.bytes);
		for (int j = 0; j < 3; j++)
			if (r.ov == &ov[j])
				seen |= 1 << j;
	}
	EXPECT_EQ(7, seen) TH_LOG("not one packet per cancelled op");
	EXPECT_TRUE(no_packet(port));
	EXPECT_FALSE(HasOverlappedIoCompleted(&other));
	ASSERT_EQ(1, write(tv[1], "o", 1));
	gq_get(port, WAKE_MS, &r);
	EXPECT_GQ_OK(r, 1, 0x83, &other);
	EXPECT_TRUE(no_packet(port));
	EXPECT_EQ(0, closesocket(sv[0]));
	EXPECT_EQ(0, closesocket(tv[0]));
	close(sv[1]);
	close(tv[1]);
	EXPECT_TRUE(CloseHandle(port));
}

/*
 * CancelIoEx: "If this function cannot find a request to cancel, the
 * return value is 0 (zero), and GetLastError returns ERROR_NOT_FOUND."
 * Nothing pending, an OVERLAPPED never used, or one of an operation on
 * another handle (which stays pending). A handle that is not open:
 * ERROR_INVALID_HANDLE.
 */
TEST(cancelioex_not_found)
{
	OVERLAPPED unused, other;
	char b[4];
	HANDLE port;
	struct gq r;
	int sv[2], tv[2];

	ASSERT_TRUE(unix_pair(sv));
	ASSERT_TRUE(unix_pair(tv));
	port = new_port(0);
	ASSERT_NE(NULL, port);
	ASSERT_EQ(port, CreateIoCompletionPort(H(sv[0]), port, 0x84, 0));
	ASSERT_EQ(port, CreateIoCompletionPort(H(tv[0]), port, 0x85, 0));
	memset(&unused, 0, sizeof(unused));

	SetLastError(POISON_U32);
	EXPECT_FALSE(CancelIoEx(H(sv[0]), NULL));
	EXPECT_EQ(ERROR_NOT_FOUND, GetLastError());
	SetLastError(POISON_U32);
	EXPECT_FALSE(CancelIoEx(H(sv[0]), &unused));
	EXPECT_EQ(ERROR_NOT_FOUND, GetLastError());

	ASSERT_TRUE(recv_pending(tv[0], b, 1, &other));
	SetLastError(POISON_U32);
	EXPECT_FALSE(CancelIoEx(H(sv[0]), &other));
	EXPECT_EQ(ERROR_NOT_FOUND, GetLastError());
	EXPECT_TRUE(no_packet(port));
	EXPECT_FALSE(HasOverlappedIoCompleted(&other));
	ASSERT_EQ(1, write(tv[1], "x", 1));
	gq_get(port, WAKE_MS, &r);
	EXPECT_GQ_OK(r, 1, 0x85, &other);

	close(tv[1]);
	EXPECT_EQ(0, closesocket(tv[0]));
	SetLastError(POISON_U32);
	EXPECT_FALSE(CancelIoEx(H(tv[0]), NULL));
	EXPECT_EQ(ERROR_INVALID_HANDLE, GetLastError());
	SetLastError(POISON_U32);
	EXPECT_FALSE(CancelIo(H(tv[0])));
	EXPECT_EQ(ERROR_INVALID_HANDLE, GetLastError());
	EXPECT_TRUE(no_packet(port));
	EXPECT_EQ(0, closesocket(sv[0]));
	close(sv[1]);
	EXPECT_TRUE(CloseHandle(port));
}

/*
 * CancelIoEx: the cancelled operation may have "completed normally. This
 * can occur even if the operation was canceled, because the cancel request
 * might not have been submitted in time to cancel the operation." An
 * operation already complete (its packet queued, not yet dequeued) is not
 * found: FALSE, ERROR_NOT_FOUND; its one packet still reports success.
 */
TEST(cancelioex_completed_not_dequeued)
{
	OVERLAPPED ov;
	char b[8];
	HANDLE port;
	struct gq r;
	int sv[2];

	ASSERT_TRUE(unix_pair(sv));
	port = new_port(0);
	ASSERT_NE(NULL, port);
	ASSERT_EQ(port, CreateIoCompletionPort(H(sv[0]), port, 0x86, 0));
	ASSERT_TRUE(recv_pending(sv[0], b, sizeof(b), &ov));
	ASSERT_EQ(4, write(sv[1], "done", 4));
	ASSERT_TRUE(wait_queued(port, 1));
	SetLastError(POISON_U32);
	EXPECT_FALSE(CancelIoEx(H(sv[0]), &ov));
	EXPECT_EQ(ERROR_NOT_FOUND, GetLastError());
	SetLastError(POISON_U32);
	EXPECT_FALSE(CancelIoEx(H(sv[0]), NULL));
	EXPECT_EQ(ERROR_NOT_FOUND, GetLastError());
	gq_get(port, 0, &r);
	EXPECT_GQ_OK(r, 4, 0x86, &ov);
	EXPECT_EQ(0, memcmp(b, "done", 4));
	EXPECT_TRUE(no_packet(port));
	EXPECT_EQ(0, closesocket(sv[0]));
	close(sv[1]);
	EXPECT_TRUE(CloseHandle(port));
}

/* A thread that starts a pending WSARecv and exits. */
struct starter {
	pthread_t thread;
	int fd;
	bool ok;
	char buf[4];
	OVERLAPPED ov;
};

static void *starter_fn(void *arg)
{
	struct starter *s = arg;

	s->ok = recv_pending(s->fd, s->buf, 1, &s->ov);
	return NULL;
}

/*
 * CancelIo: "If the function succeeds, the return value is nonzero", also
 * when nothing was pending. "All I/O operations that are canceled complete
 * with the error ERROR_OPERATION_ABORTED, and all completion notifications
 * for the I/O operations occur normally": one packet each. Differs from
 * Windows, where CancelIo "cancels all pending input and output (I/O)
 * operations that are issued by the calling thread": it cancels those of
 * every thread (here one started by another thread, which has exited).
 */
TEST(cancelio)
{
	struct starter st;
	OVERLAPPED ov;
	char b[4];
	HANDLE port;
	struct gq r;
	int sv[2], seen = 0;

	ASSERT_TRUE(unix_pair(sv));
	port = new_port(0);
	ASSERT_NE(NULL, port);
	ASSERT_EQ(port, CreateIoCompletionPort(H(sv[0]), port, 0x87, 0));
	SetLastError(POISON_U32);
	EXPECT_TRUE(CancelIo(H(sv[0])));
	EXPECT_TRUE(no_packet(port));

	ASSERT_TRUE(recv_pending(sv[0], b, 1, &ov));
	memset(&st, 0, sizeof(st));
	st.fd = sv[0];
	ASSERT_EQ(0, pthread_create(&st.thread, NULL, starter_fn, &st));
	ASSERT_EQ(0, join_ms(st.thread, WAKE_MS));
	ASSERT_TRUE(st.ok);

	EXPECT_TRUE(CancelIo(H(sv[0])));
	for (int i = 0; i < 2; i++) {
		gq_get(port, WAKE_MS, &r);
		EXPECT_FALSE(r.ok);
		EXPECT_EQ(ERROR_OPERATION_ABORTED, r.err);
		EXPECT_EQ((ULONG_PTR)0x87, r.key);
		seen |= (r.ov == &ov) | (r.ov == &st.ov) << 1;
	}
	EXPECT_EQ(3, seen);
	EXPECT_TRUE(no_packet(port));
	EXPECT_EQ(0, closesocket(sv[0]));
	close(sv[1]);
	EXPECT_TRUE(CloseHandle(port));
}

/*
 * closesocket: "Any pending overlapped send and receive operations
 * (WSASend/WSASendTo/WSARecv/WSARecvFrom with an overlapped socket) issued
 * by any thread in this process are also canceled." The pending WSARecv
 * completes with ERROR_OPERATION_ABORTED (one packet) and the peer sees the
 * connection closed. CloseHandle of a socket does the same. The handle is
 * gone: closesocket again fails with WSAENOTSOCK.
 */
TEST(close_socket_with_pending_recv)
{
	OVERLAPPED ov;
	char b[8];
	HANDLE port;
	struct gq r;
	int c, s;

	port = new_port(0);
	ASSERT_NE(NULL, port);
	for (int how = 0; how < 2; how++) {
		ASSERT_TRUE(tcp_pair(&c, &s));
		ASSERT_EQ(port, CreateIoCompletionPort(H(s), port, 0x91 + how, 0));
		ASSERT_TRUE(recv_pending(s, b, sizeof(b), &ov));
		if (how) {
			EXPECT_TRUE(CloseHandle(H(s)));
		} else {
			EXPECT_EQ(0, closesocket(s));
		}
		gq_get(port, WAKE_MS, &r);
		EXPECT_GQ_FAILED(r, ERROR_OPERATION_ABORTED, 0, 0x91 + how, &ov);
		EXPECT_EQ(STATUS_CANCELLED, (DWORD)ov.Internal);
		EXPECT_TRUE(no_packet(port));
		EXPECT_EQ(0, recv_timed(c, b, sizeof(b)))
			TH_LOG("the peer did not see the connection closed");
		EXPECT_FALSE(fd_open(s));
		SetLastError(POISON_U32);
		EXPECT_EQ(SOCKET_ERROR, closesocket(s));
		EXPECT_EQ(WSAENOTSOCK, WSAGetLastError());
		close(c);
	}
	EXPECT_TRUE(CloseHandle(port));
}

/*
 * CloseHandle of a pipe (or file) handle with a pending ReadFile: as for a
 * socket, the operation is cancelled (ERROR_OPERATION_ABORTED) and the
 * handle closed: the writer sees no reader left (EPIPE).
 */
TEST(closehandle_pipe_with_pending_read)
{
	OVERLAPPED ov;
	char b[8];
	HANDLE port;
	struct gq r;
	int p[2];

	NEED_PIPE_OPS();
	signal(SIGPIPE, SIG_IGN);
	ASSERT_EQ(0, pipe2(p, O_CLOEXEC));
	port = new_port(0);
	ASSERT_NE(NULL, port);
	ASSERT_EQ(port, CreateIoCompletionPort(H(p[0]), port, 0x93, 0));
	memset(&ov, 0, sizeof(ov));
	ASSERT_FALSE(ReadFile(H(p[0]), b, sizeof(b), NULL, &ov));
	ASSERT_EQ(ERROR_IO_PENDING, GetLastError());
	EXPECT_TRUE(CloseHandle(H(p[0])));
	gq_get(port, WAKE_MS, &r);
	EXPECT_GQ_FAILED(r, ERROR_OPERATION_ABORTED, 0, 0x93, &ov);
	EXPECT_TRUE(no_packet(port));
	EXPECT_EQ(-1, write(p[1], "x", 1));
	EXPECT_EQ(EPIPE, errno);
	close(p[1]);
	EXPECT_TRUE(CloseHandle(port));
}

/*
 * CloseHandle: "If the function succeeds, the return value is nonzero. If
 * the function fails, the return value is zero. To get extended error
 * information, call GetLastError": ERROR_INVALID_HANDLE for a handle that
 * is not open (a closed descriptor, INVALID_HANDLE_VALUE, a thread handle
 * never made). closesocket: "If no error occurs, closesocket returns
 * zero. Otherwise, a value of SOCKET_ERROR is returned", WSAENOTSOCK for a
 * descriptor that is not open.
 */
TEST(closehandle_invalid)
{
	int p[2];

	ASSERT_EQ(0, pipe2(p, O_CLOEXEC));
	EXPECT_TRUE(CloseHandle(H(p[0])));
	EXPECT_FALSE(fd_open(p[0]));
	SetLastError(POISON_U32);
	EXPECT_FALSE(CloseHandle(H(p[0])));
	EXPECT_EQ(ERROR_INVALID_HANDLE, GetLastError());
	SetLastError(POISON_U32);
	EXPECT_FALSE(CloseHandle(INVALID_HANDLE_VALUE));
	EXPECT_EQ(ERROR_INVALID_HANDLE, GetLastError());
	SetLastError(POISON_U32);
	EXPECT_FALSE(CloseHandle((HANDLE)(uintptr_t)((1ULL << 32) + 4000)));
	EXPECT_EQ(ERROR_INVALID_HANDLE, GetLastError());
	SetLastError(POISON_U32);
	EXPECT_EQ(SOCKET_ERROR, closesocket((SOCKET)p[0]));
	EXPECT_EQ(WSAENOTSOCK, WSAGetLastError());
	SetLastError(POISON_U32);
	EXPECT_EQ(SOCKET_ERROR, closesocket(INVALID_SOCKET));
	EXPECT_EQ(WSAENOTSOCK, WSAGetLastError());
	EXPECT_TRUE(fd_open(p[1]));
	close(p[1]);
}

/*
 * Differs from Windows (where a port lives on until its file handles are
 * closed too): CloseHandle of a port ends it at once. Its operations in
 * progress are cancelled and their packets discarded, and its
 * associations end: the handle can then be associated with a new port
 * ("A handle can be associated with only one I/O completion port"), where
 * its new operations complete, with no trace of the old one.
 */
TEST(port_close_ends_associations)
{
	OVERLAPPED ov;
	char b[8];
	HANDLE port, port2;
	int sv[2];

	ASSERT_TRUE(unix_pair(sv));
	port = new_port(0);
	ASSERT_NE(NULL, port);
	ASSERT_EQ(port, CreateIoCompletionPort(H(sv[0]), port, 0xA0, 0));
	ASSERT_TRUE(recv_pending(sv[0], b, sizeof(b), &ov));
	ASSERT_TRUE(CloseHandle(port));

	port2 = new_port(0);
	ASSERT_NE(NULL, port2);
	EXPECT_EQ(port2, CreateIoCompletionPort(H(sv[0]), port2, 0xA2, 0));
	EXPECT_EQ((ULONG_PTR)0xA2, key_of_op(port2, sv[0], sv[1]));
	EXPECT_TRUE(no_packet(port2));
	EXPECT_EQ(0, closesocket(sv[0]));
	close(sv[1]);
	EXPECT_TRUE(CloseHandle(port2));
}

/*
 * SetFileCompletionNotificationModes: Flags "The modes to be set. One or
 * more modes can be set at the same time; however, after a mode has been
 * set for a file handle, it cannot be removed." "If the function fails,
 * the return value is zero (FALSE)": an unknown flag is
 * ERROR_INVALID_PARAMETER, a handle that is not open
 * ERROR_INVALID_HANDLE. A later call with 0 does not clear the mode.
 */
TEST(sfcnm_flags_and_handles)
{
	OVERLAPPED ov;
	char b[8];
	DWORD flags = 0, n;
	WSABUF wb = { sizeof(b), b };
	HANDLE port;
	int sv[2], p[2];

	ASSERT_TRUE(unix_pair(sv));
	port = new_port(0);
	ASSERT_NE(NULL, port);
	ASSERT_EQ(port, CreateIoCompletionPort(H(sv[0]), port, 0xA3, 0));

	SetLastError(POISON_U32);
	EXPECT_FALSE(SetFileCompletionNotificationModes(H(sv[0]), 0x4));
	EXPECT_EQ(ERROR_INVALID_PARAMETER, GetLastError());
	SetLastError(POISON_U32);
	EXPECT_FALSE(SetFileCompletionNotificationModes(H(sv[0]), 0xFF));
	EXPECT_EQ(ERROR_INVALID_PARAMETER, GetLastError());
	ASSERT_EQ(0, pipe2(p, O_CLOEXEC));
	close(p[0]);
	close(p[1]);
	SetLastError(POISON_U32);
	EXPECT_FALSE(SetFileCompletionNotificationModes(H(p[0]),
			FILE_SKIP_COMPLETION_PORT_ON_SUCCESS));
	EXPECT_EQ(ERROR_INVALID_HANDLE, GetLastError());

	/* The failed calls set nothing: a success still queues a packet. */
	ASSERT_EQ(1, write(sv[1], "1", 1));
	memset(&ov, 0, sizeof(ov));
	EXPECT_EQ(0, WSARecv(sv[0], &wb, 1, &n, &flags, &ov, NULL));
	EXPECT_EQ(1U, port_queued(port));
	EXPECT_FALSE(no_packet(port));

	EXPECT_TRUE(SetFileCompletionNotificationModes(H(sv[0]),
			FILE_SKIP_COMPLETION_PORT_ON_SUCCESS));
	EXPECT_TRUE(SetFileCompletionNotificationModes(H(sv[0]), 0));
	EXPECT_TRUE(SetFileCompletionNotificationModes(H(sv[0]),
			FILE_SKIP_SET_EVENT_ON_HANDLE));
	ASSERT_EQ(1, write(sv[1], "2", 1));
	memset(&ov, 0, sizeof(ov));
	n = POISON_U32;
	EXPECT_EQ(0, WSARecv(sv[0], &wb, 1, &n, &flags, &ov, NULL));
	EXPECT_EQ(1U, n);
	EXPECT_TRUE(no_packet(port)) TH_LOG("a later call cleared the skip mode");
	EXPECT_EQ(0, closesocket(sv[0]));
	close(sv[1]);
	EXPECT_TRUE(CloseHandle(port));
}

/* ------------------------------------------------------------------ */
/* Threads, WSAStartup, WSASocket                                       */
/* ------------------------------------------------------------------ */

struct w32_thread_arg {
	int release;		/* atomic */
	DWORD tid;
	DWORD code;
};

static DWORD WINAPI w32_thread_fn(LPVOID p)
{
	struct w32_thread_arg *a = p;

	a->tid = GetCurrentThreadId();
	while (!get_int(&a->release))
		usleep(1000);
	return a->code;
}

/*
 * CreateThread: "If the function succeeds, the return value is a handle to
 * the new thread." lpThreadId "receives the thread identifier".
 * GetExitCodeThread: "If the specified thread has not terminated and the
 * function succeeds, the status returned is STILL_ACTIVE"; once it has,
 * the value its function returned. WaitForSingleObject: WAIT_TIMEOUT "The
 * time-out interval elapsed, and the object's state is nonsignaled";
 * WAIT_OBJECT_0 once the thread ended. WaitForMultipleObjects: "If
 * bWaitAll is FALSE, the return value minus WAIT_OBJECT_0 indicates the
 * lpHandles array index of the object that satisfied the wait"; nCount
 * "cannot be zero" and is at most MAXIMUM_WAIT_OBJECTS (else WAIT_FAILED,
 * ERROR_INVALID_PARAMETER); a handle that is not a thread: WAIT_FAILED,
 * ERROR_INVALID_HANDLE. A closed thread handle is invalid. Our layer:
 * thread handles are above 2^32; dwCreationFlags other than 0 (e.g.
 * CREATE_SUSPENDED) is ERROR_INVALID_PARAMETER.
 */
TEST(threads)
{
	struct w32_thread_arg a[2];
	HANDLE h[2], port;
	DWORD tid[2], code;
	uint64_t t0;

	memset(a, 0, sizeof(a));
	for (int i = 0; i < 2; i++) {
		a[i].code = 40 + i;
		tid[i] = POISON_U32;
		h[i] = CreateThread(NULL, 0, w32_thread_fn, &a[i], 0, &tid[i]);
		ASSERT_NE(NULL, h[i]);
		EXPECT_LE((uint64_t)1 << 32, (uint64_t)(uintptr_t)h[i]);
	}
	EXPECT_NE(h[0], h[1]);
	EXPECT_EQ(WAIT_TIMEOUT, WaitForSingleObject(h[0], 0));
	code = POISON_U32;
	EXPECT_TRUE(GetExitCodeThread(h[0], &code));
	EXPECT_EQ(STILL_ACTIVE, code);
	t0 = now_ns();
	EXPECT_EQ(WAIT_TIMEOUT, WaitForMultipleObjects(2, h, FALSE, 100));
	EXPECT_LE(100 * NSEC_PER_MSEC, now_ns() - t0 + NSEC_PER_MSEC);

	set_int(&a[1].release, 1);
	EXPECT_EQ(WAIT_OBJECT_0 + 1, WaitForMultipleObjects(2, h, FALSE, WAKE_MS));
	EXPECT_EQ(WAIT_TIMEOUT, WaitForMultipleObjects(2, h, TRUE, 0));
	EXPECT_EQ(tid[1], a[1].tid);
	EXPECT_TRUE(GetExitCodeThread(h[1], &code));
	EXPECT_EQ(41U, code);
	set_int(&a[0].release, 1);
	EXPECT_EQ(WAIT_OBJECT_0, WaitForMultipleObjects(2, h, TRUE, WAKE_MS));
	EXPECT_EQ(WAIT_OBJECT_0, WaitForSingleObject(h[0], INFINITE));
	EXPECT_EQ(tid[0], a[0].tid);
	EXPECT_NE(tid[0], tid[1]);
	EXPECT_NE(GetCurrentThreadId(), tid[0]);
	EXPECT_TRUE(GetExitCodeThread(h[0], &code));
	EXPECT_EQ(40U, code);

	SetLastError(POISON_U32);
	EXPECT_EQ(WAIT_FAILED, WaitForMultipleObjects(0, h, FALSE, 0));
	EXPECT_EQ(ERROR_INVALID_PARAMETER, GetLastError());
	SetLastError(POISON_U32);
	EXPECT_EQ(WAIT_FAILED, WaitForMultipleObjects(MAXIMUM_WAIT_OBJECTS + 1, h, FALSE, 0));
	EXPECT_EQ(ERROR_INVALID_PARAMETER, GetLastError());
	port = new_port(0);
	ASSERT_NE(NULL, port);
	SetLastError(POISON_U32);
	EXPECT_EQ(WAIT_FAILED, WaitForSingleObject(port, 0));
	EXPECT_EQ(ERROR_INVALID_HANDLE, GetLastError());
	EXPECT_TRUE(CloseHandle(port));

	for (int i = 0; i < 2; i++)
		EXPECT_TRUE(CloseHandle(h[i]));
	SetLastError(POISON_U32);
	EXPECT_FALSE(GetExitCodeThread(h[0], &code));
	EXPECT_EQ(ERROR_INVALID_HANDLE, GetLastError());
	SetLastError(POISON_U32);
	EXPECT_FALSE(CloseHandle(h[0]));
	EXPECT_EQ(ERROR_INVALID_HANDLE, GetLastError());
	SetLastError(POISON_U32);
	EXPECT_EQ(NULL, CreateThread(NULL, 0, w32_thread_fn, &a[0], 0x4, NULL));
	EXPECT_EQ(ERROR_INVALID_PARAMETER, GetLastError());
}

/*
 * WSAStartup: "If successful, the WSAStartup function returns zero";
 * WSADATA wVersion "The version of the Windows Sockets specification that
 * the Ws2_32.dll expects the caller to use" (2.2 when 2.2 is asked),
 * wHighVersion the highest supported (2.2). WSACleanup: "The return value
 * is zero if the operation was successful." WSASocket: with
 * WSA_FLAG_NO_HANDLE_INHERIT the socket is not inherited (close-on-exec);
 * an unsupported address family is WSAEAFNOSUPPORT. Our layer: unknown
 * dwFlags, or lpProtocolInfo not NULL, are WSAEINVAL.
 */
TEST(wsastartup_and_wsasocket)
{
	WSADATA wd;
	SOCKET s;

	memset(&wd, POISON_BYTE, sizeof(wd));
	EXPECT_EQ(0, WSAStartup(MAKEWORD(2, 2), &wd));
	EXPECT_EQ(MAKEWORD(2, 2), wd.wVersion);
	EXPECT_EQ(MAKEWORD(2, 2), wd.wHighVersion);
	EXPECT_EQ(0, WSACleanup());

	s = WSASocket(AF_INET, SOCK_STREAM, 0, NULL, 0,
		      WSA_FLAG_OVERLAPPED | WSA_FLAG_NO_HANDLE_INHERIT);
	ASSERT_NE(INVALID_SOCKET, s);
	EXPECT_EQ(FD_CLOEXEC, fcntl((int)s, F_GETFD) & FD_CLOEXEC);
	EXPECT_EQ(0, closesocket(s));
	s = WSASocket(AF_INET, SOCK_STREAM, 0, NULL, 0, WSA_FLAG_OVERLAPPED);
	ASSERT_NE(INVALID_SOCKET, s);
	EXPECT_EQ(0, fcntl((int)s, F_GETFD) & FD_CLOEXEC);
	EXPECT_EQ(0, closesocket(s));

	SetLastError(POISON_U32);
	EXPECT_EQ(INVALID_SOCKET, WSASocket(12345, SOCK_STREAM, 0, NULL, 0, 0));
	EXPECT_EQ(WSAEAFNOSUPPORT, WSAGetLastError());
	SetLastError(POISON_U32);
	EXPECT_EQ(INVALID_SOCKET, WSASocket(AF_INET, SOCK_STREAM, 0, NULL, 0, 0x4000));
	EXPECT_EQ(WSAEINVAL, WSAGetLastError());
	SetLastError(POISON_U32);
	EXPECT_EQ(INVALID_SOCKET, WSASocketW(AF_INET, SOCK_STREAM, 0,
					     (LPWSAPROTOCOL_INFOW)&wd, 0, 0));
	EXPECT_EQ(WSAEINVAL, WSAGetLastError());
}

/* ------------------------------------------------------------------ */
/* Errors                                                               */
/* ------------------------------------------------------------------ */

struct err_thread {
	pthread_t thread;
	int step;		/* atomic: 1 set, 2 main checked, 3 done */
	DWORD initial, mine, wsa, after;
};

static void *err_thread_fn(void *arg)
{
	struct err_thread *t = arg;

	t->initial = GetLastError();
	SetLastError(5678);
	t->mine = GetLastError();
	set_int(&t->step, 1);
	while (get_int(&t->step) != 2)
		usleep(1000);
	t->after = GetLastError();
	WSASetLastError(WSAECONNRESET);
	t->wsa = GetLastError();
	set_int(&t->step, 3);
	return NULL;
}

/*
 * GetLastError: "The last-error code is maintained on a per-thread basis.
 * Multiple threads do not overwrite each other's last-error code."
 * SetLastError: "Sets the last-error code for the calling thread." A new
 * thread starts with 0. WSAGetLastError/WSASetLastError use the same
 * per-thread value (as on Windows, where they are the thread's last error).
 */
TEST(last_error_is_per_thread)
{
	struct err_thread t;

	memset(&t, 0, sizeof(t));
	SetLastError(1234);
	ASSERT_EQ(0, pthread_create(&t.thread, NULL, err_thread_fn, &t));
	ASSERT_TRUE(wait_int(&t.step, 1, WAKE_MS));
	EXPECT_EQ(0U, t.initial);
	EXPECT_EQ(5678U, t.mine);
	EXPECT_EQ(1234U, GetLastError()) TH_LOG("another thread's SetLastError changed ours");
	SetLastError(4321);
	set_int(&t.step, 2);
	ASSERT_TRUE(wait_int(&t.step, 3, WAKE_MS));
	ASSERT_EQ(0, join_ms(t.thread, WAKE_MS));
	EXPECT_EQ(5678U, t.after) TH_LOG("our SetLastError changed another thread's");
	EXPECT_EQ((DWORD)WSAECONNRESET, t.wsa);
	EXPECT_EQ(4321U, GetLastError());
	EXPECT_EQ(4321, WSAGetLastError());
	WSASetLastError(WSAEWOULDBLOCK);
	EXPECT_EQ((DWORD)WSAEWOULDBLOCK, GetLastError());
}

/*
 * iocp_win32_from_errno/iocp_win32_to_errno (our layer): errno -> the code
 * a Win32 call (winsock 0) or a Winsock call (1) reports, and back; 0 <->
 * 0. "An errno value that no Windows code stands for is reported as
 * IOCP_WIN32_ERRNO_BASE + errno", and maps back; an unknown code gives
 * EINVAL. Every code the mapping produces maps back to an errno that
 * produces that same code (the code round-trips), and each distinct
 * Windows code of the table comes back as its own errno.
 */
TEST(errno_mapping_round_trips)
{
	static const struct {
		int e;
		DWORD win32, wsa;
	} known[] = {
		{ ECANCELED, ERROR_OPERATION_ABORTED, WSA_OPERATION_ABORTED },
		{ ECONNRESET, ERROR_NETNAME_DELETED, WSAECONNRESET },
		{ ECONNREFUSED, ERROR_CONNECTION_REFUSED, WSAECONNREFUSED },
		{ ECONNABORTED, ERROR_CONNECTION_ABORTED, WSAECONNABORTED },
		{ EPIPE, ERROR_BROKEN_PIPE, WSAESHUTDOWN },
		{ EBADF, ERROR_INVALID_HANDLE, WSAENOTSOCK },
		{ ENOTSOCK, WSAENOTSOCK, WSAENOTSOCK },
		{ EINVAL, ERROR_INVALID_PARAMETER, WSAEINVAL },
		{ EFAULT, ERROR_NOACCESS, WSAEFAULT },
		{ ENODATA, ERROR_HANDLE_EOF, ERROR_HANDLE_EOF },
		{ ETIMEDOUT, ERROR_SEM_TIMEOUT, WSAETIMEDOUT },
		{ EADDRINUSE, ERROR_ADDRESS_ALREADY_ASSOCIATED, WSAEADDRINUSE },
	};
	unsigned int i;
	int e, w;

	EXPECT_EQ(0U, iocp_win32_from_errno(0, 0));
	EXPECT_EQ(0U, iocp_win32_from_errno(0, 1));
	EXPECT_EQ(0, iocp_win32_to_errno(ERROR_SUCCESS));

	for (i = 0; i < ARRAY_SIZE(known); i++) {
		EXPECT_EQ(known[i].win32, iocp_win32_from_errno(known[i].e, 0))
			TH_LOG("errno %d", known[i].e);
		EXPECT_EQ(known[i].wsa, iocp_win32_from_errno(known[i].e, 1))
			TH_LOG("errno %d", known[i].e);
	}
	/* Distinct codes come back as their own errno. */
	EXPECT_EQ(ECANCELED, iocp_win32_to_errno(ERROR_OPERATION_ABORTED));
	EXPECT_EQ(ECONNRESET, iocp_win32_to_errno(ERROR_NETNAME_DELETED));
	EXPECT_EQ(ECONNRESET, iocp_win32_to_errno(WSAECONNRESET));
	EXPECT_EQ(ECONNREFUSED, iocp_win32_to_errno(ERROR_CONNECTION_REFUSED));
	EXPECT_EQ(ECONNREFUSED, iocp_win32_to_errno(WSAECONNREFUSED));
	EXPECT_EQ(EPIPE, iocp_win32_to_errno(ERROR_BROKEN_PIPE));
	EXPECT_EQ(EBADF, iocp_win32_to_errno(ERROR_INVALID_HANDLE));
	EXPECT_EQ(ENODATA, iocp_win32_to_errno(ERROR_HANDLE_EOF));
	EXPECT_EQ(ENOTSOCK, iocp_win32_to_errno(WSAENOTSOCK))
		TH_LOG("WSAENOTSOCK (\"not a socket\") does not map back to ENOTSOCK");

	/* Unmapped errno values, and unknown codes. */
	EXPECT_EQ(IOCP_WIN32_ERRNO_BASE + EXDEV, iocp_win32_from_errno(EXDEV, 0));
	EXPECT_EQ(IOCP_WIN32_ERRNO_BASE + EXDEV, iocp_win32_from_errno(EXDEV, 1));
	EXPECT_EQ(EXDEV, iocp_win32_to_errno(IOCP_WIN32_ERRNO_BASE + EXDEV));
	EXPECT_EQ(IOCP_WIN32_ERRNO_BASE + ENOKEY, iocp_win32_from_errno(ENOKEY, 0));
	EXPECT_EQ(ENOKEY, iocp_win32_to_errno(IOCP_WIN32_ERRNO_BASE + ENOKEY));
	EXPECT_EQ(EINVAL, iocp_win32_to_errno(0x7777));

	/* Every code produced round-trips. */
	for (w = 0; w < 2; w++) {
		for (e = 1; e < 134; e++) {
			DWORD code = iocp_win32_from_errno(e, w);
			int back = iocp_win32_to_errno(code);

			EXPECT_NE(0U, code) TH_LOG("errno %d gave no code", e);
			EXPECT_EQ(code, iocp_win32_from_errno(back, w))
				TH_LOG("errno %d -> code %u -> errno %d -> code %u (winsock %d)",
				       e, code, back, iocp_win32_from_errno(back, w), w);
		}
	}
}

/* A thread in GetOverlappedResult(bWait TRUE), recording the outcome. */
struct gor_waiter {
	pthread_t thread;
	LPOVERLAPPED ov;
	int wsa;		/* WSAGetOverlappedResult instead */
	SOCKET s;
	int done;		/* atomic */
	BOOL ok;
	DWORD err, bytes;
};

static void *gor_waiter_fn(void *arg)
{
	struct gor_waiter *w = arg;
	DWORD flags = POISON_U32;

	w->bytes = POISON_U32;
	SetLastError(POISON_U32);
	if (w->wsa)
		w->ok = WSAGetOverlappedResult(w->s, w->ov, &w->bytes, TRUE, &flags);
	else
		w->ok = GetOverlappedResult(H(w->s), w->ov, &w->bytes, TRUE);
	w->err = GetLastError();
	set_int(&w->done, 1);
	return NULL;
}

/*
 * GetOverlappedResult: "If the bWait parameter is TRUE, the function does
 * not return until the operation has been completed." A thread waiting
 * so stays blocked while the receive is pending, and returns once the
 * operation completed: TRUE with the bytes, or (cancelled) FALSE with
 * ERROR_OPERATION_ABORTED; WSAGetOverlappedResult(fWait TRUE) alike.
 * Differs from Windows: "completed" is when a thread has dequeued the
 * operation's packet (another thread does here), as the OVERLAPPED is
 * written then.
 */
TEST(getoverlappedresult_wait)
{
	struct gor_waiter w;
	WSABUF b;
	char buf[8];
	DWORD flags;
	OVERLAPPED ov;
	HANDLE port;
	struct gq r;
	int c, s;

	ASSERT_TRUE(tcp_pair(&c, &s));
	port = new_port(0);
	ASSERT_NE(NULL, port);
	ASSERT_EQ(port, CreateIoCompletionPort(H(s), port, 0x6C, 0));
	for (int round = 0; round < 4; round++) {
		bool cancel = round & 1;

		b.len = sizeof(buf);
		b.buf = buf;
		flags = 0;
		memset(&ov, 0, sizeof(ov));
		ASSERT_EQ(SOCKET_ERROR, WSARecv(s, &b, 1, NULL, &flags, &ov, NULL));
		ASSERT_EQ(WSA_IO_PENDING, WSAGetLastError());
		memset(&w, 0, sizeof(w));
		w.ov = &ov;
		w.s = s;
		w.wsa = round >= 2;
		ASSERT_EQ(0, pthread_create(&w.thread, NULL, gor_waiter_fn, &w));
		EXPECT_NE(0, join_ms(w.thread, BLOCKED_MS)) TH_LOG("round %d: did not wait", round);
		EXPECT_EQ(0, get_int(&w.done));
		if (cancel) {
			ASSERT_TRUE(CancelIoEx(H(s), &ov));
		} else {
			ASSERT_EQ(3, write(c, "abc", 3));
		}
		gq_get(port, WAKE_MS, &r);
		ASSERT_EQ(U(&ov), U(r.ov));
		ASSERT_EQ(0, join_ms(w.thread, WAKE_MS)) TH_LOG("round %d: not woken", round);
		if (cancel) {
			EXPECT_FALSE(w.ok);
			EXPECT_EQ(w.wsa ? (DWORD)WSA_OPERATION_ABORTED :
			          ERROR_OPERATION_ABORTED, w.err);
		} else {
			EXPECT_TRUE(w.ok) TH_LOG("round %d: error %u", round, w.err);
			EXPECT_EQ(3U, w.bytes);
		}
	}
	EXPECT_EQ(0, closesocket(s));
	close(c);
	EXPECT_TRUE(CloseHandle(port));
}

/* ------------------------------------------------------------------ */
/* Race: CancelIoEx against data arrival                                */
/* ------------------------------------------------------------------ */

#define RACE_ROUNDS	3000
#define RACE_MAX_MS	20000
#define RACE_LEN	8

/* Writes RACE_LEN bytes of round @go when the main thread says so. */
struct race_writer {
	pthread_t thread;
	int fd;
	int go;			/* atomic: round to write, -1 to stop */
	int done;		/* atomic: last round written */
	int err;
};

static void race_data(char *buf, int round)
{
	for (int i = 0; i < RACE_LEN; i++)
		buf[i] = (char)(round * 7 + i);
}

static void *race_writer_fn(void *arg)
{
	struct race_writer *w = arg;
	char buf[RACE_LEN];
	int round = 0, go;

	for (;;) {
		go = get_int(&w->go);
		if (go < 0)
			return NULL;
		if (go == round) {
			sched_yield();
			continue;
		}
		round = go;
		race_data(buf, round);
		if (write(w->fd, buf, RACE_LEN) != RACE_LEN)
			w->err = errno ? errno : EIO;
		set_int(&w->done, round);
	}
}

/*
 * CancelIoEx: "The operation being canceled is completed with one of
 * three statuses ...: The operation completed normally. This can occur
 * even if the operation was canceled, because the cancel request might
 * not have been submitted in time to cancel the operation. The operation
 * was canceled. GetLastError returns ERROR_OPERATION_ABORTED." Raced
 * against the data arriving for a pending WSARecv, a few thousand times:
 * exactly one packet each time, either a success with all the bytes, or
 * ERROR_OPERATION_ABORTED with 0 bytes and the data still in the socket
 * (no byte lost). CancelIoEx returning FALSE (ERROR_NOT_FOUND) means the
 * operation had completed: its packet is then a success.
 */
TEST(race_cancelioex_vs_data)
{
	struct race_writer w;
	char buf[64], want[RACE_LEN];
	int sv[2], round, ok = 0, aborted = 0;
	uint64_t deadline = now_ns() + RACE_MAX_MS * NSEC_PER_MSEC;
	OVERLAPPED ov;
	HANDLE port;
	struct gq r;
	BOOL cancelled;
	DWORD cerr;

	ASSERT_TRUE(unix_pair(sv));
	port = new_port(0);
	ASSERT_NE(NULL, port);
	ASSERT_EQ(port, CreateIoCompletionPort(H(sv[0]), port, 0xBB, 0));
	memset(&w, 0, sizeof(w));
	w.fd = sv[1];
	ASSERT_EQ(0, pthread_create(&w.thread, NULL, race_writer_fn, &w));

	for (round = 1; round <= RACE_ROUNDS && now_ns() < deadline; round++) {
		memset(buf, 0, sizeof(buf));
		race_data(want, round);
		ASSERT_TRUE(recv_pending(sv[0], buf, sizeof(buf), &ov));
		set_int(&w.go, round);
		/* Vary the head start of the data: none, a little, all. */
		switch (round % 4) {
		case 1:
			sched_yield();
			break;
		case 2:
			for (int spin = 0; spin < (round * 37) % 20000; spin++)
				__atomic_signal_fence(__ATOMIC_SEQ_CST);
			break;
		case 3:
			while (get_int(&w.done) != round && now_ns() < deadline)
				;
			break;
		}
		SetLastError(POISON_U32);
		cancelled = CancelIoEx(H(sv[0]), &ov);
		cerr = GetLastError();
		if (!cancelled)
			ASSERT_EQ(ERROR_NOT_FOUND, cerr) TH_LOG("round %d", round);

		gq_get(port, WAKE_MS, &r);
		ASSERT_EQ(U(&ov), U(r.ov)) TH_LOG("round %d: no packet", round);
		ASSERT_EQ((ULONG_PTR)0xBB, r.key);
		ASSERT_TRUE(wait_int(&w.done, round, WAKE_MS));
		ASSERT_EQ(0, w.err);
		if (r.ok) {
			ok++;
			ASSERT_EQ((DWORD)RACE_LEN, r.bytes) TH_LOG("round %d", round);
			ASSERT_EQ(0, memcmp(buf, want, RACE_LEN)) TH_LOG("round %d", round);
			ASSERT_EQ(-1, recv(sv[0], buf, sizeof(buf), MSG_DONTWAIT))
				TH_LOG("round %d: bytes left after a full completion", round);
		} else {
			aborted++;
			ASSERT_TRUE(cancelled) TH_LOG("round %d: aborted without a cancel", round);
			ASSERT_EQ(ERROR_OPERATION_ABORTED, r.err) TH_LOG("round %d", round);
			ASSERT_EQ(0U, r.bytes);
			ASSERT_EQ(RACE_LEN, recv(sv[0], buf, sizeof(buf), MSG_DONTWAIT))
				TH_LOG("round %d: data lost by the cancelled op", round);
			ASSERT_EQ(0, memcmp(buf, want, RACE_LEN));
		}
		ASSERT_TRUE(no_packet(port)) TH_LOG("round %d: a second packet", round);
	}
	set_int(&w.go, -1);
	ASSERT_EQ(0, join_ms(w.thread, WAKE_MS));
	TH_LOG("%d rounds: %d completed, %d cancelled", ok + aborted, ok, aborted);
	EXPECT_LE(500, ok + aborted) TH_LOG("too few rounds in the time allowed");
	EXPECT_EQ(0, closesocket(sv[0]));
	close(sv[1]);
	EXPECT_TRUE(CloseHandle(port));
}

/* ------------------------------------------------------------------ */
/* Closing a socket while its operations are being completed or made   */
/* ------------------------------------------------------------------ */

/*
 * closesocket: "Any pending overlapped send and receive operations
 * (WSASend/WSASendTo/WSARecv/WSARecvFrom with an overlapped socket)
 * issued by any thread in this process are also canceled." ConnectEx
 * with data whose connect completed, its packet not yet dequeued when the
 * socket is closed: the ConnectEx is aborted (ERROR_OPERATION_ABORTED)
 * and its data is not sent, neither on the closed socket nor on a new
 * socket that got the same descriptor number meanwhile.
 */
TEST(connectex_closed_between_connect_and_send)
{
	struct sockaddr_in a, any = { .sin_family = AF_INET };
	char buf[16];
	int l, peer, peer2;
	SOCKET s, s2;
	OVERLAPPED ov;
	HANDLE port;
	struct gq r;
	BOOL ok;

	l = tcp_listener(&a);
	ASSERT_LE(0, l);
	port = new_port(0);
	ASSERT_NE(NULL, port);
	s = new_tcp_socket();
	ASSERT_NE(INVALID_SOCKET, s);
	ASSERT_EQ(0, bind(s, (struct sockaddr *)&any, sizeof(any)));
	ASSERT_EQ(port, CreateIoCompletionPort((HANDLE)s, port, 0xC1, 0));
	memset(&ov, 0, sizeof(ov));
	SetLastError(POISON_U32);
	ok = ConnectEx(s, (struct sockaddr *)&a, sizeof(a), "secret", 6, NULL, &ov);
	ASSERT_FALSE(ok);
	ASSERT_EQ(ERROR_IO_PENDING, GetLastError());
	peer = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	ASSERT_LE(0, peer);
	/* The connect's packet is queued; nobody has dequeued it. */
	ASSERT_TRUE(wait_queued(port, 1));
	ASSERT_EQ(0, closesocket(s));

	/* The same number for a new connection to the same listener. */
	s2 = new_tcp_socket();
	ASSERT_EQ(s, s2);
	ASSERT_EQ(0, connect(s2, (struct sockaddr *)&a, sizeof(a)));
	peer2 = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	ASSERT_LE(0, peer2);

	gq_get(port, WAKE_MS, &r);
	EXPECT_GQ_FAILED(r, ERROR_OPERATION_ABORTED, 0, 0xC1, &ov);
	EXPECT_TRUE(no_packet(port));
	/* Neither peer gets the data; the first sees the close. */
	EXPECT_EQ(0, recv_timed(peer, buf, sizeof(buf)));
	EXPECT_EQ(-1, recv(peer2, buf, sizeof(buf), MSG_DONTWAIT));
	EXPECT_EQ(EAGAIN, errno);
	EXPECT_EQ(0, closesocket(s2));
	close(peer);
	close(peer2);
	close(l);
	EXPECT_TRUE(CloseHandle(port));
}

/*
 * GetAcceptExSockaddrs: "parses the data obtained from a call to the
 * AcceptEx function and passes the local and remote addresses". The
 * remote address is the one the connection came from even when the peer
 * reset the connection before the completion was dequeued, and never
 * what an earlier AcceptEx left in the reused buffer.
 */
TEST(acceptex_addresses_after_reset)
{
	struct sockaddr_in a, from;
	struct linger lg = { 1, 0 };
	struct sockaddr *la, *ra;
	char out[2 * ADDR_SLOT];
	socklen_t len = sizeof(from);
	int lal, ral, c;
	SOCKET ls, as;
	OVERLAPPED ov;
	HANDLE port;
	struct gq r;

	ls = (SOCKET)tcp_listener(&a);
	ASSERT_NE(INVALID_SOCKET, ls);
	port = new_port(0);
	ASSERT_NE(NULL, port);
	ASSERT_EQ(port, CreateIoCompletionPort((HANDLE)ls, port, 0xC2, 0));
	as = new_tcp_socket();
	ASSERT_NE(INVALID_SOCKET, as);
	/* What a previous AcceptEx would have left: a valid-looking slot. */
	memset(out, 0x5a, sizeof(out));
	memset(&ov, 0, sizeof(ov));
	SetLastError(POISON_U32);
	ASSERT_FALSE(AcceptEx(ls, as, out, 0, ADDR_SLOT, ADDR_SLOT, NULL, &ov));
	ASSERT_EQ(ERROR_IO_PENDING, GetLastError());
	c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ASSERT_LE(0, c);
	ASSERT_EQ(0, connect(c, (struct sockaddr *)&a, sizeof(a)));
	ASSERT_EQ(0, getsockname(c, (struct sockaddr *)&from, &len));
	ASSERT_TRUE(wait_queued(port, 1));
	/* Reset before the completion is dequeued. */
	ASSERT_EQ(0, setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)));
	close(c);
	usleep(50000);

	gq_get(port, WAKE_MS, &r);
	EXPECT_GQ_OK(r, 0, 0xC2, &ov);
	GetAcceptExSockaddrs(out, 0, ADDR_SLOT, ADDR_SLOT, &la, &lal, &ra, &ral);
	EXPECT_TRUE(same_addr(ra, ral, &from)) TH_LOG("remote address lost");
	EXPECT_TRUE(same_addr(la, lal, &a)) TH_LOG("local address wrong");
	EXPECT_EQ(0, closesocket(as));
	EXPECT_EQ(0, closesocket(ls));
	EXPECT_TRUE(CloseHandle(port));
}

#define CLOSE_RACE_ROUNDS	2000

struct close_racer {
	pthread_t thread;
	SOCKET s;
	OVERLAPPED ov;
	char buf[8];
	int go;			/* atomic: round to race in, -1 to stop */
	int done;		/* atomic: last round done */
	int ret;		/* WSARecv's return value in that round */
	int err;
};

static void *close_racer_fn(void *arg)
{
	struct close_racer *c = arg;
	int round = 0, go;
	DWORD flags;

	for (;;) {
		go = get_int(&c->go);
		if (go < 0)
			return NULL;
		if (go == round) {
			sched_yield();
			continue;
		}
		round = go;
		WSABUF b = { sizeof(c->buf), c->buf };

		flags = 0;
		memset(&c->ov, 0, sizeof(c->ov));
		c->ret = WSARecv(c->s, &b, 1, NULL, &flags, &c->ov, NULL);
		c->err = WSAGetLastError();
		set_int(&c->done, round);
	}
}

/*
 * closesocket: "Any pending overlapped send and receive operations ...
 * issued by any thread in this process are also canceled." A WSARecv
 * issued by another thread while the socket is being closed, a few
 * thousand times: either the call fails at once (WSAENOTSOCK: the socket
 * is gone), or it is pending and completes through the port with
 * ERROR_OPERATION_ABORTED; never does it escape the close, which would
 * leave the connection open (the peer would not see the close) and the
 * operation pending for ever.
 */
TEST(race_closesocket_vs_wsarecv)
{
	struct close_racer c;
	int round, pending = 0, refused = 0, cl, sv;
	char x;
	HANDLE port;
	struct gq r;

	port = new_port(0);
	ASSERT_NE(NULL, port);
	memset(&c, 0, sizeof(c));
	ASSERT_EQ(0, pthread_create(&c.thread, NULL, close_racer_fn, &c));
	for (round = 1; round <= CLOSE_RACE_ROUNDS; round++) {
		ASSERT_TRUE(tcp_pair(&cl, &sv));
		c.s = (SOCKET)sv;
		ASSERT_EQ(port, CreateIoCompletionPort((HANDLE)c.s, port, 0xC3, 0));
		set_int(&c.go, round);
		if (round % 3)
			sched_yield();
		ASSERT_EQ(0, closesocket((SOCKET)sv));
		ASSERT_TRUE(wait_int(&c.done, round, WAKE_MS));
		/* No data was sent: it cannot have completed at once. */
		ASSERT_EQ(SOCKET_ERROR, c.ret) TH_LOG("round %d", round);
		if (c.err == WSA_IO_PENDING) {
			pending++;
			gq_get(port, WAKE_MS, &r);
			ASSERT_EQ(U(&c.ov), U(r.ov)) TH_LOG("round %d: no packet", round);
			ASSERT_FALSE(r.ok);
			ASSERT_EQ(ERROR_OPERATION_ABORTED, r.err) TH_LOG("round %d", round);
		} else {
			refused++;
			ASSERT_EQ(WSAENOTSOCK, c.err) TH_LOG("round %d", round);
		}
		ASSERT_TRUE(no_packet(port)) TH_LOG("round %d", round);
		/* The connection is closed: the peer sees the end of stream. */
		ASSERT_EQ(0, recv_timed(cl, &x, 1)) TH_LOG("round %d: still open", round);
		close(cl);
	}
	set_int(&c.go, -1);
	ASSERT_EQ(0, join_ms(c.thread, WAKE_MS));
	TH_LOG("%d rounds: %d pending then aborted, %d refused", pending + refused,
	       pending, refused);
	EXPECT_TRUE(CloseHandle(port));
}

TEST_HARNESS_MAIN
