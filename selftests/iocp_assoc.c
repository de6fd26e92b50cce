// SPDX-License-Identifier: GPL-2.0
/*
 * Selftests for file associations of /dev/iocp: IOCP_IOC_ASSOCIATE,
 * IOCP_IOC_MODIFY and IOCP_IOC_DISSOCIATE, and the readiness packets they
 * produce.
 *
 * Covered: the events of every kind of pollable file (TCP, UDP, UNIX
 * stream and datagram sockets, pipes, FIFOs, eventfd, timerfd, signalfd,
 * pidfd, inotify, a pty, another port); one-shot and persistent
 * (edge-triggered, coalescing) associations; MODIFY and DISSOCIATE purging
 * queued packets and changing keys atomically; every error; the file
 * reference an association holds; POLLFREE of a signalfd whose process
 * went away; 10,000 associations; races of associate/modify/dissociate/
 * close against events and dequeues; spurious readiness packets; a packet
 * held in the middle of its delivery (a userfaultfd page) against events,
 * MODIFY, DISSOCIATE and SHUTDOWN; readiness packets under the concurrency
 * limit; the fields of a readiness packet; fdinfo.
 *
 * Style as in iocp_test.c: outputs are poisoned (0xa5) before a call and
 * every field is checked after it; "nothing more" is proven by a DEQUEUE
 * with timeout 0 that gives ETIMEDOUT; a thread that must stay blocked is
 * proven so by a timed join that times out (BLOCKED_MS), a thread that must
 * wake by a timed join that succeeds within a generous bound (WAKE_MS: the
 * guests may run under TCG emulation); GET_STATS is polled until a state
 * is reached. No test asserts speed, only correctness. Helper threads never
 * use ASSERT/EXPECT; they record what they saw and the main thread checks.
 *
 * The ioctls are used raw, through the small t_assoc()/t_modify()/
 * t_dissoc() helpers below, not through the library.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <linux/iocp.h>
#include <linux/userfaultfd.h>
#include "iocp.h"

/* As in iocp_test.c: the harness itself is not -Wextra clean. */
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wclobbered"
#include "kselftest_harness.h"
#include "iocp_util.h"

#ifndef TIOCGPTPEER
#define TIOCGPTPEER		_IO('T', 0x41)
#endif

/* A thread that must stay blocked must not return within this. */
#define BLOCKED_MS		200
/* A thread or event that must come must do so within this (TCG is slow). */
#define WAKE_MS			3000
#define WAKE_NS			(WAKE_MS * NSEC_PER_MSEC)
/* Bound for polling GET_STATS or a flag until a state is reached. */
#define STATE_WAIT_MS		5000
/* Time given to asynchronous network/tty work before "nothing more". */
#define SETTLE_MS		50

#define POISON_BYTE		0xa5
#define POISON_U32		0xa5a5a5a5U

#define EV_IN			((__u32)IOCP_POLLIN)
#define EV_PRI			((__u32)IOCP_POLLPRI)
#define EV_OUT			((__u32)IOCP_POLLOUT)
#define EV_ERR			((__u32)IOCP_POLLERR)
#define EV_HUP			((__u32)IOCP_POLLHUP)
#define EV_RDHUP		((__u32)IOCP_POLLRDHUP)
#define EV_ALL			(EV_IN | EV_PRI | EV_OUT | EV_ERR | EV_HUP | EV_RDHUP)

/* ------------------------------------------------------------------ */
/* Small helpers                                                        */
/* ------------------------------------------------------------------ */

static pid_t sys_gettid(void)
{
	return (pid_t)syscall(SYS_gettid);
}

static int ld(const int *p)
{
	return __atomic_load_n(p, __ATOMIC_SEQ_CST);
}

static void st(int *p, int v)
{
	__atomic_store_n(p, v, __ATOMIC_SEQ_CST);
}

/*
 * The blocking awareness of the port (iocp_blocking.c) would count a
 * helper thread waiting on our semaphores as blocked and release another
 * thread in its place; these tests are about readiness, so it is off.
 */
static int test_port(unsigned int concurrency)
{
	struct iocp_config cfg;
	int fd, ret;

	fd = iocp_create(concurrency);
	if (fd < 0)
		return fd;
	ret = iocp_get_config(fd, &cfg);
	if (!ret) {
		cfg.flags |= IOCP_CONFIG_IGNORE_BLOCKING;
		ret = iocp_set_config(fd, &cfg);
	}
	if (ret) {
		close(fd);
		return ret;
	}
	return fd;
}

/* ASSOCIATE, MODIFY or DISSOCIATE with every field given; 0 or -errno. */
static int assoc_cmd(int port, unsigned long cmd, int fd, uint64_t key,
		     uint32_t events, uint32_t flags, uint32_t reserved)
{
	struct iocp_assoc_args a;

	memset(&a, POISON_BYTE, sizeof(a));
	a.key = key;
	a.fd = (__u32)fd;
	a.events = events;
	a.flags = flags;
	a.reserved = reserved;
	return xioctl(port, cmd, &a);
}

static int t_assoc(int port, int fd, uint64_t key, uint32_t events,
		   uint32_t flags)
{
	return assoc_cmd(port, IOCP_IOC_ASSOCIATE, fd, key, events, flags, 0);
}

static int t_modify(int port, int fd, uint64_t key, uint32_t events,
		    uint32_t flags)
{
	return assoc_cmd(port, IOCP_IOC_MODIFY, fd, key, events, flags, 0);
}

static int t_dissoc(int port, int fd)
{
	return assoc_cmd(port, IOCP_IOC_DISSOCIATE, fd, 0, 0, 0, 0);
}

/* Raw DEQUEUE; returns >= 0 or -errno, *count gets args.count. */
static int dq(int fd, struct iocp_completion *entries, uint32_t max,
	      uint32_t min, uint64_t timeout_ns, uint32_t *count)
{
	struct iocp_dequeue_args args;
	int ret;

	memset(&args, 0, sizeof(args));
	args.entries = (uintptr_t)entries;
	args.timeout_ns = timeout_ns;
	args.max = max;
	args.min = min;
	args.count = POISON_U32;
	ret = xioctl(fd, IOCP_IOC_DEQUEUE, &args);
	if (count)
		*count = args.count;
	return ret;
}

/* Dequeue one packet into a poisoned @e: 1, or -errno (-EPROTO: count != 1). */
static int get1(int port, struct iocp_completion *e, uint64_t timeout_ns)
{
	uint32_t count;
	int ret;

	memset(e, POISON_BYTE, sizeof(*e));
	ret = dq(port, e, 1, 1, timeout_ns, &count);
	if (ret < 0)
		return ret;
	return count == 1 ? 1 : -EPROTO;
}

static int get_stats(int fd, struct iocp_stats *s)
{
	memset(s, POISON_BYTE, sizeof(*s));
	return iocp_get_stats(fd, s);
}

static int get_config(int fd, struct iocp_config *cfg)
{
	memset(cfg, POISON_BYTE, sizeof(*cfg));
	return xioctl(fd, IOCP_IOC_GET_CONFIG, cfg);
}

/* Read-modify-write of max_assoc; 0 or -errno. */
static int set_max_assoc(int fd, uint32_t max)
{
	struct iocp_config cfg;
	int ret = get_config(fd, &cfg);

	if (ret)
		return ret;
	cfg.max_assoc = max;
	return xioctl(fd, IOCP_IOC_SET_CONFIG, &cfg);
}

static bool is_poison(const void *p, size_t len)
{
	const unsigned char *c = p;
	size_t i;

	for (i = 0; i < len; i++)
		if (c[i] != POISON_BYTE)
			return false;
	return true;
}

/* Poll GET_STATS until the u32 at @off equals @want, at most STATE_WAIT_MS. */
static bool wait_stat(int fd, size_t off, uint32_t want)
{
	uint64_t deadline = now_ns() + STATE_WAIT_MS * NSEC_PER_MSEC;
	struct iocp_stats s;
	uint32_t v;

	do {
		if (get_stats(fd, &s))
			return false;
		memcpy(&v, (char *)&s + off, sizeof(v));
		if (v == want)
			return true;
		usleep(1000);
	} while (now_ns() < deadline);
	return false;
}

#define WAIT_STAT(fd, field, want) \
	wait_stat(fd, offsetof(struct iocp_stats, field), want)

static uint32_t stat_u32(int fd, size_t off)
{
	struct iocp_stats s;
	uint32_t v;

	if (get_stats(fd, &s))
		return POISON_U32;
	memcpy(&v, (char *)&s + off, sizeof(v));
	return v;
}

#define STAT(fd, field) stat_u32(fd, offsetof(struct iocp_stats, field))

static void settle(void)
{
	usleep(SETTLE_MS * 1000);
}

/* poll() one fd: its revents, 0 on timeout, -1 on error. */
static int poll1(int fd, short events, int ms)
{
	struct pollfd p = { .fd = fd, .events = events };
	int ret = poll(&p, 1, ms);

	if (ret < 0)
		return -1;
	return ret ? p.revents : 0;
}

/*
 * Dequeue one packet within @timeout_ns: it must be a readiness packet of
 * @key with exactly @events, user_data 0 and result 0.
 */
static void expect_ready_(struct __test_metadata *_metadata, int line,
			  int port, uint64_t key, uint32_t events,
			  uint64_t timeout_ns)
{
	struct iocp_completion e;
	int ret = get1(port, &e, timeout_ns);

	EXPECT_EQ(1, ret)
		TH_LOG("line %d: no readiness packet (key %#llx events %#x): %s",
		       line, (unsigned long long)key, events, strerror(-ret));
	if (ret != 1)
		return;
	EXPECT_EQ((__u64)key, e.key)
		TH_LOG("line %d: key %#llx, want %#llx (events %#x)", line,
		       (unsigned long long)e.key, (unsigned long long)key,
		       e.events);
	EXPECT_EQ(events, e.events)
		TH_LOG("line %d: events %#x, want %#x", line, e.events, events);
	EXPECT_EQ((__u32)IOCP_CF_READINESS, e.flags) TH_LOG("line %d", line);
	EXPECT_EQ(0ULL, e.user_data) TH_LOG("line %d", line);
	EXPECT_EQ(0ULL, e.result) TH_LOG("line %d", line);
}

#define EXPECT_READY(port, key, events, timeout_ns) \
	expect_ready_(_metadata, __LINE__, port, key, events, timeout_ns)

/* A DEQUEUE with timeout 0 finds nothing and writes nothing. */
static void expect_none_(struct __test_metadata *_metadata, int line, int port)
{
	struct iocp_completion e;
	int ret = get1(port, &e, 0);

	EXPECT_EQ(-ETIMEDOUT, ret)
		TH_LOG("line %d: unexpected packet: ret %d key %#llx flags %#x events %#x",
		       line, ret, (unsigned long long)e.key, e.flags, e.events);
	if (ret == -ETIMEDOUT)
		EXPECT_TRUE(is_poison(&e, sizeof(e)))
			TH_LOG("line %d: ETIMEDOUT but the entry was written", line);
}

#define EXPECT_NONE(port) expect_none_(_metadata, __LINE__, port)

/* Bring the loopback interface up (the guest has no network setup). */
static int lo_up(void)
{
	struct ifreq ifr;
	int s, ret = 0;

	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -errno;
	memset(&ifr, 0, sizeof(ifr));
	strcpy(ifr.ifr_name, "lo");
	if (ioctl(s, SIOCGIFFLAGS, &ifr)) {
		ret = -errno;
	} else if (!(ifr.ifr_flags & IFF_UP)) {
		ifr.ifr_flags |= IFF_UP;
		if (ioctl(s, SIOCSIFFLAGS, &ifr))
			ret = -errno;
	}
	close(s);
	return ret;
}

static void loopback_addr(struct sockaddr_in *sa)
{
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa->sin_port = 0;
}

/* A socket of @type bound to 127.0.0.1 on a free port, its address in @sa. */
static int bound_socket(int type, struct sockaddr_in *sa)
{
	socklen_t len = sizeof(*sa);
	int s = socket(AF_INET, type | SOCK_CLOEXEC, 0);

	if (s < 0)
		return -errno;
	loopback_addr(sa);
	if (bind(s, (struct sockaddr *)sa, sizeof(*sa)) ||
	    getsockname(s, (struct sockaddr *)sa, &len)) {
		int err = -errno;

		close(s);
		return err;
	}
	return s;
}

/* Send @val and, if @fd >= 0, the descriptor @fd over a UNIX socket. */
static int send_fd(int sock, int fd, int val)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = { .iov_base = &val, .iov_len = sizeof(val) };
	struct msghdr msg;
	struct cmsghdr *c;

	memset(&msg, 0, sizeof(msg));
	memset(&u, 0, sizeof(u));
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	if (fd >= 0) {
		msg.msg_control = u.buf;
		msg.msg_controllen = sizeof(u.buf);
		c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	return sendmsg(sock, &msg, 0) == (ssize_t)sizeof(val) ? 0 : -1;
}

/* Receive what send_fd() sent: the descriptor (or -1), @val in *val. */
static int recv_fd(int sock, int *val)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = { .iov_base = val, .iov_len = sizeof(*val) };
	struct msghdr msg;
	struct cmsghdr *c;
	int fd = -1;

	memset(&msg, 0, sizeof(msg));
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = u.buf;
	msg.msg_controllen = sizeof(u.buf);
	if (recvmsg(sock, &msg, MSG_CMSG_CLOEXEC) != (ssize_t)sizeof(*val))
		return -1;
	c = CMSG_FIRSTHDR(&msg);
	if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
		memcpy(&fd, CMSG_DATA(c), sizeof(int));
	return fd;
}

/* Drain a non-blocking fd; the number of bytes read. */
static ssize_t drain(int fd)
{
	char buf[4096];
	ssize_t n, total = 0;

	while ((n = read(fd, buf, sizeof(buf))) > 0)
		total += n;
	return total;
}

static int write1(int fd)
{
	return write(fd, "x", 1) == 1 ? 0 : -errno;
}

static int efd_add(int efd, uint64_t v)
{
	return write(efd, &v, sizeof(v)) == (ssize_t)sizeof(v) ? 0 : -errno;
}

FIXTURE(long_run) {
	int unused;
};

FIXTURE_SETUP(long_run)
{
}

FIXTURE_TEARDOWN(long_run)
{
}

/* ------------------------------------------------------------------ */
/* 1. Each kind of file produces the right events                      */
/* ------------------------------------------------------------------ */

/*
 * TCP: a listening socket gets IN on an incoming connection; a connected
 * socket OUT at once when associated (it is writable), IN on data, and
 * IN|RDHUP when the peer shuts down its sending side.
 */
