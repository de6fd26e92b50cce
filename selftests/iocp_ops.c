// SPDX-License-Identifier: GPL-2.0
/*
 * Selftests for the overlapped I/O of /dev/iocp: IOCP_IOC_SUBMIT and
 * IOCP_IOC_CANCEL, ops on sockets, pipes and regular files (cached on the
 * rootfs, uncached on the guest's RAM disk), their statuses, ordering,
 * cancellation, shutdown, process exit, limits and SCM_RIGHTS.
 *
 * As in iocp_test.c: outputs are poisoned (0xa5) before each call and
 * checked after it; "no packet" is proven with a 0-timeout DEQUEUE that
 * fails with ETIMEDOUT; a thread that must still be blocked is proven so
 * by a timed join that times out. Helper threads never ASSERT; they record
 * what they saw and the test's thread checks it.
 *
 * The echo test (1,000 TCP connections) takes its size from the
 * environment: IOCP_OPS_ECHO_CONNS (default 1000) and IOCP_OPS_ECHO_BYTES
 * (bytes per connection, default 1 MiB); the kernel command line can set
 * both (they reach /init's environment).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/statfs.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <linux/iocp.h>

#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wclobbered"
#include "kselftest_harness.h"
#include "iocp_util.h"

#define BLOCKED_MS	200
#define WAKE_MS		5000
/* Bound on waiting for a packet that must come (TCG is slow). */
#define PKT_TIMEOUT	(10 * NSEC_PER_SEC)

#define POISON		0xa5
#define POISON_U32	0xa5a5a5a5U
#define POISON_U64	0xa5a5a5a5a5a5a5a5ULL

#define BLK_DIR		"/mnt/blk"
#define EXT_SUPER_MAGIC	0xEF53

/* ------------------------------------------------------------------ */
/* Helpers                                                              */
/* ------------------------------------------------------------------ */

static int port_open(void)
{
	return open("/dev/iocp", O_RDWR | O_CLOEXEC);
}

/* An op with every field zero but these; outputs poisoned. */
static void mkop(struct iocp_op *op, uint32_t opcode, int fd, const void *addr,
		 uint32_t len, uint64_t ud)
{
	memset(op, 0, sizeof(*op));
	op->opcode = opcode;
	op->fd = (uint32_t)fd;
	op->addr = (uintptr_t)addr;
	op->len = len;
	op->user_data = ud;
	op->result = POISON_U64;
	op->status = POISON_U32;
	if (opcode >= IOCP_OP_READ && opcode <= IOCP_OP_WRITEV)
		op->offset = IOCP_OFFSET_CURRENT;
}

/* IOCP_IOC_SUBMIT of @n ops: 0 or -errno. */
static int submit_n(int port, struct iocp_op *ops, uint32_t n)
{
	struct iocp_submit_args a = { .ops = (uintptr_t)ops, .count = n };

	return xioctl(port, IOCP_IOC_SUBMIT, &a);
}

static int submit(int port, struct iocp_op *op)
{
	op->result = POISON_U64;
	op->status = POISON_U32;
	return submit_n(port, op, 1);
}

/* DEQUEUE up to @max: the count, or -errno. Entries poisoned first. */
static int dq(int port, struct iocp_completion *c, uint32_t max, uint64_t to)
{
	struct iocp_dequeue_args d;
	int ret;

	memset(c, POISON, sizeof(*c) * (max ? max : 1));
	memset(&d, 0, sizeof(d));
	d.entries = (uintptr_t)c;
	d.timeout_ns = to;
	d.max = max;
	d.count = POISON_U32;
	ret = xioctl(port, IOCP_IOC_DEQUEUE, &d);
	return ret < 0 ? ret : (int)d.count;
}

static int do_cancel(int port, uint32_t flags, uint64_t ud, int fd, uint32_t *count)
{
	struct iocp_cancel_args a = { .user_data = ud, .fd = (uint32_t)fd,
				      .flags = flags, .count = POISON_U32 };
	int ret = xioctl(port, IOCP_IOC_CANCEL, &a);

	if (count)
		*count = a.count;
	return ret;
}

static struct iocp_stats stats(int port)
{
	struct iocp_stats s;

	memset(&s, POISON, sizeof(s));
	if (xioctl(port, IOCP_IOC_GET_STATS, &s))
		memset(&s, 0xff, sizeof(s));
	return s;
}

static uint32_t nops(int port)
{
	return stats(port).ops;
}

static int set_max_ops(int port, uint32_t max)
{
	struct iocp_config cfg;
	int ret = xioctl(port, IOCP_IOC_GET_CONFIG, &cfg);

	if (ret)
		return ret;
	cfg.max_ops = max;
	return xioctl(port, IOCP_IOC_SET_CONFIG, &cfg);
}

static bool is_poison(const void *p, size_t len)
{
	const unsigned char *b = p;
	size_t i;

	for (i = 0; i < len; i++)
		if (b[i] != POISON)
			return false;
	return true;
}

static long long res_of(const struct iocp_completion *c)
{
	return (long long)(int64_t)c->result;
}

static long long opres(const struct iocp_op *op)
{
	return (long long)(int64_t)op->result;
}

/*
 * The result of an op that is done at submit or later: QUEUED (its packet
 * is taken and must match), PENDING (its packet is awaited), FAILED or DONE
 * (no packet). *status gets the status; -1000 on a protocol error.
 */
static long long finish(int port, struct iocp_op *op, uint32_t *status)
{
	struct iocp_completion c;
	int n;

	*status = op->status;
	switch (op->status) {
	case IOCP_OP_QUEUED:
	case IOCP_OP_PENDING:
		n = dq(port, &c, 1, PKT_TIMEOUT);
		if (n != 1 || c.user_data != op->user_data ||
		    c.flags != IOCP_CF_OP || c.events)
			return -1000;
		if (op->status == IOCP_OP_QUEUED && c.result != op->result)
			return -1001;
		return res_of(&c);
	case IOCP_OP_DONE:
	case IOCP_OP_FAILED:
		if (dq(port, &c, 1, 0) != -ETIMEDOUT)
			return -1002;
		return opres(op);
	}
	return -1003;
}

/* No packet is queued now. */
/* Exactly @n packets within the timeout: 0, or -1. */
static int dq_n(int port, struct iocp_completion *c, int n)
{
	int got = 0, r;

	while (got < n) {
		r = dq(port, c + got, (uint32_t)(n - got), PKT_TIMEOUT);
		if (r <= 0)
			return -1;
		got += r;
	}
	return 0;
}

static bool no_packet(int port)
{
	struct iocp_completion c;

	return dq(port, &c, 1, 0) == -ETIMEDOUT;
}

/* A listening TCP socket on 127.0.0.1, its address in @a. */
static int tcp_listener(struct sockaddr_in *a, int backlog)
{
	socklen_t al = sizeof(*a);
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (l < 0)
		return -1;
	memset(a, 0, sizeof(*a));
	a->sin_family = AF_INET;
	a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(l, (struct sockaddr *)a, sizeof(*a)) || listen(l, backlog) ||
	    getsockname(l, (struct sockaddr *)a, &al)) {
		close(l);
		return -1;
	}
	return l;
}

/* A connected TCP pair over 127.0.0.1 (blocking). */
static int tcp_pair(int sv[2])
{
	struct sockaddr_in a;
	int l = tcp_listener(&a, 4);

	if (l < 0)
		return -1;
	sv[0] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (sv[0] < 0 || connect(sv[0], (struct sockaddr *)&a, sizeof(a))) {
		close(l);
		return -1;
	}
	sv[1] = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	close(l);
	return sv[1] < 0 ? -1 : 0;
}

/* Fill with a pattern from @seed. */
static void pattern(void *p, size_t len, uint32_t seed)
{
	unsigned char *b = p;
	uint32_t x = seed * 2654435761U + 1;
	size_t i;

	for (i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		b[i] = (unsigned char)x;
	}
}

/* The filesystem on the block device, or why there is none. */
static const char *blk_missing(void)
{
	struct stat root, st;
	struct statfs sf;

	if (stat(BLK_DIR, &st) || stat("/", &root))
		return "no " BLK_DIR " (guest-init.sh mounts the RAM disk there)";
	if (st.st_dev == root.st_dev)
		return "nothing mounted on " BLK_DIR;
	if (statfs(BLK_DIR, &sf) || sf.f_type != EXT_SUPER_MAGIC)
		return BLK_DIR " is not an ext2/3/4 filesystem";
	if (major(st.st_dev) == 0)
		return BLK_DIR " is not on a block device";
	return NULL;
}

/* Tests that need more than the harness's 30 s default under TCG. */
FIXTURE(slow) {
	int unused;
};
FIXTURE_SETUP(slow) {}
FIXTURE_TEARDOWN(slow) {}

/*
 * Whether READ/WRITE ops work on pipes: they need FMODE_NOWAIT, which
 * pipes and sockets have only from Linux 6.4 on; before, such ops fail with
 * EOPNOTSUPP as documented (6.1: only RECV/SEND* work on sockets).
 */
static int pipe_rw_support = -1;

static bool pipe_rw_ok(void)
{
	struct iocp_op op;
	int port, p[2];
	char b;

	if (pipe_rw_support >= 0)
		return pipe_rw_support;
	port = port_open();
	if (port < 0 || pipe2(p, O_CLOEXEC))
		return false;
	mkop(&op, IOCP_OP_READ, p[0], &b, 1, 0);
	pipe_rw_support = !(submit(port, &op) == 0 && op.status == IOCP_OP_FAILED &&
			    opres(&op) == -EOPNOTSUPP);
	close(p[0]);
	close(p[1]);
	close(port);
	return pipe_rw_support;
}

/*
 * A byte stream to read with a pending op: a pipe and READ where READ
 * works on pipes, else a UNIX socketpair and RECV. Returns the opcode.
 */
static uint32_t reader(int p[2])
{
	if (pipe_rw_ok())
		return pipe2(p, O_CLOEXEC) ? IOCP_OP_NOP : IOCP_OP_READ;
	return socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, p) ?
	       IOCP_OP_NOP : IOCP_OP_RECV;
}

#define PIPE_SKIP_REASON "no FMODE_NOWAIT on pipes in this kernel: READ/WRITE ops on them fail with EOPNOTSUPP (checked)"

/* Where pipes lack FMODE_NOWAIT: every READ/WRITE op fails EOPNOTSUPP. */
static void check_pipe_eopnotsupp(struct __test_metadata *_metadata, int port)
{
	static const uint32_t codes[] = { IOCP_OP_READ, IOCP_OP_WRITE,
					  IOCP_OP_READV, IOCP_OP_WRITEV };
	struct iovec iov = { NULL, 0 };
	struct iocp_op op;
	unsigned int i;
	int p[2];
	char b[4];

	ASSERT_EQ(0, pipe2(p, O_CLOEXEC));
	for (i = 0; i < 4; i++) {
		bool wr = codes[i] == IOCP_OP_WRITE || codes[i] == IOCP_OP_WRITEV;
		bool vec = codes[i] == IOCP_OP_READV || codes[i] == IOCP_OP_WRITEV;

		iov.iov_base = b;
		iov.iov_len = sizeof(b);
		mkop(&op, codes[i], p[wr], vec ? (void *)&iov : (void *)b,
		     vec ? 1 : sizeof(b), i);
		ASSERT_EQ(0, submit(port, &op));
		EXPECT_EQ((uint32_t)IOCP_OP_FAILED, op.status);
		EXPECT_EQ(-EOPNOTSUPP, opres(&op));
	}
	EXPECT_TRUE(no_packet(port));
	EXPECT_EQ(0U, nops(port));
	close(p[0]);
	close(p[1]);
}

/* ------------------------------------------------------------------ */
/* 1. Each opcode on each kind of file                                  */
/* ------------------------------------------------------------------ */

TEST(nop)
{
	int port = port_open();
	struct iocp_completion c[2];
	struct iocp_op op;

	ASSERT_LE(0, port);
	mkop(&op, IOCP_OP_NOP, 0, NULL, 0, 0x1234);
	ASSERT_EQ(0, submit(port, &op));
	EXPECT_EQ((uint32_t)IOCP_OP_QUEUED, op.status);
	EXPECT_EQ(0ULL, op.result);
	EXPECT_EQ(1U, nops(port));
	ASSERT_EQ(1, dq(port, c, 2, 0));
	EXPECT_EQ(0x1234ULL, c[0].user_data);
	EXPECT_EQ(0ULL, c[0].key);
	EXPECT_EQ(0ULL, c[0].result);
	EXPECT_EQ((uint32_t)IOCP_CF_OP, c[0].flags);
	EXPECT_EQ(0U, c[0].events);
	EXPECT_EQ(0U, nops(port));
	EXPECT_TRUE(no_packet(port));
	close(port);
}

