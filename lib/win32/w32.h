/* SPDX-License-Identifier: LGPL-2.1-or-later OR MIT */
/*
 * libiocp-win32: the Win32 I/O completion port API over libiocp.
 * Internal header of the files of lib/win32/.
 *
 * A HANDLE is a file descriptor. The overlapped calls submit ops
 * (IOCP_IOC_SUBMIT) whose user_data is the OVERLAPPED's address, on the
 * port the handle is associated with; GetQueuedCompletionStatus(Ex)
 * dequeues their packets and turns them into what Windows reports.
 *
 * State kept here, per process:
 *  - fd table: for each descriptor, the port it is associated with (by
 *    CreateIoCompletionPort), its completion key, its notification modes
 *    and the kind of file. Lock-free: fixed chunks of atomic entries.
 *  - reqs: operations that need more than the OVERLAPPED (AcceptEx and
 *    ConnectEx, which run in two ops; scatter/gather WSARecv/WSASend,
 *    whose iovec array must live until completion), by OVERLAPPED address,
 *    under reqs_lock. The OVERLAPPED's InternalHigh says so while the
 *    operation is pending (W32_K_REQ).
 *  - thread objects of CreateThread, under threads_lock.
 */
#ifndef IOCP_WIN32_W32_H
#define IOCP_WIN32_W32_H

#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "iocp.h"
#include "iocp/win32.h"

/* What the library exports; everything else in lib/win32/ is hidden. */
#define W32_API __attribute__((visibility("default")))
#pragma GCC visibility push(hidden)

/* ---- errors (error.c) ---------------------------------------------------- */

/* NTSTATUS for OVERLAPPED.Internal, and back */
DWORD w32_status_of(int errnum);
int w32_errno_of_status(DWORD status);
/* Set the last error from errno @errnum; return FALSE or SOCKET_ERROR. */
BOOL w32_fail(int errnum);
int wsa_fail(int errnum);
BOOL wsa_false(int errnum);	/* Winsock code, FALSE */
BOOL w32_error(DWORD error);	/* this code, FALSE */

/* ---- handles and the fd table -------------------------------------------- */

static inline int w32_fd(HANDLE h)
{
	uintptr_t v = (uintptr_t)h;

	return v > INT_MAX ? -1 : (int)v;
}

/* A port handle: never NULL (ports are never descriptor 0). */
static inline int w32_port_fd(HANDLE h)
{
	return h ? w32_fd(h) : -1;
}

/* fd is an open descriptor */
static inline bool w32_fd_open(int fd)
{
	return fd >= 0 && fcntl(fd, F_GETFD) >= 0;
}

enum w32_kind { W32_OTHER, W32_REG, W32_BLK, W32_FIFO, W32_SOCK };

/* fd table entry state: port fd + 1 (0: none), modes, kind, is-a-port. */
#define W32_PORT_MASK	0xFFFFFFFFull
#define W32_SKIP_PORT	(1ull << 32)	/* FILE_SKIP_COMPLETION_PORT_ON_SUCCESS */
#define W32_SKIP_EVENT	(1ull << 33)	/* FILE_SKIP_SET_EVENT_ON_HANDLE */
#define W32_IS_PORT	(1ull << 34)
#define W32_CLOSING	(1ull << 35)	/* CloseHandle/closesocket under way */
#define W32_KIND_SHIFT	40
#define W32_KIND_MASK	(0xFull << W32_KIND_SHIFT)
/* Calls between w32_io_begin() and w32_io_end(): closing waits for them. */
#define W32_USER	(1ull << 48)
#define W32_USERS_MASK	(0xFFFFull << 48)

struct w32_fd_entry {
	_Atomic uint64_t state;
	_Atomic uint64_t key;	/* the association's completion key */
};

#define W32_CHUNK_SHIFT	10
#define W32_CHUNK	(1 << W32_CHUNK_SHIFT)
#define W32_CHUNKS	1024	/* 2^20 descriptors */

/* The port @fd is associated with, or -1. */
static inline int w32_port_of(uint64_t state)
{
	return (int)(state & W32_PORT_MASK) - 1;
}

static inline enum w32_kind w32_kind_of(uint64_t state)
{
	return (enum w32_kind)((state & W32_KIND_MASK) >> W32_KIND_SHIFT);
}

static inline int w32_sock(SOCKET s)
{
	return s > INT_MAX ? -1 : (int)s;
}