TEST(kind_tcp)
{
	const uint64_t klisten = 0xa55a000000000001ULL;
	const uint64_t kconn = 0xa55a000000000002ULL;
	const uint64_t kconn2 = 0xa55a000000000003ULL;
	struct sockaddr_in sa;
	char buf[16];
	int port, l, c, s, ret;

	ret = lo_up();
	ASSERT_EQ(0, ret) TH_LOG("bringing lo up: %s", strerror(-ret));
	port = test_port(8);
	ASSERT_LE(0, port);

	l = bound_socket(SOCK_STREAM | SOCK_NONBLOCK, &sa);
	ASSERT_LE(0, l) TH_LOG("TCP socket on 127.0.0.1: %s", strerror(-l));
	ASSERT_EQ(0, listen(l, 8));
	ASSERT_EQ(0, t_assoc(port, l, klisten, EV_IN, 0));
	EXPECT_NONE(port);

	c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ASSERT_LE(0, c);
	ASSERT_EQ(0, connect(c, (struct sockaddr *)&sa, sizeof(sa)))
		TH_LOG("connect: %s", strerror(errno));
	EXPECT_READY(port, klisten, EV_IN, WAKE_NS);
	s = accept4(l, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	ASSERT_LE(0, s) TH_LOG("accept: %s", strerror(errno));
	settle();
	EXPECT_NONE(port);

	/* Connected, nothing received: only writable, polled at ASSOCIATE. */
	ASSERT_EQ(0, t_assoc(port, s, kconn, EV_IN | EV_OUT | EV_RDHUP, 0));
	EXPECT_READY(port, kconn, EV_OUT, 0);
	EXPECT_NONE(port);

	/*
	 * Only input and the peer's shutdown from now on (a socket stays
	 * writable; which of its events a packet reports is not the point
	 * here); nothing of that is ready.
	 */
	ASSERT_EQ(0, t_modify(port, s, kconn2, EV_IN | EV_RDHUP, 0));
	EXPECT_NONE(port);

	/* Data from the peer. */
	ASSERT_EQ(1, write(c, "d", 1));
	EXPECT_READY(port, kconn2, EV_IN, WAKE_NS);
	ASSERT_EQ(1, read(s, buf, sizeof(buf)));
	settle();
	EXPECT_NONE(port);

	/* The peer shuts its sending side down: EOF on s. */
	ASSERT_EQ(0, shutdown(c, SHUT_WR));
	EXPECT_EQ(POLLIN | POLLRDHUP,
		  poll1(s, POLLIN | POLLRDHUP, WAKE_MS) & (POLLIN | POLLRDHUP));
	settle();
	EXPECT_READY(port, kconn2, EV_IN | EV_RDHUP, WAKE_NS);
	EXPECT_NONE(port);
	EXPECT_EQ(0, read(s, buf, sizeof(buf)));

	EXPECT_EQ(0, close(port));
	close(s);
	close(c);
	close(l);
}

/*
 * UDP: IN on a datagram; OUT at once for a writable socket; ERR when a
 * connected socket's datagram is refused (ICMP port unreachable).
 */
TEST(kind_udp)
{
	const uint64_t k1 = 0xa55a000000000011ULL;
	const uint64_t k2 = 0xa55a000000000012ULL;
	const uint64_t k3 = 0xa55a000000000013ULL;
	struct sockaddr_in sa1, sa2, dead;
	char buf[16];
	int port, u1, u2, u3, d, err, ret;
	socklen_t len;

	ret = lo_up();
	ASSERT_EQ(0, ret) TH_LOG("bringing lo up: %s", strerror(-ret));
	port = test_port(8);
	ASSERT_LE(0, port);
	u1 = bound_socket(SOCK_DGRAM | SOCK_NONBLOCK, &sa1);
	ASSERT_LE(0, u1);
	u2 = bound_socket(SOCK_DGRAM | SOCK_NONBLOCK, &sa2);
	ASSERT_LE(0, u2);

	ASSERT_EQ(0, t_assoc(port, u1, k1, EV_IN, 0));
	EXPECT_NONE(port);
	ASSERT_EQ(1, sendto(u2, "u", 1, 0, (struct sockaddr *)&sa1, sizeof(sa1)));
	EXPECT_READY(port, k1, EV_IN, WAKE_NS);
	EXPECT_EQ(1, recv(u1, buf, sizeof(buf), 0));
	settle();
	EXPECT_NONE(port);

	ASSERT_EQ(0, connect(u2, (struct sockaddr *)&sa1, sizeof(sa1)));
	ASSERT_EQ(0, t_assoc(port, u2, k2, EV_OUT, 0));
	EXPECT_READY(port, k2, EV_OUT, 0);
	EXPECT_NONE(port);

	/* A port nobody listens on. */
	d = bound_socket(SOCK_DGRAM, &dead);
	ASSERT_LE(0, d);
	close(d);
	u3 = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	ASSERT_LE(0, u3);
	ASSERT_EQ(0, connect(u3, (struct sockaddr *)&dead, sizeof(dead)));
	ASSERT_EQ(0, t_assoc(port, u3, k3, EV_IN, 0));
	EXPECT_NONE(port);
	ASSERT_EQ(1, send(u3, "r", 1, 0));
	/* ERR is reported although only IN was asked for. */
	EXPECT_READY(port, k3, EV_ERR, WAKE_NS);
	err = 0;
	len = sizeof(err);
	EXPECT_EQ(0, getsockopt(u3, SOL_SOCKET, SO_ERROR, &err, &len));
	EXPECT_EQ(ECONNREFUSED, err);
	settle();
	EXPECT_NONE(port);

	EXPECT_EQ(0, close(port));
	close(u1);
	close(u2);
	close(u3);
}

/*
 * UNIX stream socketpair: OUT at associate; IN on each write (edge: a new
 * packet per write once the previous one was dequeued); IN|RDHUP on the
 * peer's shutdown; IN|RDHUP|HUP when the peer is closed.
 */
TEST(kind_unix_stream)
{
	const uint64_t k1 = 0xa55a000000000021ULL;
	const uint64_t k2 = 0xa55a000000000022ULL;
	int port, sv[2];

	port = test_port(8);
	ASSERT_LE(0, port);
	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
				0, sv));

	ASSERT_EQ(0, t_assoc(port, sv[0], k1, EV_OUT, 0));
	EXPECT_READY(port, k1, EV_OUT, 0);
	EXPECT_NONE(port);

	ASSERT_EQ(0, t_modify(port, sv[0], k2, EV_IN | EV_RDHUP, 0));
	EXPECT_NONE(port);
	ASSERT_EQ(3, write(sv[1], "abc", 3));
	EXPECT_READY(port, k2, EV_IN, 0);
	EXPECT_NONE(port);
	ASSERT_EQ(0, write1(sv[1]));
	EXPECT_READY(port, k2, EV_IN, 0);
	EXPECT_NONE(port);
	EXPECT_EQ(4, drain(sv[0]));
	EXPECT_NONE(port);

	ASSERT_EQ(0, shutdown(sv[1], SHUT_WR));
	EXPECT_READY(port, k2, EV_IN | EV_RDHUP, 0);
	EXPECT_NONE(port);

	/* HUP is reported although not asked for. */
	ASSERT_EQ(0, close(sv[1]));
	EXPECT_READY(port, k2, EV_IN | EV_RDHUP | EV_HUP, 0);
	EXPECT_NONE(port);

	EXPECT_EQ(0, close(port));
	close(sv[0]);
}

/* UNIX datagram socketpair: IN on a datagram, OUT at associate. */
TEST(kind_unix_dgram)
{
	const uint64_t k1 = 0xa55a000000000031ULL;
	const uint64_t k2 = 0xa55a000000000032ULL;
	char buf[16];
	int port, sv[2];

	port = test_port(8);
	ASSERT_LE(0, port);
	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
				0, sv));

	ASSERT_EQ(0, t_assoc(port, sv[0], k1, EV_IN, 0));
	EXPECT_NONE(port);
	ASSERT_EQ(2, send(sv[1], "dg", 2, 0));
	EXPECT_READY(port, k1, EV_IN, 0);
	EXPECT_NONE(port);
	ASSERT_EQ(1, send(sv[1], "g", 1, 0));
	EXPECT_READY(port, k1, EV_IN, 0);
	EXPECT_NONE(port);

	ASSERT_EQ(0, t_assoc(port, sv[1], k2, EV_OUT, 0));
	EXPECT_READY(port, k2, EV_OUT, 0);
	EXPECT_NONE(port);

	EXPECT_EQ(2, recv(sv[0], buf, sizeof(buf), 0));
	EXPECT_EQ(1, recv(sv[0], buf, sizeof(buf), 0));

	EXPECT_EQ(0, close(port));
	close(sv[0]);
	close(sv[1]);
}

/*
 * Pipe: the read end gets IN on data, HUP when the last writer goes; the
 * write end OUT at associate, OUT|ERR when the last reader goes.
 */
TEST(kind_pipe)
{
	const uint64_t kr = 0xa55a000000000041ULL;
	const uint64_t kw = 0xa55a000000000042ULL;
	const uint64_t kw2 = 0xa55a000000000043ULL;
	int port, p[2], q[2];
	char buf[8];

	port = test_port(8);
	ASSERT_LE(0, port);
	ASSERT_EQ(0, pipe2(p, O_NONBLOCK | O_CLOEXEC));

	ASSERT_EQ(0, t_assoc(port, p[0], kr, EV_IN, 0));
	EXPECT_NONE(port);
	ASSERT_EQ(0, t_assoc(port, p[1], kw, EV_OUT, 0));
	EXPECT_READY(port, kw, EV_OUT, 0);
	EXPECT_NONE(port);

	ASSERT_EQ(0, write1(p[1]));
	EXPECT_READY(port, kr, EV_IN, 0);
	EXPECT_NONE(port);
	EXPECT_EQ(1, read(p[0], buf, sizeof(buf)));

	/*
	 * The association holds the write end open: dissociate it, so that
	 * closing the descriptor closes the last writer.
	 */
	ASSERT_EQ(0, t_dissoc(port, p[1]));
	ASSERT_EQ(0, close(p[1]));
	EXPECT_READY(port, kr, EV_HUP, 0);
	EXPECT_NONE(port);
	EXPECT_EQ(0, read(p[0], buf, sizeof(buf)));

	/* The write end of a pipe whose reader goes away. */
	ASSERT_EQ(0, pipe2(q, O_NONBLOCK | O_CLOEXEC));
	ASSERT_EQ(0, t_assoc(port, q[1], kw2, EV_OUT, 0));
	EXPECT_READY(port, kw2, EV_OUT, 0);
	EXPECT_NONE(port);
	ASSERT_EQ(0, close(q[0]));
	EXPECT_READY(port, kw2, EV_OUT | EV_ERR, 0);
	EXPECT_NONE(port);

	EXPECT_EQ(0, close(port));
	close(p[0]);
	close(q[1]);
}

/* FIFO (mkfifo in /tmp): IN on data, HUP when the writer closes. */
TEST(kind_fifo)
{
	const uint64_t k = 0xa55a000000000051ULL;
	char path[64], buf[8];
	int port, r, w;

	port = test_port(8);
	ASSERT_LE(0, port);
	snprintf(path, sizeof(path), "/tmp/iocp_assoc_fifo.%d", getpid());
	unlink(path);
	ASSERT_EQ(0, mkfifo(path, 0600)) TH_LOG("mkfifo %s: %s", path, strerror(errno));
	r = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	ASSERT_LE(0, r);
	w = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
	ASSERT_LE(0, w);
	unlink(path);

	ASSERT_EQ(0, t_assoc(port, r, k, EV_IN, 0));
	EXPECT_NONE(port);
	ASSERT_EQ(2, write(w, "ff", 2));
	EXPECT_READY(port, k, EV_IN, 0);
	EXPECT_NONE(port);
	EXPECT_EQ(2, read(r, buf, sizeof(buf)));
	EXPECT_NONE(port);

	ASSERT_EQ(0, close(w));
	EXPECT_READY(port, k, EV_HUP, 0);
	EXPECT_NONE(port);

	EXPECT_EQ(0, close(port));
	close(r);
}

/*
 * eventfd: IN on each write; reading (a wake-up for writers, OUT) gives
 * nothing to an association that asked for IN only; MODIFY to OUT gives
 * OUT at once.
 */
TEST(kind_eventfd)
{
	const uint64_t k1 = 0xa55a000000000061ULL;
	const uint64_t k2 = 0xa55a000000000062ULL;
	const uint64_t k3 = 0xa55a000000000063ULL;
	uint64_t v;
	int port, efd;

	port = test_port(8);
	ASSERT_LE(0, port);
	efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	ASSERT_LE(0, efd);

	ASSERT_EQ(0, t_assoc(port, efd, k1, EV_IN, 0));
	EXPECT_NONE(port);
	ASSERT_EQ(0, efd_add(efd, 1));
	EXPECT_READY(port, k1, EV_IN, 0);
	EXPECT_NONE(port);
	ASSERT_EQ(0, efd_add(efd, 2));
	EXPECT_READY(port, k1, EV_IN, 0);
	EXPECT_NONE(port);
	v = 0;
	EXPECT_EQ((ssize_t)sizeof(v), read(efd, &v, sizeof(v)));
	EXPECT_EQ(3ULL, (unsigned long long)v);
	EXPECT_NONE(port);

	ASSERT_EQ(0, t_modify(port, efd, k2, EV_OUT, 0));
	EXPECT_READY(port, k2, EV_OUT, 0);
	EXPECT_NONE(port);
	ASSERT_EQ(0, t_modify(port, efd, k3, EV_IN, 0));
	EXPECT_NONE(port);

	EXPECT_EQ(0, close(port));
	close(efd);
}

/* timerfd: IN when the timer expires. */
TEST(kind_timerfd)
{
	const uint64_t k = 0xa55a000000000071ULL;
	struct itimerspec its;
	uint64_t v;
	int port, tfd;

	port = test_port(8);
	ASSERT_LE(0, port);
	tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	ASSERT_LE(0, tfd);

	ASSERT_EQ(0, t_assoc(port, tfd, k, EV_IN, 0));
	EXPECT_NONE(port);
	memset(&its, 0, sizeof(its));
	its.it_value.tv_nsec = 20 * NSEC_PER_MSEC;
	ASSERT_EQ(0, timerfd_settime(tfd, 0, &its, NULL));
	EXPECT_READY(port, k, EV_IN, WAKE_NS);
	EXPECT_NONE(port);
	v = 0;
	EXPECT_EQ((ssize_t)sizeof(v), read(tfd, &v, sizeof(v)));
	EXPECT_EQ(1ULL, (unsigned long long)v);
	EXPECT_NONE(port);

	EXPECT_EQ(0, close(port));
	close(tfd);
}

/* A thread that dequeues once (when told to) and then reads the signalfd. */
struct sigdq {
	pthread_t thread;
	int port, sfd;
	pid_t tid;
	int ready;
	sem_t go;
	int ret;
	int nread;
	struct iocp_completion e;
};

static void *sigdq_fn(void *arg)
{
	struct signalfd_siginfo si[4];
	struct sigdq *s = arg;
	ssize_t n;

	s->tid = sys_gettid();
	st(&s->ready, 1);
	sem_wait(&s->go);
	s->ret = get1(s->port, &s->e, WAKE_NS);
	n = read(s->sfd, si, sizeof(si));
	s->nread = n < 0 ? -errno : (int)(n / sizeof(si[0]));
	return NULL;
}

/*
 * signalfd: readiness is that of the thread that dequeues. A signal
 * pending for the dequeuing thread gives IN; one pending only for another
 * thread is a spurious wake for this one (dropped, the DEQUEUE goes on
 * waiting); that other thread, dequeuing, gets IN.
 */
TEST(kind_signalfd)
{
	const uint64_t k = 0xa55a000000000081ULL;
	struct signalfd_siginfo si;
	struct iocp_completion e;
	struct sigdq h;
	sigset_t set;
	int port, sfd;

	port = test_port(8);
	ASSERT_LE(0, port);
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGUSR2);
	ASSERT_EQ(0, pthread_sigmask(SIG_BLOCK, &set, NULL));
	sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	ASSERT_LE(0, sfd);

	ASSERT_EQ(0, t_assoc(port, sfd, k, EV_IN, 0));
	EXPECT_NONE(port);

	/* Pending for this (the dequeuing) thread. */
	ASSERT_EQ(0, syscall(SYS_tgkill, getpid(), sys_gettid(), SIGUSR1));
	EXPECT_READY(port, k, EV_IN, WAKE_NS);
	EXPECT_NONE(port);
	EXPECT_EQ((ssize_t)sizeof(si), read(sfd, &si, sizeof(si)));
	EXPECT_EQ((__u32)SIGUSR1, si.ssi_signo);

	/* Pending for another thread only: nothing for this one. */
	memset(&h, 0, sizeof(h));
	h.port = port;
	h.sfd = sfd;
	h.ret = INT_MIN;
	sem_init(&h.go, 0, 0);
	ASSERT_EQ(0, pthread_create(&h.thread, NULL, sigdq_fn, &h));
	ASSERT_TRUE(wait_int(&h.ready, 1, WAKE_MS));
	ASSERT_EQ(0, syscall(SYS_tgkill, getpid(), h.tid, SIGUSR2));
	EXPECT_EQ(-ETIMEDOUT, get1(port, &e, BLOCKED_MS * NSEC_PER_MSEC))
		TH_LOG("the dequeuing thread got a packet for another thread's signal: key %#llx events %#x",
		       (unsigned long long)e.key, e.events);
	EXPECT_EQ(0U, STAT(port, queued));
	EXPECT_EQ(-1, read(sfd, &si, sizeof(si)));
	EXPECT_EQ(EAGAIN, errno);

	/* The other thread dequeues: it sees its own pending signals. */
	sem_post(&h.go);
	ASSERT_TRUE(WAIT_STAT(port, waiting, 1));
	ASSERT_EQ(0, syscall(SYS_tgkill, getpid(), h.tid, SIGUSR1));
	ASSERT_EQ(0, join_ms(h.thread, WAKE_MS)) TH_LOG("helper never returned");
	EXPECT_EQ(1, h.ret) TH_LOG("helper's DEQUEUE: %s", strerror(-h.ret));
	EXPECT_EQ((__u64)k, h.e.key);
	EXPECT_EQ(EV_IN, h.e.events);
	EXPECT_EQ((__u32)IOCP_CF_READINESS, h.e.flags);
	EXPECT_EQ(0ULL, h.e.user_data);
	EXPECT_EQ(0ULL, h.e.result);
	EXPECT_EQ(2, h.nread) TH_LOG("the helper should have read SIGUSR1 and SIGUSR2");
	EXPECT_NONE(port);

	sem_destroy(&h.go);
	EXPECT_EQ(0, close(port));
	close(sfd);
}

/* pidfd: IN when the process exits. */
TEST(kind_pidfd)
{
	const uint64_t k = 0xa55a000000000091ULL;
	int port, pfd, p[2], status;
	siginfo_t info;
	char c;
	pid_t pid;

	port = test_port(8);
	ASSERT_LE(0, port);
	ASSERT_EQ(0, pipe2(p, O_CLOEXEC));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		close(p[1]);
		_exit(read(p[0], &c, 1) == 0 ? 0 : 1);
	}
	close(p[0]);
	pfd = (int)syscall(SYS_pidfd_open, pid, 0);
	ASSERT_LE(0, pfd) TH_LOG("pidfd_open: %s", strerror(errno));

	ASSERT_EQ(0, t_assoc(port, pfd, k, EV_IN, 0));
	EXPECT_NONE(port);
	close(p[1]);		/* the child exits */
	/*
	 * Wait for the zombie without reaping it: the kernel may wake pidfd
	 * pollers twice on exit, and two wakes while a DEQUEUE is delivering
	 * the first packet would rightly make two packets.
	 */
	memset(&info, 0, sizeof(info));
	ASSERT_EQ(0, waitid(P_PID, pid, &info, WEXITED | WNOWAIT));
	EXPECT_READY(port, k, EV_IN, WAKE_NS);
	EXPECT_NONE(port);
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);

	EXPECT_EQ(0, close(port));
	close(pfd);
}