TEST(pipe_ops)
{
	int port = port_open(), p[2];
	char buf[32], b1[4], b2[8];
	struct iovec iov[2];
	struct iocp_op op;
	uint32_t st;

	ASSERT_LE(0, port);
	if (!pipe_rw_ok()) {
		check_pipe_eopnotsupp(_metadata, port);
		close(port);
		SKIP(return, PIPE_SKIP_REASON);
	}
	ASSERT_EQ(0, pipe2(p, O_CLOEXEC));
	/* WRITE done at submit. */
	mkop(&op, IOCP_OP_WRITE, p[1], "hello", 5, 1);
	ASSERT_EQ(0, submit(port, &op));
	EXPECT_EQ((uint32_t)IOCP_OP_QUEUED, op.status);
	EXPECT_EQ(5LL, opres(&op));
	EXPECT_EQ(5LL, finish(port, &op, &st));
	/* READ done at submit. */
	memset(buf, POISON, sizeof(buf));
	mkop(&op, IOCP_OP_READ, p[0], buf, sizeof(buf), 2);
	ASSERT_EQ(0, submit(port, &op));
	EXPECT_EQ((uint32_t)IOCP_OP_QUEUED, op.status);
	EXPECT_EQ(5LL, finish(port, &op, &st));
	EXPECT_EQ(0, memcmp(buf, "hello", 5));
	EXPECT_TRUE(is_poison(buf + 5, sizeof(buf) - 5));
	/* WRITEV, then a pending READV that gets it. */
	memset(b1, POISON, sizeof(b1));
	memset(b2, POISON, sizeof(b2));
	iov[0].iov_base = b1;
	iov[0].iov_len = sizeof(b1);
	iov[1].iov_base = b2;
	iov[1].iov_len = sizeof(b2);
	mkop(&op, IOCP_OP_READV, p[0], iov, 2, 3);
	ASSERT_EQ(0, submit(port, &op));
	EXPECT_EQ((uint32_t)IOCP_OP_PENDING, op.status);
	EXPECT_TRUE(no_packet(port));
	{
		struct iovec wv[2] = { { (void *)"abc", 3 }, { (void *)"defghi", 6 } };
		struct iocp_op w;

		mkop(&w, IOCP_OP_WRITEV, p[1], wv, 2, 4);
		ASSERT_EQ(0, submit(port, &w));
		EXPECT_EQ((uint32_t)IOCP_OP_QUEUED, w.status);
		EXPECT_EQ(9LL, opres(&w));
		/* Two packets: the WRITEV's and the READV's, any order. */
		{
			struct iocp_completion c[2];
			int got = 0, n, i;
			long long rr = -1, wr = -1;

			while (got < 2) {
				n = dq(port, c, 2, PKT_TIMEOUT);
				ASSERT_LT(0, n);
				for (i = 0; i < n; i++) {
					if (c[i].user_data == 3)
						rr = res_of(&c[i]);
					else if (c[i].user_data == 4)
						wr = res_of(&c[i]);
				}
				got += n;
			}
			EXPECT_EQ(9LL, rr);
			EXPECT_EQ(9LL, wr);
		}
	}
	EXPECT_EQ(0, memcmp(b1, "abcd", 4));
	EXPECT_EQ(0, memcmp(b2, "efghi", 5));
	EXPECT_TRUE(is_poison(b2 + 5, 3));
	/* An offset on a pipe: ESPIPE at once, no packet. */
	mkop(&op, IOCP_OP_READ, p[0], buf, 4, 5);
	op.offset = 0;
	ASSERT_EQ(0, submit(port, &op));
	EXPECT_EQ((uint32_t)IOCP_OP_FAILED, op.status);
	EXPECT_EQ(-ESPIPE, opres(&op));
	/* READ on the write end: EBADF. */
	mkop(&op, IOCP_OP_READ, p[1], buf, 4, 6);
	ASSERT_EQ(0, submit(port, &op));
	EXPECT_EQ((uint32_t)IOCP_OP_FAILED, op.status);
	EXPECT_EQ(-EBADF, opres(&op));
	/* RECV on a pipe: ENOTSOCK. */
	mkop(&op, IOCP_OP_RECV, p[0], buf, 4, 7);
	ASSERT_EQ(0, submit(port, &op));
	EXPECT_EQ((uint32_t)IOCP_OP_FAILED, op.status);
	EXPECT_EQ(-ENOTSOCK, opres(&op));
	/* WRITE to a pipe without readers: EPIPE (and no SIGPIPE... from
	 * write(2) semantics a pipe does raise it; ignore it here). */
	signal(SIGPIPE, SIG_IGN);
	close(p[0]);
	mkop(&op, IOCP_OP_WRITE, p[1], "x", 1, 8);
	ASSERT_EQ(0, submit(port, &op));
	EXPECT_EQ((uint32_t)IOCP_OP_FAILED, op.status);
	EXPECT_EQ(-EPIPE, opres(&op));
	EXPECT_TRUE(no_packet(port));
	EXPECT_EQ(0U, nops(port));
	close(p[1]);
	close(port);
}

static void unix_send_recv(struct __test_metadata *_metadata, int type)
{
	int port = port_open(), sv[2];
	char buf[64], b2[16];
	struct iocp_op op;
	struct iovec iov;
	struct msghdr mh;
	uint32_t st;

	ASSERT_LE(0, port);
	ASSERT_EQ(0, socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, sv));
	/* RECV pending, SEND completes it. */
	memset(buf, POISON, sizeof(buf));
	mkop(&op, IOCP_OP_RECV, sv[1], buf, sizeof(buf), 1);
	ASSERT_EQ(0, submit(port, &op));
	EXPECT_EQ((uint32_t)IOCP_OP_PENDING, op.status);
	EXPECT_EQ(1U, nops(port));
	{
		struct iocp_op s;

		mkop(&s, IOCP_OP_SEND, sv[0], "ping!", 5, 2);
		ASSERT_EQ(0, submit(port, &s));
		EXPECT_EQ((uint32_t)IOCP_OP_QUEUED, s.status);
		EXPECT_EQ(5LL, opres(&s));
	}
	{
		struct iocp_completion c[2];
		int got = 0, n, i;
		long long r = -1;

		while (got < 2) {
			n = dq(port, c, 2, PKT_TIMEOUT);
			ASSERT_LT(0, n);
			for (i = 0; i < n; i++)
				if (c[i].user_data == 1)
					r = res_of(&c[i]);
			got += n;
		}
		EXPECT_EQ(5LL, r);
	}
	EXPECT_EQ(0, memcmp(buf, "ping!", 5));
	EXPECT_TRUE(is_poison(buf + 5, sizeof(buf) - 5));
	/* SENDMSG / RECVMSG. */
	iov.iov_base = (void *)"msg-data";
	iov.iov_len = 8;
	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mkop(&op, IOCP_OP_SENDMSG, sv[0], &mh, 0, 3);
	ASSERT_EQ(0, submit(port, &op));
	EXPECT_EQ(8LL, finish(port, &op, &st));
	EXPECT_EQ((uint32_t)IOCP_OP_QUEUED, st);
	memset(b2, POISON, sizeof(b2));
	iov.iov_base = b2;
	iov.iov_len = sizeof(b2);
	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_flags = (int)POISON_U32;
	mkop(&op, IOCP_OP_RECVMSG, sv[1], &mh, 0, 4);
	ASSERT_EQ(0, submit(port, &op));
	EXPECT_EQ(8LL, finish(port, &op, &st));
	EXPECT_EQ((uint32_t)IOCP_OP_QUEUED, st);
	EXPECT_EQ(0, memcmp(b2, "msg-data", 8));
	/* Exactly checked in recvmsg_msg_flags. */
	EXPECT_EQ(0, mh.msg_flags & ~MSG_DONTWAIT);
	EXPECT_EQ(0U, (unsigned int)mh.msg_controllen);
	/* SEND on a socket whose peer is gone: EPIPE at once, no SIGPIPE. */
	signal(SIGPIPE, SIG_DFL);
	close(sv[1]);
	mkop(&op, IOCP_OP_SEND, sv[0], "x", 1, 5);
	ASSERT_EQ(0, submit(port, &op));
	EXPECT_EQ((uint32_t)IOCP_OP_FAILED, op.status);
	EXPECT_EQ(-EPIPE, opres(&op));
	EXPECT_TRUE(no_packet(port));
	EXPECT_EQ(0U, nops(port));
	close(sv[0]);
	close(port);
}

TEST(unix_stream_ops)
{
	unix_send_recv(_metadata, SOCK_STREAM);
}

TEST(unix_seqpacket_ops)
{
	unix_send_recv(_metadata, SOCK_SEQPACKET);
}

TEST(udp_msg_ops)
{
	int port = port_open(), a, b;
	struct sockaddr_in aa, ba, from;
	socklen_t al = sizeof(aa);
	char buf[16];
	struct iovec iov;
	struct msghdr mh;
	struct iocp_op op;
	uint32_t st;

	ASSERT_LE(0, port);
	a = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	b = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ASSERT_LE(0, a);
	ASSERT_LE(0, b);
	memset(&aa, 0, sizeof(aa));
	aa.sin_family = AF_INET;
	aa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ba = aa;
	ASSERT_EQ(0, bind(a, (struct sockaddr *)&aa, sizeof(aa)));
	ASSERT_EQ(0, getsockname(a, (struct sockaddr *)&aa, &al));
	al = sizeof(ba);
	ASSERT_EQ(0, bind(b, (struct sockaddr *)&ba, sizeof(ba)));
	ASSERT_EQ(0, getsockname(b, (struct sockaddr *)&ba, &al));

	/* RECVMSG pending on b, with room for the sender's address. */
	memset(buf, POISON, sizeof(buf));
	memset(&from, POISON, sizeof(from));
	iov.iov_base = buf;
	iov.iov_len = sizeof(buf);
	memset(&mh, 0, sizeof(mh));
	mh.msg_name = &from;
	mh.msg_namelen = sizeof(from);
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_flags = (int)POISON_U32;
	mkop(&op, IOCP_OP_RECVMSG, b, &mh, 0, 10);
	ASSERT_EQ(0, submit(port, &op));
	EXPECT_EQ((uint32_t)IOCP_OP_PENDING, op.status);
	EXPECT_TRUE(no_packet(port));
	/* SENDMSG from a (unconnected) to b's address. */
	{
		struct iovec siov = { (void *)"datagram", 8 };
		struct msghdr smh;
		struct iocp_op s;

		memset(&smh, 0, sizeof(smh));
		smh.msg_name = &ba;
		smh.msg_namelen = sizeof(ba);
		smh.msg_iov = &siov;
		smh.msg_iovlen = 1;
		mkop(&s, IOCP_OP_SENDMSG, a, &smh, 0, 11);
		ASSERT_EQ(0, submit(port, &s));
		EXPECT_EQ((uint32_t)IOCP_OP_QUEUED, s.status);
		EXPECT_EQ(8LL, opres(&s));
	}
	{
		struct iocp_completion c[2];
		int got = 0, n, i;
		long long r = -1, sr = -1;

		while (got < 2) {
			n = dq(port, c, 2, PKT_TIMEOUT);
			ASSERT_LT(0, n);
			for (i = 0; i < n; i++) {
				if (c[i].user_data == 10)
					r = res_of(&c[i]);
				if (c[i].user_data == 11)
					sr = res_of(&c[i]);
			}
			got += n;
		}
		EXPECT_EQ(8LL, r);
		EXPECT_EQ(8LL, sr);
	}
	EXPECT_EQ(0, memcmp(buf, "datagram", 8));
	EXPECT_EQ((unsigned int)sizeof(from), (unsigned int)mh.msg_namelen);
	EXPECT_EQ(AF_INET, from.sin_family);
	EXPECT_EQ(aa.sin_port, from.sin_port);
	EXPECT_EQ(aa.sin_addr.s_addr, from.sin_addr.s_addr);
	EXPECT_EQ(0, mh.msg_flags & ~MSG_DONTWAIT);

	/* A datagram larger than the buffer: MSG_TRUNC in msg_flags. */
	ASSERT_EQ(10, sendto(a, "0123456789", 10, 0, (struct sockaddr *)&ba, sizeof(ba)));
	memset(buf, POISON, sizeof(buf));
	iov.iov_len = 4;
	mh.msg_name = NULL;
	mh.msg_namelen = 0;
	mh.msg_flags = (int)POISON_U32;
	mkop(&op, IOCP_OP_RECVMSG, b, &mh, 0, 12);
	ASSERT_EQ(0, submit(port, &op));
	EXPECT_EQ(4LL, finish(port, &op, &st));
	EXPECT_EQ((uint32_t)IOCP_OP_QUEUED, st);
	EXPECT_EQ(0, memcmp(buf, "0123", 4));
	EXPECT_TRUE(is_poison(buf + 4, sizeof(buf) - 4));
	EXPECT_EQ(MSG_TRUNC, mh.msg_flags & MSG_TRUNC);

	/* RECV and SEND on connected UDP sockets. */
	ASSERT_EQ(0, connect(a, (struct sockaddr *)&ba, sizeof(ba)));
	memset(buf, POISON, sizeof(buf));
	mkop(&op, IOCP_OP_RECV, b, buf, sizeof(buf), 13);
	ASSERT_EQ(0, submit(port, &op));
	EXPECT_EQ((uint32_t)IOCP_OP_PENDING, op.status);
	{
		struct iocp_op s;

		mkop(&s, IOCP_OP_SEND, a, "udp", 3, 14);
		s.flags = IOCP_OPF_SKIP_ON_SUCCESS;
		ASSERT_EQ(0, submit(port, &s));
		EXPECT_EQ((uint32_t)IOCP_OP_DONE, s.status);
		EXPECT_EQ(3LL, opres(&s));
	}
	EXPECT_EQ(3LL, finish(port, &op, &st));
	EXPECT_EQ(0, memcmp(buf, "udp", 3));
	EXPECT_TRUE(no_packet(port));
	EXPECT_EQ(0U, nops(port));
	close(a);
	close(b);
	close(port);
}

/* RECVMSG reports msg_flags as recvmsg(2): no flag it did not set. */
TEST(recvmsg_msg_flags)
{
	int port = port_open(), sv[2];
	char buf[8];
	struct iovec iov = { buf, sizeof(buf) };
	struct msghdr mh;
	struct iocp_op op;
	uint32_t st;

	ASSERT_LE(0, port);
	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv));
	ASSERT_EQ(3, write(sv[0], "abc", 3));
	ASSERT_EQ(12, write(sv[0], "0123456789ab", 12));
	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_flags = (int)POISON_U32;
	mkop(&op, IOCP_OP_RECVMSG, sv[1], &mh, 0, 1);
	ASSERT_EQ(0, submit(port, &op));
	EXPECT_EQ(3LL, finish(port, &op, &st));
	EXPECT_EQ(0, mh.msg_flags);
	mh.msg_flags = (int)POISON_U32;
	mkop(&op, IOCP_OP_RECVMSG, sv[1], &mh, 0, 2);
	ASSERT_EQ(0, submit(port, &op));
	EXPECT_EQ(8LL, finish(port, &op, &st));
	EXPECT_EQ(MSG_TRUNC, mh.msg_flags);
	close(sv[0]);
	close(sv[1]);
	close(port);
}