struct w32_fd_entry *w32_entry(int fd, bool create);
uint64_t w32_state(int fd);
bool w32_update(int fd, uint64_t clear, uint64_t set);
enum w32_kind w32_kind_fstat(int fd);
bool w32_is_port(int fd);
int w32_close_fd(int fd);
int w32_io_begin(int fd, uint64_t *state, struct w32_fd_entry **token);
void w32_io_end(struct w32_fd_entry *token);

/* ---- reqs: operations with state beyond the OVERLAPPED ------------------- */

/* OVERLAPPED.InternalHigh while an operation is pending */
enum {
	W32_K_PLAIN = 0x1A0C0000,	/* nothing to adjust */
	W32_K_READ_EOF,			/* read of a file: 0 bytes is EOF */
	W32_K_READ_PIPE,		/* read of a pipe: 0 bytes, broken pipe */
	W32_K_REQ,			/* a struct w32_req has the rest */
	W32_K_ACCEPT,			/* the same, AcceptEx's accept */
};

enum w32_req_kind { W32_REQ_IOV, W32_REQ_ACCEPT, W32_REQ_CONNECT };

/*
 * refs: one held by the table while the req is in it, one by a thread
 * completing it. Fields other than next, refs and cancel belong to
 * whoever submitted the op or completes it (one at a time).
 */
struct w32_req {
	struct w32_req *next;		/* reqs_lock */
	int refs;			/* reqs_lock */
	bool cancel;			/* reqs_lock: CancelIoEx before phase 2 */
	bool started2;			/* reqs_lock: phase 2's op submitted */
	enum w32_req_kind kind;
	LPOVERLAPPED ov;
	int port;
	int fd;				/* the handle the call was made on */
	int cur_fd;			/* reqs_lock: the file of the op in flight */
	int phase;			/* reqs_lock: 1, then 2 for the data */
	ULONG_PTR key;			/* key the completion reports */
	int accept_fd;
	char *buf;
	DWORD len, local_len, remote_len;
	struct sockaddr_storage peer;	/* AcceptEx: the accept op's */
	socklen_t peer_len;
	struct msghdr msg;
	struct iovec iov[];
};

static inline bool w32_skip(uint64_t state)
{
	return state & W32_SKIP_PORT;
}

struct w32_done {
	ULONG_PTR key;
	LPOVERLAPPED ov;
	DWORD bytes;
	DWORD status;	/* NTSTATUS */
	int errnum;	/* 0, or the errno behind status */
};

#define W32_SLOT_HDR 8	/* AcceptEx address slot: u32 length, u32 magic */
#define W32_SLOT_MAGIC 0x10c9add5u

#define W32_REQ_BUCKETS 256
extern pthread_mutex_t reqs_lock;
extern struct w32_req *reqs[W32_REQ_BUCKETS];	/* reqs_lock */

struct w32_req **w32_req_find(LPOVERLAPPED ov);	/* reqs_lock held */
void w32_req_put(struct w32_req *r);
struct w32_req *w32_req_alloc(enum w32_req_kind kind, LPOVERLAPPED ov,
			      int port, int fd, size_t niov);
void w32_reqs_drop_port(int port);
int w32_submit(int port, struct iocp_op *op, LPOVERLAPPED ov,
	       ULONG_PTR tag, bool skip, int64_t *result);
int w32_req_submit(struct w32_req *r, struct iocp_op *op, bool skip,
		   int64_t *res);
bool w32_complete(const struct iocp_completion *c, struct w32_done *d);

/* ---- ports, files, threads ---------------------------------------------- */

void w32_port_closed(int port);
BOOL w32_overlapped_result(LPOVERLAPPED ov, LPDWORD bytes, int winsock,
			   BOOL wait);

/* Threads waiting in GetOverlappedResult(bWait): completions wake them. */
extern atomic_int w32_ov_waiters;

/* The 32 bits of OVERLAPPED.Internal that hold the status: a futex. */
static inline uint32_t *w32_ov_word(LPOVERLAPPED ov)
{
	return (uint32_t *)&ov->Internal +
	       (__BYTE_ORDER__ == __ORDER_BIG_ENDIAN__ && sizeof(ULONG_PTR) == 8);
}

#define W32_THREAD_BASE (1ull << 32)	/* thread handles: base + slot */
bool w32_thread_close(HANDLE h);

#pragma GCC visibility pop

#endif /* IOCP_WIN32_W32_H */