/* inotify: IN when a file is created in a watched directory. */
TEST(kind_inotify)
{
	const uint64_t k = 0xa55a0000000000a1ULL;
	char dir[64], file[96], buf[4096];
	int port, ifd, fd;

	port = test_port(8);
	ASSERT_LE(0, port);
	strcpy(dir, "/tmp/iocp_assoc_XXXXXX");
	ASSERT_NE(NULL, mkdtemp(dir));
	snprintf(file, sizeof(file), "%s/f", dir);
	ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (ifd < 0 && errno == ENOSYS) {
		rmdir(dir);
		SKIP(return, "this kernel has no inotify (CONFIG_INOTIFY_USER)");
	}
	ASSERT_LE(0, ifd);
	ASSERT_LE(0, inotify_add_watch(ifd, dir, IN_CREATE));

	ASSERT_EQ(0, t_assoc(port, ifd, k, EV_IN, 0));
	EXPECT_NONE(port);
	fd = open(file, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	ASSERT_LE(0, fd);
	close(fd);
	EXPECT_READY(port, k, EV_IN, WAKE_NS);
	EXPECT_NONE(port);
	EXPECT_LT(0, read(ifd, buf, sizeof(buf)));

	unlink(file);
	rmdir(dir);
	EXPECT_EQ(0, close(port));
	close(ifd);
}

/* posix_openpt, mounting devpts on /dev/pts first if that is needed. */
static int open_ptmx(void)
{
	int m = posix_openpt(O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);

	if (m >= 0)
		return m;
	mkdir("/dev/pts", 0755);
	if (mount("devpts", "/dev/pts", "devpts", 0, "ptmxmode=0666"))
		return -1;
	return posix_openpt(O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
}

/* pty: the master gets IN when the slave writes, HUP when it closes. */
TEST(kind_tty)
{
	const uint64_t k = 0xa55a0000000000b1ULL;
	char buf[16];
	int port, m, s;

	port = test_port(8);
	ASSERT_LE(0, port);
	m = open_ptmx();
	ASSERT_LE(0, m) TH_LOG("posix_openpt: %s", strerror(errno));
	ASSERT_EQ(0, grantpt(m));
	ASSERT_EQ(0, unlockpt(m));
	s = ioctl(m, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (s < 0) {
		char *name = ptsname(m);

		ASSERT_NE(NULL, name);
		s = open(name, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	}
	ASSERT_LE(0, s) TH_LOG("pty slave: %s", strerror(errno));

	ASSERT_EQ(0, t_assoc(port, m, k, EV_IN, 0));
	EXPECT_NONE(port);
	ASSERT_EQ(1, write(s, "t", 1));
	EXPECT_READY(port, k, EV_IN, WAKE_NS);
	EXPECT_EQ(POLLIN, poll1(m, POLLIN, WAKE_MS));
	EXPECT_EQ(1, read(m, buf, sizeof(buf)));
	settle();
	EXPECT_NONE(port);

	ASSERT_EQ(0, close(s));
	EXPECT_READY(port, k, EV_HUP, WAKE_NS);

	EXPECT_EQ(0, close(port));
	close(m);
}

/*
 * Another port: the inner port is readable (IN, with the key given to the
 * outer port) each time a packet is posted to it, and HUP once shut down.
 */
TEST(kind_port_in_port)
{
	const uint64_t k = 0xa55a0000000000c1ULL;
	const uint64_t k2 = 0xa55a0000000000c2ULL;
	struct iocp_completion e;
	int outer, inner, inner2;

	outer = test_port(8);
	ASSERT_LE(0, outer);
	inner = test_port(8);
	ASSERT_LE(0, inner);
	inner2 = test_port(8);
	ASSERT_LE(0, inner2);

	ASSERT_EQ(0, t_assoc(outer, inner, k, EV_IN, 0));
	EXPECT_NONE(outer);
	ASSERT_EQ(0, iocp_post(inner, 1, 2, 3));
	EXPECT_READY(outer, k, EV_IN, WAKE_NS);
	EXPECT_NONE(outer);
	ASSERT_EQ(0, iocp_post(inner, 4, 5, 6));
	EXPECT_READY(outer, k, EV_IN, WAKE_NS);
	EXPECT_NONE(outer);
	EXPECT_EQ(2U, STAT(inner, queued)) TH_LOG("the inner port's packets stay there");

	/* Taking a packet from the inner port is not an event. */
	ASSERT_EQ(1, get1(inner, &e, 0));
	EXPECT_EQ(1ULL, e.key);
	EXPECT_NONE(outer);

	ASSERT_EQ(0, iocp_shutdown(inner));
	EXPECT_READY(outer, k, EV_HUP, WAKE_NS);
	EXPECT_NONE(outer);

	/* A port with packets already queued is readable at once. */
	ASSERT_EQ(0, iocp_post(inner2, 7, 8, 9));
	ASSERT_EQ(0, t_assoc(outer, inner2, k2, EV_IN, 0));
	EXPECT_READY(outer, k2, EV_IN, 0);
	EXPECT_NONE(outer);

	EXPECT_EQ(0, close(outer));
	close(inner);
	close(inner2);
}

/* ------------------------------------------------------------------ */
/* 2. One-shot and persistent associations                              */
/* ------------------------------------------------------------------ */

/*
 * One-shot: writes before the dequeue give one packet; after it, nothing
 * however much the file signals, until MODIFY re-arms; MODIFY of a file
 * still ready queues the packet at once, with the new key.
 */
TEST(oneshot)
{
	const uint64_t k1 = 0x1000000000000001ULL;
	const uint64_t k2 = 0x1000000000000002ULL;
	const uint64_t k3 = 0x1000000000000003ULL;
	const uint64_t k4 = 0x1000000000000004ULL;
	struct iocp_stats s;
	int port, p[2], i;

	port = test_port(8);
	ASSERT_LE(0, port);
	ASSERT_EQ(0, pipe2(p, O_NONBLOCK | O_CLOEXEC));

	ASSERT_EQ(0, t_assoc(port, p[0], k1, EV_IN, IOCP_ASSOC_ONESHOT));
	EXPECT_NONE(port);
	for (i = 0; i < 3; i++)
		ASSERT_EQ(0, write1(p[1]));
	EXPECT_EQ(1U, STAT(port, queued));
	EXPECT_READY(port, k1, EV_IN, 0);
	EXPECT_NONE(port);

	/* Disarmed. */
	for (i = 0; i < 5; i++)
		ASSERT_EQ(0, write1(p[1]));
	EXPECT_EQ(0U, STAT(port, queued));
	EXPECT_NONE(port);

	/* Re-armed while ready: the packet comes at once. */
	ASSERT_EQ(0, t_modify(port, p[0], k2, EV_IN, IOCP_ASSOC_ONESHOT));
	EXPECT_EQ(1U, STAT(port, queued));
	EXPECT_READY(port, k2, EV_IN, 0);
	EXPECT_NONE(port);
	ASSERT_EQ(0, write1(p[1]));
	EXPECT_NONE(port);

	/* Re-armed while not ready: the next write gives one packet. */
	EXPECT_EQ(9, drain(p[0]));
	ASSERT_EQ(0, t_modify(port, p[0], k3, EV_IN, IOCP_ASSOC_ONESHOT));
	EXPECT_NONE(port);
	ASSERT_EQ(0, write1(p[1]));
	EXPECT_READY(port, k3, EV_IN, 0);
	ASSERT_EQ(0, write1(p[1]));
	EXPECT_NONE(port);

	/* Made persistent: a packet for every write after a dequeue. */
	ASSERT_EQ(0, t_modify(port, p[0], k4, EV_IN, 0));
	EXPECT_READY(port, k4, EV_IN, 0);
	for (i = 0; i < 3; i++) {
		ASSERT_EQ(0, write1(p[1]));
		EXPECT_READY(port, k4, EV_IN, 0);
	}
	EXPECT_NONE(port);

	ASSERT_EQ(0, get_stats(port, &s));
	EXPECT_EQ(1U, s.associations);
	EXPECT_EQ(0ULL, s.posted);
	EXPECT_EQ(7ULL, s.dequeued);
	EXPECT_EQ(0, close(port));
	close(p[0]);
	close(p[1]);
}

/*
 * Persistent: many events before a dequeue coalesce into one packet whose
 * events are OR-ed (IN from data, then RDHUP from the peer's shutdown, then
 * HUP from its close); stats.queued stays 1; readiness packets count as
 * dequeued, not as posted. After the packet, nothing until the file
 * signals again (edge-triggered).
 */
TEST(persistent_coalescing)
{
	const uint64_t k = 0x2000000000000001ULL;
	const uint64_t kp = 0x2000000000000002ULL;
	struct iocp_completion out[8];
	struct iocp_stats s;
	uint32_t count;
	int port, sv[2], p[2], i;

	port = test_port(8);
	ASSERT_LE(0, port);
	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
				0, sv));
	ASSERT_EQ(0, t_assoc(port, sv[0], k, EV_IN | EV_RDHUP, 0));
	EXPECT_NONE(port);

	for (i = 0; i < 50; i++)
		ASSERT_EQ(0, write1(sv[1]));
	EXPECT_EQ(1U, STAT(port, queued));
	ASSERT_EQ(0, shutdown(sv[1], SHUT_WR));
	EXPECT_EQ(1U, STAT(port, queued));

	memset(out, POISON_BYTE, sizeof(out));
	ASSERT_LE(0, dq(port, out, 8, 0, 0, &count));
	ASSERT_EQ(1U, count);
	EXPECT_EQ((__u64)k, out[0].key);
	EXPECT_EQ(EV_IN | EV_RDHUP, out[0].events);
	EXPECT_EQ((__u32)IOCP_CF_READINESS, out[0].flags);
	EXPECT_EQ(0ULL, out[0].user_data);
	EXPECT_EQ(0ULL, out[0].result);
	EXPECT_TRUE(is_poison(&out[1], 7 * sizeof(out[0])));
	EXPECT_NONE(port);

	/* Edge-triggered: unread data does not make a new packet. */
	EXPECT_EQ(50, drain(sv[0]));
	EXPECT_NONE(port);

	/* IN, RDHUP and HUP at once: data, then the peer's close. */
	ASSERT_EQ(0, t_modify(port, sv[0], k, EV_IN | EV_RDHUP, 0));
	EXPECT_READY(port, k, EV_IN | EV_RDHUP, 0);	/* EOF is readable */
	ASSERT_EQ(0, t_dissoc(port, sv[0]));
	close(sv[0]);
	close(sv[1]);
	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
				0, sv));
	ASSERT_EQ(0, t_assoc(port, sv[0], k + 1, EV_IN | EV_RDHUP, 0));
	ASSERT_EQ(0, write1(sv[1]));
	ASSERT_EQ(0, write1(sv[1]));
	ASSERT_EQ(0, close(sv[1]));
	EXPECT_EQ(1U, STAT(port, queued));
	EXPECT_READY(port, k + 1, EV_IN | EV_RDHUP | EV_HUP, 0);
	EXPECT_NONE(port);

	/* A thousand writes to a pipe: one packet. */
	ASSERT_EQ(0, pipe2(p, O_NONBLOCK | O_CLOEXEC));
	ASSERT_EQ(0, t_assoc(port, p[0], kp, EV_IN, 0));
	for (i = 0; i < 1000; i++)
		ASSERT_EQ(0, write1(p[1]));
	EXPECT_EQ(1U, STAT(port, queued));
	EXPECT_READY(port, kp, EV_IN, 0);
	EXPECT_NONE(port);
	ASSERT_EQ(0, write1(p[1]));
	EXPECT_READY(port, kp, EV_IN, 0);
	EXPECT_NONE(port);

	ASSERT_EQ(0, get_stats(port, &s));
	EXPECT_EQ(0ULL, s.posted);
	EXPECT_EQ(5ULL, s.dequeued);
	EXPECT_EQ(0U, s.queued);
	EXPECT_EQ(0ULL, s.discarded);
	EXPECT_EQ(2U, s.associations);

	EXPECT_EQ(0, close(port));
	close(sv[0]);
	close(p[0]);
	close(p[1]);
}

/*
 * Readiness packets are not limited by max_queued, which counts posted
 * packets only; they keep their FIFO place among posted packets, and one
 * that coalesces a later event keeps its place.
 */
TEST(readiness_fifo_and_max_queued)
{
	struct iocp_completion out[8];
	struct iocp_config cfg;
	uint32_t count;
	int port, p[3][2], i;

	port = test_port(8);
	ASSERT_LE(0, port);
	ASSERT_EQ(0, get_config(port, &cfg));
	cfg.max_queued = 2;
	ASSERT_EQ(0, xioctl(port, IOCP_IOC_SET_CONFIG, &cfg));

	for (i = 0; i < 3; i++) {
		ASSERT_EQ(0, pipe2(p[i], O_NONBLOCK | O_CLOEXEC));
		ASSERT_EQ(0, t_assoc(port, p[i][0], 0x300 + i, EV_IN, 0));
	}
	ASSERT_EQ(0, iocp_post(port, 0x100, 1, 11));
	for (i = 0; i < 3; i++)
		ASSERT_EQ(0, write1(p[i][1]));
	EXPECT_EQ(4U, STAT(port, queued));
	ASSERT_EQ(0, iocp_post(port, 0x100, 2, 22))
		TH_LOG("readiness packets counted against max_queued");
	EXPECT_EQ(-EAGAIN, iocp_post(port, 0x100, 3, 33));
	/* Coalesced into the queued packet: no new place. */
	ASSERT_EQ(0, write1(p[0][1]));
	EXPECT_EQ(5U, STAT(port, queued));

	memset(out, POISON_BYTE, sizeof(out));
	ASSERT_LE(0, dq(port, out, 8, 0, 0, &count));
	ASSERT_EQ(5U, count);
	EXPECT_EQ(0x100ULL, out[0].key);
	EXPECT_EQ(1ULL, out[0].user_data);
	EXPECT_EQ(11ULL, out[0].result);
	EXPECT_EQ((__u32)IOCP_CF_POSTED, out[0].flags);
	EXPECT_EQ(0U, out[0].events);
	for (i = 0; i < 3; i++) {
		EXPECT_EQ((__u64)(0x300 + i), out[1 + i].key);
		EXPECT_EQ(0ULL, out[1 + i].user_data);
		EXPECT_EQ(0ULL, out[1 + i].result);
		EXPECT_EQ((__u32)IOCP_CF_READINESS, out[1 + i].flags);
		EXPECT_EQ(EV_IN, out[1 + i].events);
	}
	EXPECT_EQ(0x100ULL, out[4].key);
	EXPECT_EQ(2ULL, out[4].user_data);
	EXPECT_EQ(22ULL, out[4].result);
	EXPECT_EQ((__u32)IOCP_CF_POSTED, out[4].flags);
	EXPECT_EQ(0U, out[4].events);
	EXPECT_TRUE(is_poison(&out[5], 3 * sizeof(out[0])));
	EXPECT_NONE(port);

	EXPECT_EQ(0, close(port));
	for (i = 0; i < 3; i++) {
		close(p[i][0]);
		close(p[i][1]);
	}
}

/*
 * A queued packet whose file is no longer ready when it is delivered (the
 * data was read meanwhile) is spurious: dropped, not counted as dequeued,
 * and the DEQUEUE goes on waiting (here: times out). The association stays
 * armed. A spurious packet does not count towards min: a DEQUEUE never
 * returns fewer than min packets.
 */
TEST(spurious_readiness_dropped)
{
	const uint64_t k = 0x3000000000000001ULL;
	struct iocp_completion out[4];
	struct iocp_stats s;
	uint32_t count;
	int port, p[2], ret;

	port = test_port(8);
	ASSERT_LE(0, port);
	ASSERT_EQ(0, pipe2(p, O_NONBLOCK | O_CLOEXEC));
	ASSERT_EQ(0, t_assoc(port, p[0], k, EV_IN, 0));

	ASSERT_EQ(0, write1(p[1]));
	EXPECT_EQ(1, drain(p[0]));
	EXPECT_EQ(1U, STAT(port, queued));
	EXPECT_NONE(port);
	EXPECT_EQ(-ETIMEDOUT, get1(port, &out[0], 20 * NSEC_PER_MSEC));
	ASSERT_EQ(0, get_stats(port, &s));
	EXPECT_EQ(0U, s.queued);
	EXPECT_EQ(0ULL, s.dequeued);

	/* Still armed. */
	ASSERT_EQ(0, write1(p[1]));
	EXPECT_READY(port, k, EV_IN, 0);
	EXPECT_EQ(1, drain(p[0]));

	/* A posted packet and a spurious one: not enough for min 2. */
	ASSERT_EQ(0, iocp_post(port, 0x44, 0x55, 0x66));
	ASSERT_EQ(0, write1(p[1]));
	EXPECT_EQ(1, drain(p[0]));
	EXPECT_EQ(2U, STAT(port, queued));
	memset(out, POISON_BYTE, sizeof(out));
	ret = dq(port, out, 2, 2, 0, &count);
	EXPECT_EQ(-ETIMEDOUT, ret)
		TH_LOG("min 2 with one real packet: ret %d count %u, first key %#llx",
		       ret, count, (unsigned long long)out[0].key);
	EXPECT_TRUE(is_poison(out, sizeof(out)));
	/* The posted packet is still there. */
	EXPECT_EQ(1U, STAT(port, queued));
	if (STAT(port, queued) == 1) {
		ASSERT_EQ(1, get1(port, &out[0], 0));
		EXPECT_EQ(0x44ULL, out[0].key);
		EXPECT_EQ((__u32)IOCP_CF_POSTED, out[0].flags);
	}
	EXPECT_NONE(port);

	EXPECT_EQ(0, close(port));
	close(p[0]);
	close(p[1]);
}

/* ------------------------------------------------------------------ */
/* 3. DISSOCIATE and MODIFY                                             */
/* ------------------------------------------------------------------ */

/*
 * DISSOCIATE removes the association's queued packet (and only it); the
 * key never shows up again; a dup of the descriptor names the same
 * association.
 */