/* Accept with and without O_CLOEXEC, CONNECT, then SEND/RECV on TCP. */
TEST(tcp_accept_connect)
{
	int port = port_open(), l, cfd, afd = -1, i, flags;
	struct sockaddr_in a, peer, local;
	socklen_t plen, llen = sizeof(local);
	struct iocp_completion c[2];
	struct iocp_op acc, con, op;
	char buf[16];
	uint32_t st;

	ASSERT_LE(0, port);
	l = tcp_listener(&a, 8);
	ASSERT_LE(0, l);
	for (i = 0; i < 2; i++) {
		bool cloexec = i == 0;
		long long ar = -1, cr = -1;
		int got = 0, n, j;

		memset(&peer, POISON, sizeof(peer));
		plen = sizeof(peer);
		mkop(&acc, IOCP_OP_ACCEPT, l, &peer, 0, 100 + i);
		acc.addr2 = (uintptr_t)&plen;
		acc.op_flags = cloexec ? O_CLOEXEC : 0;
		ASSERT_EQ(0, submit(port, &acc));
		EXPECT_EQ((uint32_t)IOCP_OP_PENDING, acc.status);
		EXPECT_TRUE(no_packet(port));

		cfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		ASSERT_LE(0, cfd);
		mkop(&con, IOCP_OP_CONNECT, cfd, &a, sizeof(a), 200 + i);
		ASSERT_EQ(0, submit(port, &con));
		ASSERT_TRUE(con.status == IOCP_OP_PENDING || con.status == IOCP_OP_QUEUED);
		if (con.status == IOCP_OP_QUEUED)
			EXPECT_EQ(0LL, opres(&con));
		while (got < 2) {
			n = dq(port, c, 2, PKT_TIMEOUT);
			ASSERT_LT(0, n);
			for (j = 0; j < n; j++) {
				EXPECT_EQ((uint32_t)IOCP_CF_OP, c[j].flags);
				if (c[j].user_data == (uint64_t)(100 + i))
					ar = res_of(&c[j]);
				else if (c[j].user_data == (uint64_t)(200 + i))
					cr = res_of(&c[j]);
			}
			got += n;
		}
		EXPECT_EQ(0LL, cr);
		ASSERT_LE(0LL, ar);
		afd = (int)ar;
		flags = fcntl(afd, F_GETFD);
		ASSERT_LE(0, flags);
		EXPECT_EQ(cloexec ? FD_CLOEXEC : 0, flags & FD_CLOEXEC);
		EXPECT_EQ(0, fcntl(afd, F_GETFL) & O_NONBLOCK);
		/* The peer address is the client's. */
		ASSERT_EQ(0, getsockname(cfd, (struct sockaddr *)&local, &llen));
		EXPECT_EQ((unsigned int)sizeof(peer), (unsigned int)plen);
		EXPECT_EQ(AF_INET, peer.sin_family);
		EXPECT_EQ(local.sin_port, peer.sin_port);
		EXPECT_EQ(local.sin_addr.s_addr, peer.sin_addr.s_addr);
		/* SEND on the client, RECV on the accepted socket. */
		mkop(&op, IOCP_OP_SEND, cfd, "tcp-data", 8, 300);
		ASSERT_EQ(0, submit(port, &op));
		EXPECT_EQ(8LL, finish(port, &op, &st));
		memset(buf, POISON, sizeof(buf));
		mkop(&op, IOCP_OP_RECV, afd, buf, sizeof(buf), 301);
		op.op_flags = MSG_WAITALL;
		ASSERT_EQ(0, submit(port, &op));
		EXPECT_EQ(8LL, finish(port, &op, &st));
		EXPECT_EQ(0, memcmp(buf, "tcp-data", 8));
		EXPECT_TRUE(is_poison(buf + 8, sizeof(buf) - 8));
		close(afd);
		close(cfd);
	}
	/* An ACCEPT without an address, O_NONBLOCK asked. */
	mkop(&acc, IOCP_OP_ACCEPT, l, NULL, 0, 400);
	acc.op_flags = O_NONBLOCK;
	ASSERT_EQ(0, submit(port, &acc));
	EXPECT_EQ((uint32_t)IOCP_OP_PENDING, acc.status);
	cfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ASSERT_EQ(0, connect(cfd, (struct sockaddr *)&a, sizeof(a)));
	afd = (int)finish(port, &acc, &st);
	ASSERT_LE(0, afd);
	EXPECT_EQ(O_NONBLOCK, fcntl(afd, F_GETFL) & O_NONBLOCK);
	EXPECT_EQ(0, fcntl(afd, F_GETFD) & FD_CLOEXEC);
	close(afd);
	close(cfd);
	close(l);
	EXPECT_EQ(0U, nops(port));
	close(port);
}

TEST(tcp_connect_refused)
{
	int port = port_open(), l, cfd, p[2];
	struct sockaddr_in a;
	struct iocp_op op;
	uint32_t st;
	long long r;

	ASSERT_LE(0, port);
	/* A port nobody listens on any more. */
	l = tcp_listener(&a, 1);
	ASSERT_LE(0, l);
	close(l);
	cfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	ASSERT_LE(0, cfd);
	mkop(&op, IOCP_OP_CONNECT, cfd, &a, sizeof(a), 7);
	ASSERT_EQ(0, submit(port, &op));
	r = finish(port, &op, &st);
	TH_LOG("refused connect: status %u", st);
	EXPECT_TRUE(st == IOCP_OP_FAILED || st == IOCP_OP_PENDING);
	EXPECT_EQ(-ECONNREFUSED, r);
	EXPECT_TRUE(no_packet(port));
	EXPECT_EQ(0U, nops(port));
	/* CONNECT on a non-socket: ENOTSOCK. */
	ASSERT_EQ(0, pipe2(p, O_CLOEXEC));
	mkop(&op, IOCP_OP_CONNECT, p[0], &a, sizeof(a), 8);
	ASSERT_EQ(0, submit(port, &op));
	EXPECT_EQ((uint32_t)IOCP_OP_FAILED, op.status);
	EXPECT_EQ(-ENOTSOCK, opres(&op));
	close(p[0]);
	close(p[1]);
	close(cfd);
	close(port);
}