TEST(dissociate_purges)
{
	const uint64_t k1 = 0x4000000000000001ULL;
	const uint64_t k2 = 0x4000000000000002ULL;
	struct iocp_completion e;
	struct iocp_stats s;
	int port, p[2], q[2], d;

	port = test_port(8);
	ASSERT_LE(0, port);
	ASSERT_EQ(0, pipe2(p, O_NONBLOCK | O_CLOEXEC));
	ASSERT_EQ(0, pipe2(q, O_NONBLOCK | O_CLOEXEC));

	ASSERT_EQ(0, iocp_post(port, 0x55, 0x66, 0x77));
	ASSERT_EQ(0, t_assoc(port, p[0], k1, EV_IN, 0));
	ASSERT_EQ(0, t_assoc(port, q[0], k2, EV_IN, 0));
	ASSERT_EQ(0, write1(p[1]));
	ASSERT_EQ(0, write1(q[1]));
	ASSERT_EQ(0, get_stats(port, &s));
	EXPECT_EQ(3U, s.queued);
	EXPECT_EQ(2U, s.associations);

	ASSERT_EQ(0, t_dissoc(port, p[0]));
	ASSERT_EQ(0, get_stats(port, &s));
	EXPECT_EQ(2U, s.queued);
	EXPECT_EQ(1U, s.associations);
	EXPECT_EQ(0ULL, s.discarded);

	/* The posted packet and the other association's packet remain. */
	ASSERT_EQ(1, get1(port, &e, 0));
	EXPECT_EQ(0x55ULL, e.key);
	EXPECT_EQ((__u32)IOCP_CF_POSTED, e.flags);
	EXPECT_READY(port, k2, EV_IN, 0);
	EXPECT_NONE(port);

	/* Not associated any more. */
	ASSERT_EQ(0, write1(p[1]));
	EXPECT_NONE(port);
	EXPECT_EQ(-ENOENT, t_dissoc(port, p[0]));
	EXPECT_EQ(-ENOENT, t_modify(port, p[0], k1, EV_IN, 0));

	/* A dup names the same open file, hence the same association. */
	d = dup(p[0]);
	ASSERT_LE(0, d);
	ASSERT_EQ(0, t_assoc(port, d, k1, EV_IN, 0));
	EXPECT_READY(port, k1, EV_IN, 0);	/* data is still there */
	EXPECT_EQ(-EEXIST, t_assoc(port, p[0], k1, EV_IN, 0));
	ASSERT_EQ(0, write1(p[1]));
	EXPECT_EQ(1U, STAT(port, queued));
	ASSERT_EQ(0, t_dissoc(port, p[0]));
	EXPECT_EQ(0U, STAT(port, queued));
	EXPECT_EQ(1U, STAT(port, associations));
	EXPECT_EQ(-ENOENT, t_dissoc(port, d));
	EXPECT_NONE(port);

	/* The second association is unaffected. */
	ASSERT_EQ(0, write1(q[1]));
	EXPECT_READY(port, k2, EV_IN, 0);
	ASSERT_EQ(0, t_dissoc(port, q[0]));
	EXPECT_EQ(0U, STAT(port, associations));
	ASSERT_EQ(0, write1(q[1]));
	EXPECT_NONE(port);

	EXPECT_EQ(0, close(port));
	close(d);
	close(p[0]);
	close(p[1]);
	close(q[0]);
	close(q[1]);
}

/*
 * MODIFY removes the queued packet and, if the file is still ready for the
 * new events, queues one with the new key in its place.
 */
TEST(modify_replaces_queued)
{
	int port, p[2];

	port = test_port(8);
	ASSERT_LE(0, port);
	ASSERT_EQ(0, pipe2(p, O_NONBLOCK | O_CLOEXEC));

	ASSERT_EQ(0, t_assoc(port, p[0], 1, EV_IN, 0));
	ASSERT_EQ(0, write1(p[1]));
	EXPECT_EQ(1U, STAT(port, queued));
	ASSERT_EQ(0, t_modify(port, p[0], 2, EV_IN, 0));
	EXPECT_EQ(1U, STAT(port, queued));
	EXPECT_READY(port, 2, EV_IN, 0);
	EXPECT_NONE(port);

	/* To events that are not ready (a pipe has no urgent data). */
	ASSERT_EQ(0, write1(p[1]));
	EXPECT_EQ(1U, STAT(port, queued));
	ASSERT_EQ(0, t_modify(port, p[0], 3, EV_PRI, 0));
	EXPECT_EQ(0U, STAT(port, queued));
	EXPECT_NONE(port);
	ASSERT_EQ(0, write1(p[1]));
	EXPECT_NONE(port);

	ASSERT_EQ(0, t_modify(port, p[0], 4, EV_IN, 0));
	EXPECT_READY(port, 4, EV_IN, 0);
	EXPECT_NONE(port);
	EXPECT_EQ(0ULL, (unsigned long long)STAT(port, discarded));

	EXPECT_EQ(0, close(port));
	close(p[0]);
	close(p[1]);
}

#define MODRACE_ITERS		20000
#define MODRACE_BUDGET_MS	5000
#define MODRACE_BASE		0x6d00000000000000ULL

struct modrace {
	int port, efd;
	int stop;
	uint64_t cur;		/* the key in effect: set after MODIFY returned */
	int bad;
	uint64_t bad_key, bad_floor;
	uint32_t bad_flags, bad_events;
	int err;
	unsigned long packets;
	unsigned long writes;
};

static uint64_t ld64(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_SEQ_CST);
}

/*
 * The events each key is associated with: odd keys IN|OUT, even keys IN
 * only. An eventfd being always writable, a packet of an odd key may say
 * OUT; one of an even key must not (events are restricted to those its
 * key was given with).
 */
static uint32_t modrace_events(uint64_t key)
{
	return key & 1 ? EV_IN | EV_OUT : EV_IN;
}

static void modrace_check(struct modrace *m, const struct iocp_completion *e,
			  uint64_t floor)
{
	if (e->key >= floor && e->key <= MODRACE_BASE + MODRACE_ITERS &&
	    e->flags == IOCP_CF_READINESS && (e->events & EV_IN) &&
	    !(e->events & ~modrace_events(e->key)) &&
	    !e->user_data && !e->result)
		return;
	if (!__atomic_fetch_add(&m->bad, 1, __ATOMIC_SEQ_CST)) {
		m->bad_key = e->key;
		m->bad_floor = floor;
		m->bad_flags = e->flags;
		m->bad_events = e->events;
	}
}

static void *modrace_writer(void *arg)
{
	struct modrace *m = arg;

	while (!ld(&m->stop)) {
		if (efd_add(m->efd, 1)) {
			st(&m->err, -errno);
			break;
		}
		m->writes++;
		if (!(m->writes & 15))
			sched_yield();
	}
	return NULL;
}

static void *modrace_dequeuer(void *arg)
{
	struct iocp_completion e[16];
	struct modrace *m = arg;
	uint32_t count, i;
	uint64_t floor;
	int ret;

	while (!ld(&m->stop)) {
		/* Any packet of a DEQUEUE begun now has at least this key. */
		floor = ld64(&m->cur);
		ret = dq(m->port, e, 16, 0, NSEC_PER_MSEC, &count);
		if (ret == -ETIMEDOUT)
			continue;
		if (ret < 0) {
			st(&m->err, ret);
			break;
		}
		for (i = 0; i < count; i++)
			modrace_check(m, &e[i], floor);
		__atomic_add_fetch(&m->packets, count, __ATOMIC_SEQ_CST);
	}
	return NULL;
}

/*
 * MODIFY changes the key atomically. A writer keeps an eventfd ready and
 * firing; the main thread changes the key k -> k + 1 thousands of times
 * and after each MODIFY takes what is queued, while another thread
 * dequeues all along. No DEQUEUE that began after a MODIFY returned may
 * return a key older than the one that MODIFY set (a packet of the old key
 * left queued, or a stale key copied into a new packet, breaks that). The
 * events change with the key too (IN|OUT, IN, IN|OUT, ...): a packet's
 * events must be those of its own key, not of the key set meanwhile.
 */
TEST_F_TIMEOUT(long_run, modify_key_race, 120)
{
	struct iocp_completion e[16];
	pthread_t writer, dequeuer;
	struct modrace m;
	uint32_t count, j;
	uint64_t k, t0;
	int i, ret, fails = 0;

	memset(&m, 0, sizeof(m));
	m.port = test_port(8);
	ASSERT_LE(0, m.port);
	m.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	ASSERT_LE(0, m.efd);
	/* Readable from the start: IN is in every packet. */
	ASSERT_EQ(0, efd_add(m.efd, 1));
	m.cur = MODRACE_BASE;
	ASSERT_EQ(0, t_assoc(m.port, m.efd, MODRACE_BASE, EV_IN, 0));
	ASSERT_EQ(0, pthread_create(&writer, NULL, modrace_writer, &m));
	ASSERT_EQ(0, pthread_create(&dequeuer, NULL, modrace_dequeuer, &m));

	t0 = now_ns();
	for (i = 1; i <= MODRACE_ITERS; i++) {
		if (now_ns() - t0 > MODRACE_BUDGET_MS * NSEC_PER_MSEC)
			break;
		k = MODRACE_BASE + i;
		ret = t_modify(m.port, m.efd, k, modrace_events(k), 0);
		if (ret) {
			fails++;
			TH_LOG("MODIFY %d: %s", i, strerror(-ret));
			break;
		}
		__atomic_store_n(&m.cur, k, __ATOMIC_SEQ_CST);
		ret = dq(m.port, e, 16, 0, 0, &count);
		if (ret == -ETIMEDOUT)
			continue;
		if (ret < 0) {
			fails++;
			TH_LOG("DEQUEUE %d: %s", i, strerror(-ret));
			break;
		}
		for (j = 0; j < count; j++)
			modrace_check(&m, &e[j], k);
		__atomic_add_fetch(&m.packets, count, __ATOMIC_SEQ_CST);
	}
	st(&m.stop, 1);
	ASSERT_EQ(0, join_ms(writer, WAKE_MS));
	ASSERT_EQ(0, join_ms(dequeuer, WAKE_MS));
	TH_LOG("%d MODIFYs in %llu ms, %lu packets, %lu writes", i - 1,
	       (unsigned long long)((now_ns() - t0) / NSEC_PER_MSEC),
	       m.packets, m.writes);
	EXPECT_EQ(0, fails);
	EXPECT_EQ(0, m.err) TH_LOG("helper error: %s", strerror(-m.err));
	EXPECT_EQ(0, m.bad)
		TH_LOG("%d stale/bad packets; first: key %#llx (floor %#llx) flags %#x events %#x",
		       m.bad, (unsigned long long)m.bad_key,
		       (unsigned long long)m.bad_floor, m.bad_flags,
		       m.bad_events);
	/* Every MODIFY of a ready file queued a packet that someone took. */
	EXPECT_LE((unsigned long)(i - 1), m.packets);
	EXPECT_LE(1000, i - 1) TH_LOG("too few MODIFYs to mean much");
	EXPECT_EQ(1U, STAT(m.port, associations));

	EXPECT_EQ(0, close(m.port));
	close(m.efd);
}

/* ------------------------------------------------------------------ */
/* 4. Errors                                                            */
/* ------------------------------------------------------------------ */

/* A NULL argument pointer: EFAULT from all three. */
TEST(efault)
{
	int port = test_port(8);

	ASSERT_LE(0, port);
	EXPECT_EQ(-EFAULT, xioctl(port, IOCP_IOC_ASSOCIATE, NULL));
	EXPECT_EQ(-EFAULT, xioctl(port, IOCP_IOC_MODIFY, NULL));
	EXPECT_EQ(-EFAULT, xioctl(port, IOCP_IOC_DISSOCIATE, NULL));
	EXPECT_EQ(0U, STAT(port, associations));
	EXPECT_EQ(0, close(port));
}

/*
 * A key-only association (events 0): any file, even one that cannot be
 * polled, no readiness packets; it still holds the file and counts. MODIFY
 * to events makes it a readiness association (EPERM if the file cannot be
 * polled).
 */
TEST(key_only_association)
{
	char path[64];
	int port, p[2], reg;

	port = test_port(8);
	ASSERT_LE(0, port);
	ASSERT_EQ(0, pipe2(p, O_NONBLOCK | O_CLOEXEC));
	snprintf(path, sizeof(path), "/tmp/iocp_assoc_ko.%d", getpid());
	reg = open(path, O_CREAT | O_RDWR | O_CLOEXEC, 0600);
	ASSERT_LE(0, reg);
	unlink(path);

	ASSERT_EQ(0, t_assoc(port, reg, 0x51, 0, IOCP_ASSOC_SKIP_ON_SUCCESS));
	ASSERT_EQ(0, t_assoc(port, p[0], 0x52, 0, 0));
	EXPECT_EQ(2U, STAT(port, associations));
	EXPECT_EQ(-EEXIST, t_assoc(port, reg, 0x53, 0, 0));
	ASSERT_EQ(0, write1(p[1]));
	EXPECT_NONE(port);
	EXPECT_EQ(-EPERM, t_modify(port, reg, 0x54, EV_IN, 0));
	/* Now asking for events: the pipe is readable, a packet comes. */
	ASSERT_EQ(0, t_modify(port, p[0], 0x55, EV_IN, 0));
	EXPECT_READY(port, 0x55, EV_IN, 0);
	ASSERT_EQ(0, t_dissoc(port, reg));
	ASSERT_EQ(0, t_dissoc(port, p[0]));
	EXPECT_EQ(0U, STAT(port, associations));
	EXPECT_EQ(0, close(port));
	close(reg);
	close(p[0]);
	close(p[1]);
}

/*
 * EINVAL: unknown event bits, unknown flags, reserved != 0, and for
 * DISSOCIATE events/flags != 0. Checked before the descriptor (EBADF)
 * and before the file (EPERM). A failed MODIFY changes nothing. (Events 0
 * is a key-only association, see key_only_association.)
 */
TEST(einval)
{
	static const uint32_t bad_events[] = {
		0x40 /* POLLRDNORM */, 0x20 /* POLLNVAL */, 0x4000,
		IOCP_POLLIN | 0x80000000U, 0xffffffffU,
	};
	static const uint32_t bad_flags[] = {
		IOCP_ASSOC_SKIP_ON_SUCCESS << 1, 0x80000000U, 0xffffffffU,
	};
	static const unsigned long cmds[] = {
		IOCP_IOC_ASSOCIATE, IOCP_IOC_MODIFY,
	};
	char path[64];
	unsigned int i, c;
	int port, p[2], reg;

	port = test_port(8);
	ASSERT_LE(0, port);
	ASSERT_EQ(0, pipe2(p, O_NONBLOCK | O_CLOEXEC));
	snprintf(path, sizeof(path), "/tmp/iocp_assoc_reg.%d", getpid());
	reg = open(path, O_CREAT | O_RDWR | O_CLOEXEC, 0600);
	ASSERT_LE(0, reg);
	unlink(path);
	/* p[0] associated, so that MODIFY would otherwise succeed. */
	ASSERT_EQ(0, t_assoc(port, p[0], 0x77, EV_IN, 0));

	for (c = 0; c < ARRAY_SIZE(cmds); c++) {
		for (i = 0; i < ARRAY_SIZE(bad_events); i++) {
			EXPECT_EQ(-EINVAL, assoc_cmd(port, cmds[c], p[0], 1,
						     bad_events[i], 0, 0))
				TH_LOG("cmd %u events %#x", c, bad_events[i]);
			EXPECT_EQ(-EINVAL, assoc_cmd(port, cmds[c], -1, 1,
						     bad_events[i], 0, 0))
				TH_LOG("cmd %u events %#x, fd -1", c, bad_events[i]);
			EXPECT_EQ(-EINVAL, assoc_cmd(port, cmds[c], reg, 1,
						     bad_events[i], 0, 0))
				TH_LOG("cmd %u events %#x, regular file", c, bad_events[i]);
		}
		for (i = 0; i < ARRAY_SIZE(bad_flags); i++) {
			EXPECT_EQ(-EINVAL, assoc_cmd(port, cmds[c], p[0], 1,
						     EV_IN, bad_flags[i], 0))
				TH_LOG("cmd %u flags %#x", c, bad_flags[i]);
			EXPECT_EQ(-EINVAL, assoc_cmd(port, cmds[c], -1, 1,
						     EV_IN, bad_flags[i], 0))
				TH_LOG("cmd %u flags %#x, fd -1", c, bad_flags[i]);
		}
		EXPECT_EQ(-EINVAL, assoc_cmd(port, cmds[c], p[0], 1, EV_IN, 0, 1));
		EXPECT_EQ(-EINVAL, assoc_cmd(port, cmds[c], p[0], 1, EV_IN, 0,
					     0x80000000U));
		EXPECT_EQ(-EINVAL, assoc_cmd(port, cmds[c], -1, 1, EV_IN, 0, 1));
	}
	/* Every valid event bit at once is accepted (p[1]: a fresh file). */
	ASSERT_EQ(0, t_assoc(port, p[1], 0x88, EV_ALL, IOCP_ASSOC_ONESHOT));
	EXPECT_READY(port, 0x88, EV_OUT, 0);
	ASSERT_EQ(0, t_dissoc(port, p[1]));

	EXPECT_EQ(-EINVAL, assoc_cmd(port, IOCP_IOC_DISSOCIATE, p[0], 0, EV_IN, 0, 0));
	EXPECT_EQ(-EINVAL, assoc_cmd(port, IOCP_IOC_DISSOCIATE, p[0], 0, 0,
				     IOCP_ASSOC_ONESHOT, 0));
	EXPECT_EQ(-EINVAL, assoc_cmd(port, IOCP_IOC_DISSOCIATE, p[0], 0, 0, 0, 1));
	EXPECT_EQ(-EINVAL, assoc_cmd(port, IOCP_IOC_DISSOCIATE, -1, 0, EV_IN, 0, 0));

	/* Nothing changed: p[0] still associated, with its key. */
	EXPECT_EQ(1U, STAT(port, associations));
	ASSERT_EQ(0, write1(p[1]));
	EXPECT_READY(port, 0x77, EV_IN, 0);
	EXPECT_NONE(port);
	/* DISSOCIATE ignores the key. */
	EXPECT_EQ(0, assoc_cmd(port, IOCP_IOC_DISSOCIATE, p[0], 0x1234, 0, 0, 0));
	EXPECT_EQ(0U, STAT(port, associations));

	EXPECT_EQ(0, close(port));
	close(reg);
	close(p[0]);
	close(p[1]);
}