TEST(poll_op)
{
	int port = port_open(), p[2], fd;
	struct iocp_op op;
	uint32_t st;

	ASSERT_LE(0, port);
	ASSERT_EQ(0, pipe2(p, O_CLOEXEC));
	/* Not readable: pending; a write completes it with POLLIN. */
	mkop(&op, IOCP_OP_POLL, p[0], NULL, 0, 1);
	op.op_flags = IOCP_POLLIN;
	ASSERT_EQ(0, submit(port, &op));
	EXPECT_EQ((uint32_t)IOCP_OP_PENDING, op.status);
	EXPECT_TRUE(no_packet(port));
	ASSERT_EQ(1, write(p[1], "x", 1));
	EXPECT_EQ((long long)IOCP_POLLIN, finish(port, &op, &st));
	/* Writable at once. */
	mkop(&op, IOCP_OP_POLL, p[1], NULL, 0, 2);
	op.op_flags = IOCP_POLLOUT;
	ASSERT_EQ(0, submit(port, &op));
	EXPECT_EQ((uint32_t)IOCP_OP_QUEUED, op.status);
	EXPECT_EQ((long long)IOCP_POLLOUT, finish(port, &op, &st));
	/* HUP counts though not asked for. */
	mkop(&op, IOCP_OP_POLL, p[0], NULL, 0, 3);
	op.op_flags = IOCP_POLLPRI;
	ASSERT_EQ(0, submit(port, &op));
	EXPECT_EQ((uint32_t)IOCP_OP_PENDING, op.status);
	close(p[1]);
	EXPECT_EQ((long long)IOCP_POLLHUP, finish(port, &op, &st));
	/* No events: EINVAL. */
	mkop(&op, IOCP_OP_POLL, p[0], NULL, 0, 4);
	ASSERT_EQ(0, submit(port, &op));
	EXPECT_EQ((uint32_t)IOCP_OP_FAILED, op.status);
	EXPECT_EQ(-EINVAL, opres(&op));
	/* A regular file cannot be polled. */
	fd = open("/tmp/iocp_ops_poll", O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ASSERT_LE(0, fd);
	unlink("/tmp/iocp_ops_poll");
	mkop(&op, IOCP_OP_POLL, fd, NULL, 0, 5);
	op.op_flags = IOCP_POLLIN;
	ASSERT_EQ(0, submit(port, &op));
	EXPECT_EQ((uint32_t)IOCP_OP_FAILED, op.status);
	EXPECT_EQ(-EPERM, opres(&op));
	EXPECT_TRUE(no_packet(port));
	EXPECT_EQ(0U, nops(port));
	close(fd);
	close(p[0]);
	close(port);
}

/* Regular file ops on @fd (opened O_RDWR, empty): @align-aligned I/O. */
static void file_ops(struct __test_metadata *_metadata, int port, int fd,
		     size_t size)
{
	unsigned char *wb, *rb, *r2;
	struct iovec iov[2];
	struct iocp_op op;
	uint32_t st;

	ASSERT_EQ(0, posix_memalign((void **)&wb, 4096, size));
	ASSERT_EQ(0, posix_memalign((void **)&rb, 4096, size));
	ASSERT_EQ(0, posix_memalign((void **)&r2, 4096, size));
	pattern(wb, size, 42);
	/* WRITE at offset size (a hole before it). */
	mkop(&op, IOCP_OP_WRITE, fd, wb, (uint32_t)size, 1);
	op.offset = size;
	ASSERT_EQ(0, submit(port, &op));
	EXPECT_EQ((long long)size, finish(port, &op, &st));
	TH_LOG("WRITE status %u", st);
	/* READ it back at that offset. */
	memset(rb, POISON, size);
	mkop(&op, IOCP_OP_READ, fd, rb, (uint32_t)size, 2);
	op.offset = size;
	ASSERT_EQ(0, submit(port, &op));
	EXPECT_EQ((long long)size, finish(port, &op, &st));
	TH_LOG("READ status %u", st);
	EXPECT_EQ(0, memcmp(rb, wb, size));
	/* READ past the end: 0. */
	memset(rb, POISON, size);
	mkop(&op, IOCP_OP_READ, fd, rb, (uint32_t)size, 3);
	op.offset = 4 * size;
	ASSERT_EQ(0, submit(port, &op));
	EXPECT_EQ(0LL, finish(port, &op, &st));
	EXPECT_TRUE(is_poison(rb, size));
	/* WRITEV at the current position (0), which then moves. */
	ASSERT_EQ(0, lseek(fd, 0, SEEK_SET));
	iov[0].iov_base = wb + size / 2;
	iov[0].iov_len = size / 2;
	iov[1].iov_base = wb;
	iov[1].iov_len = size / 2;
	mkop(&op, IOCP_OP_WRITEV, fd, iov, 2, 4);
	ASSERT_EQ(0, submit(port, &op));
	EXPECT_EQ((long long)size, finish(port, &op, &st));
	EXPECT_EQ((off_t)size, lseek(fd, 0, SEEK_CUR));
	/* READV of both halves of the file at offset 0. */
	memset(rb, POISON, size);
	memset(r2, POISON, size);
	iov[0].iov_base = rb;
	iov[0].iov_len = size;
	iov[1].iov_base = r2;
	iov[1].iov_len = size;
	mkop(&op, IOCP_OP_READV, fd, iov, 2, 5);
	op.offset = 0;
	ASSERT_EQ(0, submit(port, &op));
	EXPECT_EQ((long long)(2 * size), finish(port, &op, &st));
	EXPECT_EQ(0, memcmp(rb, wb + size / 2, size / 2));
	EXPECT_EQ(0, memcmp(rb + size / 2, wb, size / 2));
	EXPECT_EQ(0, memcmp(r2, wb, size));
	/* READ at the current position (size): the second block; moves. */
	memset(rb, POISON, size);
	mkop(&op, IOCP_OP_READ, fd, rb, (uint32_t)size, 6);
	ASSERT_EQ(0, submit(port, &op));
	EXPECT_EQ((long long)size, finish(port, &op, &st));
	EXPECT_EQ(0, memcmp(rb, wb, size));
	EXPECT_EQ((off_t)(2 * size), lseek(fd, 0, SEEK_CUR));
	EXPECT_TRUE(no_packet(port));
	EXPECT_EQ(0U, nops(port));
	free(wb);
	free(rb);
	free(r2);
}

TEST(file_cached)
{
	int port = port_open(), fd;
	struct statfs sf;

	ASSERT_LE(0, port);
	fd = open("/tmp/iocp_ops_file", O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ASSERT_LE(0, fd);
	unlink("/tmp/iocp_ops_file");
	ASSERT_EQ(0, fstatfs(fd, &sf));
	TH_LOG("/tmp filesystem type 0x%lx", (unsigned long)sf.f_type);
	file_ops(_metadata, port, fd, 8192);
	close(fd);
	close(port);
}

TEST(file_direct_blk)
{
	const char *why = blk_missing();
	int port, fd;
	unsigned char *b;
	struct iocp_op op;
	uint32_t st;
	long long r;

	if (why)
		SKIP(return, "%s", why);
	port = port_open();
	ASSERT_LE(0, port);
	fd = open(BLK_DIR "/direct", O_RDWR | O_CREAT | O_TRUNC | O_DIRECT | O_CLOEXEC, 0600);
	ASSERT_LE(0, fd);
	file_ops(_metadata, port, fd, 65536);
	/* A misaligned O_DIRECT read: EINVAL (at submit or by packet). */
	ASSERT_EQ(0, posix_memalign((void **)&b, 4096, 8192));
	mkop(&op, IOCP_OP_READ, fd, b + 1, 4096, 9);
	op.offset = 0;
	ASSERT_EQ(0, submit(port, &op));
	r = finish(port, &op, &st);
	EXPECT_EQ(-EINVAL, r);
	EXPECT_EQ(0U, nops(port));
	free(b);
	close(fd);
	unlink(BLK_DIR "/direct");
	close(port);
}

TEST(file_uncached_blk)
{
	const size_t size = 256 * 1024;
	const char *why = blk_missing();
	int port, fd, dc;
	unsigned char *wb, *rb;
	struct iocp_op op;
	uint32_t st;

	if (why)
		SKIP(return, "%s", why);
	port = port_open();
	ASSERT_LE(0, port);
	wb = malloc(size);
	rb = malloc(size);
	ASSERT_NE(NULL, wb);
	ASSERT_NE(NULL, rb);
	pattern(wb, size, 7);
	fd = open(BLK_DIR "/cold", O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ASSERT_LE(0, fd);
	ASSERT_EQ((ssize_t)size, write(fd, wb, size));
	ASSERT_EQ(0, fsync(fd));
	close(fd);
	dc = open("/proc/sys/vm/drop_caches", O_WRONLY | O_CLOEXEC);
	ASSERT_LE(0, dc);
	ASSERT_EQ(1, write(dc, "3", 1));
	close(dc);
	fd = open(BLK_DIR "/cold", O_RDONLY | O_CLOEXEC);
	ASSERT_LE(0, fd);
	memset(rb, POISON, size);
	mkop(&op, IOCP_OP_READ, fd, rb, (uint32_t)size, 1);
	op.offset = 0;
	ASSERT_EQ(0, submit(port, &op));
	TH_LOG("uncached READ status %u", op.status);
	EXPECT_EQ((long long)size, finish(port, &op, &st));
	EXPECT_EQ(0, memcmp(rb, wb, size));
	EXPECT_EQ(0U, nops(port));
	close(fd);
	unlink(BLK_DIR "/cold");
	free(wb);
	free(rb);
	close(port);
}

/* ------------------------------------------------------------------ */
/* 2. Statuses: immediate, pending, skip on success, failure, EINVAL     */
/* ------------------------------------------------------------------ */

struct dq_thread {
	int port;
	int ret;
	struct iocp_completion c;
};

static void *dq_thread_fn(void *arg)
{
	struct dq_thread *t = arg;

	t->ret = dq(t->port, &t->c, 1, IOCP_INFINITE);
	return NULL;
}

TEST(immediate_vs_pending)
{
	int port = port_open(), sv[2];
	struct dq_thread t = { 0 };
	char buf[8];
	struct iocp_op op;
	pthread_t th;
	uint32_t st;

	ASSERT_LE(0, port);
	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
	/* Data there: QUEUED with the result, and a packet. */
	ASSERT_EQ(3, write(sv[0], "abc", 3));
	memset(buf, POISON, sizeof(buf));
	mkop(&op, IOCP_OP_RECV, sv[1], buf, sizeof(buf), 1);
	ASSERT_EQ(0, submit(port, &op));
	EXPECT_EQ((uint32_t)IOCP_OP_QUEUED, op.status);
	EXPECT_EQ(3LL, opres(&op));
	EXPECT_EQ(1U, stats(port).queued);
	EXPECT_EQ(3LL, finish(port, &op, &st));
	EXPECT_EQ(0, memcmp(buf, "abc", 3));
	/* No data: PENDING; a waiting thread stays blocked until it comes. */
	memset(buf, POISON, sizeof(buf));
	mkop(&op, IOCP_OP_RECV, sv[1], buf, sizeof(buf), 2);
	ASSERT_EQ(0, submit(port, &op));
	EXPECT_EQ((uint32_t)IOCP_OP_PENDING, op.status);
	EXPECT_EQ(0U, stats(port).queued);
	t.port = port;
	t.ret = 1000;
	ASSERT_EQ(0, pthread_create(&th, NULL, dq_thread_fn, &t));
	EXPECT_EQ(ETIMEDOUT, join_ms(th, BLOCKED_MS));
	EXPECT_TRUE(is_poison(buf, sizeof(buf)));
	ASSERT_EQ(4, write(sv[0], "wxyz", 4));
	ASSERT_EQ(0, join_ms(th, WAKE_MS));
	EXPECT_EQ(1, t.ret);
	EXPECT_EQ(2ULL, t.c.user_data);
	EXPECT_EQ(4LL, res_of(&t.c));
	EXPECT_EQ((uint32_t)IOCP_CF_OP, t.c.flags);
	EXPECT_EQ(0, memcmp(buf, "wxyz", 4));
	EXPECT_TRUE(is_poison(buf + 4, 4));
	EXPECT_EQ(0U, nops(port));
	close(sv[0]);
	close(sv[1]);
	close(port);
}

TEST(skip_on_success_flag)
{
	int port = port_open(), sv[2];
	char buf[8];
	struct iocp_op op;
	uint32_t st;

	ASSERT_LE(0, port);
	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
	/* Done at submit: DONE, no packet. */
	mkop(&op, IOCP_OP_SEND, sv[0], "abc", 3, 1);
	op.flags = IOCP_OPF_SKIP_ON_SUCCESS;
	ASSERT_EQ(0, submit(port, &op));
	EXPECT_EQ((uint32_t)IOCP_OP_DONE, op.status);
	EXPECT_EQ(3LL, opres(&op));
	EXPECT_TRUE(no_packet(port));
	EXPECT_EQ(0U, nops(port));
	memset(buf, POISON, sizeof(buf));
	mkop(&op, IOCP_OP_RECV, sv[1], buf, sizeof(buf), 2);
	op.flags = IOCP_OPF_SKIP_ON_SUCCESS;
	ASSERT_EQ(0, submit(port, &op));
	EXPECT_EQ((uint32_t)IOCP_OP_DONE, op.status);
	EXPECT_EQ(3LL, opres(&op));
	EXPECT_EQ(0, memcmp(buf, "abc", 3));
	EXPECT_TRUE(no_packet(port));
	/* NOP too. */
	mkop(&op, IOCP_OP_NOP, 0, NULL, 0, 3);
	op.flags = IOCP_OPF_SKIP_ON_SUCCESS;
	ASSERT_EQ(0, submit(port, &op));
	EXPECT_EQ((uint32_t)IOCP_OP_DONE, op.status);
	EXPECT_EQ(0LL, opres(&op));
	EXPECT_TRUE(no_packet(port));
	/* Pending: the flag does not apply; a packet comes. */
	mkop(&op, IOCP_OP_RECV, sv[1], buf, sizeof(buf), 4);
	op.flags = IOCP_OPF_SKIP_ON_SUCCESS;
	ASSERT_EQ(0, submit(port, &op));
	EXPECT_EQ((uint32_t)IOCP_OP_PENDING, op.status);
	EXPECT_EQ(1U, nops(port));
	ASSERT_EQ(2, write(sv[0], "de", 2));
	EXPECT_EQ(2LL, finish(port, &op, &st));
	/* Failure at submit: FAILED, no packet. */
	close(sv[1]);
	mkop(&op, IOCP_OP_SEND, sv[0], "x", 1, 5);
	op.flags = IOCP_OPF_SKIP_ON_SUCCESS;
	ASSERT_EQ(0, submit(port, &op));
	EXPECT_EQ((uint32_t)IOCP_OP_FAILED, op.status);
	EXPECT_EQ(-EPIPE, opres(&op));
	EXPECT_TRUE(no_packet(port));
	EXPECT_EQ(0U, nops(port));
	close(sv[0]);
	close(port);
}

static int associate(int port, int fd, uint64_t key, uint32_t events, uint32_t flags)
{
	struct iocp_assoc_args a = { .key = key, .fd = (uint32_t)fd,
				     .events = events, .flags = flags };

	return xioctl(port, IOCP_IOC_ASSOCIATE, &a);
}

TEST(skip_on_success_assoc)
{
	int port = port_open(), sv[2], fd, l, cfd, nfd;
	struct sockaddr_in a;
	char buf[8];
	struct iocp_op op;
	ASSERT_LE(0, port);
	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
	/* Key-only association with skip on success. */
	ASSERT_EQ(0, associate(port, sv[0], 0xabc, 0, IOCP_ASSOC_SKIP_ON_SUCCESS));
	ASSERT_EQ(0, associate(port, sv[1], 0xdef, 0, 0));
	mkop(&op, IOCP_OP_SEND, sv[0], "abc", 3, 1);
	ASSERT_EQ(0, submit(port, &op));
	EXPECT_EQ((uint32_t)IOCP_OP_DONE, op.status);
	EXPECT_EQ(3LL, opres(&op));
	EXPECT_TRUE(no_packet(port));
	/* sv[1]: key only, no skip: QUEUED with the key. */
	{
		struct iocp_completion c;

		memset(buf, POISON, sizeof(buf));
		mkop(&op, IOCP_OP_RECV, sv[1], buf, sizeof(buf), 2);
		ASSERT_EQ(0, submit(port, &op));
		EXPECT_EQ((uint32_t)IOCP_OP_QUEUED, op.status);
		EXPECT_EQ(3LL, opres(&op));
		ASSERT_EQ(1, dq(port, &c, 1, 0));
		EXPECT_EQ(0xdefULL, c.key);
		EXPECT_EQ(2ULL, c.user_data);
		EXPECT_EQ(3LL, res_of(&c));
		EXPECT_EQ(0U, c.events);
	}
	/* A pending op on sv[0] (skip assoc) completes by packet with key. */
	{
		struct iocp_completion c;

		mkop(&op, IOCP_OP_RECV, sv[0], buf, sizeof(buf), 3);
		ASSERT_EQ(0, submit(port, &op));
		EXPECT_EQ((uint32_t)IOCP_OP_PENDING, op.status);
		ASSERT_EQ(1, write(sv[1], "z", 1));
		ASSERT_EQ(1, dq(port, &c, 1, PKT_TIMEOUT));
		EXPECT_EQ(0xabcULL, c.key);
		EXPECT_EQ(3ULL, c.user_data);
		EXPECT_EQ(1LL, res_of(&c));
		EXPECT_EQ((uint32_t)IOCP_CF_OP, c.flags);
	}
	/* No readiness packets from a key-only association. */
	ASSERT_EQ(1, write(sv[1], "y", 1));
	usleep(50000);
	EXPECT_TRUE(no_packet(port));
	/* A regular file can have a key-only association. */
	fd = open("/tmp/iocp_ops_assoc", O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ASSERT_LE(0, fd);
	unlink("/tmp/iocp_ops_assoc");
	ASSERT_EQ(0, associate(port, fd, 0x77, 0, IOCP_ASSOC_SKIP_ON_SUCCESS));
	mkop(&op, IOCP_OP_WRITE, fd, "file", 4, 4);
	op.offset = 0;
	ASSERT_EQ(0, submit(port, &op));
	if (op.status == IOCP_OP_PENDING) {
		/* A file without IOCB_NOWAIT: done by a worker, packet with key. */
		struct iocp_completion c;

		ASSERT_EQ(1, dq(port, &c, 1, PKT_TIMEOUT));
		EXPECT_EQ(0x77ULL, c.key);
		EXPECT_EQ(4ULL, c.user_data);
		EXPECT_EQ(4LL, res_of(&c));
	} else {
		EXPECT_EQ((uint32_t)IOCP_OP_DONE, op.status);
		EXPECT_EQ(4LL, opres(&op));
	}
	EXPECT_TRUE(no_packet(port));
	/* ACCEPT done at submit with skip: the fd is the submitter's. */
	l = tcp_listener(&a, 4);
	ASSERT_LE(0, l);
	ASSERT_EQ(0, associate(port, l, 0x55, 0, IOCP_ASSOC_SKIP_ON_SUCCESS));
	cfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ASSERT_EQ(0, connect(cfd, (struct sockaddr *)&a, sizeof(a)));
	mkop(&op, IOCP_OP_ACCEPT, l, NULL, 0, 5);
	op.op_flags = O_CLOEXEC;
	ASSERT_EQ(0, submit(port, &op));
	EXPECT_EQ((uint32_t)IOCP_OP_DONE, op.status);
	nfd = (int)opres(&op);
	ASSERT_LE(0, nfd);
	EXPECT_EQ(FD_CLOEXEC, fcntl(nfd, F_GETFD) & FD_CLOEXEC);
	ASSERT_EQ(2, write(cfd, "ok", 2));
	ASSERT_EQ(2, read(nfd, buf, 2));
	EXPECT_TRUE(no_packet(port));
	EXPECT_EQ(0U, nops(port));
	close(nfd);
	close(cfd);
	close(l);
	close(fd);
	close(sv[0]);
	close(sv[1]);
	close(port);
}

/*
 * An op on a port's file fails with ELOOP: it would hold the port's file,
 * and a port kept open by its own op would never be released. Another
 * port's file is refused as well (two ports could hold each other).
 */
TEST(op_on_port_eloop)
{
	int port = port_open(), other = port_open();
	struct iocp_op op;

	ASSERT_LE(0, port);
	ASSERT_LE(0, other);
	mkop(&op, IOCP_OP_POLL, port, NULL, 0, 1);
	op.op_flags = IOCP_POLLIN;
	ASSERT_EQ(0, submit(port, &op));
	EXPECT_EQ((uint32_t)IOCP_OP_FAILED, op.status);
	EXPECT_EQ(-ELOOP, opres(&op));
	mkop(&op, IOCP_OP_POLL, other, NULL, 0, 2);
	op.op_flags = IOCP_POLLIN;
	ASSERT_EQ(0, submit(port, &op));
	EXPECT_EQ((uint32_t)IOCP_OP_FAILED, op.status);
	EXPECT_EQ(-ELOOP, opres(&op));
	mkop(&op, IOCP_OP_READ, other, NULL, 0, 3);
	ASSERT_EQ(0, submit(port, &op));
	EXPECT_EQ(-ELOOP, opres(&op));
	EXPECT_TRUE(no_packet(port));
	EXPECT_EQ(0U, nops(port));
	EXPECT_EQ(0, close(other));
	EXPECT_EQ(0, close(port));
}

TEST(fail_at_once)
{
	int port = port_open(), p[2], sv[2];
	char buf[8];
	struct iocp_op op;

	ASSERT_LE(0, port);
	ASSERT_EQ(0, pipe2(p, O_CLOEXEC));
	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
	/* Bad descriptor. */
	mkop(&op, IOCP_OP_READ, 999, buf, sizeof(buf), 1);
	ASSERT_EQ(0, submit(port, &op));
	EXPECT_EQ((uint32_t)IOCP_OP_FAILED, op.status);
	EXPECT_EQ(-EBADF, opres(&op));
	/* ENOTSOCK. */
	mkop(&op, IOCP_OP_ACCEPT, p[0], NULL, 0, 2);
	ASSERT_EQ(0, submit(port, &op));
	EXPECT_EQ((uint32_t)IOCP_OP_FAILED, op.status);
	EXPECT_EQ(-ENOTSOCK, opres(&op));
	/* ACCEPT on a socket that does not listen: EINVAL from accept. */
	mkop(&op, IOCP_OP_ACCEPT, sv[0], NULL, 0, 3);
	ASSERT_EQ(0, submit(port, &op));
	EXPECT_EQ((uint32_t)IOCP_OP_FAILED, op.status);
	EXPECT_EQ(-EINVAL, opres(&op));
	/* RECV after the peer shut down writing: 0 at once (QUEUED). */
	ASSERT_EQ(0, shutdown(sv[0], SHUT_WR));
	{
		uint32_t st;

		mkop(&op, IOCP_OP_RECV, sv[1], buf, sizeof(buf), 4);
		ASSERT_EQ(0, submit(port, &op));
		EXPECT_EQ((uint32_t)IOCP_OP_QUEUED, op.status);
		EXPECT_EQ(0LL, finish(port, &op, &st));
	}
	/* SEND after our own SHUT_WR: EPIPE. */
	mkop(&op, IOCP_OP_SEND, sv[0], "x", 1, 5);
	ASSERT_EQ(0, submit(port, &op));
	EXPECT_EQ((uint32_t)IOCP_OP_FAILED, op.status);
	EXPECT_EQ(-EPIPE, opres(&op));
	EXPECT_TRUE(no_packet(port));
	EXPECT_EQ(0U, nops(port));
	EXPECT_EQ(0ULL, stats(port).dequeued - 1);
	close(p[0]);
	close(p[1]);
	close(sv[0]);
	close(sv[1]);
	close(port);
}

TEST(einval)
{
	int port = port_open(), p[2], sv[2], l;
	struct sockaddr_in a;
	char buf[8];
	struct iocp_op op, ops[2];
	struct iocp_submit_args sa;
	socklen_t al = sizeof(a);
	unsigned int i;
	struct {
		uint32_t opcode;
		int which;	/* 0 pipe read end, 1 socket, 2 listener */
		int field;	/* 0 addr, 1 addr2, 2 offset, 3 len, 4 op_flags, 5 fd */
	} bad[] = {
		{ IOCP_OP_NOP, 0, 0 }, { IOCP_OP_NOP, 0, 1 }, { IOCP_OP_NOP, 0, 2 },
		{ IOCP_OP_NOP, 0, 3 }, { IOCP_OP_NOP, 0, 4 }, { IOCP_OP_NOP, 0, 5 },
		{ IOCP_OP_READ, 0, 1 }, { IOCP_OP_READ, 0, 4 },
		{ IOCP_OP_WRITEV, 1, 1 },
		{ IOCP_OP_RECV, 1, 1 }, { IOCP_OP_RECV, 1, 2 },
		{ IOCP_OP_SEND, 1, 1 }, { IOCP_OP_SEND, 1, 2 },
		{ IOCP_OP_RECVMSG, 1, 3 }, { IOCP_OP_SENDMSG, 1, 3 },
		{ IOCP_OP_RECVMSG, 1, 2 },
		{ IOCP_OP_ACCEPT, 2, 3 }, { IOCP_OP_ACCEPT, 2, 2 },
		{ IOCP_OP_ACCEPT, 2, 0 }, /* addr without addr2 */
		{ IOCP_OP_CONNECT, 1, 1 }, { IOCP_OP_CONNECT, 1, 2 },
		{ IOCP_OP_CONNECT, 1, 4 },
		{ IOCP_OP_POLL, 0, 0 }, { IOCP_OP_POLL, 0, 1 }, { IOCP_OP_POLL, 0, 2 },
		{ IOCP_OP_POLL, 0, 3 },
	};

	ASSERT_LE(0, port);
	ASSERT_EQ(0, pipe2(p, O_CLOEXEC));
	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
	l = tcp_listener(&a, 4);
	ASSERT_LE(0, l);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int fd = bad[i].which == 0 ? p[0] : bad[i].which == 1 ? sv[0] : l;

		mkop(&op, bad[i].opcode, bad[i].opcode == IOCP_OP_NOP ? 0 : fd,
		     NULL, 0, 100 + i);
		switch (bad[i].opcode) {
		case IOCP_OP_READ:
		case IOCP_OP_RECV:
		case IOCP_OP_SEND:
			op.addr = (uintptr_t)buf;
			op.len = sizeof(buf);
			break;
		case IOCP_OP_CONNECT:
			op.addr = (uintptr_t)&a;
			op.len = sizeof(a);
			break;
		case IOCP_OP_POLL:
			op.op_flags = IOCP_POLLIN;
			break;
		}
		switch (bad[i].field) {
		case 0: op.addr = (uintptr_t)&a; break;
		case 1: op.addr2 = (uintptr_t)&al; break;
		case 2: op.offset = 8; break;
		case 3: op.len = 4; break;
		case 4: op.op_flags = bad[i].opcode == IOCP_OP_READ ? 1 : MSG_DONTWAIT; break;
		case 5: op.fd = (uint32_t)p[0]; break;
		}
		ASSERT_EQ(0, submit(port, &op));
		EXPECT_EQ((uint32_t)IOCP_OP_FAILED, op.status)
			TH_LOG("case %u (opcode %u field %d)", i, bad[i].opcode, bad[i].field);
		EXPECT_EQ(-EINVAL, opres(&op))
			TH_LOG("case %u (opcode %u field %d)", i, bad[i].opcode, bad[i].field);
	}
	/* Unknown opcode, unknown flags. */
	mkop(&op, IOCP_OP_POLL + 1, 0, NULL, 0, 1);
	ASSERT_EQ(0, submit(port, &op));
	EXPECT_EQ((uint32_t)IOCP_OP_FAILED, op.status);
	EXPECT_EQ(-EINVAL, opres(&op));
	mkop(&op, 0xffffffffU, 0, NULL, 0, 1);
	ASSERT_EQ(0, submit(port, &op));
	EXPECT_EQ(-EINVAL, opres(&op));
	mkop(&op, IOCP_OP_NOP, 0, NULL, 0, 1);
	op.flags = 0x2;
	ASSERT_EQ(0, submit(port, &op));
	EXPECT_EQ((uint32_t)IOCP_OP_FAILED, op.status);
	EXPECT_EQ(-EINVAL, opres(&op));
	mkop(&op, IOCP_OP_RECV, sv[0], buf, sizeof(buf), 1);
	op.flags = 0x80000000U;
	ASSERT_EQ(0, submit(port, &op));
	EXPECT_EQ(-EINVAL, opres(&op));
	EXPECT_TRUE(no_packet(port));
	EXPECT_EQ(0U, nops(port));
	/* The submit arguments. */
	mkop(&ops[0], IOCP_OP_NOP, 0, NULL, 0, 1);
	mkop(&ops[1], IOCP_OP_NOP, 0, NULL, 0, 2);
	EXPECT_EQ(-EINVAL, submit_n(port, ops, 0));
	EXPECT_EQ(-EINVAL, submit_n(port, ops, IOCP_MAX_BATCH + 1));
	sa.ops = (uintptr_t)ops;
	sa.count = 1;
	sa.flags = 1;
	EXPECT_EQ(-EINVAL, xioctl(port, IOCP_IOC_SUBMIT, &sa));
	EXPECT_EQ(POISON_U32, ops[0].status);
	EXPECT_EQ(-EFAULT, xioctl(port, IOCP_IOC_SUBMIT, NULL));
	sa.ops = 16;
	sa.flags = 0;
	EXPECT_EQ(-EFAULT, xioctl(port, IOCP_IOC_SUBMIT, &sa));
	EXPECT_TRUE(no_packet(port));
	/* EFAULT after the first op: the first was processed. */
	{
		struct iocp_op *m = mmap(NULL, 8192, PROT_READ | PROT_WRITE,
					 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		struct iocp_op *first;
		struct iocp_completion c;

		ASSERT_NE(MAP_FAILED, m);
		ASSERT_EQ(0, munmap((char *)m + 4096, 4096));
		first = (struct iocp_op *)((char *)m + 4096) - 1;
		mkop(first, IOCP_OP_NOP, 0, NULL, 0, 77);
		EXPECT_EQ(-EFAULT, submit_n(port, first, 2));
		EXPECT_EQ((uint32_t)IOCP_OP_QUEUED, first->status);
		ASSERT_EQ(1, dq(port, &c, 1, 0));
		EXPECT_EQ(77ULL, c.user_data);
		munmap(m, 4096);
	}
	EXPECT_EQ(0U, nops(port));
	close(l);
	close(p[0]);
	close(p[1]);
	close(sv[0]);
	close(sv[1]);
	close(port);
}

/* ------------------------------------------------------------------ */
/* 3. Ordering                                                          */
/* ------------------------------------------------------------------ */

#define ORD_OPS		64
#define ORD_CHUNK	4096
#define ORD_TOTAL	(256 * 1024)

struct writer {
	int fd;
	const unsigned char *data;
	size_t len;
	uint32_t seed;
	int err;
};

static void *chunk_writer(void *arg)
{
	struct writer *w = arg;
	uint32_t x = w->seed | 1;
	size_t off = 0, n;
	ssize_t r;

	while (off < w->len) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		n = 1 + x % 9000;
		if (n > w->len - off)
			n = w->len - off;
		r = write(w->fd, w->data + off, n);
		if (r <= 0) {
			w->err = errno;
			return NULL;
		}
		off += (size_t)r;
		if (x % 4 == 0)
			usleep(100);
	}
	return NULL;
}

TEST_F_TIMEOUT(slow, ordered_recv_tcp, 300)
{
	int port = port_open(), sv[2], round;
	unsigned char *data, *bufs, *got;
	struct iocp_op ops[ORD_OPS];
	struct iocp_completion c[16];
	long long res[ORD_OPS];
	struct writer w;
	pthread_t th;
	size_t off = 0, i;

	ASSERT_LE(0, port);
	ASSERT_EQ(0, tcp_pair(sv));
	data = malloc(ORD_TOTAL);
	got = malloc(ORD_TOTAL);
	bufs = malloc((size_t)ORD_OPS * ORD_CHUNK);
	ASSERT_NE(NULL, data);
	ASSERT_NE(NULL, got);
	ASSERT_NE(NULL, bufs);
	pattern(data, ORD_TOTAL, 1234);

	w.fd = sv[0];
	w.data = data;
	w.len = ORD_TOTAL;
	w.seed = 99;
	w.err = 0;
	/*
	 * Rounds of 64 pending RECVs until the whole stream is received
	 * (a RECV takes what is there, so a round may take less than 4 KiB
	 * per op). Once the ops done in submission order hold the end of the
	 * stream, the rest of the round is cancelled.
	 */
	for (round = 0; off < ORD_TOTAL; round++) {
		int left = ORD_OPS, n, j;
		size_t sum = 0, prefix = 0;
		bool cancelled = false;

		ASSERT_GT(64, round);
		memset(bufs, POISON, (size_t)ORD_OPS * ORD_CHUNK);
		for (i = 0; i < ORD_OPS; i++) {
			mkop(&ops[i], IOCP_OP_RECV, sv[1], bufs + i * ORD_CHUNK,
			     ORD_CHUNK, i);
			res[i] = -1000;
		}
		ASSERT_EQ(0, submit_n(port, ops, ORD_OPS));
		if (round == 0) {
			for (i = 0; i < ORD_OPS; i++)
				ASSERT_EQ((uint32_t)IOCP_OP_PENDING, ops[i].status);
			EXPECT_EQ((uint32_t)ORD_OPS, nops(port));
			ASSERT_EQ(0, pthread_create(&th, NULL, chunk_writer, &w));
		}
		while (left) {
			n = dq(port, c, 16, 30 * NSEC_PER_SEC);
			ASSERT_LT(0, n);
			for (j = 0; j < n; j++) {
				ASSERT_GT((uint64_t)ORD_OPS, c[j].user_data);
				ASSERT_EQ(-1000LL, res[c[j].user_data]);
				res[c[j].user_data] = res_of(&c[j]);
			}
			left -= n;
			/* The done prefix; the rest cancelled at the end. */
			while (prefix < ORD_OPS && res[prefix] > 0) {
				sum += (size_t)res[prefix];
				prefix++;
			}
			if (!cancelled && off + sum == ORD_TOTAL && prefix < ORD_OPS) {
				uint32_t cnt;
				int r = do_cancel(port, IOCP_CANCEL_FD, 0, sv[1], &cnt);

				ASSERT_TRUE(r == 0 || r == -ENOENT);
				cancelled = true;
			}
		}
		/* In submission order, the buffers hold the stream. */
		for (i = 0; i < prefix; i++) {
			ASSERT_GE((long long)ORD_CHUNK, res[i]);
			memcpy(got + off, bufs + i * ORD_CHUNK, (size_t)res[i]);
			EXPECT_TRUE(is_poison(bufs + i * ORD_CHUNK + res[i],
					      ORD_CHUNK - (size_t)res[i]));
			off += (size_t)res[i];
		}
		ASSERT_GE((size_t)ORD_TOTAL, off);
		for (; i < ORD_OPS; i++) {
			ASSERT_EQ((size_t)ORD_TOTAL, off) TH_LOG("round %d op %zu: %lld", round, i, res[i]);
			EXPECT_EQ(-ECANCELED, res[i]);
			EXPECT_TRUE(is_poison(bufs + i * ORD_CHUNK, ORD_CHUNK));
		}
		TH_LOG("round %d: %zu bytes in %zu ops", round, sum, prefix);
	}
	ASSERT_EQ(0, pthread_join(th, NULL));
	EXPECT_EQ(0, w.err);
	EXPECT_EQ(0, memcmp(got, data, ORD_TOTAL));
	EXPECT_TRUE(no_packet(port));
	EXPECT_EQ(0U, nops(port));
	free(data);
	free(got);
	free(bufs);
	close(sv[0]);
	close(sv[1]);
	close(port);
}

TEST(ordered_pipe_reads)
{
	int port = port_open(), p[2], n, i, got = 0;
	char b1[3], b2[3];
	struct iocp_op ops[2];
	struct iocp_completion c[2];
	long long r[2] = { -1, -1 };

	ASSERT_LE(0, port);
	if (!pipe_rw_ok()) {
		check_pipe_eopnotsupp(_metadata, port);
		close(port);
		SKIP(return, PIPE_SKIP_REASON);
	}
	ASSERT_EQ(0, pipe2(p, O_CLOEXEC));
	memset(b1, POISON, sizeof(b1));
	memset(b2, POISON, sizeof(b2));
	mkop(&ops[0], IOCP_OP_READ, p[0], b1, 3, 0);
	mkop(&ops[1], IOCP_OP_READ, p[0], b2, 3, 1);
	ASSERT_EQ(0, submit_n(port, ops, 2));
	EXPECT_EQ((uint32_t)IOCP_OP_PENDING, ops[0].status);
	EXPECT_EQ((uint32_t)IOCP_OP_PENDING, ops[1].status);
	EXPECT_EQ(2U, nops(port));
	EXPECT_TRUE(no_packet(port));
	ASSERT_EQ(6, write(p[1], "abcdef", 6));
	while (got < 2) {
		n = dq(port, c, 2, PKT_TIMEOUT);
		ASSERT_LT(0, n);
		for (i = 0; i < n; i++) {
			ASSERT_GT(2ULL, c[i].user_data);
			r[c[i].user_data] = res_of(&c[i]);
		}
		got += n;
	}
	EXPECT_EQ(3LL, r[0]);
	EXPECT_EQ(3LL, r[1]);
	EXPECT_EQ(0, memcmp(b1, "abc", 3));
	EXPECT_EQ(0, memcmp(b2, "def", 3));
	EXPECT_EQ(0U, nops(port));
	close(p[0]);
	close(p[1]);
	close(port);
}

/* ------------------------------------------------------------------ */
/* 4. Cancel                                                            */
/* ------------------------------------------------------------------ */

TEST(cancel_ops)
{
	int port = port_open(), sv[2], p[2], i;
	char buf[4][8];
	struct iocp_op op;
	struct iocp_completion c[8];
	struct iocp_cancel_args ca;
	uint32_t cnt, rd;

	ASSERT_LE(0, port);
	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
	rd = reader(p);
	ASSERT_NE((uint32_t)IOCP_OP_NOP, rd);
	/* Nothing to cancel. */
	EXPECT_EQ(-ENOENT, do_cancel(port, IOCP_CANCEL_ALL, 0, 0, NULL));
	/* By user_data. */
	mkop(&op, IOCP_OP_RECV, sv[1], buf[0], 8, 10);
	ASSERT_EQ(0, submit(port, &op));
	ASSERT_EQ((uint32_t)IOCP_OP_PENDING, op.status);
	EXPECT_EQ(-ENOENT, do_cancel(port, IOCP_CANCEL_USER_DATA, 11, 0, NULL));
	EXPECT_EQ(0, do_cancel(port, IOCP_CANCEL_USER_DATA, 10, 0, &cnt));
	EXPECT_EQ(1U, cnt);
	ASSERT_EQ(1, dq(port, c, 8, PKT_TIMEOUT));
	EXPECT_EQ(10ULL, c[0].user_data);
	EXPECT_EQ(-ECANCELED, res_of(&c[0]));
	EXPECT_EQ((uint32_t)IOCP_CF_OP, c[0].flags);
	EXPECT_EQ(-ENOENT, do_cancel(port, IOCP_CANCEL_USER_DATA, 10, 0, NULL));
	EXPECT_EQ(0U, nops(port));
	/* By fd: three on sv[1], one on the pipe. */
	for (i = 0; i < 3; i++) {
		mkop(&op, IOCP_OP_RECV, sv[1], buf[i], 8, 20 + i);
		ASSERT_EQ(0, submit(port, &op));
		ASSERT_EQ((uint32_t)IOCP_OP_PENDING, op.status);
	}
	mkop(&op, rd, p[0], buf[3], 8, 30);
	ASSERT_EQ(0, submit(port, &op));
	ASSERT_EQ((uint32_t)IOCP_OP_PENDING, op.status);
	EXPECT_EQ(4U, nops(port));
	/* Both given: must match both. */
	EXPECT_EQ(-ENOENT, do_cancel(port, IOCP_CANCEL_FD | IOCP_CANCEL_USER_DATA, 30, sv[1], NULL));
	EXPECT_EQ(0, do_cancel(port, IOCP_CANCEL_FD | IOCP_CANCEL_USER_DATA, 21, sv[1], &cnt));
	EXPECT_EQ(1U, cnt);
	ASSERT_EQ(1, dq(port, c, 8, PKT_TIMEOUT));
	EXPECT_EQ(21ULL, c[0].user_data);
	EXPECT_EQ(-ECANCELED, res_of(&c[0]));
	EXPECT_EQ(0, do_cancel(port, IOCP_CANCEL_FD, 0, sv[1], &cnt));
	EXPECT_EQ(2U, cnt);
	ASSERT_EQ(0, dq_n(port, c, 2));
	for (i = 0; i < 2; i++) {
		EXPECT_TRUE(c[i].user_data == 20 || c[i].user_data == 22);
		EXPECT_EQ(-ECANCELED, res_of(&c[i]));
	}
	EXPECT_EQ(-ENOENT, do_cancel(port, IOCP_CANCEL_FD, 0, sv[1], NULL));
	/* The pipe op is untouched; data still reaches it. Then all. */
	EXPECT_EQ(1U, nops(port));
	mkop(&op, IOCP_OP_RECV, sv[1], buf[0], 8, 40);
	ASSERT_EQ(0, submit(port, &op));
	ASSERT_EQ((uint32_t)IOCP_OP_PENDING, op.status);
	EXPECT_EQ(0, do_cancel(port, IOCP_CANCEL_ALL, 0, 0, &cnt));
	EXPECT_EQ(2U, cnt);
	ASSERT_EQ(0, dq_n(port, c, 2));
	EXPECT_EQ(-ECANCELED, res_of(&c[0]));
	EXPECT_EQ(-ECANCELED, res_of(&c[1]));
	EXPECT_TRUE(no_packet(port));
	EXPECT_EQ(0U, nops(port));
	EXPECT_EQ(-ENOENT, do_cancel(port, IOCP_CANCEL_ALL, 0, 0, NULL));
	/* The buffers were not written. */
	for (i = 0; i < 4; i++)
		buf[i][0] = 0;
	ASSERT_EQ(2, write(sv[0], "zz", 2));
	ASSERT_EQ(2, write(p[1], "zz", 2));
	usleep(50000);
	for (i = 0; i < 4; i++)
		EXPECT_EQ(0, buf[i][0]);
	/* A done op cannot be cancelled: ENOENT. */
	mkop(&op, IOCP_OP_NOP, 0, NULL, 0, 50);
	ASSERT_EQ(0, submit(port, &op));
	EXPECT_EQ(-ENOENT, do_cancel(port, IOCP_CANCEL_USER_DATA, 50, 0, NULL));
	ASSERT_EQ(1, dq(port, c, 8, 0));
	EXPECT_EQ(0LL, res_of(&c[0]));
	/* EINVAL and EBADF. */
	EXPECT_EQ(-EINVAL, do_cancel(port, 0, 0, 0, NULL));
	EXPECT_EQ(-EINVAL, do_cancel(port, 0x8, 0, 0, NULL));
	EXPECT_EQ(-EINVAL, do_cancel(port, IOCP_CANCEL_ALL | IOCP_CANCEL_FD, 0, sv[1], NULL));
	EXPECT_EQ(-EINVAL, do_cancel(port, IOCP_CANCEL_ALL | IOCP_CANCEL_USER_DATA, 0, 0, NULL));
	memset(&ca, 0, sizeof(ca));
	ca.flags = IOCP_CANCEL_ALL;
	ca.reserved = 1;
	EXPECT_EQ(-EINVAL, xioctl(port, IOCP_IOC_CANCEL, &ca));
	EXPECT_EQ(-EBADF, do_cancel(port, IOCP_CANCEL_FD, 0, 999, NULL));
	EXPECT_EQ(-EFAULT, xioctl(port, IOCP_IOC_CANCEL, NULL));
	EXPECT_EQ(0U, nops(port));
	close(sv[0]);
	close(sv[1]);
	close(p[0]);
	close(p[1]);
	close(port);
}

struct race_writer {
	int fd;
	sem_t go, done;
	int stop;
	int err;
};

static void *race_writer_fn(void *arg)
{
	struct race_writer *w = arg;

	for (;;) {
		sem_wait(&w->go);
		if (w->stop)
			return NULL;
		if (write(w->fd, "r", 1) != 1)
			w->err = errno;
		sem_post(&w->done);
	}
}

#define RACE_ITERS	2000


TEST_F_TIMEOUT(slow, cancel_race, 300)
{
	int port = port_open(), sv[2], it, won = 0, cancelled = 0, ret;
	struct race_writer w;
	struct iocp_completion c[2];
	struct iocp_op op;
	char buf[4], d;
	pthread_t th;
	uint32_t cnt;

	ASSERT_LE(0, port);
	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
	memset(&w, 0, sizeof(w));
	w.fd = sv[0];
	sem_init(&w.go, 0, 0);
	sem_init(&w.done, 0, 0);
	ASSERT_EQ(0, pthread_create(&th, NULL, race_writer_fn, &w));
	for (it = 0; it < RACE_ITERS; it++) {
		mkop(&op, IOCP_OP_RECV, sv[1], buf, sizeof(buf), 1000 + it);
		ASSERT_EQ(0, submit(port, &op));
		ASSERT_EQ((uint32_t)IOCP_OP_PENDING, op.status);
		sem_post(&w.go);
		if (it & 1)
			sched_yield();
		cnt = POISON_U32;
		ret = do_cancel(port, IOCP_CANCEL_USER_DATA, 1000 + it, 0, &cnt);
		ASSERT_TRUE(ret == 0 || ret == -ENOENT);
		if (!ret)
			ASSERT_EQ(1U, cnt);
		sem_wait(&w.done);
		ASSERT_EQ(1, dq(port, c, 2, PKT_TIMEOUT));
		ASSERT_EQ((uint64_t)(1000 + it), c[0].user_data);
		if (res_of(&c[0]) == 1) {
			won++;
			EXPECT_EQ('r', buf[0]);
		} else {
			ASSERT_EQ(-ECANCELED, res_of(&c[0]));
			ASSERT_EQ(0, ret) TH_LOG("ENOENT but cancelled, it %d", it);
			cancelled++;
			ASSERT_EQ(1, recv(sv[1], &d, 1, MSG_DONTWAIT));
		}
		/* Exactly one packet per op. */
		ASSERT_TRUE(no_packet(port)) TH_LOG("second packet, it %d", it);
		ASSERT_EQ(0U, nops(port));
	}
	w.stop = 1;
	sem_post(&w.go);
	pthread_join(th, NULL);
	EXPECT_EQ(0, w.err);
	ksft_print_msg("cancel race: %d iterations, %d completed, %d cancelled\n",
		       RACE_ITERS, won, cancelled);
	EXPECT_EQ(RACE_ITERS, won + cancelled);
	EXPECT_EQ(-1, recv(sv[1], &d, 1, MSG_DONTWAIT));
	close(sv[0]);
	close(sv[1]);
	close(port);
}

/* ------------------------------------------------------------------ */
/* 5. Shutdown, release, exit, EFAULT                                   */
/* ------------------------------------------------------------------ */

TEST(shutdown_pending)
{
	int port = port_open(), p[2], sv[2], i;
	char pbuf[16], sbuf[3][16];
	struct iocp_completion c;
	struct iocp_stats s;
	struct iocp_op op;
	uint32_t rd;

	ASSERT_LE(0, port);
	rd = reader(p);
	ASSERT_NE((uint32_t)IOCP_OP_NOP, rd);
	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
	memset(pbuf, POISON, sizeof(pbuf));
	memset(sbuf, POISON, sizeof(sbuf));
	mkop(&op, rd, p[0], pbuf, sizeof(pbuf), 1);
	ASSERT_EQ(0, submit(port, &op));
	ASSERT_EQ((uint32_t)IOCP_OP_PENDING, op.status);
	for (i = 0; i < 3; i++) {
		mkop(&op, IOCP_OP_RECV, sv[1], sbuf[i], 16, 2 + i);
		ASSERT_EQ(0, submit(port, &op));
		ASSERT_EQ((uint32_t)IOCP_OP_PENDING, op.status);
	}
	/* And one done whose packet is queued. */
	mkop(&op, IOCP_OP_NOP, 0, NULL, 0, 9);
	ASSERT_EQ(0, submit(port, &op));
	s = stats(port);
	EXPECT_EQ(5U, s.ops);
	EXPECT_EQ(1U, s.queued);
	EXPECT_EQ(0ULL, s.discarded);
	ASSERT_EQ(0, xioctl(port, IOCP_IOC_SHUTDOWN, NULL));
	s = stats(port);
	EXPECT_EQ(0U, s.ops);
	EXPECT_EQ(0U, s.queued);
	EXPECT_EQ(5ULL, s.discarded);
	EXPECT_EQ((uint32_t)IOCP_STATS_SHUTDOWN, s.flags & IOCP_STATS_SHUTDOWN);
	/* The buffers are never written now. */
	ASSERT_EQ(5, write(p[1], "after", 5));
	ASSERT_EQ(5, write(sv[0], "after", 5));
	usleep(100000);
	EXPECT_TRUE(is_poison(pbuf, sizeof(pbuf)));
	EXPECT_TRUE(is_poison(sbuf, sizeof(sbuf)));
	/* The data is still in the pipe and socket. */
	EXPECT_EQ(5, read(p[0], pbuf, sizeof(pbuf)));
	EXPECT_EQ(5, read(sv[1], pbuf, sizeof(pbuf)));
	EXPECT_EQ(-ESHUTDOWN, dq(port, &c, 1, 0));
	mkop(&op, IOCP_OP_NOP, 0, NULL, 0, 10);
	ASSERT_EQ(0, submit(port, &op));
	EXPECT_EQ((uint32_t)IOCP_OP_FAILED, op.status);
	EXPECT_EQ(-ESHUTDOWN, opres(&op));
	mkop(&op, rd, p[0], pbuf, 4, 11);
	ASSERT_EQ(0, submit(port, &op));
	EXPECT_EQ((uint32_t)IOCP_OP_FAILED, op.status);
	EXPECT_EQ(-ESHUTDOWN, opres(&op));
	EXPECT_EQ(0U, nops(port));
	close(p[0]);
	close(p[1]);
	close(sv[0]);
	close(sv[1]);
	close(port);
}

TEST(release_pending)
{
	int port = port_open(), p[2];
	char *buf;
	struct iocp_op op;
	uint32_t rd;

	ASSERT_LE(0, port);
	rd = reader(p);
	ASSERT_NE((uint32_t)IOCP_OP_NOP, rd);
	buf = malloc(64);
	ASSERT_NE(NULL, buf);
	memset(buf, POISON, 64);
	mkop(&op, rd, p[0], buf, 64, 1);
	ASSERT_EQ(0, submit(port, &op));
	ASSERT_EQ((uint32_t)IOCP_OP_PENDING, op.status);
	/* The last close of the port: the op is gone with it. */
	ASSERT_EQ(0, close(port));
	ASSERT_EQ(3, write(p[1], "abc", 3));
	usleep(100000);
	EXPECT_TRUE(is_poison(buf, 64));
	EXPECT_EQ(3, read(p[0], buf, 64));
	free(buf);
	close(p[0]);
	close(p[1]);
}

TEST(exit_with_pending)
{
	int port = port_open(), sv[2], st, i;
	struct iocp_completion c[4];
	pid_t pid;

	ASSERT_LE(0, port);
	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		static char b[2][16];
		struct iocp_op op[2];

		mkop(&op[0], IOCP_OP_RECV, sv[1], b[0], 16, 77);
		mkop(&op[1], IOCP_OP_RECV, sv[1], b[1], 16, 78);
		if (submit_n(port, op, 2))
			_exit(2);
		_exit(op[0].status == IOCP_OP_PENDING &&
		      op[1].status == IOCP_OP_PENDING ? 0 : 1);
	}
	ASSERT_EQ(pid, waitpid(pid, &st, 0));
	ASSERT_TRUE(WIFEXITED(st));
	ASSERT_EQ(0, WEXITSTATUS(st));
	ASSERT_EQ(0, dq_n(port, c, 2));
	EXPECT_EQ(155ULL, c[0].user_data + c[1].user_data);
	for (i = 0; i < 2; i++) {
		EXPECT_TRUE(c[i].user_data == 77 || c[i].user_data == 78);
		EXPECT_EQ(-ECANCELED, res_of(&c[i]));
		EXPECT_EQ((uint32_t)IOCP_CF_OP, c[i].flags);
	}
	EXPECT_TRUE(no_packet(port));
	EXPECT_EQ(0U, nops(port));
	/* The data sent now stays in the socket. */
	ASSERT_EQ(1, write(sv[0], "q", 1));
	EXPECT_EQ(1, recv(sv[1], c, 1, MSG_DONTWAIT));
	close(sv[0]);
	close(sv[1]);
	close(port);
}

TEST(efault_buffers)
{
	int port = port_open(), p[2];
	struct iocp_op op;
	char *m;
	uint32_t st;
	long long r;
	uint32_t rd;

	ASSERT_LE(0, port);
	rd = reader(p);
	ASSERT_NE((uint32_t)IOCP_OP_NOP, rd);
	m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, m);
	ASSERT_EQ(0, munmap(m, 4096));
	/* Data there: the READ into an unmapped page fails at submit. */
	ASSERT_EQ(4, write(p[1], "data", 4));
	mkop(&op, rd, p[0], m, 16, 1);
	ASSERT_EQ(0, submit(port, &op));
	r = finish(port, &op, &st);
	TH_LOG("EFAULT read: status %u", st);
	EXPECT_EQ(-EFAULT, r);
	/* Pending, then data: the packet carries EFAULT. */
	{
		char tmp[8];

		struct pollfd pfd = { .fd = p[0], .events = POLLIN };

		while (poll(&pfd, 1, 0) == 1 && read(p[0], tmp, sizeof(tmp)) > 0)
			;
	}
	mkop(&op, rd, p[0], m, 16, 2);
	ASSERT_EQ(0, submit(port, &op));
	if (op.status == IOCP_OP_PENDING) {
		ASSERT_EQ(4, write(p[1], "more", 4));
	}
	r = finish(port, &op, &st);
	TH_LOG("EFAULT pending read: status %u", st);
	EXPECT_EQ(-EFAULT, r);
	/* A kernel address. */
	mkop(&op, rd, p[0], (void *)0xffff888000000000ULL, 16, 3);
	ASSERT_EQ(0, submit(port, &op));
	EXPECT_EQ(-EFAULT, finish(port, &op, &st));
	/* Bad msghdr and iovec pointers. */
	if (rd == IOCP_OP_READ) {
		mkop(&op, IOCP_OP_READV, p[0], m, 1, 4);
	} else {
		mkop(&op, IOCP_OP_RECVMSG, p[0], m, 0, 4);
	}
	ASSERT_EQ(0, submit(port, &op));
	EXPECT_EQ(-EFAULT, finish(port, &op, &st));
	/* The port still works. */
	mkop(&op, IOCP_OP_NOP, 0, NULL, 0, 5);
	ASSERT_EQ(0, submit(port, &op));
	EXPECT_EQ(0LL, finish(port, &op, &st));
	{
		char buf[8];

		memset(buf, POISON, sizeof(buf));
		mkop(&op, rd, p[0], buf, sizeof(buf), 6);
		ASSERT_EQ(0, submit(port, &op));
		if (op.status == IOCP_OP_PENDING)
			ASSERT_EQ(2, write(p[1], "ok", 2));
		r = finish(port, &op, &st);
		EXPECT_LT(0LL, r);
	}
	EXPECT_TRUE(no_packet(port));
	EXPECT_EQ(0U, nops(port));
	close(p[0]);
	close(p[1]);
	close(port);
}

/* ------------------------------------------------------------------ */
/* 6. 1,000 TCP connections echoed through one port                     */
/* ------------------------------------------------------------------ */

#define ECHO_BUF	32768
#define ECHO_WORKERS	4
#define ECHO_CLIENTS	4
#define ECHO_ACCEPTS	64
#define ECHO_STOP_KEY	0x5709

enum { EV_ACCEPT, EV_RECV, EV_SEND };

struct econn {
	int fd;
	uint32_t len, off;
	/* For diagnostics: the op in flight, bytes echoed, peer port. */
	int ev;
	uint64_t echoed;
	unsigned int peer_port;
	unsigned char buf[ECHO_BUF];
};

struct echo_srv {
	int port, lfd, nconns;
	atomic_int accept_submitted, accepted, closed, errors;
	struct econn **conns;
	int first_err;
};

static void echo_err(struct echo_srv *s, int err)
{
	if (atomic_fetch_add(&s->errors, 1) == 0)
		s->first_err = err;
}

static void echo_close(struct echo_srv *s, struct econn *c)
{
	close(c->fd);
	c->fd = -1;
	atomic_fetch_add(&s->closed, 1);
}

static void echo_submit(struct echo_srv *s, struct econn *c, int idx, int ev)
{
	struct iocp_op op;

	if (ev == EV_RECV)
		mkop(&op, IOCP_OP_RECV, c->fd, c->buf, ECHO_BUF, 0);
	else
		mkop(&op, IOCP_OP_SEND, c->fd, c->buf + c->off, c->len - c->off, 0);
	op.user_data = ((uint64_t)idx << 2) | (uint64_t)ev;
	c->ev = ev;
	if (submit(s->port, &op) || op.status == IOCP_OP_FAILED) {
		echo_err(s, op.status == IOCP_OP_FAILED ? (int)opres(&op) : -1);
		echo_close(s, c);
	}
}

static void echo_accept(struct echo_srv *s)
{
	struct iocp_op op;

	if (atomic_fetch_add(&s->accept_submitted, 1) >= s->nconns)
		return;
	mkop(&op, IOCP_OP_ACCEPT, s->lfd, NULL, 0, EV_ACCEPT);
	op.op_flags = O_CLOEXEC;
	if (submit(s->port, &op) || op.status == IOCP_OP_FAILED)
		echo_err(s, -2);
}

static void *echo_worker(void *arg)
{
	struct echo_srv *s = arg;
	struct iocp_completion c[16];
	int n, i;

	for (;;) {
		/*
		 * The port releases only "concurrency" (the CPU count) workers
		 * at once, LIFO: the others may wait for long, so a timeout
		 * is no error; the stop packets end the loop.
		 */
		n = dq(s->port, c, 16, 10 * NSEC_PER_SEC);
		if (n == -ETIMEDOUT)
			continue;
		if (n < 0) {
			echo_err(s, n);
			return NULL;
		}
		for (i = 0; i < n; i++) {
			long long r = res_of(&c[i]);
			int ev = (int)(c[i].user_data & 3);
			int idx = (int)(c[i].user_data >> 2);
			struct econn *e;

			if (c[i].key == ECHO_STOP_KEY) {
				/* Stops taken for the other workers go back. */
				struct iocp_completion more[16];
				struct iocp_post_args pa;
				int k, m = 0;

				for (k = i + 1; k < n; k++)
					if (c[k].key == ECHO_STOP_KEY) {
						more[m] = c[k];
						/* Kernel-set: zero when posting. */
						more[m].flags = 0;
						more[m++].events = 0;
					}
				if (m) {
					pa.entries = (uintptr_t)more;
					pa.count = (uint32_t)m;
					pa.flags = 0;
					if (xioctl(s->port, IOCP_IOC_POST, &pa))
						echo_err(s, -4);
				}
				return NULL;
			}
			if (ev == EV_ACCEPT) {
				if (r < 0) {
					echo_err(s, (int)r);
					continue;
				}
				idx = atomic_fetch_add(&s->accepted, 1);
				e = malloc(sizeof(*e));
				if (!e || idx >= s->nconns) {
					echo_err(s, -3);
					close((int)r);
					free(e);
					continue;
				}
				e->fd = (int)r;
				e->echoed = 0;
				e->peer_port = 0;
				{
					struct sockaddr_in pa;
					socklen_t pl = sizeof(pa);

					if (!getpeername(e->fd, (struct sockaddr *)&pa, &pl))
						e->peer_port = ntohs(pa.sin_port);
				}
				s->conns[idx] = e;
				echo_accept(s);
				echo_submit(s, e, idx, EV_RECV);
				continue;
			}
			e = s->conns[idx];
			if (r < 0) {
				echo_err(s, (int)r);
				echo_close(s, e);
			} else if (ev == EV_RECV) {
				if (r == 0) {
					echo_close(s, e);
					continue;
				}
				e->len = (uint32_t)r;
				e->off = 0;
				echo_submit(s, e, idx, EV_SEND);
			} else {
				e->off += (uint32_t)r;
				e->echoed += (uint64_t)r;
				echo_submit(s, e, idx, e->off < e->len ? EV_SEND : EV_RECV);
			}
		}
	}
}

static unsigned char echo_tbl[65536];

/* Byte @i of connection @id's stream. */
static inline unsigned char echo_byte(uint32_t id, uint64_t i)
{
	return echo_tbl[(i + id * 7919ULL) & 0xffff] ^ (unsigned char)((i >> 16) * 37 + id);
}

struct cconn {
	int fd;
	uint32_t id;
	uint64_t sent, rcvd;
	bool done;
};

struct echo_cli {
	struct sockaddr_in addr;
	int first, count;
	uint64_t size;
	int err;
	char msg[512];
	uint64_t bytes;
};

static void *echo_client(void *arg)
{
	struct echo_cli *cl = arg;
	struct cconn *cc = calloc((size_t)cl->count, sizeof(*cc));
	struct pollfd *pf = calloc((size_t)cl->count, sizeof(*pf));
	unsigned char *buf = malloc(65536);
	int i, left = cl->count, n;

	if (!cc || !pf || !buf) {
		cl->err = ENOMEM;
		goto out;
	}
	for (i = 0; i < cl->count; i++) {
		cc[i].id = (uint32_t)(cl->first + i);
		cc[i].fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (cc[i].fd < 0 ||
		    (connect(cc[i].fd, (struct sockaddr *)&cl->addr, sizeof(cl->addr)) &&
		     errno != EINPROGRESS)) {
			cl->err = errno;
			snprintf(cl->msg, sizeof(cl->msg), "socket/connect %d", i);
			goto out;
		}
	}
	while (left) {
		for (i = 0; i < cl->count; i++) {
			pf[i].fd = cc[i].done ? -1 : cc[i].fd;
			pf[i].events = POLLIN | (cc[i].sent < cl->size ? POLLOUT : 0);
			pf[i].revents = 0;
		}
		n = poll(pf, (nfds_t)cl->count, 30000);
		if (n <= 0) {
			cl->err = n ? errno : ETIMEDOUT;
			{
				int len = snprintf(cl->msg, sizeof(cl->msg),
						   "poll: no progress for 30 s, %d left:", left);
				int j, shown = 0;

				for (j = 0; j < cl->count && shown < 8; j++) {
					struct sockaddr_in la;
					socklen_t ll = sizeof(la);

					if (cc[j].done)
						continue;
					la.sin_port = 0;
					getsockname(cc[j].fd, (struct sockaddr *)&la, &ll);
					len += snprintf(cl->msg + len, sizeof(cl->msg) - (size_t)len,
							" [conn %u port %u sent %llu rcvd %llu]",
							cc[j].id, ntohs(la.sin_port),
							(unsigned long long)cc[j].sent,
							(unsigned long long)cc[j].rcvd);
					shown++;
					if (len >= (int)sizeof(cl->msg) - 64)
						break;
				}
			}
			goto out;
		}
		for (i = 0; i < cl->count; i++) {
			struct cconn *c = &cc[i];
			ssize_t r;
			uint64_t k;

			if (!pf[i].revents)
				continue;
			if ((pf[i].revents & POLLOUT) && c->sent < cl->size) {
				size_t want = cl->size - c->sent < 65536 ? cl->size - c->sent : 65536;

				for (k = 0; k < want; k++)
					buf[k] = echo_byte(c->id, c->sent + k);
				r = send(c->fd, buf, want, MSG_NOSIGNAL);
				if (r < 0 && errno != EAGAIN) {
					cl->err = errno;
					snprintf(cl->msg, sizeof(cl->msg), "send conn %u", c->id);
					goto out;
				}
				if (r > 0)
					c->sent += (uint64_t)r;
			}
			if (pf[i].revents & (POLLIN | POLLERR | POLLHUP)) {
				r = recv(c->fd, buf, 65536, 0);
				if (r < 0 && errno == EAGAIN)
					continue;
				if (r <= 0) {
					cl->err = r ? errno : EPIPE;
					snprintf(cl->msg, sizeof(cl->msg),
						 "recv conn %u at %llu: %zd", c->id,
						 (unsigned long long)c->rcvd, r);
					goto out;
				}
				for (k = 0; k < (uint64_t)r; k++) {
					if (buf[k] != echo_byte(c->id, c->rcvd + k)) {
						cl->err = EBADMSG;
						snprintf(cl->msg, sizeof(cl->msg),
							 "conn %u: byte %llu differs", c->id,
							 (unsigned long long)(c->rcvd + k));
						goto out;
					}
				}
				c->rcvd += (uint64_t)r;
				cl->bytes += (uint64_t)r;
				if (c->rcvd > cl->size) {
					cl->err = EMSGSIZE;
					snprintf(cl->msg, sizeof(cl->msg), "conn %u: too much", c->id);
					goto out;
				}
				if (c->rcvd == cl->size) {
					c->done = true;
					close(c->fd);
					c->fd = -1;
					left--;
				}
			}
		}
	}
out:
	if (cc)
		for (i = 0; i < cl->count; i++)
			if (cc[i].fd > 0)
				close(cc[i].fd);
	free(cc);
	free(pf);
	free(buf);
	return NULL;
}

static uint64_t env_u64(const char *name, uint64_t def)
{
	const char *v = getenv(name);

	return v && *v ? strtoull(v, NULL, 0) : def;
}

TEST_F_TIMEOUT(slow, echo_1000, 3600)
{
	int nconns = (int)env_u64("IOCP_OPS_ECHO_CONNS", 1000);
	uint64_t size = env_u64("IOCP_OPS_ECHO_BYTES", 1 << 20);
	struct echo_cli cl[ECHO_CLIENTS];
	pthread_t wt[ECHO_WORKERS], ct[ECHO_CLIENTS];
	struct iocp_completion stop[ECHO_WORKERS];
	struct iocp_post_args pa;
	struct echo_srv s;
	struct rlimit rl;
	uint64_t t0, t1, total = 0;
	int i;

	rl.rlim_cur = rl.rlim_max = 4 * (rlim_t)nconns + 256;
	ASSERT_EQ(0, setrlimit(RLIMIT_NOFILE, &rl));
	pattern(echo_tbl, sizeof(echo_tbl), 555);
	memset(&s, 0, sizeof(s));
	s.nconns = nconns;
	s.port = port_open();
	ASSERT_LE(0, s.port);
	s.conns = calloc((size_t)nconns, sizeof(*s.conns));
	ASSERT_NE(NULL, s.conns);
	s.lfd = tcp_listener(&cl[0].addr, 4096);
	ASSERT_LE(0, s.lfd);
	for (i = 0; i < ECHO_ACCEPTS && i < nconns; i++)
		echo_accept(&s);
	ASSERT_EQ(0, atomic_load(&s.errors));
	for (i = 0; i < ECHO_WORKERS; i++)
		ASSERT_EQ(0, pthread_create(&wt[i], NULL, echo_worker, &s));
	t0 = now_ns();
	for (i = 0; i < ECHO_CLIENTS; i++) {
		cl[i].addr = cl[0].addr;
		cl[i].first = nconns * i / ECHO_CLIENTS;
		cl[i].count = nconns * (i + 1) / ECHO_CLIENTS - cl[i].first;
		cl[i].size = size;
		cl[i].err = 0;
		cl[i].bytes = 0;
		cl[i].msg[0] = 0;
		ASSERT_EQ(0, pthread_create(&ct[i], NULL, echo_client, &cl[i]));
	}
	for (i = 0; i < ECHO_CLIENTS; i++) {
		pthread_join(ct[i], NULL);
		total += cl[i].bytes;
	}
	t1 = now_ns();
	/* Wait for the server to see every connection closed. */
	for (i = 0; i < 1000 && atomic_load(&s.closed) < nconns; i++)
		usleep(10000);
	memset(stop, 0, sizeof(stop));
	for (i = 0; i < ECHO_WORKERS; i++)
		stop[i].key = ECHO_STOP_KEY;
	pa.entries = (uintptr_t)stop;
	pa.count = ECHO_WORKERS;
	pa.flags = 0;
	ksft_print_msg("echo: %d connections x %llu bytes, %llu bytes echoed, %.2f s, %.1f MiB/s\n",
		       nconns, (unsigned long long)size, (unsigned long long)total,
		       (double)(t1 - t0) / 1e9,
		       (double)total / 1048576.0 / ((double)(t1 - t0) / 1e9));
	ASSERT_EQ(0, xioctl(s.port, IOCP_IOC_POST, &pa));
	for (i = 0; i < ECHO_WORKERS; i++)
		ASSERT_EQ(0, join_ms(wt[i], 60000));
	for (i = 0; i < ECHO_CLIENTS; i++) {
		EXPECT_EQ(0, cl[i].err) TH_LOG("client %d: %s", i, cl[i].msg);
	}
	/* Server connections not closed: what each was doing. */
	for (i = 0; i < atomic_load(&s.accepted) && i < nconns; i++) {
		struct econn *e = s.conns[i];

		if (e && e->fd >= 0)
			TH_LOG("server conn %d: peer port %u, op %s, len %u off %u, echoed %llu",
			       i, e->peer_port, e->ev == EV_RECV ? "RECV" : "SEND",
			       e->len, e->off, (unsigned long long)e->echoed);
	}
	EXPECT_EQ((uint64_t)nconns * size, total);
	EXPECT_EQ(0, atomic_load(&s.errors)) TH_LOG("first server error %d", s.first_err);
	EXPECT_EQ(nconns, atomic_load(&s.accepted));
	EXPECT_EQ(nconns, atomic_load(&s.closed));
	EXPECT_EQ(0U, nops(s.port));
	for (i = 0; i < nconns; i++)
		free(s.conns[i]);
	free(s.conns);
	close(s.lfd);
	close(s.port);
}

/* ------------------------------------------------------------------ */
/* 7. Counting and limits                                               */
/* ------------------------------------------------------------------ */

TEST(ops_count_and_max_ops)
{
	int port = port_open(), sv[2];
	struct iocp_completion c[4];
	struct iocp_config cfg;
	char buf[3][8];
	struct iocp_op op;
	uint32_t cnt;

	ASSERT_LE(0, port);
	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
	memset(&cfg, POISON, sizeof(cfg));
	ASSERT_EQ(0, xioctl(port, IOCP_IOC_GET_CONFIG, &cfg));
	EXPECT_EQ((uint32_t)IOCP_DEFAULT_MAX_OPS, cfg.max_ops);
	EXPECT_EQ(0U, nops(port));
	/* QUEUED counts until dequeued; DONE and FAILED never count. */
	mkop(&op, IOCP_OP_NOP, 0, NULL, 0, 1);
	ASSERT_EQ(0, submit(port, &op));
	EXPECT_EQ(1U, nops(port));
	mkop(&op, IOCP_OP_NOP, 0, NULL, 0, 2);
	op.flags = IOCP_OPF_SKIP_ON_SUCCESS;
	ASSERT_EQ(0, submit(port, &op));
	EXPECT_EQ(1U, nops(port));
	mkop(&op, IOCP_OP_RECV, 999, buf[0], 8, 3);
	ASSERT_EQ(0, submit(port, &op));
	EXPECT_EQ(1U, nops(port));
	mkop(&op, IOCP_OP_RECV, sv[1], buf[0], 8, 4);
	ASSERT_EQ(0, submit(port, &op));
	EXPECT_EQ(2U, nops(port));
	ASSERT_EQ(1, dq(port, c, 4, 0));
	EXPECT_EQ(1U, nops(port));
	/* Completed but not dequeued: still counts. */
	ASSERT_EQ(1, write(sv[0], "x", 1));
	ASSERT_EQ(0, usleep(50000));
	EXPECT_EQ(1U, nops(port));
	ASSERT_EQ(1, dq(port, c, 4, PKT_TIMEOUT));
	EXPECT_EQ(0U, nops(port));

	/* max_ops 2: the third op fails with EAGAIN, no packet. */
	cfg.max_ops = 2;
	ASSERT_EQ(0, xioctl(port, IOCP_IOC_SET_CONFIG, &cfg));
	mkop(&op, IOCP_OP_RECV, sv[1], buf[0], 8, 10);
	ASSERT_EQ(0, submit(port, &op));
	EXPECT_EQ((uint32_t)IOCP_OP_PENDING, op.status);
	mkop(&op, IOCP_OP_RECV, sv[1], buf[1], 8, 11);
	ASSERT_EQ(0, submit(port, &op));
	EXPECT_EQ((uint32_t)IOCP_OP_PENDING, op.status);
	EXPECT_EQ(2U, nops(port));
	mkop(&op, IOCP_OP_RECV, sv[1], buf[2], 8, 12);
	ASSERT_EQ(0, submit(port, &op));
	EXPECT_EQ((uint32_t)IOCP_OP_FAILED, op.status);
	EXPECT_EQ(-EAGAIN, opres(&op));
	mkop(&op, IOCP_OP_NOP, 0, NULL, 0, 13);
	ASSERT_EQ(0, submit(port, &op));
	EXPECT_EQ((uint32_t)IOCP_OP_FAILED, op.status);
	EXPECT_EQ(-EAGAIN, opres(&op));
	EXPECT_EQ(2U, nops(port));
	EXPECT_TRUE(no_packet(port));
	/* A cancelled op counts until its packet is dequeued. */
	ASSERT_EQ(0, do_cancel(port, IOCP_CANCEL_USER_DATA, 10, 0, &cnt));
	EXPECT_EQ(2U, nops(port));
	mkop(&op, IOCP_OP_NOP, 0, NULL, 0, 14);
	ASSERT_EQ(0, submit(port, &op));
	EXPECT_EQ(-EAGAIN, opres(&op));
	ASSERT_EQ(1, dq(port, c, 4, PKT_TIMEOUT));
	EXPECT_EQ(10ULL, c[0].user_data);
	EXPECT_EQ(1U, nops(port));
	mkop(&op, IOCP_OP_NOP, 0, NULL, 0, 15);
	ASSERT_EQ(0, submit(port, &op));
	EXPECT_EQ((uint32_t)IOCP_OP_QUEUED, op.status);
	EXPECT_EQ(2U, nops(port));
	ASSERT_EQ(1, dq(port, c, 4, 0));
	ASSERT_EQ(0, do_cancel(port, IOCP_CANCEL_ALL, 0, 0, &cnt));
	EXPECT_EQ(1U, cnt);
	ASSERT_EQ(1, dq(port, c, 4, PKT_TIMEOUT));
	EXPECT_EQ(0U, nops(port));
	/* Bounds: 0 is the default; above the limit EINVAL. */
	EXPECT_EQ(-EINVAL, set_max_ops(port, IOCP_MAX_OPS_LIMIT + 1));
	EXPECT_EQ(0, set_max_ops(port, IOCP_MAX_OPS_LIMIT));
	EXPECT_EQ(0, set_max_ops(port, 0));
	memset(&cfg, POISON, sizeof(cfg));
	ASSERT_EQ(0, xioctl(port, IOCP_IOC_GET_CONFIG, &cfg));
	EXPECT_EQ((uint32_t)IOCP_DEFAULT_MAX_OPS, cfg.max_ops);
	/* fdinfo. */
	{
		char path[64], text[1024];
		ssize_t n;
		int fd;

		mkop(&op, IOCP_OP_NOP, 0, NULL, 0, 16);
		ASSERT_EQ(0, submit(port, &op));
		snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", port);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		ASSERT_LE(0, fd);
		n = read(fd, text, sizeof(text) - 1);
		ASSERT_LT(0, n);
		text[n] = 0;
		close(fd);
		EXPECT_NE(NULL, strstr(text, "iocp-ops:\t1\n")) TH_LOG("%s", text);
		EXPECT_NE(NULL, strstr(text, "iocp-max-ops:\t65536\n")) TH_LOG("%s", text);
		ASSERT_EQ(1, dq(port, c, 4, 0));
	}
	close(sv[0]);
	close(sv[1]);
	close(port);
}

/* ------------------------------------------------------------------ */
/* 8. SCM_RIGHTS: the dequeuer is another process                       */
/* ------------------------------------------------------------------ */

struct child_pkt {
	uint64_t user_data;
	int64_t result;
	uint32_t flags;
	int is_sock;
	int cloexec;
	int peer_ok;
};

static int send_fd(int sock, int fd)
{
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { (void *)"F", 1 };
	struct msghdr mh = { 0 };
	struct cmsghdr *cm;

	memset(cbuf, 0, sizeof(cbuf));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = cbuf;
	mh.msg_controllen = sizeof(cbuf);
	cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	return sendmsg(sock, &mh, 0) == 1 ? 0 : -1;
}

static int recv_fd(int sock)
{
	char cbuf[CMSG_SPACE(sizeof(int))], b;
	struct iovec iov = { &b, 1 };
	struct msghdr mh = { 0 };
	struct cmsghdr *cm;
	int fd;

	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = cbuf;
	mh.msg_controllen = sizeof(cbuf);
	if (recvmsg(sock, &mh, MSG_CMSG_CLOEXEC) != 1)
		return -1;
	cm = CMSG_FIRSTHDR(&mh);
	if (!cm || cm->cmsg_type != SCM_RIGHTS)
		return -1;
	memcpy(&fd, CMSG_DATA(cm), sizeof(int));
	return fd;
}

/* The child: gets the port, dequeues 3 packets, reports them. */
static void scm_child(int ctl)
{
	struct child_pkt out[3];
	struct iocp_completion c;
	int port = recv_fd(ctl), i;

	memset(out, 0, sizeof(out));
	if (port < 0)
		_exit(10);
	for (i = 0; i < 3; i++) {
		if (dq(port, &c, 1, 20 * NSEC_PER_SEC) != 1)
			_exit(11 + i);
		out[i].user_data = c.user_data;
		out[i].result = (int64_t)c.result;
		out[i].flags = c.flags;
		if (c.user_data == 2 && (int64_t)c.result >= 0) {
			struct stat st;
			int fd = (int)c.result;
			char b[4] = { 0 };

			out[i].is_sock = !fstat(fd, &st) && S_ISSOCK(st.st_mode);
			out[i].cloexec = fcntl(fd, F_GETFD) & FD_CLOEXEC;
			/* The accepted connection works in the child. */
			out[i].peer_ok = read(fd, b, 4) == 4 && !memcmp(b, "peer", 4) &&
					 write(fd, "back", 4) == 4;
			close(fd);
		}
	}
	if (write(ctl, out, sizeof(out)) != (ssize_t)sizeof(out))
		_exit(20);
	_exit(0);
}

TEST(scm_rights_dequeuer)
{
	int ctl[2], sv[2], port, l, cfd, st, i;
	struct child_pkt in[3];
	struct sockaddr_in a;
	char rbuf[16], b[4];
	struct iocp_op ops[3];
	pid_t pid;

	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ctl));
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		close(ctl[0]);
		scm_child(ctl[1]);
	}
	close(ctl[1]);
	/* The port is created after the fork: the child has it only by SCM. */
	port = port_open();
	ASSERT_LE(0, port);
	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
	l = tcp_listener(&a, 4);
	ASSERT_LE(0, l);
	memset(rbuf, POISON, sizeof(rbuf));
	mkop(&ops[0], IOCP_OP_RECV, sv[1], rbuf, sizeof(rbuf), 1);
	mkop(&ops[1], IOCP_OP_ACCEPT, l, NULL, 0, 2);
	ops[1].op_flags = O_CLOEXEC;
	mkop(&ops[2], IOCP_OP_NOP, 0, NULL, 0, 3);
	ASSERT_EQ(0, submit_n(port, ops, 3));
	EXPECT_EQ((uint32_t)IOCP_OP_PENDING, ops[0].status);
	EXPECT_EQ((uint32_t)IOCP_OP_PENDING, ops[1].status);
	EXPECT_EQ((uint32_t)IOCP_OP_QUEUED, ops[2].status);
	ASSERT_EQ(0, send_fd(ctl[0], port));
	/* Complete them: the child dequeues. */
	ASSERT_EQ(5, write(sv[0], "hello", 5));
	cfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ASSERT_EQ(0, connect(cfd, (struct sockaddr *)&a, sizeof(a)));
	ASSERT_EQ(4, write(cfd, "peer", 4));
	ASSERT_EQ((ssize_t)sizeof(in), read(ctl[0], in, sizeof(in)));
	ASSERT_EQ(pid, waitpid(pid, &st, 0));
	ASSERT_TRUE(WIFEXITED(st));
	EXPECT_EQ(0, WEXITSTATUS(st));
	for (i = 0; i < 3; i++) {
		EXPECT_EQ((uint32_t)IOCP_CF_OP, in[i].flags);
		switch (in[i].user_data) {
		case 1:
			EXPECT_EQ(5, in[i].result);
			break;
		case 2:
			EXPECT_LE(0, in[i].result);
			EXPECT_TRUE(in[i].is_sock);
			EXPECT_EQ(FD_CLOEXEC, in[i].cloexec);
			EXPECT_TRUE(in[i].peer_ok);
			break;
		case 3:
			EXPECT_EQ(0, in[i].result);
			break;
		default:
			EXPECT_TRUE(0) TH_LOG("user_data %llu", (unsigned long long)in[i].user_data);
		}
	}
	/* The RECV wrote into the parent's (submitter's) buffer. */
	EXPECT_EQ(0, memcmp(rbuf, "hello", 5));
	EXPECT_TRUE(is_poison(rbuf + 5, sizeof(rbuf) - 5));
	EXPECT_EQ(4, read(cfd, b, 4));
	EXPECT_EQ(0, memcmp(b, "back", 4));
	EXPECT_EQ(0U, nops(port));
	close(cfd);
	close(l);
	close(sv[0]);
	close(sv[1]);
	close(ctl[0]);
	close(port);
}

TEST_HARNESS_MAIN