/* EBADF for descriptors that are not open; EPERM for unpollable files. */
TEST(ebadf_eperm)
{
	char path[64];
	int port, p[2], closed, reg, null;

	port = test_port(8);
	ASSERT_LE(0, port);
	ASSERT_EQ(0, pipe2(p, O_NONBLOCK | O_CLOEXEC));
	closed = dup(p[0]);
	ASSERT_LE(0, closed);
	close(closed);

	EXPECT_EQ(-EBADF, t_assoc(port, -1, 1, EV_IN, 0));
	EXPECT_EQ(-EBADF, t_assoc(port, closed, 1, EV_IN, 0));
	EXPECT_EQ(-EBADF, t_assoc(port, 0x7fffffff, 1, EV_IN, 0));
	EXPECT_EQ(-EBADF, t_modify(port, -1, 1, EV_IN, 0));
	EXPECT_EQ(-EBADF, t_modify(port, closed, 1, EV_IN, 0));
	EXPECT_EQ(-EBADF, t_dissoc(port, -1));
	EXPECT_EQ(-EBADF, t_dissoc(port, closed));

	snprintf(path, sizeof(path), "/tmp/iocp_assoc_reg.%d", getpid());
	reg = open(path, O_CREAT | O_RDWR | O_CLOEXEC, 0600);
	ASSERT_LE(0, reg);
	unlink(path);
	EXPECT_EQ(-EPERM, t_assoc(port, reg, 1, EV_IN, 0));
	EXPECT_EQ(-EPERM, t_assoc(port, reg, 1, EV_IN | EV_OUT, IOCP_ASSOC_ONESHOT));
	null = open("/dev/null", O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, null);
	EXPECT_EQ(-EPERM, t_assoc(port, null, 1, EV_IN, 0));
	EXPECT_EQ(0U, STAT(port, associations));

	/* Still usable. */
	ASSERT_EQ(0, t_assoc(port, p[0], 2, EV_IN, 0));
	EXPECT_EQ(1U, STAT(port, associations));

	EXPECT_EQ(0, close(port));
	close(null);
	close(reg);
	close(p[0]);
	close(p[1]);
}

/* EEXIST: one port per file; ENOENT: MODIFY/DISSOCIATE of a stranger. */
TEST(eexist_enoent)
{
	int a, b, p[2], q[2], d;

	a = test_port(8);
	ASSERT_LE(0, a);
	b = test_port(8);
	ASSERT_LE(0, b);
	ASSERT_EQ(0, pipe2(p, O_NONBLOCK | O_CLOEXEC));
	ASSERT_EQ(0, pipe2(q, O_NONBLOCK | O_CLOEXEC));
	d = dup(p[0]);
	ASSERT_LE(0, d);

	ASSERT_EQ(0, t_assoc(a, p[0], 0xa1, EV_IN, 0));
	EXPECT_EQ(-EEXIST, t_assoc(a, p[0], 0xa2, EV_IN, 0));
	EXPECT_EQ(-EEXIST, t_assoc(a, d, 0xa3, EV_OUT, IOCP_ASSOC_ONESHOT));
	EXPECT_EQ(-EEXIST, t_assoc(b, p[0], 0xb1, EV_IN, 0));
	EXPECT_EQ(-EEXIST, t_assoc(b, d, 0xb2, EV_IN, 0));
	EXPECT_EQ(1U, STAT(a, associations));
	EXPECT_EQ(0U, STAT(b, associations));

	/* Not associated at all. */
	EXPECT_EQ(-ENOENT, t_modify(a, q[0], 0xa4, EV_IN, 0));
	EXPECT_EQ(-ENOENT, t_dissoc(a, q[0]));
	/* Associated with another port. */
	EXPECT_EQ(-ENOENT, t_modify(b, p[0], 0xb3, EV_IN, 0));
	EXPECT_EQ(-ENOENT, t_dissoc(b, p[0]));
	EXPECT_EQ(-ENOENT, t_dissoc(b, d));

	/* a's association is intact: its key, on a. */
	ASSERT_EQ(0, write1(p[1]));
	EXPECT_READY(a, 0xa1, EV_IN, 0);
	EXPECT_NONE(b);

	/* Once dissociated from a, b may take it. */
	ASSERT_EQ(0, t_dissoc(a, d));
	ASSERT_EQ(0, t_assoc(b, p[0], 0xb4, EV_IN, 0));
	EXPECT_READY(b, 0xb4, EV_IN, 0);
	EXPECT_EQ(-EEXIST, t_assoc(a, p[0], 0xa5, EV_IN, 0));
	EXPECT_EQ(-ENOENT, t_dissoc(a, p[0]));
	EXPECT_NONE(a);
	EXPECT_EQ(0U, STAT(a, associations));
	EXPECT_EQ(1U, STAT(b, associations));

	EXPECT_EQ(0, close(a));
	EXPECT_EQ(0, close(b));
	close(d);
	close(p[0]);
	close(p[1]);
	close(q[0]);
	close(q[1]);
}

/*
 * ELOOP: a port into itself, a cycle of two or three ports, a chain of
 * more than IOCP_MAX_NEST ports. A chain of exactly IOCP_MAX_NEST is fine,
 * and dissociating shortens chains again.
 */
TEST(eloop)
{
	int p[IOCP_MAX_NEST + 2], x, y, z, q, i;

	for (i = 0; i < IOCP_MAX_NEST + 2; i++) {
		p[i] = test_port(8);
		ASSERT_LE(0, p[i]);
	}
	x = test_port(8);
	ASSERT_LE(0, x);
	y = test_port(8);
	ASSERT_LE(0, y);
	z = test_port(8);
	ASSERT_LE(0, z);
	q = test_port(8);
	ASSERT_LE(0, q);

	EXPECT_EQ(-ELOOP, t_assoc(x, x, 1, EV_IN, 0));
	EXPECT_EQ(0U, STAT(x, associations));

	/* x in y, then y in x. */
	ASSERT_EQ(0, t_assoc(y, x, 2, EV_IN, 0));
	EXPECT_EQ(-ELOOP, t_assoc(x, y, 3, EV_IN, 0));
	EXPECT_EQ(-EEXIST, t_assoc(y, x, 4, EV_IN, 0));
	/* x in y in z, then z in x. */
	ASSERT_EQ(0, t_assoc(z, y, 5, EV_IN, 0));
	EXPECT_EQ(-ELOOP, t_assoc(x, z, 6, EV_IN, 0));
	EXPECT_EQ(-ELOOP, t_assoc(y, z, 6, EV_IN, 0));
	EXPECT_EQ(0U, STAT(x, associations));

	/* p[1] in p[2] in ... in p[IOCP_MAX_NEST]: IOCP_MAX_NEST ports. */
	for (i = 1; i < IOCP_MAX_NEST; i++)
		ASSERT_EQ(0, t_assoc(p[i + 1], p[i], 0x10 + i, EV_IN, 0))
			TH_LOG("chain of %d ports refused", i + 1);
	/* One more at either end: IOCP_MAX_NEST + 1 ports. */
	EXPECT_EQ(-ELOOP, t_assoc(p[IOCP_MAX_NEST + 1], p[IOCP_MAX_NEST], 0x20, EV_IN, 0));
	EXPECT_EQ(-ELOOP, t_assoc(p[1], p[0], 0x21, EV_IN, 0));
	/* A chain joining two chains: x-y-z (3) into p[1]... */
	EXPECT_EQ(-ELOOP, t_assoc(p[1], z, 0x22, EV_IN, 0));
	/* A branch that is not longer: q into p[2] (q, p2, ..., p[MAX]). */
	ASSERT_EQ(0, t_assoc(p[2], q, 0x23, EV_IN, 0));
	/* The port at the end of the chain into one in it: a cycle. */
	EXPECT_EQ(-ELOOP, t_assoc(p[1], p[IOCP_MAX_NEST], 0x24, EV_IN, 0));

	/* Shorten the chain at its start: one more fits at its end. */
	ASSERT_EQ(0, t_dissoc(p[2], p[1]));
	EXPECT_EQ(-ELOOP, t_assoc(p[IOCP_MAX_NEST + 1], p[IOCP_MAX_NEST], 0x25, EV_IN, 0))
		TH_LOG("q in p[2] still makes the chain too long");
	ASSERT_EQ(0, t_dissoc(p[2], q));
	EXPECT_EQ(0, t_assoc(p[IOCP_MAX_NEST + 1], p[IOCP_MAX_NEST], 0x26, EV_IN, 0))
		TH_LOG("chain length not recomputed after DISSOCIATE");

	/* The chain works: a post at its start is IN at the next port. */
	ASSERT_EQ(0, iocp_post(p[2], 1, 1, 1));
	EXPECT_READY(p[3], 0x12, EV_IN, WAKE_NS);

	for (i = 0; i < IOCP_MAX_NEST + 2; i++)
		EXPECT_EQ(0, close(p[i]));
	EXPECT_EQ(0, close(x));
	EXPECT_EQ(0, close(y));
	EXPECT_EQ(0, close(z));
	EXPECT_EQ(0, close(q));
}

/*
 * max_assoc: default, round trip, bounds; ENOSPC beyond it, EEXIST and
 * ELOOP before ENOSPC; lowering it below the count keeps the associations.
 */
TEST(enospc_max_assoc)
{
	struct iocp_config cfg;
	struct iocp_stats s;
	int port, p[4][2], i;

	port = test_port(8);
	ASSERT_LE(0, port);
	ASSERT_EQ(0, get_config(port, &cfg));
	EXPECT_EQ((__u32)IOCP_DEFAULT_MAX_ASSOC, cfg.max_assoc);
	for (i = 0; i < (int)ARRAY_SIZE(cfg.reserved); i++)
		EXPECT_EQ(0U, cfg.reserved[i]);

	ASSERT_EQ(0, set_max_assoc(port, IOCP_MAX_ASSOC_LIMIT));
	ASSERT_EQ(0, get_config(port, &cfg));
	EXPECT_EQ((__u32)IOCP_MAX_ASSOC_LIMIT, cfg.max_assoc);
	EXPECT_EQ(-EINVAL, set_max_assoc(port, IOCP_MAX_ASSOC_LIMIT + 1));
	EXPECT_EQ(-EINVAL, set_max_assoc(port, 0xffffffffU));
	ASSERT_EQ(0, get_config(port, &cfg));
	EXPECT_EQ((__u32)IOCP_MAX_ASSOC_LIMIT, cfg.max_assoc);
	cfg.reserved[2] = 1;
	EXPECT_EQ(-EINVAL, xioctl(port, IOCP_IOC_SET_CONFIG, &cfg));
	ASSERT_EQ(0, set_max_assoc(port, 0));
	ASSERT_EQ(0, get_config(port, &cfg));
	EXPECT_EQ((__u32)IOCP_DEFAULT_MAX_ASSOC, cfg.max_assoc);

	ASSERT_EQ(0, set_max_assoc(port, 2));
	ASSERT_EQ(0, get_config(port, &cfg));
	EXPECT_EQ(2U, cfg.max_assoc);
	for (i = 0; i < 4; i++)
		ASSERT_EQ(0, pipe2(p[i], O_NONBLOCK | O_CLOEXEC));
	ASSERT_EQ(0, t_assoc(port, p[0][0], 10, EV_IN, 0));
	ASSERT_EQ(0, t_assoc(port, p[1][0], 11, EV_IN, 0));
	EXPECT_EQ(-ENOSPC, t_assoc(port, p[2][0], 12, EV_IN, 0));
	EXPECT_EQ(-ENOSPC, t_assoc(port, p[2][1], 12, EV_OUT, 0));
	EXPECT_EQ(-EEXIST, t_assoc(port, p[0][0], 13, EV_IN, 0));
	EXPECT_EQ(-ELOOP, t_assoc(port, port, 14, EV_IN, 0));
	ASSERT_EQ(0, get_stats(port, &s));
	EXPECT_EQ(2U, s.associations);
	EXPECT_EQ(0U, s.queued) TH_LOG("a refused ASSOCIATE queued a packet");

	ASSERT_EQ(0, t_dissoc(port, p[0][0]));
	EXPECT_EQ(1U, STAT(port, associations));
	ASSERT_EQ(0, t_assoc(port, p[2][0], 12, EV_IN, 0));
	EXPECT_EQ(2U, STAT(port, associations));
	EXPECT_EQ(-ENOSPC, t_assoc(port, p[3][0], 15, EV_IN, 0));

	/* Lowered below the count: the two stay, and work. */
	ASSERT_EQ(0, set_max_assoc(port, 1));
	EXPECT_EQ(2U, STAT(port, associations));
	EXPECT_EQ(-ENOSPC, t_assoc(port, p[3][0], 15, EV_IN, 0));
	ASSERT_EQ(0, write1(p[2][1]));
	EXPECT_READY(port, 12, EV_IN, 0);
	ASSERT_EQ(0, t_modify(port, p[1][0], 16, EV_IN, 0));
	ASSERT_EQ(0, t_dissoc(port, p[1][0]));
	EXPECT_EQ(-ENOSPC, t_assoc(port, p[3][0], 15, EV_IN, 0));
	ASSERT_EQ(0, t_dissoc(port, p[2][0]));
	ASSERT_EQ(0, t_assoc(port, p[3][0], 15, EV_IN, 0));
	EXPECT_EQ(1U, STAT(port, associations));

	EXPECT_EQ(0, close(port));
	for (i = 0; i < 4; i++) {
		close(p[i][0]);
		close(p[i][1]);
	}
}

/*
 * After IOCP_IOC_SHUTDOWN: every association is gone (its queued packet
 * counted as discarded), ASSOCIATE and MODIFY give ESHUTDOWN, DISSOCIATE
 * ENOENT. EINVAL, EBADF and EPERM still come first; ESHUTDOWN comes before
 * ELOOP and EEXIST.
 */
TEST(eshutdown)
{
	char path[64];
	struct iocp_stats s;
	int port, other, p[2], q[2], reg;

	port = test_port(8);
	ASSERT_LE(0, port);
	other = test_port(8);
	ASSERT_LE(0, other);
	ASSERT_EQ(0, pipe2(p, O_NONBLOCK | O_CLOEXEC));
	ASSERT_EQ(0, pipe2(q, O_NONBLOCK | O_CLOEXEC));
	snprintf(path, sizeof(path), "/tmp/iocp_assoc_reg.%d", getpid());
	reg = open(path, O_CREAT | O_RDWR | O_CLOEXEC, 0600);
	ASSERT_LE(0, reg);
	unlink(path);

	ASSERT_EQ(0, t_assoc(port, p[0], 1, EV_IN, 0));
	ASSERT_EQ(0, t_assoc(port, p[1], 2, EV_OUT, 0));	/* queued: OUT */
	ASSERT_EQ(0, write1(p[1]));				/* queued: IN */
	ASSERT_EQ(0, iocp_post(port, 3, 3, 3));
	ASSERT_EQ(0, t_assoc(other, q[0], 4, EV_IN, 0));
	ASSERT_EQ(0, get_stats(port, &s));
	EXPECT_EQ(3U, s.queued);
	EXPECT_EQ(2U, s.associations);

	ASSERT_EQ(0, iocp_shutdown(port));
	ASSERT_EQ(0, get_stats(port, &s));
	EXPECT_EQ(0U, s.queued);
	EXPECT_EQ(0U, s.associations);
	EXPECT_EQ(3ULL, s.discarded);
	EXPECT_NE(0U, s.flags & IOCP_STATS_SHUTDOWN);

	EXPECT_EQ(-ESHUTDOWN, t_assoc(port, q[1], 5, EV_OUT, 0));
	EXPECT_EQ(-ESHUTDOWN, t_assoc(port, p[0], 5, EV_IN, 0));
	EXPECT_EQ(-ESHUTDOWN, t_modify(port, p[0], 6, EV_IN, 0));
	EXPECT_EQ(-ESHUTDOWN, t_modify(port, q[1], 6, EV_IN, 0));
	EXPECT_EQ(-ENOENT, t_dissoc(port, p[0]));
	EXPECT_EQ(-ENOENT, t_dissoc(port, p[1]));
	EXPECT_EQ(-ESHUTDOWN, t_assoc(port, port, 7, EV_IN, 0));
	EXPECT_EQ(-ESHUTDOWN, t_assoc(port, q[0], 8, EV_IN, 0));
	EXPECT_EQ(-EINVAL, t_assoc(port, q[1], 9, EV_IN, 0x80000000U));
	EXPECT_EQ(-EBADF, t_assoc(port, -1, 9, EV_IN, 0));
	EXPECT_EQ(-EPERM, t_assoc(port, reg, 9, EV_IN, 0));
	EXPECT_EQ(0U, STAT(port, associations));

	/* The files were released by the port: another port may have them. */
	ASSERT_EQ(0, t_assoc(other, p[0], 10, EV_IN, 0));
	EXPECT_READY(other, 10, EV_IN, 0);
	/* A shut-down port into a live one is still a pollable file (HUP). */
	ASSERT_EQ(0, t_assoc(other, port, 11, EV_IN, 0));
	EXPECT_READY(other, 11, EV_HUP, 0);
	EXPECT_NONE(other);

	EXPECT_EQ(0, close(port));
	EXPECT_EQ(0, close(other));
	close(reg);
	close(p[0]);
	close(p[1]);
	close(q[0]);
	close(q[1]);
}

/* ------------------------------------------------------------------ */
/* 5. POLLFREE: a signalfd whose process went away                      */
/* ------------------------------------------------------------------ */

enum pollfree_end {
	PF_DISSOCIATE,		/* dissociate, then close both */
	PF_CLOSE_PORT,		/* close the port with the association live */
	PF_CLOSE_FILE_FIRST,	/* close the signalfd, then the port */
	PF_MODIFY,		/* MODIFY after POLLFREE, then dissociate */
};

/*
 * The parent's port is inherited by a child that creates a signalfd (its
 * wait queue lives in the child's sighand), associates it with the port,
 * passes the descriptor to the parent and exits. Reaping the child frees
 * its sighand: POLLFREE. The port must queue one HUP packet and drop its
 * wait entry (on the debug kernel KASAN catches a use-after-free if not),
 * then keep the file until dissociated or released.
 */
static void pollfree_case(struct __test_metadata *_metadata,
			  enum pollfree_end end)
{
	const uint64_t k = 0x5f5f5f5f00000000ULL | end;
	int port, sv[2], sfd, val, status;
	sigset_t set;
	pid_t pid;

	port = test_port(8);
	ASSERT_LE(0, port);
	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		int fd, ret;

		sigemptyset(&set);
		sigaddset(&set, SIGUSR1);
		sigprocmask(SIG_BLOCK, &set, NULL);
		fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
		if (fd < 0)
			_exit(2);
		ret = t_assoc(port, fd, k, EV_IN, 0);
		if (send_fd(sv[1], fd, ret))
			_exit(3);
		_exit(ret ? 1 : 0);
	}
	close(sv[1]);
	val = INT_MIN;
	sfd = recv_fd(sv[0], &val);
	close(sv[0]);
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status)) TH_LOG("child status %#x", status);
	ASSERT_EQ(0, WEXITSTATUS(status))
		TH_LOG("child: ASSOCIATE of its signalfd: %s", strerror(-val));
	ASSERT_LE(0, sfd);

	/* The child is reaped: its sighand, and the wait queue, are gone. */
	EXPECT_READY(port, k, EV_HUP, WAKE_NS);
	EXPECT_NONE(port);
	EXPECT_EQ(1U, STAT(port, associations));
	EXPECT_EQ(-EEXIST, t_assoc(port, sfd, k, EV_IN, 0));

	switch (end) {
	case PF_DISSOCIATE:
		EXPECT_EQ(0, t_dissoc(port, sfd));
		EXPECT_EQ(0U, STAT(port, associations));
		EXPECT_NONE(port);
		EXPECT_EQ(0, close(sfd));
		EXPECT_EQ(0, close(port));
		break;
	case PF_CLOSE_PORT:
		EXPECT_EQ(0, close(port));
		EXPECT_EQ(0, close(sfd));
		break;
	case PF_CLOSE_FILE_FIRST:
		EXPECT_EQ(0, close(sfd));
		EXPECT_EQ(1U, STAT(port, associations));
		EXPECT_EQ(0, close(port));
		break;
	case PF_MODIFY:
		/* Still associated; nothing is pending here, so no packet. */
		EXPECT_EQ(0, t_modify(port, sfd, k + 1, EV_IN, 0));
		EXPECT_NONE(port);
		EXPECT_EQ(1U, STAT(port, associations));
		EXPECT_EQ(0, t_dissoc(port, sfd));
		EXPECT_EQ(0U, STAT(port, associations));
		EXPECT_EQ(0, close(sfd));
		EXPECT_EQ(0, close(port));
		break;
	}
}

TEST(pollfree_dissociate)
{
	pollfree_case(_metadata, PF_DISSOCIATE);
}

TEST(pollfree_close_port)
{
	pollfree_case(_metadata, PF_CLOSE_PORT);
}

TEST(pollfree_close_file_first)
{
	pollfree_case(_metadata, PF_CLOSE_FILE_FIRST);
}

TEST(pollfree_modify)
{
	pollfree_case(_metadata, PF_MODIFY);
}

/*
 * The port itself belongs to the child: the child creates it and its
 * signalfd, associates them, passes the port to the parent and exits. The
 * parent reaps the child (POLLFREE), gets the HUP packet and releases the
 * port, whose association is then the last holder of the signalfd.
 */
TEST(pollfree_port_of_child)
{
	int sv[2], val, status, port;
	pid_t pid;

	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		sigset_t set;
		int cport, fd, ret;

		cport = test_port(8);
		sigemptyset(&set);
		sigaddset(&set, SIGUSR1);
		sigprocmask(SIG_BLOCK, &set, NULL);
		fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
		if (cport < 0 || fd < 0)
			_exit(2);
		ret = t_assoc(cport, fd, 0x5f5f, EV_IN, 0);
		close(fd);
		if (send_fd(sv[1], cport, ret))
			_exit(3);
		_exit(ret ? 1 : 0);
	}
	close(sv[1]);
	val = INT_MIN;
	port = recv_fd(sv[0], &val);
	close(sv[0]);
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
		TH_LOG("child status %#x, ASSOCIATE: %s", status, strerror(-val));
	ASSERT_LE(0, port);
	EXPECT_READY(port, 0x5f5f, EV_HUP, WAKE_NS);
	EXPECT_NONE(port);
	EXPECT_EQ(1U, STAT(port, associations));
	EXPECT_EQ(0, close(port));
}

/* ------------------------------------------------------------------ */
/* 6. The file reference of an association                              */
/* ------------------------------------------------------------------ */

enum ref_end { REF_CLOSE_PORT, REF_DISSOCIATE, REF_SHUTDOWN };

/* @fd sees no EOF (nothing to read, no hang-up) for BLOCKED_MS. */
static void expect_no_eof_(struct __test_metadata *_metadata, int line, int fd)
{
	char c;

	EXPECT_EQ(0, poll1(fd, POLLIN | POLLRDHUP, BLOCKED_MS))
		TH_LOG("line %d: the peer looks closed", line);
	EXPECT_EQ(-1, read(fd, &c, 1)) TH_LOG("line %d", line);
	EXPECT_EQ(EAGAIN, errno) TH_LOG("line %d", line);
}

#define EXPECT_NO_EOF(fd) expect_no_eof_(_metadata, __LINE__, fd)

/*
 * @fd's peer is closed within WAKE_MS: POLLIN|POLLRDHUP|POLLHUP, and a read
 * gives EOF, or ECONNRESET if the peer was closed with data unread.
 */
static void expect_closed_(struct __test_metadata *_metadata, int line, int fd,
			   bool unread)
{
	int rev = poll1(fd, POLLIN | POLLRDHUP, WAKE_MS);
	char c;

	EXPECT_EQ(POLLIN | POLLRDHUP | POLLHUP, rev & (POLLIN | POLLRDHUP | POLLHUP))
		TH_LOG("line %d: peer not closed within %d ms (revents %#x)",
		       line, WAKE_MS, rev);
	if (unread) {
		EXPECT_EQ(-1, read(fd, &c, 1)) TH_LOG("line %d", line);
		EXPECT_EQ(ECONNRESET, errno) TH_LOG("line %d", line);
	} else {
		EXPECT_EQ(0, read(fd, &c, 1))
			TH_LOG("line %d: read: %s", line, strerror(errno));
	}
}

/* The peer was closed with the byte written to it unread. */
#define EXPECT_CLOSED_UNREAD(fd) expect_closed_(_metadata, __LINE__, fd, true)

/*
 * An association holds the open file: the application closing its only
 * descriptor of socket A does not close A (its peer B sees no EOF); the
 * release of the port, DISSOCIATE or SHUTDOWN then does.
 */
static void ref_case(struct __test_metadata *_metadata, enum ref_end end)
{
	int port, sv[2], a2 = -1;

	port = test_port(8);
	ASSERT_LE(0, port);
	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
				0, sv));
	ASSERT_EQ(0, t_assoc(port, sv[0], 0xabc, EV_IN | EV_RDHUP, 0));
	if (end == REF_DISSOCIATE) {
		/* Something must name the file to dissociate it. */
		a2 = dup(sv[0]);
		ASSERT_LE(0, a2);
	}
	ASSERT_EQ(0, close(sv[0]));
	EXPECT_NO_EOF(sv[1]);
	EXPECT_EQ(1U, STAT(port, associations));

	/* The file is alive: data written to it is queued, a packet comes. */
	ASSERT_EQ(0, write1(sv[1]));
	EXPECT_READY(port, 0xabc, EV_IN, 0);
	EXPECT_NO_EOF(sv[1]);

	switch (end) {
	case REF_CLOSE_PORT:
		ASSERT_EQ(0, close(port));
		port = -1;
		break;
	case REF_DISSOCIATE:
		ASSERT_EQ(0, t_dissoc(port, a2));
		EXPECT_EQ(0U, STAT(port, associations));
		EXPECT_NO_EOF(sv[1]);	/* a2 still open */
		ASSERT_EQ(0, close(a2));
		break;
	case REF_SHUTDOWN:
		ASSERT_EQ(0, iocp_shutdown(port));
		EXPECT_EQ(0U, STAT(port, associations));
		break;
	}
	EXPECT_CLOSED_UNREAD(sv[1]);
	if (port >= 0)
		EXPECT_EQ(0, close(port));
	close(sv[1]);
}

TEST(file_ref_port_close)
{
	ref_case(_metadata, REF_CLOSE_PORT);
}

TEST(file_ref_dissociate)
{
	ref_case(_metadata, REF_DISSOCIATE);
}

TEST(file_ref_shutdown)
{
	ref_case(_metadata, REF_SHUTDOWN);
}

/*
 * Nested ports released in a cascade: a socket in p1, p1 in p2, p2 in p3,
 * every descriptor but the peer's closed. Closing p3 releases p2, which
 * releases p1, which releases the socket: the peer sees EOF.
 */
TEST(file_ref_nested_release)
{
	int p1, p2, p3, sv[2];

	p1 = test_port(8);
	ASSERT_LE(0, p1);
	p2 = test_port(8);
	ASSERT_LE(0, p2);
	p3 = test_port(8);
	ASSERT_LE(0, p3);
	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
				0, sv));
	ASSERT_EQ(0, t_assoc(p1, sv[0], 1, EV_IN, 0));
	ASSERT_EQ(0, t_assoc(p2, p1, 2, EV_IN, 0));
	ASSERT_EQ(0, t_assoc(p3, p2, 3, EV_IN, 0));
	ASSERT_EQ(0, close(sv[0]));
	ASSERT_EQ(0, close(p1));
	ASSERT_EQ(0, close(p2));
	EXPECT_NO_EOF(sv[1]);

	/* Events still travel up the chain. */
	ASSERT_EQ(0, write1(sv[1]));
	EXPECT_READY(p3, 3, EV_IN, WAKE_NS);

	ASSERT_EQ(0, close(p3));
	EXPECT_CLOSED_UNREAD(sv[1]);
	close(sv[1]);
}

/* ------------------------------------------------------------------ */
/* 7. Ten thousand associations                                         */
/* ------------------------------------------------------------------ */

#define MANY			10000
#define MANY_TAG		0xc0ffee0000000000ULL

static long meminfo_kb(const char *name)
{
	size_t n = strlen(name);
	char line[256];
	long v = -1;
	FILE *f;

	f = fopen("/proc/meminfo", "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, name, n) && line[n] == ':') {
			v = strtol(line + n + 1, NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

/* The iocp_assoc line of /proc/slabinfo, if the cache is not merged. */
static void log_slabinfo(struct __test_metadata *_metadata)
{
	char line[512];
	FILE *f;

	f = fopen("/proc/slabinfo", "re");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "iocp_assoc ", 11)) {
			line[strcspn(line, "\n")] = 0;
			ksft_print_msg("slabinfo: %s\n", line);
			fflush(stdout);
		}
	fclose(f);
}

TEST_F_TIMEOUT(long_run, ten_thousand_sockets, 300)
{
	static struct iocp_completion out[IOCP_MAX_BATCH];
	long slab_before, slab_after;
	struct iocp_stats s;
	struct rlimit rl;
	unsigned char *seen;
	int *a, *b, port, i, sv[2], ret, got, bad, rounds;
	uint64_t t0;
	uint32_t count, j;

	rl.rlim_cur = rl.rlim_max = 2 * MANY + 5000;
	ASSERT_EQ(0, setrlimit(RLIMIT_NOFILE, &rl))
		TH_LOG("RLIMIT_NOFILE %d: %s", 2 * MANY + 5000, strerror(errno));
	a = calloc(MANY, sizeof(*a));
	b = calloc(MANY, sizeof(*b));
	seen = calloc(MANY, 1);
	ASSERT_TRUE(a && b && seen);

	t0 = now_ns();
	for (i = 0; i < MANY; i++) {
		ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK |
					SOCK_CLOEXEC, 0, sv))
			TH_LOG("socketpair %d: %s", i, strerror(errno));
		a[i] = sv[0];
		b[i] = sv[1];
	}
	port = test_port(0);
	ASSERT_LE(0, port);

	slab_before = meminfo_kb("Slab");
	for (i = 0; i < MANY; i++) {
		ret = t_assoc(port, a[i], MANY_TAG | i, EV_IN, 0);
		ASSERT_EQ(0, ret) TH_LOG("ASSOCIATE %d: %s", i, strerror(-ret));
	}
	slab_after = meminfo_kb("Slab");
	ksft_print_msg("assoc memory: %ld bytes per association (Slab before %ld kB, after %ld kB)\n",
		       (slab_after - slab_before) * 1024 / MANY, slab_before,
		       slab_after);
	fflush(stdout);
	log_slabinfo(_metadata);

	ASSERT_EQ(0, get_stats(port, &s));
	EXPECT_EQ((__u32)MANY, s.associations);
	EXPECT_EQ(0U, s.queued);

	for (i = 0; i < MANY; i++)
		ASSERT_EQ(0, write1(b[i])) TH_LOG("write %d", i);
	EXPECT_EQ((__u32)MANY, STAT(port, queued));

	got = bad = rounds = 0;
	while (got < MANY && rounds++ < 4 * MANY / IOCP_MAX_BATCH + 10) {
		memset(out, POISON_BYTE, sizeof(out));
		ret = dq(port, out, IOCP_MAX_BATCH, 0, WAKE_NS, &count);
		if (ret == -ETIMEDOUT)
			break;
		ASSERT_LE(0, ret) TH_LOG("DEQUEUE: %s", strerror(-ret));
		ASSERT_GE((__u32)IOCP_MAX_BATCH, count);
		for (j = 0; j < count; j++) {
			uint64_t key = out[j].key;
			uint64_t idx = key & ~MANY_TAG;

			if ((key & MANY_TAG) != MANY_TAG || idx >= MANY ||
			    seen[idx] || out[j].events != EV_IN ||
			    out[j].flags != IOCP_CF_READINESS ||
			    out[j].user_data || out[j].result) {
				if (bad++ < 5)
					TH_LOG("bad packet: key %#llx events %#x flags %#x ud %#llx res %#llx%s",
					       (unsigned long long)key, out[j].events,
					       out[j].flags,
					       (unsigned long long)out[j].user_data,
					       (unsigned long long)out[j].result,
					       idx < MANY && seen[idx] ? " (duplicate)" : "");
				continue;
			}
			seen[idx] = 1;
		}
		got += count;
	}
	EXPECT_EQ(MANY, got);
	EXPECT_EQ(0, bad);
	for (i = 0; i < MANY; i++)
		if (!seen[i]) {
			TH_LOG("no packet for key %d", i);
			break;
		}
	EXPECT_NONE(port);

	ASSERT_EQ(0, get_stats(port, &s));
	EXPECT_EQ((__u32)MANY, s.associations);
	EXPECT_EQ(0U, s.queued);
	EXPECT_EQ(0ULL, s.posted);
	EXPECT_EQ((__u64)MANY, s.dequeued);

	/* The application's descriptors go; the port still holds the files. */
	for (i = 0; i < MANY; i++)
		close(a[i]);
	EXPECT_EQ(0, poll1(b[0], POLLRDHUP, 0));
	EXPECT_EQ(0, poll1(b[MANY - 1], POLLRDHUP, 0));
	EXPECT_EQ(0, close(port));
	EXPECT_NE(0, poll1(b[0], POLLRDHUP, WAKE_MS) & POLLRDHUP);
	EXPECT_NE(0, poll1(b[MANY - 1], POLLRDHUP, WAKE_MS) & POLLRDHUP);
	for (i = 0; i < MANY; i++)
		close(b[i]);
	TH_LOG("10000 associations: %llu ms in all",
	       (unsigned long long)((now_ns() - t0) / NSEC_PER_MSEC));
	free(a);
	free(b);
	free(seen);
}

/* ------------------------------------------------------------------ */
/* 8. Races                                                             */
/* ------------------------------------------------------------------ */

#define RACE_WORKERS		4
#define RACE_ITERS		2000
#define RACE_BUDGET_MS		6000
#define RACE_TAG		0x5a00000000000000ULL
#define RACE_SHARED_TAG		0x5b00000000000000ULL
#define RACE_TAG_MASK		0xff00000000000000ULL
#define RACE_MOD		(1ULL << 48)
#define RACE_KEY(w, it)		(RACE_TAG | ((uint64_t)(w) << 32) | (uint32_t)(it))

struct race {
	int port;
	int leak;		/* variant: every 4th file closed while associated */
	int stop;		/* workers done: writer stops, dequeuer drains */
	int shared;		/* an eventfd all workers fight over */
	uint64_t deadline;
	int slot[RACE_WORKERS];		/* fd of each worker's current file */
	int done_iter[RACE_WORKERS];	/* last iteration DISSOCIATEd */
	int mod_iter[RACE_WORKERS];	/* last iteration MODIFYed */
	int iters[RACE_WORKERS];
	int leaked[RACE_WORKERS];
	int shared_assoc, shared_dissoc;
	int errors;
	int bad;
	unsigned long packets;
	pthread_mutex_t lock;
	char first_error[160];
	char first_bad[160];
};

struct race_worker {
	struct race *r;
	int w;
};

static __attribute__((format(printf, 3, 4)))
void race_note(struct race *r, char *buf, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&r->lock);
	if (!buf[0]) {
		va_start(ap, fmt);
		vsnprintf(buf, 160, fmt, ap);
		va_end(ap);
	}
	pthread_mutex_unlock(&r->lock);
}

static bool race_leaks(const struct race *r, uint32_t it)
{
	return r->leak && it % 4 == 2;
}

static void *race_worker_fn(void *arg)
{
	struct race_worker *rw = arg;
	struct race *r = rw->r;
	int w = rw->w, it, fd, ret, j;
	uint32_t flags;
	uint64_t key;

	for (it = 0; it < RACE_ITERS && now_ns() < r->deadline; it++) {
		flags = (it / 4) % 2 ? IOCP_ASSOC_ONESHOT : 0;
		key = RACE_KEY(w, it);
		fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (fd < 0) {
			race_note(r, r->first_error, "w%d it%d eventfd: %s", w, it,
				  strerror(errno));
			__atomic_add_fetch(&r->errors, 1, __ATOMIC_SEQ_CST);
			break;
		}
		ret = t_assoc(r->port, fd, key, EV_IN, flags);
		if (ret) {
			race_note(r, r->first_error, "w%d it%d ASSOCIATE: %s", w, it,
				  strerror(-ret));
			__atomic_add_fetch(&r->errors, 1, __ATOMIC_SEQ_CST);
			close(fd);
			break;
		}
		st(&r->slot[w], fd);
		if (it & 1)
			efd_add(fd, 1);
		for (j = 0; j < it % 5; j++)
			sched_yield();

		if (it % 4 == 1) {
			ret = t_modify(r->port, fd, key | RACE_MOD, EV_IN, flags);
			if (ret) {
				race_note(r, r->first_error, "w%d it%d MODIFY: %s",
					  w, it, strerror(-ret));
				__atomic_add_fetch(&r->errors, 1, __ATOMIC_SEQ_CST);
			}
			st(&r->mod_iter[w], it);
			sched_yield();
		}
		if (race_leaks(r, (uint32_t)it)) {
			/* Closed while associated: the port keeps it. */
			st(&r->slot[w], -1);
			close(fd);
			r->leaked[w]++;
		} else {
			if (it % 4 == 3)
				efd_add(fd, 1);	/* likely queued now */
			ret = t_dissoc(r->port, fd);
			if (ret) {
				race_note(r, r->first_error, "w%d it%d DISSOCIATE: %s",
					  w, it, strerror(-ret));
				__atomic_add_fetch(&r->errors, 1, __ATOMIC_SEQ_CST);
			}
			st(&r->done_iter[w], it);
			st(&r->slot[w], -1);
			close(fd);
		}

		if (it % 8 == 0) {
			ret = t_assoc(r->port, r->shared, RACE_SHARED_TAG | w, EV_IN, 0);
			if (!ret) {
				__atomic_add_fetch(&r->shared_assoc, 1, __ATOMIC_SEQ_CST);
			} else if (ret != -EEXIST) {
				race_note(r, r->first_error, "w%d shared ASSOCIATE: %s",
					  w, strerror(-ret));
				__atomic_add_fetch(&r->errors, 1, __ATOMIC_SEQ_CST);
			}
		} else if (it % 8 == 4) {
			ret = t_dissoc(r->port, r->shared);
			if (!ret) {
				__atomic_add_fetch(&r->shared_dissoc, 1, __ATOMIC_SEQ_CST);
			} else if (ret != -ENOENT) {
				race_note(r, r->first_error, "w%d shared DISSOCIATE: %s",
					  w, strerror(-ret));
				__atomic_add_fetch(&r->errors, 1, __ATOMIC_SEQ_CST);
			}
		}
	}
	r->iters[w] = it;
	return NULL;
}

/* Fires events on whatever files the workers have published. */
static void *race_writer_fn(void *arg)
{
	struct race *r = arg;
	int w, fd;

	while (!ld(&r->stop)) {
		for (w = 0; w < RACE_WORKERS; w++) {
			fd = ld(&r->slot[w]);
			/*
			 * The fd may be closed meanwhile and its number
			 * reused: only eventfds are created during the test,
			 * so a stray write is harmless.
			 */
			if (fd >= 0)
				efd_add(fd, 1);
		}
		efd_add(r->shared, 1);
		sched_yield();
	}
	return NULL;
}

static void race_check(struct race *r, const struct iocp_completion *e,
		       const int *dsnap, const int *msnap)
{
	uint64_t key = e->key;
	uint32_t w, it;

	if (e->flags != IOCP_CF_READINESS || e->events != EV_IN ||
	    e->user_data || e->result) {
		race_note(r, r->first_bad, "key %#llx: flags %#x events %#x",
			  (unsigned long long)key, e->flags, e->events);
		goto bad;
	}
	if ((key & RACE_TAG_MASK) == RACE_SHARED_TAG) {
		if ((key & ~RACE_TAG_MASK) >= RACE_WORKERS) {
			race_note(r, r->first_bad, "unknown shared key %#llx",
				  (unsigned long long)key);
			goto bad;
		}
		return;
	}
	w = (uint32_t)(key >> 32) & 0xff;
	it = (uint32_t)key;
	if ((key & RACE_TAG_MASK) != RACE_TAG || w >= RACE_WORKERS ||
	    it >= RACE_ITERS || (key & ~(RACE_TAG_MASK | RACE_MOD |
					  0xff00000000ULL | 0xffffffffULL)) ||
	    ((key & RACE_MOD) && it % 4 != 1)) {
		race_note(r, r->first_bad, "unknown key %#llx",
			  (unsigned long long)key);
		goto bad;
	}
	if (!race_leaks(r, it) && (int)it <= dsnap[w]) {
		race_note(r, r->first_bad,
			  "key %#llx after its DISSOCIATE returned (w%u done %d)",
			  (unsigned long long)key, w, dsnap[w]);
		goto bad;
	}
	if (it % 4 == 1 && !(key & RACE_MOD) && (int)it <= msnap[w]) {
		race_note(r, r->first_bad,
			  "old key %#llx after its MODIFY returned (w%u modified %d)",
			  (unsigned long long)key, w, msnap[w]);
		goto bad;
	}
	return;
bad:
	__atomic_add_fetch(&r->bad, 1, __ATOMIC_SEQ_CST);
}

static void *race_dequeuer_fn(void *arg)
{
	int dsnap[RACE_WORKERS], msnap[RACE_WORKERS], w, ret, stop;
	struct iocp_completion e[32];
	struct race *r = arg;
	uint32_t count, i;

	for (;;) {
		stop = ld(&r->stop);
		/* Snapshots taken before the DEQUEUE begins. */
		for (w = 0; w < RACE_WORKERS; w++) {
			dsnap[w] = ld(&r->done_iter[w]);
			msnap[w] = ld(&r->mod_iter[w]);
		}
		ret = dq(r->port, e, 32, 0, stop ? 0 : 5 * NSEC_PER_MSEC, &count);
		if (ret == -ETIMEDOUT) {
			if (stop)
				break;
			continue;
		}
		if (ret < 0) {
			race_note(r, r->first_error, "DEQUEUE: %s", strerror(-ret));
			__atomic_add_fetch(&r->errors, 1, __ATOMIC_SEQ_CST);
			break;
		}
		for (i = 0; i < count; i++)
			race_check(r, &e[i], dsnap, msnap);
		__atomic_add_fetch(&r->packets, count, __ATOMIC_SEQ_CST);
	}
	return NULL;
}

static void race_case(struct __test_metadata *_metadata, bool leak)
{
	struct race_worker rw[RACE_WORKERS];
	pthread_t workers[RACE_WORKERS], writer, dequeuer;
	struct iocp_completion e;
	struct iocp_stats s;
	int w, total = 0, leaked = 0, net, ret;
	struct race *r;
	uint64_t t0;

	r = calloc(1, sizeof(*r));
	ASSERT_NE(NULL, r);
	pthread_mutex_init(&r->lock, NULL);
	r->leak = leak;
	r->port = test_port(8);
	ASSERT_LE(0, r->port);
	r->shared = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	ASSERT_LE(0, r->shared);
	for (w = 0; w < RACE_WORKERS; w++) {
		r->slot[w] = -1;
		r->done_iter[w] = -1;
		r->mod_iter[w] = -1;
	}
	t0 = now_ns();
	r->deadline = t0 + RACE_BUDGET_MS * NSEC_PER_MSEC;

	ASSERT_EQ(0, pthread_create(&dequeuer, NULL, race_dequeuer_fn, r));
	ASSERT_EQ(0, pthread_create(&writer, NULL, race_writer_fn, r));
	for (w = 0; w < RACE_WORKERS; w++) {
		rw[w].r = r;
		rw[w].w = w;
		ASSERT_EQ(0, pthread_create(&workers[w], NULL, race_worker_fn, &rw[w]));
	}
	for (w = 0; w < RACE_WORKERS; w++) {
		ASSERT_EQ(0, join_ms(workers[w], RACE_BUDGET_MS + 20000))
			TH_LOG("worker %d stuck", w);
		total += r->iters[w];
		leaked += r->leaked[w];
	}
	st(&r->stop, 1);
	ASSERT_EQ(0, join_ms(writer, WAKE_MS));
	ASSERT_EQ(0, join_ms(dequeuer, WAKE_MS + 5000)) TH_LOG("dequeuer stuck");
	TH_LOG("%d iterations (%d files closed while associated) in %llu ms, %lu packets",
	       total, leaked, (unsigned long long)((now_ns() - t0) / NSEC_PER_MSEC),
	       r->packets);

	EXPECT_EQ(0, r->errors) TH_LOG("first error: %s", r->first_error);
	EXPECT_EQ(0, r->bad) TH_LOG("first bad packet: %s", r->first_bad);
	EXPECT_LT(0UL, r->packets) TH_LOG("the writer never fired an event");
	EXPECT_LE(RACE_WORKERS * 100, total) TH_LOG("too few iterations to mean much");

	/* The shared file: associated at most once at a time. */
	net = r->shared_assoc - r->shared_dissoc;
	EXPECT_TRUE(net == 0 || net == 1)
		TH_LOG("shared file: %d associates, %d dissociates",
		       r->shared_assoc, r->shared_dissoc);
	ASSERT_EQ(0, get_stats(r->port, &s));
	EXPECT_EQ((__u32)(leaked + net), s.associations);
	ret = t_dissoc(r->port, r->shared);
	EXPECT_EQ(net == 1 ? 0 : -ENOENT, ret);
	EXPECT_EQ((__u32)leaked, STAT(r->port, associations));

	/* Nothing left queued; the port still works. */
	EXPECT_NONE(r->port);
	ASSERT_EQ(0, iocp_post(r->port, 0x1234, 0x5678, 9));
	ASSERT_EQ(1, get1(r->port, &e, 0));
	EXPECT_EQ(0x1234ULL, e.key);
	EXPECT_EQ(0x5678ULL, e.user_data);
	EXPECT_EQ(9ULL, e.result);
	EXPECT_EQ((__u32)IOCP_CF_POSTED, e.flags);
	EXPECT_EQ(0U, e.events);
	EXPECT_NONE(r->port);
	if (!leak)
		EXPECT_EQ(0U, STAT(r->port, associations));

	if (leak) {
		/* The closed files are released by SHUTDOWN. */
		ASSERT_EQ(0, iocp_shutdown(r->port));
		ASSERT_EQ(0, get_stats(r->port, &s));
		EXPECT_EQ(0U, s.associations);
		EXPECT_EQ(0U, s.queued);
		EXPECT_EQ(-ESHUTDOWN, t_assoc(r->port, r->shared, 1, EV_IN, 0));
	}
	EXPECT_EQ(0, close(r->port));
	close(r->shared);
	pthread_mutex_destroy(&r->lock);
	free(r);
}

TEST_F_TIMEOUT(long_run, race_assoc_dissoc_close, 120)
{
	race_case(_metadata, false);
}

TEST_F_TIMEOUT(long_run, race_close_while_associated_then_shutdown, 120)
{
	race_case(_metadata, true);
}

/* ------------------------------------------------------------------ */
/* 9. Readiness packets and the concurrency limit                       */
/* ------------------------------------------------------------------ */

/*
 * A thread that dequeues once (blocking), then waits for @go and dequeues
 * again with timeout 0, then waits for @finish. It counts as running in
 * between (the port ignores blocking).
 */
struct stepper {
	pthread_t thread;
	int port;
	sem_t go, finish;
	int stage;
	int ret1, ret2;
	struct iocp_completion e1, e2;
};

static void *stepper_fn(void *arg)
{
	struct stepper *s = arg;

	s->ret1 = get1(s->port, &s->e1, IOCP_INFINITE);
	st(&s->stage, 1);
	if (s->ret1 == -ESHUTDOWN)
		return NULL;
	sem_wait(&s->go);
	s->ret2 = get1(s->port, &s->e2, 0);
	st(&s->stage, 2);
	sem_wait(&s->finish);
	return NULL;
}

static int start_stepper(struct stepper *s, int port)
{
	memset(s, 0, sizeof(*s));
	s->port = port;
	s->ret1 = s->ret2 = INT_MIN;
	sem_init(&s->go, 0, 0);
	sem_init(&s->finish, 0, 0);
	return pthread_create(&s->thread, NULL, stepper_fn, s);
}

#define EXPECT_READY_ENTRY(e, k, ev) do { \
	EXPECT_EQ((__u64)(k), (e).key); \
	EXPECT_EQ((__u32)(ev), (e).events); \
	EXPECT_EQ((__u32)IOCP_CF_READINESS, (e).flags); \
	EXPECT_EQ(0ULL, (e).user_data); \
	EXPECT_EQ(0ULL, (e).result); \
} while (0)

/*
 * Concurrency 1, two waiting threads: a readiness event wakes exactly one,
 * the most recent waiter; a second event while it runs wakes nobody (the
 * packet stays queued) and is taken by the running thread itself.
 */
TEST(readiness_concurrency_one_lifo)
{
	const uint64_t k = 0x9000000000000001ULL;
	struct stepper s[2];
	struct iocp_stats st_;
	int port, p[2], i;

	port = test_port(1);
	ASSERT_LE(0, port);
	ASSERT_EQ(0, pipe2(p, O_NONBLOCK | O_CLOEXEC));
	ASSERT_EQ(0, t_assoc(port, p[0], k, EV_IN, 0));
	for (i = 0; i < 2; i++) {
		ASSERT_EQ(0, start_stepper(&s[i], port));
		ASSERT_TRUE(WAIT_STAT(port, waiting, i + 1));
	}

	ASSERT_EQ(0, write1(p[1]));
	ASSERT_TRUE(wait_int(&s[1].stage, 1, WAKE_MS))
		TH_LOG("the most recent waiter was not released");
	EXPECT_EQ(1, s[1].ret1);
	EXPECT_READY_ENTRY(s[1].e1, k, EV_IN);
	EXPECT_EQ(ETIMEDOUT, join_ms(s[0].thread, BLOCKED_MS))
		TH_LOG("one readiness packet woke two threads");
	EXPECT_EQ(0, ld(&s[0].stage));

	/* A second event: queued, nobody released beyond concurrency 1. */
	ASSERT_EQ(0, write1(p[1]));
	ASSERT_TRUE(WAIT_STAT(port, queued, 1));
	EXPECT_EQ(ETIMEDOUT, join_ms(s[0].thread, BLOCKED_MS))
		TH_LOG("readiness packet released a thread beyond concurrency 1");
	ASSERT_EQ(0, get_stats(port, &st_));
	EXPECT_EQ(1U, st_.running);
	EXPECT_EQ(1U, st_.waiting);
	EXPECT_EQ(1U, st_.queued);
	EXPECT_EQ(1U, st_.peak_running);

	/* The running thread takes it itself. */
	sem_post(&s[1].go);
	ASSERT_TRUE(wait_int(&s[1].stage, 2, WAKE_MS));
	EXPECT_EQ(1, s[1].ret2);
	EXPECT_READY_ENTRY(s[1].e2, k, EV_IN);
	EXPECT_EQ(ETIMEDOUT, join_ms(s[0].thread, BLOCKED_MS));
	EXPECT_EQ(0U, STAT(port, queued));

	ASSERT_EQ(0, iocp_shutdown(port));
	ASSERT_EQ(0, join_ms(s[0].thread, WAKE_MS));
	EXPECT_EQ(-ESHUTDOWN, s[0].ret1);
	sem_post(&s[1].finish);
	ASSERT_EQ(0, join_ms(s[1].thread, WAKE_MS));
	for (i = 0; i < 2; i++) {
		sem_destroy(&s[i].go);
		sem_destroy(&s[i].finish);
	}
	EXPECT_EQ(0, close(port));
	close(p[0]);
	close(p[1]);
}

/*
 * Concurrency 2, two waiters: one readiness packet wakes one thread only
 * (LIFO); an event of another file then wakes the other.
 */
TEST(readiness_one_packet_one_thread)
{
	struct stepper s[2];
	int port, p[2], q[2], i;

	port = test_port(2);
	ASSERT_LE(0, port);
	ASSERT_EQ(0, pipe2(p, O_NONBLOCK | O_CLOEXEC));
	ASSERT_EQ(0, pipe2(q, O_NONBLOCK | O_CLOEXEC));
	ASSERT_EQ(0, t_assoc(port, p[0], 0x71, EV_IN, 0));
	ASSERT_EQ(0, t_assoc(port, q[0], 0x72, EV_IN, 0));
	for (i = 0; i < 2; i++) {
		ASSERT_EQ(0, start_stepper(&s[i], port));
		ASSERT_TRUE(WAIT_STAT(port, waiting, i + 1));
	}

	/*
	 * One write: a second event while the packet is being delivered
	 * would rightly make a second packet.
	 */
	ASSERT_EQ(0, write1(p[1]));
	ASSERT_TRUE(wait_int(&s[1].stage, 1, WAKE_MS));
	EXPECT_EQ(1, s[1].ret1);
	EXPECT_READY_ENTRY(s[1].e1, 0x71, EV_IN);
	EXPECT_EQ(ETIMEDOUT, join_ms(s[0].thread, BLOCKED_MS))
		TH_LOG("one readiness packet woke two threads");

	ASSERT_EQ(0, write1(q[1]));
	ASSERT_TRUE(wait_int(&s[0].stage, 1, WAKE_MS))
		TH_LOG("second file's packet did not wake the second waiter");
	EXPECT_EQ(1, s[0].ret1);
	EXPECT_READY_ENTRY(s[0].e1, 0x72, EV_IN);

	for (i = 0; i < 2; i++) {
		sem_post(&s[i].go);
		ASSERT_TRUE(wait_int(&s[i].stage, 2, WAKE_MS));
		EXPECT_EQ(-ETIMEDOUT, s[i].ret2);
		sem_post(&s[i].finish);
		ASSERT_EQ(0, join_ms(s[i].thread, WAKE_MS));
		sem_destroy(&s[i].go);
		sem_destroy(&s[i].finish);
	}
	EXPECT_EQ(0, close(port));
	close(p[0]);
	close(p[1]);
	close(q[0]);
	close(q[1]);
}

/* ------------------------------------------------------------------ */
/* A packet in flight                                                   */
/* ------------------------------------------------------------------ */

/*
 * A page registered with userfaultfd for missing pages: a DEQUEUE whose
 * entries are there faults while copying its packets out and sleeps until
 * uffd_resolve(). That holds a readiness packet "being delivered" for as
 * long as a test needs.
 */
struct uffd_page {
	int uffd, memfd;
	long pagesz;
	char *map, *src;
};

/* 0, 1 with @why set if the kernel cannot do it, -1 on error. */
static int uffd_setup(struct uffd_page *u, char *why, size_t len)
{
	struct uffdio_register reg;
	struct uffdio_api api;

	u->pagesz = sysconf(_SC_PAGESIZE);
	u->map = u->src = MAP_FAILED;
	u->memfd = -1;
	u->uffd = syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (u->uffd < 0) {
		snprintf(why, len, "userfaultfd: %s", strerror(errno));
		return 1;
	}
	memset(&api, 0, sizeof(api));
	api.api = UFFD_API;
	if (ioctl(u->uffd, UFFDIO_API, &api)) {
		snprintf(why, len, "UFFDIO_API: %s", strerror(errno));
		return 1;
	}
	u->memfd = memfd_create("iocp-assoc", MFD_CLOEXEC);
	if (u->memfd < 0 || ftruncate(u->memfd, u->pagesz))
		return -1;
	u->map = mmap(NULL, u->pagesz, PROT_READ | PROT_WRITE, MAP_SHARED,
		      u->memfd, 0);
	u->src = mmap(NULL, u->pagesz, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (u->map == MAP_FAILED || u->src == MAP_FAILED)
		return -1;
	memset(u->src, POISON_BYTE, u->pagesz);
	memset(&reg, 0, sizeof(reg));
	reg.range.start = (uintptr_t)u->map;
	reg.range.len = u->pagesz;
	reg.mode = UFFDIO_REGISTER_MODE_MISSING;
	if (ioctl(u->uffd, UFFDIO_REGISTER, &reg)) {
		snprintf(why, len, "UFFDIO_REGISTER: %s", strerror(errno));
		return 1;
	}
	if (!(reg.ioctls & (1ULL << _UFFDIO_COPY))) {
		snprintf(why, len, "UFFDIO_COPY not offered for tmpfs");
		return 1;
	}
	return 0;
}

/* Wait for the fault of the page: a thread is stuck in the copy. */
static bool uffd_wait_fault(struct uffd_page *u)
{
	struct uffd_msg msg;

	if (poll1(u->uffd, POLLIN, WAKE_MS) != POLLIN)
		return false;
	if (read(u->uffd, &msg, sizeof(msg)) != (ssize_t)sizeof(msg))
		return false;
	return msg.event == UFFD_EVENT_PAGEFAULT &&
	       (msg.arg.pagefault.address & ~(uint64_t)(u->pagesz - 1)) ==
	       (uintptr_t)u->map;
}

static int uffd_resolve(struct uffd_page *u)
{
	struct uffdio_copy copy;

	memset(&copy, 0, sizeof(copy));
	copy.dst = (uintptr_t)u->map;
	copy.src = (uintptr_t)u->src;
	copy.len = u->pagesz;
	return ioctl(u->uffd, UFFDIO_COPY, &copy) ? -errno : 0;
}

static void uffd_cleanup(struct uffd_page *u)
{
	if (u->map != MAP_FAILED)
		munmap(u->map, u->pagesz);
	if (u->src != MAP_FAILED)
		munmap(u->src, u->pagesz);
	if (u->memfd >= 0)
		close(u->memfd);
	if (u->uffd >= 0)
		close(u->uffd);
}

/* A thread doing one call and recording its result. */
struct call {
	pthread_t thread;
	int port, fd;
	enum { CALL_DEQUEUE, CALL_MODIFY, CALL_DISSOCIATE, CALL_SHUTDOWN } what;
	struct iocp_completion *entries;
	uint64_t key;
	uint32_t events, count;
	int ret;
};

static void *call_fn(void *arg)
{
	struct call *c = arg;

	switch (c->what) {
	case CALL_DEQUEUE:
		c->ret = dq(c->port, c->entries, 1, 1, WAKE_NS, &c->count);
		break;
	case CALL_MODIFY:
		c->ret = t_modify(c->port, c->fd, c->key, c->events, 0);
		break;
	case CALL_DISSOCIATE:
		c->ret = t_dissoc(c->port, c->fd);
		break;
	case CALL_SHUTDOWN:
		c->ret = iocp_shutdown(c->port);
		break;
	}
	return NULL;
}

static int start_call(struct call *c)
{
	c->ret = INT_MIN;
	c->count = POISON_U32;
	return pthread_create(&c->thread, NULL, call_fn, c);
}

enum inflight_case {
	IF_REFIRE,		/* an event during the delivery */
	IF_ONESHOT,		/* the same, one-shot */
	IF_MODIFY,		/* MODIFY during the delivery */
	IF_DISSOCIATE,		/* DISSOCIATE during the delivery */
	IF_SHUTDOWN,		/* SHUTDOWN during the delivery */
};

/*
 * A readiness packet is held in the middle of its delivery (the DEQUEUE's
 * copy-out faults on a userfaultfd page), then:
 * - an event of the file comes: no second packet while the first is in
 *   flight, one after its delivery (persistent), none (one-shot);
 * - MODIFY waits for the copy to finish; the delivered packet has the old
 *   key, the packet MODIFY queues the new one;
 * - DISSOCIATE waits for the copy to finish; nothing of the key after;
 * - SHUTDOWN tears the association down under the copy (the debug kernel
 *   checks the lifetime of the association).
 */
static void inflight_case(struct __test_metadata *_metadata,
			  enum inflight_case how)
{
	const uint64_t k1 = 0x1f00000000000001ULL;
	const uint64_t k2 = 0x1f00000000000002ULL;
	struct iocp_completion *e;
	struct uffd_page u;
	struct call d, c;
	char why[128];
	int port, p[2], ret;

	memset(&u, 0, sizeof(u));
	ret = uffd_setup(&u, why, sizeof(why));
	ASSERT_LE(0, ret);
	if (ret > 0) {
		uffd_cleanup(&u);
		SKIP(return, "%s", why);
	}
	e = (struct iocp_completion *)u.map;

	port = test_port(8);
	ASSERT_LE(0, port);
	ASSERT_EQ(0, pipe2(p, O_NONBLOCK | O_CLOEXEC));
	ASSERT_EQ(0, t_assoc(port, p[0], k1, EV_IN,
			     how == IF_ONESHOT ? IOCP_ASSOC_ONESHOT : 0));
	ASSERT_EQ(0, write1(p[1]));
	ASSERT_EQ(1U, STAT(port, queued));

	memset(&d, 0, sizeof(d));
	d.what = CALL_DEQUEUE;
	d.port = port;
	d.entries = e;
	ASSERT_EQ(0, start_call(&d));
	ASSERT_TRUE(uffd_wait_fault(&u)) TH_LOG("the DEQUEUE never faulted");
	/* The packet is in flight: not queued any more. */
	EXPECT_EQ(0U, STAT(port, queued));

	memset(&c, 0, sizeof(c));
	c.port = port;
	c.fd = p[0];
	switch (how) {
	case IF_REFIRE:
	case IF_ONESHOT:
		ASSERT_EQ(0, write1(p[1]));
		EXPECT_EQ(0U, STAT(port, queued))
			TH_LOG("a second packet queued while the first is in flight");
		break;
	case IF_MODIFY:
		c.what = CALL_MODIFY;
		c.key = k2;
		c.events = EV_IN;
		ASSERT_EQ(0, start_call(&c));
		EXPECT_EQ(ETIMEDOUT, join_ms(c.thread, BLOCKED_MS))
			TH_LOG("MODIFY returned while the old key's packet was being copied out");
		break;
	case IF_DISSOCIATE:
		c.what = CALL_DISSOCIATE;
		ASSERT_EQ(0, start_call(&c));
		EXPECT_EQ(ETIMEDOUT, join_ms(c.thread, BLOCKED_MS))
			TH_LOG("DISSOCIATE returned while the packet was being copied out");
		break;
	case IF_SHUTDOWN:
		c.what = CALL_SHUTDOWN;
		ASSERT_EQ(0, start_call(&c));
		/* Not specified whether it waits: join it after the copy. */
		break;
	}

	ASSERT_EQ(0, uffd_resolve(&u));
	ASSERT_EQ(0, join_ms(d.thread, WAKE_MS)) TH_LOG("the DEQUEUE never returned");
	if (how >= IF_MODIFY)
		ASSERT_EQ(0, join_ms(c.thread, WAKE_MS));

	if (how == IF_SHUTDOWN) {
		EXPECT_EQ(0, c.ret);
		/* Delivered, or dropped with the association: either way no junk. */
		EXPECT_TRUE(d.ret == 0 || d.ret == -ESHUTDOWN)
			TH_LOG("DEQUEUE: %d", d.ret);
		if (d.ret == 0) {
			EXPECT_EQ(1U, d.count);
			EXPECT_READY_ENTRY(e[0], k1, EV_IN);
		}
		EXPECT_EQ(0U, STAT(port, associations));
		EXPECT_EQ(0U, STAT(port, queued));
		goto out;
	}

	/* The packet in flight was delivered with the key it was queued with. */
	EXPECT_EQ(0, d.ret) TH_LOG("DEQUEUE: %s", strerror(-d.ret));
	EXPECT_EQ(1U, d.count);
	EXPECT_READY_ENTRY(e[0], k1, EV_IN);

	switch (how) {
	case IF_REFIRE:
		EXPECT_EQ(1U, STAT(port, queued))
			TH_LOG("the event during the delivery made no packet after it");
		EXPECT_READY(port, k1, EV_IN, 0);
		EXPECT_NONE(port);
		break;
	case IF_ONESHOT:
		EXPECT_NONE(port);
		ASSERT_EQ(0, t_modify(port, p[0], k2, EV_IN, IOCP_ASSOC_ONESHOT));
		EXPECT_READY(port, k2, EV_IN, 0);
		EXPECT_NONE(port);
		break;
	case IF_MODIFY:
		EXPECT_EQ(0, c.ret);
		/* Still readable: MODIFY queued a packet with the new key. */
		EXPECT_READY(port, k2, EV_IN, 0);
		EXPECT_NONE(port);
		break;
	case IF_DISSOCIATE:
		EXPECT_EQ(0, c.ret);
		EXPECT_EQ(0U, STAT(port, associations));
		ASSERT_EQ(0, write1(p[1]));
		EXPECT_NONE(port);
		break;
	case IF_SHUTDOWN:
		break;
	}
out:
	EXPECT_EQ(0, close(port));
	close(p[0]);
	close(p[1]);
	uffd_cleanup(&u);
}

TEST(inflight_refire)
{
	inflight_case(_metadata, IF_REFIRE);
}

TEST(inflight_oneshot)
{
	inflight_case(_metadata, IF_ONESHOT);
}

TEST(inflight_modify_waits)
{
	inflight_case(_metadata, IF_MODIFY);
}

TEST(inflight_dissociate_waits)
{
	inflight_case(_metadata, IF_DISSOCIATE);
}

TEST(inflight_shutdown)
{
	inflight_case(_metadata, IF_SHUTDOWN);
}

/* ------------------------------------------------------------------ */
/* 10. The fields of readiness packets; fdinfo                          */
/* ------------------------------------------------------------------ */

/*
 * A readiness packet: flags IOCP_CF_READINESS only, user_data 0, result 0,
 * the key as given (all 64 bits), and the events restricted to those asked
 * for plus ERR and HUP. Entries beyond count are not written.
 */
TEST(readiness_fields)
{
	static const uint64_t keys[] = {
		0, 1, 0xffffffffffffffffULL, 0x8000000000000000ULL,
		0x0123456789abcdefULL,
	};
	struct iocp_completion out[4];
	uint32_t count;
	unsigned int i;
	int port, p[2];

	port = test_port(8);
	ASSERT_LE(0, port);
	ASSERT_EQ(0, pipe2(p, O_NONBLOCK | O_CLOEXEC));

	for (i = 0; i < ARRAY_SIZE(keys); i++) {
		ASSERT_EQ(0, t_assoc(port, p[1], keys[i], EV_OUT, 0));
		memset(out, POISON_BYTE, sizeof(out));
		ASSERT_LE(0, dq(port, out, 4, 0, 0, &count));
		ASSERT_EQ(1U, count);
		EXPECT_READY_ENTRY(out[0], keys[i], EV_OUT);
		EXPECT_TRUE(is_poison(&out[1], 3 * sizeof(out[0])));
		ASSERT_EQ(0, t_dissoc(port, p[1]));
	}

	/* The write end is only writable: IN|PRI|RDHUP asked, OUT not: nothing. */
	ASSERT_EQ(0, t_assoc(port, p[1], 5, EV_IN | EV_PRI | EV_RDHUP, 0));
	EXPECT_NONE(port);
	/* Its reader goes: ERR, reported though not asked for, OUT not. */
	ASSERT_EQ(0, close(p[0]));
	EXPECT_READY(port, 5, EV_ERR, 0);
	EXPECT_NONE(port);

	EXPECT_EQ(0, close(port));
	close(p[1]);
}

static int read_fdinfo(int fd, char *buf, size_t size)
{
	char path[64];
	ssize_t n, off = 0;
	int f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = open(path, O_RDONLY | O_CLOEXEC);
	if (f < 0)
		return -errno;
	buf[off++] = '\n';
	while ((n = read(f, buf + off, size - 1 - off)) > 0)
		off += n;
	buf[off] = 0;
	close(f);
	return n < 0 ? -errno : 0;
}

/* fdinfo shows the association count, max_assoc and every association. */
TEST(assoc_fdinfo)
{
	char buf[8192], line[160];
	struct stat sb;
	int port, p[2], efd;

	port = test_port(8);
	ASSERT_LE(0, port);
	ASSERT_EQ(0, set_max_assoc(port, 5));
	ASSERT_EQ(0, pipe2(p, O_NONBLOCK | O_CLOEXEC));
	efd = eventfd(0, EFD_CLOEXEC);
	ASSERT_LE(0, efd);
	ASSERT_EQ(0, t_assoc(port, p[0], 0x1234, EV_IN, IOCP_ASSOC_ONESHOT));
	ASSERT_EQ(0, t_assoc(port, efd, 0xfedcba9876543210ULL,
			     EV_IN | EV_OUT | EV_RDHUP, 0));

	ASSERT_EQ(0, read_fdinfo(port, buf, sizeof(buf)));
	EXPECT_NE(NULL, strstr(buf, "\niocp-associations:\t2\n")) TH_LOG("%s", buf);
	EXPECT_NE(NULL, strstr(buf, "\niocp-max-assoc:\t5\n")) TH_LOG("%s", buf);
	/* The kernel prints %#x of 0 as 0x0, so the prefix is spelled out. */
	ASSERT_EQ(0, fstat(p[0], &sb));
	snprintf(line, sizeof(line),
		 "\niocp-assoc:\tinode:%lu key:0x%llx events:0x%x flags:0x%x\n",
		 (unsigned long)sb.st_ino, 0x1234ULL, EV_IN,
		 (unsigned int)IOCP_ASSOC_ONESHOT);
	EXPECT_NE(NULL, strstr(buf, line)) TH_LOG("want %s in:%s", line + 1, buf);
	ASSERT_EQ(0, fstat(efd, &sb));
	snprintf(line, sizeof(line),
		 "\niocp-assoc:\tinode:%lu key:0x%llx events:0x%x flags:0x%x\n",
		 (unsigned long)sb.st_ino, 0xfedcba9876543210ULL,
		 EV_IN | EV_OUT | EV_RDHUP, 0U);
	EXPECT_NE(NULL, strstr(buf, line)) TH_LOG("want %s in:%s", line + 1, buf);

	ASSERT_EQ(0, t_dissoc(port, p[0]));
	ASSERT_EQ(0, read_fdinfo(port, buf, sizeof(buf)));
	EXPECT_NE(NULL, strstr(buf, "\niocp-associations:\t1\n")) TH_LOG("%s", buf);
	EXPECT_EQ(NULL, strstr(buf, "key:0x1234 ")) TH_LOG("%s", buf);

	EXPECT_EQ(0, close(port));
	close(efd);
	close(p[0]);
	close(p[1]);
}

TEST_HARNESS_MAIN
