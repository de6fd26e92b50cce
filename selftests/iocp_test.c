// SPDX-License-Identifier: GPL-2.0
/*
 * Selftests for /dev/iocp (I/O completion ports).
 *
 * Style follows the kernel's ntsync selftests: every output is poisoned
 * (0xcc) before a call and every field is checked after it; a thread that
 * must still be blocked is proven so by a timed join that times out, a
 * thread that must wake by a timed join that succeeds within a generous
 * bound (guests run under TCG emulation). Before acting on a blocked
 * thread, GET_STATS.waiting is polled until the thread is really asleep in
 * DEQUEUE. No test asserts speed, only correctness.
 *
 * Helper threads never use ASSERT/EXPECT (those longjmp to the test's main
 * thread); they record what they saw and the main thread checks it.
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
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <termios.h>

#include <linux/iocp.h>
#include "iocp.h"

/*
 * kselftest_harness.h is not -Wextra clean: its TEST() wrappers and SIGALRM
 * handler have unused parameters (variant, ucontext), and TEST_F()'s
 * setjmp() wrapper triggers -Wclobbered on its own locals. Those two
 * warnings are disabled for this file (which itself uses no setjmp);
 * everything else stays -Wall -Wextra -Werror.
 */
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wclobbered"
#include "kselftest_harness.h"
#include "iocp_util.h"

/* A thread that must stay blocked must not return within this. */
#define BLOCKED_MS		200
/* A thread that must wake must do so within this (TCG is slow). */
#define WAKE_MS			3000
/* Bound for polling GET_STATS or a flag until a state is reached. */
#define STATE_WAIT_MS		5000
/* Load tests give up after this long without any progress. */
#define STALL_MS		15000

#define POISON_BYTE		0xcc
#define POISON_U32		0xccccccccU
#define POISON_U64		0xccccccccccccccccULL

/*
 * These tests check the base rules of the port. Their workers wait on the
 * tests' own locks and semaphores while they count as running, which
 * blocking awareness (see iocp_blocking.c) would treat as blocking and
 * compensate for; so their ports turn it off.
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

/* ------------------------------------------------------------------ */
/* Small helpers                                                        */
/* ------------------------------------------------------------------ */

static pid_t sys_gettid(void)
{
	return (pid_t)syscall(SYS_gettid);
}

static int open_raw(void)
{
	return open(IOCP_DEVICE_PATH, O_RDWR | O_CLOEXEC);
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
	args.flags = 0;
	args.count = POISON_U32;
	ret = xioctl(fd, IOCP_IOC_DEQUEUE, &args);
	if (count)
		*count = args.count;
	return ret;
}

/* Raw POST; returns >= 0 or -errno. */
static int post_raw(int fd, const struct iocp_completion *entries,
		    uint32_t count, uint32_t flags)
{
	struct iocp_post_args args;

	memset(&args, 0, sizeof(args));
	args.entries = (uintptr_t)entries;
	args.count = count;
	args.flags = flags;
	return xioctl(fd, IOCP_IOC_POST, &args);
}

/* Raw depth query (DEQUEUE with max == 0); returns depth or -errno. */
static int depth_raw(int fd)
{
	uint32_t count = POISON_U32;
	int ret = dq(fd, NULL, 0, 0, 0, &count);

	return ret < 0 ? ret : (int)count;
}

static int get_stats(int fd, struct iocp_stats *s)
{
	memset(s, POISON_BYTE, sizeof(*s));
	return iocp_get_stats(fd, s);
}

static void fill(struct iocp_completion *e, uint64_t key, uint64_t ud,
		 uint64_t res)
{
	memset(e, 0, sizeof(*e));
	e->key = key;
	e->user_data = ud;
	e->result = res;
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
	unsigned int tries = 0;
	uint32_t v;

	do {
		if (get_stats(fd, &s))
			return false;
		memcpy(&v, (char *)&s + off, sizeof(v));
		if (v == want)
			return true;
		if (++tries < 200)
			sched_yield();
		else
			usleep(1000);
	} while (now_ns() < deadline);
	return false;
}

#define WAIT_STAT(fd, field, want) \
	wait_stat(fd, offsetof(struct iocp_stats, field), want)

/* Two pages: the first read-write, the second PROT_NONE. */
static char *guard_pages(long *pagesz)
{
	long ps = sysconf(_SC_PAGESIZE);
	char *p = mmap(NULL, 2 * ps, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	if (mprotect(p + ps, ps, PROT_NONE)) {
		munmap(p, 2 * ps);
		return NULL;
	}
	*pagesz = ps;
	return p;
}

#define EXPECT_ENTRY(e, k, u, r) do { \
	EXPECT_EQ((__u64)(k), (e).key); \
	EXPECT_EQ((__u64)(u), (e).user_data); \
	EXPECT_EQ((__u64)(r), (e).result); \
	EXPECT_EQ((__u32)IOCP_CF_POSTED, (e).flags); \
	EXPECT_EQ(0U, (e).events); \
} while (0)

/*
 * Make a hand-off race deterministic: pin the calling thread (and the
 * threads it creates afterwards, which inherit the mask) to one CPU; then,
 * while the caller runs SCHED_FIFO, a SCHED_OTHER thread it wakes on that
 * CPU cannot run until the caller blocks. Returns false if not permitted.
 */
static bool pin_one_cpu(void)
{
	cpu_set_t set;
	int cpu;

	if (sched_getaffinity(0, sizeof(set), &set))
		return false;
	for (cpu = 0; cpu < CPU_SETSIZE; cpu++)
		if (CPU_ISSET(cpu, &set))
			break;
	if (cpu == CPU_SETSIZE)
		return false;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(0, sizeof(set), &set) == 0;
}

static bool set_fifo(bool on)
{
	struct sched_param sp = { .sched_priority = on ? 1 : 0 };

	return pthread_setschedparam(pthread_self(),
				     on ? SCHED_FIFO : SCHED_OTHER, &sp) == 0;
}

/* Pinned and able to go SCHED_FIFO: woken threads run only when we block. */
static bool make_wakeups_lazy(void)
{
	if (!pin_one_cpu())
		return false;
	if (!set_fifo(true))
		return false;
	set_fifo(false);
	return true;
}

/* ------------------------------------------------------------------ */
/* Waiter threads                                                       */
/* ------------------------------------------------------------------ */

#define WAITER_MAX 8

/* A thread doing one raw DEQUEUE and recording the outcome. */
struct waiter {
	pthread_t thread;
	int fd;
	uint32_t max, min;
	uint64_t timeout;
	struct iocp_completion *buf;	/* NULL: use e[] */
	int ret;			/* ioctl result or -errno */
	uint32_t count;
	struct iocp_completion e[WAITER_MAX];
};

static void *waiter_fn(void *arg)
{
	struct waiter *w = arg;

	memset(w->e, POISON_BYTE, sizeof(w->e));
	w->ret = dq(w->fd, w->buf ? w->buf : w->e, w->max, w->min,
		    w->timeout, &w->count);
	return NULL;
}

static int start_waiter_buf(struct waiter *w, int fd, uint32_t max,
			    uint32_t min, uint64_t timeout,
			    struct iocp_completion *buf)
{
	memset(w, 0, sizeof(*w));
	w->fd = fd;
	w->max = max > WAITER_MAX && !buf ? WAITER_MAX : max;
	w->min = min;
	w->timeout = timeout;
	w->buf = buf;
	w->ret = INT_MIN;
	return pthread_create(&w->thread, NULL, waiter_fn, w);
}

static int start_waiter(struct waiter *w, int fd, uint32_t max, uint32_t min,
			uint64_t timeout)
{
	return start_waiter_buf(w, fd, max, min, timeout, NULL);
}

/*
 * A thread that dequeues once (timeout1), then (unless that gave ESHUTDOWN)
 * waits for @go and either returns (second == false) or dequeues again with
 * timeout 0 and waits for @finish before returning.
 */
struct stepper {
	pthread_t thread;
	int fd;
	uint64_t timeout1;
	bool second;
	sem_t go, finish;
	int stage;		/* atomic: 1 after first DEQUEUE, 2 after second */
	int ret1, ret2;
	uint32_t n1, n2;
	struct iocp_completion e1, e2;
};

static void *stepper_fn(void *arg)
{
	struct stepper *s = arg;

	memset(&s->e1, POISON_BYTE, sizeof(s->e1));
	memset(&s->e2, POISON_BYTE, sizeof(s->e2));
	s->ret1 = dq(s->fd, &s->e1, 1, 0, s->timeout1, &s->n1);
	__atomic_store_n(&s->stage, 1, __ATOMIC_SEQ_CST);
	if (s->ret1 == -ESHUTDOWN)
		return NULL;
	sem_wait(&s->go);
	if (!s->second)
		return NULL;
	s->ret2 = dq(s->fd, &s->e2, 1, 0, 0, &s->n2);
	__atomic_store_n(&s->stage, 2, __ATOMIC_SEQ_CST);
	sem_wait(&s->finish);
	return NULL;
}

static int start_stepper(struct stepper *s, int fd, uint64_t timeout1,
			 bool second)
{
	memset(s, 0, sizeof(*s));
	s->fd = fd;
	s->timeout1 = timeout1;
	s->second = second;
	s->ret1 = s->ret2 = INT_MIN;
	sem_init(&s->go, 0, 0);
	sem_init(&s->finish, 0, 0);
	return pthread_create(&s->thread, NULL, stepper_fn, s);
}

/* ------------------------------------------------------------------ */
/* Open, close, configuration                                           */
/* ------------------------------------------------------------------ */

/* open() creates a port, close() destroys it; ports are independent. */
TEST(open_close)
{
	int a, b, fd;

	fd = open_raw();
	ASSERT_LE(0, fd) TH_LOG("open %s: %s", IOCP_DEVICE_PATH, strerror(errno));
	EXPECT_EQ(0, close(fd));

	a = open_raw();
	ASSERT_LE(0, a);
	b = open_raw();
	ASSERT_LE(0, b);
	ASSERT_EQ(0, iocp_post(a, 1, 2, 3));
	EXPECT_EQ(1, depth_raw(a));
	EXPECT_EQ(0, depth_raw(b)) TH_LOG("a post on one port is visible on another");
	EXPECT_EQ(0, close(a));
	EXPECT_EQ(0, close(b));

	/* The library pair. */
	fd = iocp_create(3);
	ASSERT_LE(0, fd) TH_LOG("iocp_create: %s", strerror(-fd));
	EXPECT_EQ(0, iocp_close(fd));
}

/* A new port has the documented defaults and empty statistics. */
TEST(get_config_defaults)
{
	struct iocp_config cfg;
	struct iocp_stats s;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	int fd, i;

	fd = open_raw();
	ASSERT_LE(0, fd);

	memset(&cfg, POISON_BYTE, sizeof(cfg));
	ASSERT_EQ(0, xioctl(fd, IOCP_IOC_GET_CONFIG, &cfg));
	EXPECT_EQ(0U, cfg.concurrency);
	EXPECT_EQ((__u32)IOCP_DEFAULT_MAX_QUEUED, cfg.max_queued);
	EXPECT_EQ(0U, cfg.flags);
	EXPECT_EQ((__u32)IOCP_DEFAULT_MAX_ASSOC, cfg.max_assoc);
	EXPECT_EQ((__u32)IOCP_DEFAULT_MAX_OPS, cfg.max_ops);
	for (i = 0; i < (int)ARRAY_SIZE(cfg.reserved); i++)
		EXPECT_EQ(0U, cfg.reserved[i]) TH_LOG("reserved[%d]", i);

	memset(&s, POISON_BYTE, sizeof(s));
	ASSERT_EQ(0, xioctl(fd, IOCP_IOC_GET_STATS, &s));
	EXPECT_EQ(0ULL, s.posted);
	EXPECT_EQ(0ULL, s.dequeued);
	EXPECT_EQ(0ULL, s.discarded);
	EXPECT_EQ(0U, s.queued);
	EXPECT_EQ(0U, s.running);
	EXPECT_EQ(0U, s.waiting);
	EXPECT_EQ(0U, s.threads);
	EXPECT_EQ(0U, s.high_water);
	EXPECT_EQ(0U, s.peak_running);
	EXPECT_EQ((__u32)cpus, s.concurrency)
		TH_LOG("concurrency 0 must resolve to the online CPU count");
	EXPECT_EQ(0U, s.flags & IOCP_STATS_SHUTDOWN);
	EXPECT_EQ(0U, s.blocked);
	EXPECT_EQ(0U, s.associations);
	EXPECT_EQ(0U, s.flags & ~(IOCP_STATS_SHUTDOWN | IOCP_STATS_EXIT_TRACKING |
				  IOCP_STATS_BLOCKING_AWARE))
		TH_LOG("unknown stats flags 0x%x", s.flags);
	EXPECT_EQ(0U, s.ops);
	EXPECT_EQ(0U, s.reserved);

	EXPECT_EQ(0, close(fd));
}

/* The configuration of @fd is @conc and @maxq, and as test_port() left it. */
static void expect_config(struct __test_metadata *_metadata, int fd,
			  uint32_t conc, uint32_t maxq)
{
	struct iocp_config cfg;
	int i;

	memset(&cfg, POISON_BYTE, sizeof(cfg));
	ASSERT_EQ(0, xioctl(fd, IOCP_IOC_GET_CONFIG, &cfg));
	EXPECT_EQ(conc, cfg.concurrency);
	EXPECT_EQ(maxq, cfg.max_queued);
	EXPECT_EQ(0U, cfg.flags & ~IOCP_CONFIG_IGNORE_BLOCKING);
	EXPECT_EQ((__u32)IOCP_DEFAULT_MAX_ASSOC, cfg.max_assoc);
	for (i = 0; i < (int)ARRAY_SIZE(cfg.reserved); i++)
		EXPECT_EQ(0U, cfg.reserved[i]);
}

/* SET_CONFIG stores the whole structure; GET_CONFIG/GET_STATS reflect it. */
TEST(set_config_round_trip)
{
	struct iocp_config cfg;
	__u32 aware;
	struct iocp_stats s;
	int fd;

	fd = open_raw();
	ASSERT_LE(0, fd);

	memset(&cfg, 0, sizeof(cfg));
	cfg.concurrency = 7;
	cfg.max_queued = 1234;
	ASSERT_EQ(0, xioctl(fd, IOCP_IOC_SET_CONFIG, &cfg));
	expect_config(_metadata, fd, 7, 1234);
	ASSERT_EQ(0, get_stats(fd, &s));
	EXPECT_EQ(7U, s.concurrency);

	/* Boundaries: any u32 concurrency, max_queued 1 and the limit. */
	cfg.concurrency = 0xffffffffU;
	cfg.max_queued = IOCP_MAX_QUEUED_LIMIT;
	ASSERT_EQ(0, xioctl(fd, IOCP_IOC_SET_CONFIG, &cfg));
	expect_config(_metadata, fd, 0xffffffffU, IOCP_MAX_QUEUED_LIMIT);

	cfg.concurrency = 1;
	cfg.max_queued = 1;
	ASSERT_EQ(0, xioctl(fd, IOCP_IOC_SET_CONFIG, &cfg));
	expect_config(_metadata, fd, 1, 1);

	/* Library read-modify-write keeps max_queued. */
	ASSERT_EQ(0, iocp_set_concurrency(fd, 5));
	expect_config(_metadata, fd, 5, 1);
	ASSERT_EQ(0, get_stats(fd, &s));
	EXPECT_EQ(5U, s.concurrency);
	/* On by default, where the kernel allows it at all. */
	aware = s.flags & IOCP_STATS_BLOCKING_AWARE;

	/* The flag round-trips and turns blocking awareness off and on. */
	memset(&cfg, POISON_BYTE, sizeof(cfg));
	ASSERT_EQ(0, xioctl(fd, IOCP_IOC_GET_CONFIG, &cfg));
	EXPECT_EQ(0U, cfg.flags);
	cfg.flags = IOCP_CONFIG_IGNORE_BLOCKING;
	ASSERT_EQ(0, xioctl(fd, IOCP_IOC_SET_CONFIG, &cfg));
	memset(&cfg, POISON_BYTE, sizeof(cfg));
	ASSERT_EQ(0, xioctl(fd, IOCP_IOC_GET_CONFIG, &cfg));
	EXPECT_EQ((__u32)IOCP_CONFIG_IGNORE_BLOCKING, cfg.flags);
	ASSERT_EQ(0, get_stats(fd, &s));
	EXPECT_EQ(0U, s.flags & IOCP_STATS_BLOCKING_AWARE);
	cfg.flags = 0;
	ASSERT_EQ(0, xioctl(fd, IOCP_IOC_SET_CONFIG, &cfg));
	ASSERT_EQ(0, get_stats(fd, &s));
	EXPECT_EQ(aware, s.flags & IOCP_STATS_BLOCKING_AWARE);

	EXPECT_EQ(0, close(fd));
}

/* SET_CONFIG rejects flags, reserved words and out-of-range max_queued. */
TEST(set_config_einval)
{
	struct iocp_config good, bad;
	int fd, i;

	fd = open_raw();
	ASSERT_LE(0, fd);
	memset(&good, 0, sizeof(good));
	good.concurrency = 3;
	good.max_queued = 100;
	ASSERT_EQ(0, xioctl(fd, IOCP_IOC_SET_CONFIG, &good));

	bad = good;
	bad.flags = IOCP_CONFIG_IGNORE_BLOCKING << 1;
	EXPECT_EQ(-EINVAL, xioctl(fd, IOCP_IOC_SET_CONFIG, &bad));
	bad.flags = 0x80000000U;
	EXPECT_EQ(-EINVAL, xioctl(fd, IOCP_IOC_SET_CONFIG, &bad));

	for (i = 0; i < (int)ARRAY_SIZE(bad.reserved); i++) {
		bad = good;
		bad.reserved[i] = 1;
		EXPECT_EQ(-EINVAL, xioctl(fd, IOCP_IOC_SET_CONFIG, &bad))
			TH_LOG("reserved[%d] != 0 accepted", i);
		bad.reserved[i] = 0x80000000U;
		EXPECT_EQ(-EINVAL, xioctl(fd, IOCP_IOC_SET_CONFIG, &bad))
			TH_LOG("reserved[%d] != 0 accepted", i);
	}

	bad = good;
	bad.max_queued = 0;
	EXPECT_EQ(-EINVAL, xioctl(fd, IOCP_IOC_SET_CONFIG, &bad));
	bad.max_queued = IOCP_MAX_QUEUED_LIMIT + 1;
	EXPECT_EQ(-EINVAL, xioctl(fd, IOCP_IOC_SET_CONFIG, &bad));
	bad.max_queued = 0xffffffffU;
	EXPECT_EQ(-EINVAL, xioctl(fd, IOCP_IOC_SET_CONFIG, &bad));

	bad = good;
	bad.max_ops = IOCP_MAX_OPS_LIMIT + 1;
	EXPECT_EQ(-EINVAL, xioctl(fd, IOCP_IOC_SET_CONFIG, &bad));

	bad = good;
	bad.max_assoc = IOCP_MAX_ASSOC_LIMIT + 1;
	EXPECT_EQ(-EINVAL, xioctl(fd, IOCP_IOC_SET_CONFIG, &bad));
	bad.max_assoc = 0xffffffffU;
	EXPECT_EQ(-EINVAL, xioctl(fd, IOCP_IOC_SET_CONFIG, &bad));

	/* None of the failures changed anything. */
	expect_config(_metadata, fd, 3, 100);
	EXPECT_EQ(0, close(fd));
}

/* Unknown ioctl numbers, wrong sizes and wrong directions give ENOTTY. */
TEST(unknown_ioctl_enotty)
{
	static const struct {
		unsigned long cmd;
		const char *what;
	} cmds[] = {
		{ _IO(IOCP_IOC_MAGIC, 0x07), "next unused nr" },
		{ _IO(IOCP_IOC_MAGIC, 0xff), "nr 0xff" },
		{ _IOWR(IOCP_IOC_MAGIC, 0x40, struct iocp_stats), "nr 0x40" },
		{ _IOR(IOCP_IOC_MAGIC + 1, 0x01, struct iocp_config), "other magic" },
		{ _IOC(_IOC_WRITE, IOCP_IOC_MAGIC, 0x00, sizeof(struct iocp_config) - 4), "SET_CONFIG short" },
		{ _IOC(_IOC_READ, IOCP_IOC_MAGIC, 0x01, sizeof(struct iocp_config) + 8), "GET_CONFIG long" },
		{ _IOC(_IOC_WRITE, IOCP_IOC_MAGIC, 0x02, sizeof(struct iocp_post_args) + 8), "POST long" },
		{ _IOC(_IOC_READ | _IOC_WRITE, IOCP_IOC_MAGIC, 0x03, sizeof(struct iocp_dequeue_args) - 8), "DEQUEUE short" },
		{ _IOC(_IOC_READ, IOCP_IOC_MAGIC, 0x04, sizeof(struct iocp_stats) + 4), "GET_STATS long" },
		{ _IOW(IOCP_IOC_MAGIC, 0x05, int), "SHUTDOWN with size" },
		{ _IOW(IOCP_IOC_MAGIC, 0x01, struct iocp_config), "GET_CONFIG wrong dir" },
		{ _IOR(IOCP_IOC_MAGIC, 0x02, struct iocp_post_args), "POST wrong dir" },
		{ TCGETS, "TCGETS" },
	};
	static char buf[4096];
	unsigned int i;
	int fd;

	fd = test_port(2);
	ASSERT_LE(0, fd);
	for (i = 0; i < ARRAY_SIZE(cmds); i++) {
		memset(buf, 0, sizeof(buf));
		EXPECT_EQ(-ENOTTY, xioctl(fd, cmds[i].cmd, buf))
			TH_LOG("cmd %#lx (%s)", cmds[i].cmd, cmds[i].what);
	}
	/* None of them shut the port down or changed it. */
	EXPECT_EQ(0, iocp_post(fd, 1, 2, 3));
	EXPECT_EQ(1, depth_raw(fd));
	expect_config(_metadata, fd, 2, IOCP_DEFAULT_MAX_QUEUED);
	EXPECT_EQ(0, close(fd));
}

/* Every ioctl with an argument reports EFAULT for an unusable args pointer. */
TEST(efault_bad_args)
{
	static const unsigned long cmds[] = {
		IOCP_IOC_SET_CONFIG, IOCP_IOC_GET_CONFIG, IOCP_IOC_POST,
		IOCP_IOC_DEQUEUE, IOCP_IOC_GET_STATS,
	};
	static const char *names[] = {
		"SET_CONFIG", "GET_CONFIG", "POST", "DEQUEUE", "GET_STATS",
	};
	struct iocp_stats s;
	char *pages, *ro;
	long ps;
	unsigned int i;
	int fd;

	pages = guard_pages(&ps);
	ASSERT_NE(NULL, pages);
	ro = mmap(NULL, ps, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, ro);

	fd = test_port(4);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, iocp_post(fd, 1, 1, 1));
	ASSERT_EQ(0, iocp_post(fd, 2, 2, 2));

	for (i = 0; i < ARRAY_SIZE(cmds); i++) {
		EXPECT_EQ(-EFAULT, xioctl(fd, cmds[i], NULL))
			TH_LOG("%s NULL", names[i]);
		EXPECT_EQ(-EFAULT, xioctl(fd, cmds[i], pages + ps))
			TH_LOG("%s PROT_NONE", names[i]);
		/* Straddling: the first 8 bytes readable, the rest not. */
		memset(pages + ps - 8, 0, 8);
		EXPECT_EQ(-EFAULT, xioctl(fd, cmds[i], pages + ps - 8))
			TH_LOG("%s straddling", names[i]);
	}
	/* Output structures in a read-only page. */
	EXPECT_EQ(-EFAULT, xioctl(fd, IOCP_IOC_GET_CONFIG, ro));
	EXPECT_EQ(-EFAULT, xioctl(fd, IOCP_IOC_GET_STATS, ro));

	/* Nothing changed: both packets still queued, config intact. */
	ASSERT_EQ(0, get_stats(fd, &s));
	EXPECT_EQ(2U, s.queued);
	EXPECT_EQ(2ULL, s.posted);
	EXPECT_EQ(0ULL, s.dequeued);
	EXPECT_EQ(0U, s.flags & IOCP_STATS_SHUTDOWN);
	expect_config(_metadata, fd, 4, IOCP_DEFAULT_MAX_QUEUED);

	EXPECT_EQ(0, close(fd));
	munmap(ro, ps);
	munmap(pages, 2 * ps);
}

/* ------------------------------------------------------------------ */
/* POST and DEQUEUE basics                                              */
/* ------------------------------------------------------------------ */

/* Posted packets come back exactly: key, user_data, result, flags, events. */
TEST(post_dequeue_round_trip)
{
	struct iocp_completion in[3], out[8];
	struct iocp_stats s;
	uint32_t count;
	int fd, i, ret;

	fd = test_port(4);
	ASSERT_LE(0, fd);

	fill(&in[0], 0x0123456789abcdefULL, 0xfedcba9876543210ULL, 1234);
	fill(&in[1], 0, 0, (uint64_t)(int64_t)-EIO);
	fill(&in[2], ~0ULL, ~0ULL, (uint64_t)INT64_MIN);
	ASSERT_LE(0, post_raw(fd, in, 3, 0));
	ASSERT_EQ(0, iocp_post(fd, 42, 43, -1));

	memset(out, POISON_BYTE, sizeof(out));
	count = POISON_U32;
	ret = dq(fd, out, 8, 0, 0, &count);
	ASSERT_LE(0, ret) TH_LOG("DEQUEUE: %s", strerror(-ret));
	ASSERT_EQ(4U, count);
	EXPECT_ENTRY(out[0], 0x0123456789abcdefULL, 0xfedcba9876543210ULL, 1234);
	EXPECT_ENTRY(out[1], 0, 0, (uint64_t)(int64_t)-EIO);
	EXPECT_EQ(-EIO, iocp_result(&out[1]));
	EXPECT_ENTRY(out[2], ~0ULL, ~0ULL, (uint64_t)INT64_MIN);
	EXPECT_EQ(INT64_MIN, iocp_result(&out[2]));
	EXPECT_ENTRY(out[3], 42, 43, (uint64_t)-1);
	EXPECT_EQ(-1, iocp_result(&out[3]));
	for (i = 4; i < 8; i++)
		EXPECT_TRUE(is_poison(&out[i], sizeof(out[i])))
			TH_LOG("entry %d beyond count was written", i);

	/* The library single-entry path. */
	ASSERT_EQ(0, iocp_post(fd, 7, 8, -ECANCELED));
	memset(out, POISON_BYTE, sizeof(out));
	ASSERT_EQ(1, iocp_get(fd, &out[0], 0));
	EXPECT_ENTRY(out[0], 7, 8, (uint64_t)(int64_t)-ECANCELED);
	EXPECT_TRUE(is_poison(&out[1], sizeof(out[1])));

	ASSERT_EQ(0, get_stats(fd, &s));
	EXPECT_EQ(5ULL, s.posted);
	EXPECT_EQ(5ULL, s.dequeued);
	EXPECT_EQ(0ULL, s.discarded);
	EXPECT_EQ(0U, s.queued);
	EXPECT_EQ(4U, s.high_water);
	EXPECT_EQ(0, close(fd));
}

/* POST validation: all-or-none, nothing queued on EINVAL. */
TEST(post_einval)
{
	struct iocp_completion e[3], *big;
	struct iocp_stats s;
	int fd, i;

	fd = test_port(4);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, iocp_post(fd, 1, 1, 1));

	big = calloc(IOCP_MAX_BATCH + 1, sizeof(*big));
	ASSERT_NE(NULL, big);
	for (i = 0; i < 3; i++)
		fill(&e[i], 10 + i, 20 + i, 30 + i);

	EXPECT_EQ(-EINVAL, post_raw(fd, e, 0, 0)) TH_LOG("count 0");
	EXPECT_EQ(1, depth_raw(fd));
	EXPECT_EQ(-EINVAL, post_raw(fd, big, IOCP_MAX_BATCH + 1, 0))
		TH_LOG("count > IOCP_MAX_BATCH");
	EXPECT_EQ(1, depth_raw(fd));
	EXPECT_EQ(-EINVAL, post_raw(fd, e, 3, 1)) TH_LOG("flags 1");
	EXPECT_EQ(1, depth_raw(fd));
	EXPECT_EQ(-EINVAL, post_raw(fd, e, 3, 0x80000000U)) TH_LOG("flags msb");
	EXPECT_EQ(1, depth_raw(fd));

	e[1].flags = IOCP_CF_POSTED;
	EXPECT_EQ(-EINVAL, post_raw(fd, e, 3, 0)) TH_LOG("entry[1].flags");
	EXPECT_EQ(1, depth_raw(fd));
	e[1].flags = 0;
	e[2].events = 1;
	EXPECT_EQ(-EINVAL, post_raw(fd, e, 3, 0)) TH_LOG("entry[2].events");
	EXPECT_EQ(1, depth_raw(fd));
	e[2].events = 0;
	e[0].flags = 0x80000000U;
	EXPECT_EQ(-EINVAL, post_raw(fd, e, 1, 0)) TH_LOG("entry[0].flags msb");
	EXPECT_EQ(1, depth_raw(fd));
	e[0].flags = 0;
	e[0].events = 0x80000000U;
	EXPECT_EQ(-EINVAL, post_raw(fd, e, 3, 0)) TH_LOG("entry[0].events msb");
	EXPECT_EQ(1, depth_raw(fd));
	e[0].events = 0;
	/* The library checks or passes through; either way nothing queued. */
	e[2].flags = 1;
	EXPECT_EQ(-EINVAL, iocp_post_many(fd, e, 3));
	EXPECT_EQ(1, depth_raw(fd));
	e[2].flags = 0;

	ASSERT_EQ(0, get_stats(fd, &s));
	EXPECT_EQ(1ULL, s.posted);
	EXPECT_EQ(1U, s.queued);
	EXPECT_EQ(1U, s.high_water);

	/* A batch of exactly IOCP_MAX_BATCH is fine. */
	for (i = 0; i < IOCP_MAX_BATCH; i++)
		fill(&big[i], 5, i, 0);
	EXPECT_LE(0, post_raw(fd, big, IOCP_MAX_BATCH, 0));
	EXPECT_EQ(1 + IOCP_MAX_BATCH, depth_raw(fd));

	free(big);
	EXPECT_EQ(0, close(fd));
}

/* POST with unreadable entries: EFAULT, nothing queued (all or none). */
TEST(post_efault)
{
	struct iocp_completion *e;
	struct iocp_stats s;
	char *pages;
	long ps;
	int fd;

	pages = guard_pages(&ps);
	ASSERT_NE(NULL, pages);
	fd = test_port(4);
	ASSERT_LE(0, fd);

	/*
	 * Zeroed memory is a valid array of entries (flags and events 0), so
	 * the only error in the batches below is the unreadable part.
	 */
	memset(pages, 0, ps);
	EXPECT_EQ(-EFAULT, post_raw(fd, NULL, 1, 0));
	EXPECT_EQ(-EFAULT, post_raw(fd, (void *)(pages + ps), 1, 0));
	/* Straddling entry: its first 16 bytes readable. */
	EXPECT_EQ(-EFAULT, post_raw(fd, (void *)(pages + ps - 16), 1, 0));
	EXPECT_EQ(-EFAULT, post_raw(fd, (void *)(pages + ps - 16 - 2 * sizeof(*e)), 3, 0))
		TH_LOG("third entry straddles");
	EXPECT_EQ(0, depth_raw(fd)) TH_LOG("partial batch was queued");

	/* Two valid entries right before the PROT_NONE page. */
	e = (struct iocp_completion *)(pages + ps - 2 * sizeof(*e));
	fill(&e[0], 1, 1, 1);
	fill(&e[1], 2, 2, 2);
	EXPECT_EQ(-EFAULT, post_raw(fd, e, 3, 0))
		TH_LOG("third entry unreadable");
	EXPECT_EQ(0, depth_raw(fd)) TH_LOG("partial batch was queued");

	ASSERT_EQ(0, get_stats(fd, &s));
	EXPECT_EQ(0ULL, s.posted);
	EXPECT_EQ(0U, s.queued);
	EXPECT_EQ(0U, s.high_water);

	/* The readable part itself is valid: posting just it works. */
	EXPECT_LE(0, post_raw(fd, e, 2, 0));
	EXPECT_EQ(2, depth_raw(fd));

	EXPECT_EQ(0, close(fd));
	munmap(pages, 2 * ps);
}

/* FIFO order across single and batch posts, any dequeue batch sizes. */
TEST(fifo_batches)
{
	struct iocp_completion in[4], out[10];
	uint32_t count;
	int fd, i, ret;

	fd = test_port(4);
	ASSERT_LE(0, fd);

	/* Order: 0 | 1 2 3 4 | 5 | 6 7 */
	ASSERT_EQ(0, iocp_post(fd, 100, 0, 0));
	for (i = 0; i < 4; i++)
		fill(&in[i], 100, 1 + i, -(1 + i));
	ASSERT_LE(0, post_raw(fd, in, 4, 0));
	ASSERT_EQ(0, iocp_post(fd, 100, 5, -5));
	for (i = 0; i < 2; i++)
		fill(&in[i], 100, 6 + i, -(6 + i));
	ASSERT_EQ(0, iocp_post_many(fd, in, 2));

	/* max == 0: depth only, nothing removed. */
	count = POISON_U32;
	ASSERT_LE(0, dq(fd, NULL, 0, 0, 0, &count));
	EXPECT_EQ(8U, count);
	EXPECT_EQ(8, iocp_depth(fd));

	memset(out, POISON_BYTE, sizeof(out));
	ret = dq(fd, out, 3, 0, 0, &count);
	ASSERT_LE(0, ret);
	ASSERT_EQ(3U, count);
	for (i = 0; i < 3; i++)
		EXPECT_ENTRY(out[i], 100, i, -i);
	EXPECT_TRUE(is_poison(&out[3], sizeof(out[3])));

	memset(out, POISON_BYTE, sizeof(out));
	ASSERT_EQ(1, iocp_get(fd, &out[0], 0));
	EXPECT_ENTRY(out[0], 100, 3, -3);

	count = POISON_U32;
	ASSERT_LE(0, dq(fd, NULL, 0, 0, 0, &count));
	EXPECT_EQ(4U, count);

	memset(out, POISON_BYTE, sizeof(out));
	ASSERT_EQ(4, iocp_get_many(fd, out, 1, 10, 0));
	for (i = 0; i < 4; i++)
		EXPECT_ENTRY(out[i], 100, 4 + i, -(4 + i));
	for (i = 4; i < 10; i++)
		EXPECT_TRUE(is_poison(&out[i], sizeof(out[i])));

	EXPECT_EQ(0, iocp_depth(fd));
	EXPECT_EQ(0, close(fd));
}

/* DEQUEUE validation: max > IOCP_MAX_BATCH, min > max, flags -> EINVAL. */
TEST(dequeue_einval)
{
	struct iocp_completion *big;
	struct iocp_dequeue_args args;
	int fd;

	fd = test_port(4);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, iocp_post(fd, 1, 1, 1));
	ASSERT_EQ(0, iocp_post(fd, 2, 2, 2));
	big = calloc(IOCP_MAX_BATCH + 1, sizeof(*big));
	ASSERT_NE(NULL, big);

	EXPECT_EQ(-EINVAL, dq(fd, big, IOCP_MAX_BATCH + 1, 0, 0, NULL));
	EXPECT_EQ(2, depth_raw(fd));
	EXPECT_EQ(-EINVAL, dq(fd, big, 2, 3, 0, NULL)) TH_LOG("min > max");
	EXPECT_EQ(2, depth_raw(fd));
	EXPECT_EQ(-EINVAL, dq(fd, big, 1, 2, IOCP_INFINITE, NULL));
	EXPECT_EQ(2, depth_raw(fd));

	memset(&args, 0, sizeof(args));
	args.entries = (uintptr_t)big;
	args.max = 2;
	args.flags = 1;
	EXPECT_EQ(-EINVAL, xioctl(fd, IOCP_IOC_DEQUEUE, &args));
	args.flags = 0x80000000U;
	EXPECT_EQ(-EINVAL, xioctl(fd, IOCP_IOC_DEQUEUE, &args));
	EXPECT_EQ(2, depth_raw(fd));

	/* max == IOCP_MAX_BATCH is allowed. */
	EXPECT_EQ(2, iocp_get_many(fd, big, 1, IOCP_MAX_BATCH, 0));
	free(big);
	EXPECT_EQ(0, close(fd));
}

/* min: fewer than min queued -> ETIMEDOUT, nothing removed; min 0 means 1. */
TEST(dequeue_min)
{
	struct iocp_completion out[5];
	uint32_t count;
	uint64_t t0;
	int fd, i;

	fd = test_port(4);
	ASSERT_LE(0, fd);

	/* Empty queue, timeout 0, min 0 (= 1): ETIMEDOUT. */
	EXPECT_EQ(-ETIMEDOUT, dq(fd, out, 4, 0, 0, NULL));

	ASSERT_EQ(0, iocp_post(fd, 9, 0, 0));
	ASSERT_EQ(0, iocp_post(fd, 9, 1, 0));
	memset(out, POISON_BYTE, sizeof(out));
	EXPECT_EQ(-ETIMEDOUT, dq(fd, out, 4, 3, 0, NULL));
	EXPECT_EQ(2, depth_raw(fd)) TH_LOG("min=3 with 2 queued removed some");
	EXPECT_TRUE(is_poison(out, sizeof(out)));

	t0 = now_ns();
	EXPECT_EQ(-ETIMEDOUT, dq(fd, out, 4, 3, 50 * NSEC_PER_MSEC, NULL));
	EXPECT_LE(50 * NSEC_PER_MSEC, now_ns() - t0);
	EXPECT_EQ(2, depth_raw(fd));

	ASSERT_EQ(0, iocp_post(fd, 9, 2, 0));
	memset(out, POISON_BYTE, sizeof(out));
	ASSERT_LE(0, dq(fd, out, 5, 3, 0, &count));
	ASSERT_EQ(3U, count);
	for (i = 0; i < 3; i++)
		EXPECT_ENTRY(out[i], 9, i, 0);
	EXPECT_TRUE(is_poison(&out[3], 2 * sizeof(out[3])));

	/* min 0 takes min(depth, max). */
	ASSERT_EQ(0, iocp_post(fd, 9, 3, 0));
	ASSERT_EQ(0, iocp_post(fd, 9, 4, 0));
	memset(out, POISON_BYTE, sizeof(out));
	ASSERT_LE(0, dq(fd, out, 4, 0, 0, &count));
	ASSERT_EQ(2U, count);
	EXPECT_ENTRY(out[0], 9, 3, 0);
	EXPECT_ENTRY(out[1], 9, 4, 0);

	EXPECT_EQ(0, close(fd));
}

/*
 * A blocked waiter only takes packets once min are queued; a release goes
 * to the most recent *eligible* waiter (min <= depth).
 */
TEST(min_waiter_eligibility)
{
	struct waiter w1, w3;
	struct iocp_completion in[2];
	int fd, i;

	fd = test_port(8);
	ASSERT_LE(0, fd);

	ASSERT_EQ(0, start_waiter(&w1, fd, 4, 1, IOCP_INFINITE));
	ASSERT_TRUE(WAIT_STAT(fd, waiting, 1));
	ASSERT_EQ(0, start_waiter(&w3, fd, 4, 3, IOCP_INFINITE));
	ASSERT_TRUE(WAIT_STAT(fd, waiting, 2));

	/* Depth 1: only w1 (min 1) is eligible although w3 waited last. */
	ASSERT_EQ(0, iocp_post(fd, 1, 0, 0));
	ASSERT_EQ(0, join_ms(w1.thread, WAKE_MS))
		TH_LOG("eligible older waiter not released");
	EXPECT_LE(0, w1.ret);
	EXPECT_EQ(1U, w1.count);
	EXPECT_ENTRY(w1.e[0], 1, 0, 0);
	EXPECT_EQ(ETIMEDOUT, join_ms(w3.thread, BLOCKED_MS))
		TH_LOG("min=3 waiter released with depth 1");

	/* Depth 2: still not enough for w3. */
	fill(&in[0], 1, 1, 0);
	fill(&in[1], 1, 2, 0);
	ASSERT_LE(0, post_raw(fd, in, 2, 0));
	EXPECT_EQ(ETIMEDOUT, join_ms(w3.thread, BLOCKED_MS))
		TH_LOG("min=3 waiter released with depth 2");
	EXPECT_EQ(2, depth_raw(fd));

	/* Depth 3: w3 gets exactly the three, FIFO. */
	ASSERT_EQ(0, iocp_post(fd, 1, 3, 0));
	ASSERT_EQ(0, join_ms(w3.thread, WAKE_MS));
	EXPECT_LE(0, w3.ret);
	ASSERT_EQ(3U, w3.count);
	for (i = 0; i < 3; i++)
		EXPECT_ENTRY(w3.e[i], 1, 1 + i, 0);
	EXPECT_TRUE(is_poison(&w3.e[3], sizeof(w3.e[3])));
	EXPECT_EQ(0, depth_raw(fd));

	EXPECT_EQ(0, iocp_close(fd));
}

/* ------------------------------------------------------------------ */
/* Waiter order and the concurrency limit                               */
/* ------------------------------------------------------------------ */

/* Waiters are released LIFO: the most recent waiter first. */
TEST(lifo_waiters)
{
	struct waiter w[3];
	int fd, i, j;

	fd = test_port(8);
	ASSERT_LE(0, fd);

	for (i = 0; i < 3; i++) {
		ASSERT_EQ(0, start_waiter(&w[i], fd, 1, 0, IOCP_INFINITE));
		ASSERT_TRUE(WAIT_STAT(fd, waiting, i + 1))
			TH_LOG("waiter %d never blocked", i);
	}

	for (i = 2; i >= 0; i--) {
		ASSERT_EQ(0, iocp_post(fd, 5, 100 + i, 0));
		ASSERT_EQ(0, join_ms(w[i].thread, WAKE_MS))
			TH_LOG("most recent waiter %d not released", i);
		EXPECT_LE(0, w[i].ret);
		EXPECT_EQ(1U, w[i].count);
		EXPECT_ENTRY(w[i].e[0], 5, 100 + i, 0);
		for (j = 0; j < i; j++)
			EXPECT_EQ(ETIMEDOUT, join_ms(w[j].thread, BLOCKED_MS))
				TH_LOG("older waiter %d woke after post %d", j, 2 - i);
	}
	EXPECT_EQ(0, depth_raw(fd));
	EXPECT_EQ(0, iocp_close(fd));
}

/*
 * A release hands min(depth, max) packets; a batch post releases several
 * waiters at once, most recent first, each taking the oldest packets left.
 */
TEST(release_batch_sizes)
{
	struct iocp_completion in[6];
	struct waiter w[3];
	int fd, i;

	fd = test_port(8);
	ASSERT_LE(0, fd);

	/* One waiter with max 4, six packets in one post: it takes four. */
	ASSERT_EQ(0, start_waiter(&w[0], fd, 4, 0, IOCP_INFINITE));
	ASSERT_TRUE(WAIT_STAT(fd, waiting, 1));
	for (i = 0; i < 6; i++)
		fill(&in[i], 2, i, 0);
	ASSERT_LE(0, post_raw(fd, in, 6, 0));
	ASSERT_EQ(0, join_ms(w[0].thread, WAKE_MS));
	EXPECT_LE(0, w[0].ret);
	ASSERT_EQ(4U, w[0].count);
	for (i = 0; i < 4; i++)
		EXPECT_ENTRY(w[0].e[i], 2, i, 0);
	EXPECT_TRUE(is_poison(&w[0].e[4], sizeof(w[0].e[4])));
	EXPECT_EQ(2, depth_raw(fd));
	ASSERT_EQ(2, iocp_get_many(fd, in, 1, 6, 0));
	EXPECT_ENTRY(in[0], 2, 4, 0);
	EXPECT_ENTRY(in[1], 2, 5, 0);

	/* A waiter with max 4 and two packets posted: it takes two. */
	ASSERT_EQ(0, start_waiter(&w[0], fd, 4, 0, IOCP_INFINITE));
	ASSERT_TRUE(WAIT_STAT(fd, waiting, 1));
	for (i = 0; i < 2; i++)
		fill(&in[i], 3, i, 0);
	ASSERT_LE(0, post_raw(fd, in, 2, 0));
	ASSERT_EQ(0, join_ms(w[0].thread, WAKE_MS));
	EXPECT_LE(0, w[0].ret);
	ASSERT_EQ(2U, w[0].count);
	EXPECT_ENTRY(w[0].e[0], 3, 0, 0);
	EXPECT_ENTRY(w[0].e[1], 3, 1, 0);

	/* Three waiters (max 1), one post of three: all released, LIFO. */
	for (i = 0; i < 3; i++) {
		ASSERT_EQ(0, start_waiter(&w[i], fd, 1, 0, IOCP_INFINITE));
		ASSERT_TRUE(WAIT_STAT(fd, waiting, i + 1));
	}
	for (i = 0; i < 3; i++)
		fill(&in[i], 4, i, 0);
	ASSERT_LE(0, post_raw(fd, in, 3, 0));
	for (i = 0; i < 3; i++) {
		ASSERT_EQ(0, join_ms(w[i].thread, WAKE_MS))
			TH_LOG("waiter %d not released by a batch of 3", i);
		EXPECT_LE(0, w[i].ret);
		EXPECT_EQ(1U, w[i].count);
		/* w[2] waited last: it gets the oldest packet. */
		EXPECT_ENTRY(w[i].e[0], 4, 2 - i, 0);
	}
	EXPECT_EQ(0, depth_raw(fd));
	EXPECT_EQ(0, iocp_close(fd));
}

/*
 * Raising the concurrency value releases a waiter at once when packets are
 * queued and running drops below the new value.
 */
TEST(set_config_raise_releases)
{
	struct iocp_completion e;
	struct iocp_stats s;
	struct waiter w;
	int fd;

	fd = test_port(1);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, iocp_post(fd, 1, 1, 0));
	ASSERT_EQ(1, iocp_get(fd, &e, 0));	/* main runs: slot full */
	ASSERT_EQ(0, start_waiter(&w, fd, 1, 0, IOCP_INFINITE));
	ASSERT_TRUE(WAIT_STAT(fd, waiting, 1));
	ASSERT_EQ(0, iocp_post(fd, 1, 2, 0));
	EXPECT_EQ(ETIMEDOUT, join_ms(w.thread, BLOCKED_MS));

	ASSERT_EQ(0, iocp_set_concurrency(fd, 2));
	ASSERT_EQ(0, join_ms(w.thread, WAKE_MS))
		TH_LOG("raising concurrency to 2 did not release the waiter");
	EXPECT_LE(0, w.ret);
	EXPECT_ENTRY(w.e[0], 1, 2, 0);
	ASSERT_EQ(0, get_stats(fd, &s));
	EXPECT_EQ(2U, s.peak_running);
	EXPECT_EQ(2U, s.concurrency);
	EXPECT_EQ(0U, s.queued);
	EXPECT_EQ(0, iocp_close(fd));
}

/*
 * Concurrency 1: only one of three waiters is released for three packets;
 * calling DEQUEUE again, that thread takes the next packet itself at once.
 */
TEST(concurrency_one)
{
	struct stepper s[3];
	struct iocp_stats st;
	uint64_t deadline;
	int fd, i;

	fd = test_port(1);
	ASSERT_LE(0, fd);

	for (i = 0; i < 3; i++) {
		ASSERT_EQ(0, start_stepper(&s[i], fd, IOCP_INFINITE, true));
		ASSERT_TRUE(WAIT_STAT(fd, waiting, i + 1));
	}
	for (i = 1; i <= 3; i++)
		ASSERT_EQ(0, iocp_post(fd, 1, i, 0));

	ASSERT_TRUE(wait_int(&s[2].stage, 1, WAKE_MS))
		TH_LOG("most recent waiter not released by the first post");
	deadline = now_ns() + STATE_WAIT_MS * NSEC_PER_MSEC;
	do {
		ASSERT_EQ(0, get_stats(fd, &st));
		if (st.waiting == 2)
			break;
		usleep(1000);
	} while (now_ns() < deadline);
	EXPECT_EQ(1U, st.running);
	EXPECT_EQ(2U, st.queued);
	EXPECT_EQ(2U, st.waiting);
	EXPECT_EQ(1U, st.peak_running);
	EXPECT_EQ(1U, st.concurrency);
	EXPECT_EQ(ETIMEDOUT, join_ms(s[0].thread, BLOCKED_MS))
		TH_LOG("second waiter released beyond concurrency 1");
	EXPECT_EQ(ETIMEDOUT, join_ms(s[1].thread, BLOCKED_MS))
		TH_LOG("second waiter released beyond concurrency 1");
	EXPECT_EQ(0, __atomic_load_n(&s[0].stage, __ATOMIC_SEQ_CST));
	EXPECT_EQ(0, __atomic_load_n(&s[1].stage, __ATOMIC_SEQ_CST));
	EXPECT_LE(0, s[2].ret1);
	EXPECT_EQ(1U, s[2].n1);
	EXPECT_ENTRY(s[2].e1, 1, 1, 0);

	/* The running thread dequeues again: takes packet 2 with timeout 0. */
	sem_post(&s[2].go);
	ASSERT_TRUE(wait_int(&s[2].stage, 2, WAKE_MS));
	EXPECT_LE(0, s[2].ret2) TH_LOG("second DEQUEUE: %s", strerror(-s[2].ret2));
	EXPECT_EQ(1U, s[2].n2);
	EXPECT_ENTRY(s[2].e2, 1, 2, 0);
	ASSERT_EQ(0, get_stats(fd, &st));
	EXPECT_EQ(1U, st.running);
	EXPECT_EQ(1U, st.queued);
	EXPECT_EQ(2U, st.waiting);
	EXPECT_EQ(2ULL, st.dequeued);
	EXPECT_EQ(1U, st.peak_running);
	EXPECT_EQ(ETIMEDOUT, join_ms(s[0].thread, BLOCKED_MS));
	EXPECT_EQ(ETIMEDOUT, join_ms(s[1].thread, BLOCKED_MS));

	/* Shutdown ends the two blocked ones. */
	ASSERT_EQ(0, iocp_shutdown(fd));
	for (i = 0; i < 2; i++) {
		ASSERT_EQ(0, join_ms(s[i].thread, WAKE_MS));
		EXPECT_EQ(-ESHUTDOWN, s[i].ret1);
	}
	sem_post(&s[2].finish);
	ASSERT_EQ(0, join_ms(s[2].thread, WAKE_MS));
	ASSERT_EQ(0, get_stats(fd, &st));
	EXPECT_EQ(1ULL, st.discarded);
	EXPECT_EQ(0U, st.queued);
	for (i = 0; i < 3; i++) {
		sem_destroy(&s[i].go);
		sem_destroy(&s[i].finish);
	}
	EXPECT_EQ(0, close(fd));
}

/*
 * A DEQUEUE with max == 0 neither associates the thread nor ends its
 * running state.
 */
TEST(depth_query_keeps_association)
{
	struct iocp_completion e;
	struct iocp_stats s;
	struct waiter w;
	int fd;

	fd = test_port(1);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, iocp_post(fd, 1, 1, 0));
	EXPECT_EQ(1, depth_raw(fd));
	ASSERT_EQ(0, get_stats(fd, &s));
	EXPECT_EQ(0U, s.threads) TH_LOG("max == 0 associated the thread");
	EXPECT_EQ(0U, s.running);

	ASSERT_EQ(1, iocp_get(fd, &e, 0));
	ASSERT_EQ(0, get_stats(fd, &s));
	EXPECT_EQ(1U, s.threads);
	EXPECT_EQ(1U, s.running);

	ASSERT_EQ(0, iocp_post(fd, 1, 2, 0));
	EXPECT_EQ(1, depth_raw(fd));
	ASSERT_EQ(0, get_stats(fd, &s));
	EXPECT_EQ(1U, s.running) TH_LOG("max == 0 ended the running state");

	/* Main still occupies the single slot: a waiter must not get it. */
	ASSERT_EQ(0, start_waiter(&w, fd, 1, 0, IOCP_INFINITE));
	ASSERT_TRUE(WAIT_STAT(fd, waiting, 1))
		TH_LOG("waiter took a packet beyond concurrency 1");
	EXPECT_EQ(ETIMEDOUT, join_ms(w.thread, BLOCKED_MS));
	EXPECT_EQ(1, depth_raw(fd));

	ASSERT_EQ(0, iocp_shutdown(fd));
	ASSERT_EQ(0, join_ms(w.thread, WAKE_MS));
	EXPECT_EQ(-ESHUTDOWN, w.ret);
	EXPECT_EQ(0, close(fd));
}

/*
 * A DEQUEUE on another port leaves the previous port first: its running
 * slot is freed and a queued packet goes to that port's waiter.
 */
TEST(dequeue_other_port_leaves_first)
{
	struct iocp_completion e;
	struct iocp_stats s;
	struct waiter w;
	int a, b;

	a = test_port(1);
	ASSERT_LE(0, a);
	b = test_port(1);
	ASSERT_LE(0, b);

	ASSERT_EQ(0, iocp_post(a, 1, 1, 0));
	ASSERT_EQ(1, iocp_get(a, &e, 0));
	ASSERT_EQ(0, get_stats(a, &s));
	EXPECT_EQ(1U, s.running);
	EXPECT_EQ(1U, s.threads);

	ASSERT_EQ(0, start_waiter(&w, a, 1, 0, IOCP_INFINITE));
	ASSERT_TRUE(WAIT_STAT(a, waiting, 1));
	ASSERT_EQ(0, iocp_post(a, 1, 2, 0));
	EXPECT_EQ(ETIMEDOUT, join_ms(w.thread, BLOCKED_MS))
		TH_LOG("waiter released beyond concurrency 1");

	/* Main moves to port b. */
	EXPECT_EQ(-ETIMEDOUT, iocp_get(b, &e, 0));
	ASSERT_EQ(0, join_ms(w.thread, WAKE_MS))
		TH_LOG("leaving port a did not free its slot for the waiter");
	EXPECT_LE(0, w.ret);
	EXPECT_EQ(1U, w.count);
	EXPECT_ENTRY(w.e[0], 1, 2, 0);

	ASSERT_EQ(0, get_stats(b, &s));
	EXPECT_EQ(1U, s.running);
	EXPECT_EQ(1U, s.threads);
	EXPECT_EQ(0, iocp_close(a));
	EXPECT_EQ(0, iocp_close(b));
}

/*
 * A woken waiter's packets cannot be stolen by a later DEQUEUE. The main
 * thread runs SCHED_FIFO on the waiter's CPU, so the waiter has not run yet
 * when main's DEQUEUE arrives.
 */
TEST(handoff_not_stolen)
{
	struct iocp_completion e;
	struct waiter w;
	bool lazy;
	int fd, i;

	lazy = make_wakeups_lazy();
	if (!lazy)
		TH_LOG("cannot pin + SCHED_FIFO: the waiter may run before the steal attempt");
	fd = test_port(8);
	ASSERT_LE(0, fd);
	for (i = 0; i < 20; i++) {
		ASSERT_EQ(0, start_waiter(&w, fd, 1, 0, IOCP_INFINITE));
		ASSERT_TRUE(WAIT_STAT(fd, waiting, 1));
		if (lazy)
			ASSERT_TRUE(set_fifo(true));
		ASSERT_EQ(0, iocp_post(fd, 3, i, 0));
		memset(&e, POISON_BYTE, sizeof(e));
		EXPECT_EQ(-ETIMEDOUT, iocp_get(fd, &e, 0))
			TH_LOG("iteration %d: packet stolen from the woken waiter", i);
		if (lazy)
			ASSERT_TRUE(set_fifo(false));
		ASSERT_EQ(0, join_ms(w.thread, WAKE_MS));
		EXPECT_LE(0, w.ret);
		EXPECT_EQ(1U, w.count);
		EXPECT_ENTRY(w.e[0], 3, i, 0);
	}
	EXPECT_EQ(0, iocp_close(fd));
}

/* ------------------------------------------------------------------ */
/* Concurrency 2 under load                                             */
/* ------------------------------------------------------------------ */

#define LOAD_WORKERS	8
#define LOAD_PACKETS	20000
#define LOAD_CONC	2

struct load {
	int fd;
	int active;		/* user-level lower bound of running */
	int max_active;
	int consumed;
	int errors;
	int bad_ret;
	int stop;
	uint32_t max_running_seen;
	uint32_t samples;
	int sampler_err;
	uint8_t seen[LOAD_PACKETS];
};

static void atomic_max(int *p, int v)
{
	int old = __atomic_load_n(p, __ATOMIC_SEQ_CST);

	while (v > old && !__atomic_compare_exchange_n(p, &old, v, false,
			__ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
		;
}

static void *load_worker(void *arg)
{
	struct load *l = arg;
	struct iocp_completion e;
	int ret, a;

	for (;;) {
		memset(&e, POISON_BYTE, sizeof(e));
		ret = iocp_get(l->fd, &e, IOCP_INFINITE);
		if (ret == -ESHUTDOWN)
			break;
		if (ret != 1) {
			__atomic_add_fetch(&l->errors, 1, __ATOMIC_SEQ_CST);
			l->bad_ret = ret;
			break;
		}
		a = __atomic_add_fetch(&l->active, 1, __ATOMIC_SEQ_CST);
		atomic_max(&l->max_active, a);
		if (e.key != 7 || e.user_data >= LOAD_PACKETS ||
		    e.result != e.user_data * 3 || e.flags != IOCP_CF_POSTED ||
		    e.events)
			__atomic_add_fetch(&l->errors, 1, __ATOMIC_SEQ_CST);
		else
			__atomic_add_fetch(&l->seen[e.user_data], 1, __ATOMIC_SEQ_CST);
		__atomic_add_fetch(&l->consumed, 1, __ATOMIC_SEQ_CST);
		sched_yield();
		__atomic_sub_fetch(&l->active, 1, __ATOMIC_SEQ_CST);
	}
	return NULL;
}

static void *load_sampler(void *arg)
{
	struct load *l = arg;
	struct iocp_stats s;

	while (!__atomic_load_n(&l->stop, __ATOMIC_SEQ_CST)) {
		if (get_stats(l->fd, &s)) {
			l->sampler_err++;
			break;
		}
		if (s.running > l->max_running_seen)
			l->max_running_seen = s.running;
		l->samples++;
		usleep(200);
	}
	return NULL;
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

/*
 * Concurrency 2 with 8 busy workers: running never exceeds 2 (kernel
 * samples, peak_running, and a user-level lower bound) and every packet is
 * consumed exactly once.
 */
TEST_F_TIMEOUT(long_run, concurrency_two_under_load, 180)
{
	pthread_t workers[LOAD_WORKERS], sampler;
	struct iocp_stats s;
	struct load *l;
	uint64_t deadline;
	int i, missing = 0, dups = 0, ret, cur, last;

	l = calloc(1, sizeof(*l));
	ASSERT_NE(NULL, l);
	l->fd = test_port(LOAD_CONC);
	ASSERT_LE(0, l->fd);

	for (i = 0; i < LOAD_WORKERS; i++)
		ASSERT_EQ(0, pthread_create(&workers[i], NULL, load_worker, l));
	ASSERT_TRUE(WAIT_STAT(l->fd, waiting, LOAD_WORKERS));
	ASSERT_EQ(0, pthread_create(&sampler, NULL, load_sampler, l));

	for (i = 0; i < LOAD_PACKETS; i++) {
		ret = iocp_post(l->fd, 7, i, (int64_t)i * 3);
		if (ret == -EAGAIN) {
			sched_yield();
			i--;
			continue;
		}
		ASSERT_EQ(0, ret) TH_LOG("post %d: %s", i, strerror(-ret));
	}

	/* Wait for all to be consumed; give up after STALL_MS without progress. */
	last = 0;
	deadline = now_ns() + STALL_MS * NSEC_PER_MSEC;
	while ((cur = __atomic_load_n(&l->consumed, __ATOMIC_SEQ_CST)) < LOAD_PACKETS &&
	       !__atomic_load_n(&l->errors, __ATOMIC_SEQ_CST)) {
		if (cur != last) {
			last = cur;
			deadline = now_ns() + STALL_MS * NSEC_PER_MSEC;
		} else if (now_ns() > deadline) {
			TH_LOG("no progress for %d ms at %d of %d packets",
			       STALL_MS, cur, LOAD_PACKETS);
			break;
		}
		usleep(5000);
	}
	__atomic_store_n(&l->stop, 1, __ATOMIC_SEQ_CST);
	ASSERT_EQ(0, join_ms(sampler, WAKE_MS));

	ASSERT_EQ(0, get_stats(l->fd, &s));
	EXPECT_EQ(LOAD_PACKETS, __atomic_load_n(&l->consumed, __ATOMIC_SEQ_CST));
	EXPECT_EQ(0, l->errors) TH_LOG("bad return %d or bad packet contents", l->bad_ret);
	EXPECT_EQ((__u64)LOAD_PACKETS, s.posted);
	EXPECT_EQ((__u64)LOAD_PACKETS, s.dequeued);
	EXPECT_EQ(0U, s.queued);
	EXPECT_EQ((__u32)LOAD_CONC, s.concurrency);
	EXPECT_GE((__u32)LOAD_CONC, s.running);
	EXPECT_GE((__u32)LOAD_CONC, s.peak_running)
		TH_LOG("peak_running %u > concurrency", s.peak_running);
	EXPECT_LE(1U, s.peak_running);
	EXPECT_GE((__u32)LOAD_CONC, l->max_running_seen)
		TH_LOG("sampled running %u > concurrency", l->max_running_seen);
	EXPECT_GE(LOAD_CONC, l->max_active)
		TH_LOG("%d threads outside DEQUEUE at once", l->max_active);
	EXPECT_EQ(0, l->sampler_err);

	ASSERT_EQ(0, iocp_shutdown(l->fd));
	for (i = 0; i < LOAD_WORKERS; i++)
		ASSERT_EQ(0, join_ms(workers[i], WAKE_MS))
			TH_LOG("worker %d not woken by shutdown", i);

	for (i = 0; i < LOAD_PACKETS; i++) {
		if (l->seen[i] == 0)
			missing++;
		else if (l->seen[i] > 1)
			dups++;
	}
	EXPECT_EQ(0, missing);
	EXPECT_EQ(0, dups);
	TH_LOG("peak_running %u, sampled max %u over %u samples, max active %d",
	       s.peak_running, l->max_running_seen, l->samples, l->max_active);
	EXPECT_EQ(0, close(l->fd));
	free(l);
}

/* ------------------------------------------------------------------ */
/* Thread exit frees the slot                                           */
/* ------------------------------------------------------------------ */

static void require_exit_tracking(struct __test_metadata *_metadata, int fd)
{
	struct iocp_stats s;

	ASSERT_EQ(0, get_stats(fd, &s));
	ASSERT_NE(0U, s.flags & IOCP_STATS_EXIT_TRACKING)
		TH_LOG("IOCP_STATS_EXIT_TRACKING not set (preempt notifiers expected on Debian kernels)");
}

/* A running thread that exits frees its slot: the queued packet goes to B. */
TEST(exit_frees_slot_thread)
{
	struct stepper a;
	struct waiter b;
	struct iocp_stats s;
	int fd;

	fd = test_port(1);
	ASSERT_LE(0, fd);
	require_exit_tracking(_metadata, fd);

	ASSERT_EQ(0, iocp_post(fd, 4, 1, 0));
	ASSERT_EQ(0, start_stepper(&a, fd, 0, false));
	ASSERT_TRUE(wait_int(&a.stage, 1, WAKE_MS));
	ASSERT_LE(0, a.ret1) TH_LOG("A: %s", strerror(-a.ret1));
	EXPECT_EQ(1U, a.n1);
	EXPECT_ENTRY(a.e1, 4, 1, 0);

	ASSERT_EQ(0, start_waiter(&b, fd, 1, 0, IOCP_INFINITE));
	ASSERT_TRUE(WAIT_STAT(fd, waiting, 1));
	ASSERT_EQ(0, iocp_post(fd, 4, 2, 0));
	EXPECT_EQ(ETIMEDOUT, join_ms(b.thread, BLOCKED_MS))
		TH_LOG("B released while A still counts running");
	ASSERT_EQ(0, get_stats(fd, &s));
	EXPECT_EQ(1U, s.queued);
	EXPECT_EQ(1U, s.running);
	EXPECT_EQ(1U, s.waiting);

	/* A returns from its start routine: the thread exits. */
	sem_post(&a.go);
	ASSERT_EQ(0, join_ms(a.thread, WAKE_MS));
	ASSERT_EQ(0, join_ms(b.thread, WAKE_MS))
		TH_LOG("A's exit did not release the queued packet to B");
	EXPECT_LE(0, b.ret);
	EXPECT_EQ(1U, b.count);
	EXPECT_ENTRY(b.e[0], 4, 2, 0);

	/* B has exited too: nothing counts as running any more. */
	EXPECT_TRUE(WAIT_STAT(fd, running, 0));
	ASSERT_EQ(0, get_stats(fd, &s));
	EXPECT_EQ(0U, s.queued);
	EXPECT_EQ(2ULL, s.dequeued);
	EXPECT_EQ(1U, s.peak_running);

	sem_destroy(&a.go);
	sem_destroy(&a.finish);
	EXPECT_EQ(0, iocp_close(fd));
}

/* A running process killed with SIGKILL frees its slot as well. */
TEST(exit_frees_slot_killed_process)
{
	struct iocp_stats s;
	struct waiter b;
	uint64_t got[2] = { 0, 0 };
	int pipefd[2], status, fd;
	pid_t pid;

	fd = test_port(1);
	ASSERT_LE(0, fd);
	require_exit_tracking(_metadata, fd);
	ASSERT_EQ(0, iocp_post(fd, 6, 1, 0));
	ASSERT_EQ(0, pipe(pipefd));

	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		struct iocp_completion e;
		int64_t r;

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(pipefd[0]);
		memset(&e, POISON_BYTE, sizeof(e));
		r = iocp_get(fd, &e, 0);
		got[0] = (uint64_t)r;
		got[1] = e.user_data;
		if (write(pipefd[1], got, sizeof(got)) != sizeof(got))
			_exit(2);
		sleep(60);
		_exit(1);
	}
	close(pipefd[1]);
	ASSERT_EQ((ssize_t)sizeof(got), read(pipefd[0], got, sizeof(got)));
	close(pipefd[0]);
	if (got[0] != 1) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
	ASSERT_EQ(1ULL, got[0]) TH_LOG("child dequeue returned %lld", (long long)got[0]);
	EXPECT_EQ(1ULL, got[1]);

	ASSERT_EQ(0, get_stats(fd, &s));
	EXPECT_EQ(1U, s.running);
	EXPECT_EQ(1U, s.threads);

	ASSERT_EQ(0, start_waiter(&b, fd, 1, 0, IOCP_INFINITE));
	ASSERT_TRUE(WAIT_STAT(fd, waiting, 1));
	ASSERT_EQ(0, iocp_post(fd, 6, 2, 0));
	EXPECT_EQ(ETIMEDOUT, join_ms(b.thread, BLOCKED_MS))
		TH_LOG("B released while the child still counts running");
	ASSERT_EQ(0, get_stats(fd, &s));
	EXPECT_EQ(1U, s.queued);

	ASSERT_EQ(0, kill(pid, SIGKILL));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	ASSERT_EQ(0, join_ms(b.thread, WAKE_MS))
		TH_LOG("killed child's exit did not release the queued packet");
	EXPECT_LE(0, b.ret);
	EXPECT_EQ(1U, b.count);
	EXPECT_ENTRY(b.e[0], 6, 2, 0);
	EXPECT_EQ(0, iocp_close(fd));
}

/*
 * A process killed while blocked in DEQUEUE takes nothing with it: it
 * leaves the waiter stack and the port, and a later packet stays queued.
 */
TEST(killed_waiter_takes_nothing)
{
	struct iocp_stats s;
	int status, fd;
	pid_t pid;

	fd = test_port(4);
	ASSERT_LE(0, fd);
	require_exit_tracking(_metadata, fd);

	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		struct iocp_completion e;

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		iocp_get(fd, &e, 60 * NSEC_PER_SEC);
		_exit(1);
	}
	ASSERT_TRUE(WAIT_STAT(fd, waiting, 1));
	ASSERT_EQ(0, kill(pid, SIGKILL));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

	EXPECT_TRUE(WAIT_STAT(fd, threads, 0))
		TH_LOG("the killed thread stayed associated");
	ASSERT_EQ(0, get_stats(fd, &s));
	EXPECT_EQ(0U, s.waiting);
	EXPECT_EQ(0U, s.running);

	ASSERT_EQ(0, iocp_post(fd, 1, 1, 0));
	EXPECT_EQ(1, depth_raw(fd)) TH_LOG("a dead waiter swallowed the packet");
	ASSERT_EQ(0, get_stats(fd, &s));
	EXPECT_EQ(0ULL, s.dequeued);
	EXPECT_EQ(0, iocp_close(fd));
}

/* ------------------------------------------------------------------ */
/* Timeouts and signals                                                 */
/* ------------------------------------------------------------------ */

/*
 * A timeout returns ETIMEDOUT after at least the timeout, and the thread
 * counts as running afterwards (Windows semantics), occupying the slot.
 */
TEST(timeout_elapsed)
{
	struct iocp_completion e;
	struct iocp_stats s;
	struct waiter w;
	uint64_t t0, el;
	int fd;

	fd = test_port(1);
	ASSERT_LE(0, fd);

	t0 = now_ns();
	EXPECT_EQ(-ETIMEDOUT, dq(fd, &e, 1, 0, 100 * NSEC_PER_MSEC, NULL));
	el = now_ns() - t0;
	EXPECT_LE(100 * NSEC_PER_MSEC, el) TH_LOG("returned after %llu ns", (unsigned long long)el);
	EXPECT_GT(2100 * NSEC_PER_MSEC, el) TH_LOG("returned after %llu ns", (unsigned long long)el);

	ASSERT_EQ(0, get_stats(fd, &s));
	EXPECT_EQ(1U, s.running) TH_LOG("a timed-out thread counts as running");
	EXPECT_EQ(1U, s.threads);
	EXPECT_EQ(0U, s.waiting);
	EXPECT_EQ(0U, s.queued);

	t0 = now_ns();
	EXPECT_EQ(-ETIMEDOUT, iocp_get(fd, &e, 0));
	EXPECT_GT(2000 * NSEC_PER_MSEC, now_ns() - t0);

	/* The timed-out main thread occupies the only slot. */
	ASSERT_EQ(0, start_waiter(&w, fd, 1, 0, IOCP_INFINITE));
	ASSERT_TRUE(WAIT_STAT(fd, waiting, 1));
	ASSERT_EQ(0, iocp_post(fd, 2, 2, 0));
	EXPECT_EQ(ETIMEDOUT, join_ms(w.thread, BLOCKED_MS))
		TH_LOG("waiter released while a timed-out thread runs");
	EXPECT_EQ(1, depth_raw(fd));

	/* Main dequeues again: stops counting first, then takes it at once. */
	memset(&e, POISON_BYTE, sizeof(e));
	EXPECT_EQ(1, iocp_get(fd, &e, 0));
	EXPECT_ENTRY(e, 2, 2, 0);
	EXPECT_EQ(ETIMEDOUT, join_ms(w.thread, BLOCKED_MS));

	ASSERT_EQ(0, iocp_shutdown(fd));
	ASSERT_EQ(0, join_ms(w.thread, WAKE_MS));
	EXPECT_EQ(-ESHUTDOWN, w.ret);
	EXPECT_EQ(0, close(fd));
}

/*
 * Timeout edge values: 1 ns expires; the largest finite value (and 2^63)
 * must not overflow into an immediate expiry; IOCP_INFINITE never expires.
 */
TEST(timeout_edges)
{
	static const uint64_t huge[] = {
		IOCP_INFINITE - 1, 1ULL << 63, (1ULL << 63) - 1, IOCP_INFINITE,
	};
	struct iocp_completion e;
	struct waiter w[4];
	uint64_t t0;
	int fd, i;

	fd = test_port(8);
	ASSERT_LE(0, fd);

	t0 = now_ns();
	EXPECT_EQ(-ETIMEDOUT, iocp_get(fd, &e, 1));
	EXPECT_GT(2000 * NSEC_PER_MSEC, now_ns() - t0);

	for (i = 0; i < 4; i++) {
		ASSERT_EQ(0, start_waiter(&w[i], fd, 1, 0, huge[i]));
		ASSERT_TRUE(WAIT_STAT(fd, waiting, i + 1))
			TH_LOG("timeout %#llx did not block", (unsigned long long)huge[i]);
	}
	for (i = 0; i < 4; i++)
		EXPECT_EQ(ETIMEDOUT, join_ms(w[i].thread, i ? 0 : BLOCKED_MS))
			TH_LOG("timeout %#llx expired", (unsigned long long)huge[i]);
	ASSERT_EQ(0, iocp_shutdown(fd));
	for (i = 0; i < 4; i++) {
		ASSERT_EQ(0, join_ms(w[i].thread, WAKE_MS));
		EXPECT_EQ(-ESHUTDOWN, w[i].ret);
	}
	EXPECT_EQ(0, close(fd));
}

static volatile sig_atomic_t sig_count;

static void on_sigusr1(int sig)
{
	(void)sig;
	sig_count++;
}

static void eintr_case(struct __test_metadata *_metadata, int sa_flags)
{
	struct sigaction sa;
	struct waiter w;
	struct iocp_stats s;
	int fd;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sigusr1;
	sa.sa_flags = sa_flags;
	sigemptyset(&sa.sa_mask);
	ASSERT_EQ(0, sigaction(SIGUSR1, &sa, NULL));
	sig_count = 0;

	fd = test_port(8);
	ASSERT_LE(0, fd);
	/* One packet queued; the waiter wants two, so it blocks. */
	ASSERT_EQ(0, iocp_post(fd, 1, 1, 0));
	ASSERT_EQ(0, start_waiter(&w, fd, 2, 2, IOCP_INFINITE));
	ASSERT_TRUE(WAIT_STAT(fd, waiting, 1));

	ASSERT_EQ(0, pthread_kill(w.thread, SIGUSR1));
	ASSERT_EQ(0, join_ms(w.thread, WAKE_MS))
		TH_LOG("blocked DEQUEUE not interrupted (restarted?)");
	EXPECT_EQ(-EINTR, w.ret);
	EXPECT_EQ(1, sig_count);
	EXPECT_TRUE(is_poison(w.e, sizeof(w.e)));

	ASSERT_EQ(0, get_stats(fd, &s));
	EXPECT_EQ(1U, s.queued) TH_LOG("EINTR removed a packet");
	EXPECT_EQ(0U, s.waiting);
	EXPECT_EQ(0ULL, s.dequeued);
	EXPECT_EQ(0, iocp_close(fd));
}

/* A signal (handler without SA_RESTART) ends a blocked DEQUEUE with EINTR. */
TEST(eintr_no_restart)
{
	eintr_case(_metadata, 0);
}

/* Even with SA_RESTART, DEQUEUE is never restarted: EINTR. */
TEST(eintr_sa_restart)
{
	eintr_case(_metadata, SA_RESTART);
}

/* ------------------------------------------------------------------ */
/* Shutdown and close                                                   */
/* ------------------------------------------------------------------ */

/*
 * SHUTDOWN wakes every waiter with ESHUTDOWN; afterwards POST, DEQUEUE and
 * SET_CONFIG fail with ESHUTDOWN, GET_CONFIG/GET_STATS work, a second
 * SHUTDOWN returns 0.
 */
TEST(shutdown_wakes_and_blocks)
{
	struct iocp_completion e;
	struct iocp_config cfg;
	struct iocp_stats s;
	struct waiter w[3], late;
	int fd, i;

	fd = test_port(8);
	ASSERT_LE(0, fd);
	for (i = 0; i < 3; i++) {
		ASSERT_EQ(0, start_waiter(&w[i], fd, 1, 0, IOCP_INFINITE));
		ASSERT_TRUE(WAIT_STAT(fd, waiting, i + 1));
	}
	ASSERT_EQ(0, get_stats(fd, &s));
	EXPECT_EQ(3U, s.threads);

	ASSERT_EQ(0, xioctl(fd, IOCP_IOC_SHUTDOWN, NULL));
	for (i = 0; i < 3; i++) {
		ASSERT_EQ(0, join_ms(w[i].thread, WAKE_MS))
			TH_LOG("waiter %d not woken by shutdown", i);
		EXPECT_EQ(-ESHUTDOWN, w[i].ret);
		EXPECT_TRUE(is_poison(w[i].e, sizeof(w[i].e)));
	}

	fill(&e, 1, 1, 1);
	EXPECT_EQ(-ESHUTDOWN, post_raw(fd, &e, 1, 0));
	EXPECT_EQ(-ESHUTDOWN, iocp_post(fd, 1, 1, 1));
	EXPECT_EQ(-ESHUTDOWN, dq(fd, &e, 1, 0, 0, NULL));
	EXPECT_EQ(-ESHUTDOWN, dq(fd, NULL, 0, 0, 0, NULL)) TH_LOG("max == 0 after shutdown");
	/* An infinite DEQUEUE must not block (checked in a thread). */
	ASSERT_EQ(0, start_waiter(&late, fd, 1, 0, IOCP_INFINITE));
	ASSERT_EQ(0, join_ms(late.thread, WAKE_MS))
		TH_LOG("DEQUEUE after shutdown blocked");
	EXPECT_EQ(-ESHUTDOWN, late.ret);

	memset(&cfg, 0, sizeof(cfg));
	cfg.concurrency = 2;
	cfg.max_queued = 10;
	EXPECT_EQ(-ESHUTDOWN, xioctl(fd, IOCP_IOC_SET_CONFIG, &cfg));
	expect_config(_metadata, fd, 8, IOCP_DEFAULT_MAX_QUEUED);

	ASSERT_EQ(0, get_stats(fd, &s));
	EXPECT_NE(0U, s.flags & IOCP_STATS_SHUTDOWN);
	EXPECT_EQ(0U, s.waiting);
	EXPECT_EQ(0U, s.threads);
	EXPECT_EQ(0U, s.running);
	EXPECT_EQ(0ULL, s.posted);

	EXPECT_EQ(0, xioctl(fd, IOCP_IOC_SHUTDOWN, NULL)) TH_LOG("second shutdown");
	EXPECT_EQ(0, iocp_shutdown(fd));
	EXPECT_EQ(0, close(fd));
}

/* Packets still queued at shutdown are discarded and counted. */
TEST(shutdown_discards_queued)
{
	struct iocp_completion in[4], e;
	struct iocp_stats s;
	int fd, i;

	fd = test_port(4);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, iocp_post(fd, 1, 0, 0));
	for (i = 0; i < 4; i++)
		fill(&in[i], 1, 1 + i, 0);
	ASSERT_EQ(0, iocp_post_many(fd, in, 4));
	ASSERT_EQ(1, iocp_get(fd, &e, 0));
	ASSERT_EQ(0, get_stats(fd, &s));
	EXPECT_EQ(1U, s.threads);
	EXPECT_EQ(1U, s.running);

	ASSERT_EQ(0, iocp_shutdown(fd));
	ASSERT_EQ(0, get_stats(fd, &s));
	EXPECT_EQ(5ULL, s.posted);
	EXPECT_EQ(1ULL, s.dequeued);
	EXPECT_EQ(4ULL, s.discarded);
	EXPECT_EQ(0U, s.queued);
	EXPECT_EQ(0U, s.threads);
	EXPECT_EQ(0U, s.running);
	EXPECT_EQ(5U, s.high_water);
	EXPECT_NE(0U, s.flags & IOCP_STATS_SHUTDOWN);
	EXPECT_EQ(0, close(fd));
}

enum end_mode { END_SHUTDOWN, END_CLOSE, END_IOCP_CLOSE };

/*
 * A packet handed to a waiter survives an immediately following end. The
 * main thread runs SCHED_FIFO on the waiter's CPU, so the waiter only runs
 * once main blocks in the join: it sees "handed off" and "shut down" at once.
 */
static void handoff_case(struct __test_metadata *_metadata, enum end_mode mode)
{
	struct iocp_stats s;
	struct waiter w;
	bool lazy;
	int fd, i;

	lazy = make_wakeups_lazy();
	if (!lazy)
		TH_LOG("cannot pin + SCHED_FIFO: the waiter may run before the shutdown");
	for (i = 0; i < 20; i++) {
		fd = test_port(8);
		ASSERT_LE(0, fd);
		ASSERT_EQ(0, start_waiter(&w, fd, 4, 0, IOCP_INFINITE));
		ASSERT_TRUE(WAIT_STAT(fd, waiting, 1));
		if (lazy)
			ASSERT_TRUE(set_fifo(true));
		ASSERT_EQ(0, iocp_post(fd, 11, i, -i));
		switch (mode) {
		case END_SHUTDOWN:
			ASSERT_EQ(0, iocp_shutdown(fd));
			break;
		case END_CLOSE:
			ASSERT_EQ(0, close(fd));
			break;
		case END_IOCP_CLOSE:
			ASSERT_EQ(0, iocp_close(fd));
			break;
		}
		if (lazy)
			ASSERT_TRUE(set_fifo(false));
		ASSERT_EQ(0, join_ms(w.thread, WAKE_MS)) TH_LOG("iteration %d", i);
		ASSERT_LE(0, w.ret)
			TH_LOG("iteration %d: handed-off packet lost: %s", i, strerror(-w.ret));
		EXPECT_EQ(1U, w.count);
		EXPECT_ENTRY(w.e[0], 11, i, -i);
		if (mode == END_SHUTDOWN) {
			ASSERT_EQ(0, get_stats(fd, &s));
			EXPECT_EQ(1ULL, s.dequeued);
			EXPECT_EQ(0ULL, s.discarded);
			EXPECT_EQ(0, close(fd));
		}
	}
}

/* Hand-off survives an immediately following SHUTDOWN. */
TEST(handoff_survives_shutdown)
{
	handoff_case(_metadata, END_SHUTDOWN);
}

/* Hand-off survives an immediately following close() of the last fd. */
TEST(handoff_survives_close)
{
	handoff_case(_metadata, END_CLOSE);
}

/* Hand-off survives an immediately following iocp_close(). */
TEST(handoff_survives_iocp_close)
{
	handoff_case(_metadata, END_IOCP_CLOSE);
}

/*
 * close() alone does not wake a thread blocked in DEQUEUE; the port stays
 * usable through another fd. iocp_close() (shutdown + close) wakes it.
 */
TEST(close_does_not_wake_waiter)
{
	struct iocp_stats s;
	struct waiter w;
	int fd, fd2;

	fd = test_port(8);
	ASSERT_LE(0, fd);
	fd2 = dup(fd);
	ASSERT_LE(0, fd2);

	ASSERT_EQ(0, start_waiter(&w, fd, 1, 0, IOCP_INFINITE));
	ASSERT_TRUE(WAIT_STAT(fd, waiting, 1));
	ASSERT_EQ(0, close(fd));
	EXPECT_EQ(ETIMEDOUT, join_ms(w.thread, BLOCKED_MS))
		TH_LOG("close() of one fd woke the waiter");
	ASSERT_EQ(0, get_stats(fd2, &s));
	EXPECT_EQ(1U, s.waiting);
	EXPECT_EQ(0U, s.flags & IOCP_STATS_SHUTDOWN);

	/* Still a working port: a post through the dup reaches the waiter. */
	ASSERT_EQ(0, iocp_post(fd2, 1, 1, 0));
	ASSERT_EQ(0, join_ms(w.thread, WAKE_MS));
	EXPECT_LE(0, w.ret);
	EXPECT_ENTRY(w.e[0], 1, 1, 0);

	ASSERT_EQ(0, start_waiter(&w, fd2, 1, 0, IOCP_INFINITE));
	ASSERT_TRUE(WAIT_STAT(fd2, waiting, 1));
	ASSERT_EQ(0, iocp_close(fd2));
	ASSERT_EQ(0, join_ms(w.thread, WAKE_MS))
		TH_LOG("iocp_close did not wake the waiter");
	EXPECT_EQ(-ESHUTDOWN, w.ret);
}

/* ------------------------------------------------------------------ */
/* EFAULT on delivery                                                   */
/* ------------------------------------------------------------------ */

/* Unwritable entries: EFAULT, packets back at the head in order. */
TEST(efault_requeue)
{
	struct iocp_completion out[4], *straddle;
	struct iocp_dequeue_args *ro_args;
	struct iocp_stats s;
	char *pages, *ro;
	uint32_t count;
	long ps;
	int fd, i;

	pages = guard_pages(&ps);
	ASSERT_NE(NULL, pages);
	fd = test_port(4);
	ASSERT_LE(0, fd);
	for (i = 0; i < 3; i++)
		ASSERT_EQ(0, iocp_post(fd, 8, i, -i));

	EXPECT_EQ(-EFAULT, dq(fd, (void *)(pages + ps), 3, 0, 0, NULL));
	EXPECT_EQ(3, depth_raw(fd)) TH_LOG("packets lost on EFAULT");
	EXPECT_EQ(-EFAULT, dq(fd, NULL, 3, 0, 0, NULL));
	EXPECT_EQ(3, depth_raw(fd));
	EXPECT_EQ(-EFAULT, dq(fd, (void *)(pages + ps), 1, 0, 0, NULL));
	EXPECT_EQ(3, depth_raw(fd));

	/* Entry 0 writable, entry 1 straddles into the PROT_NONE page. */
	straddle = (struct iocp_completion *)(pages + ps - sizeof(*straddle) - 8);
	EXPECT_EQ(-EFAULT, dq(fd, straddle, 3, 0, 0, NULL));
	EXPECT_EQ(3, depth_raw(fd));
	EXPECT_EQ(-EFAULT, dq(fd, straddle, 2, 2, 0, NULL));
	EXPECT_EQ(3, depth_raw(fd));

	/*
	 * Args readable but not writable: the entries are written, the count
	 * write-back fails, so the packets must go back as well.
	 */
	ro = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		  -1, 0);
	ASSERT_NE(MAP_FAILED, ro);
	ro_args = (struct iocp_dequeue_args *)ro;
	memset(ro_args, 0, sizeof(*ro_args));
	ro_args->entries = (uintptr_t)out;
	ro_args->max = 3;
	ASSERT_EQ(0, mprotect(ro, ps, PROT_READ));
	EXPECT_EQ(-EFAULT, xioctl(fd, IOCP_IOC_DEQUEUE, ro_args));
	EXPECT_EQ(3, depth_raw(fd)) TH_LOG("packets lost when count was not writable");
	munmap(ro, ps);

	ASSERT_EQ(0, get_stats(fd, &s));
	EXPECT_EQ(0ULL, s.dequeued) TH_LOG("failed deliveries counted as dequeued");
	EXPECT_EQ(3U, s.queued);

	memset(out, POISON_BYTE, sizeof(out));
	ASSERT_LE(0, dq(fd, out, 4, 0, 0, &count));
	ASSERT_EQ(3U, count);
	for (i = 0; i < 3; i++)
		EXPECT_ENTRY(out[i], 8, i, -i);
	EXPECT_TRUE(is_poison(&out[3], sizeof(out[3])));

	ASSERT_EQ(0, get_stats(fd, &s));
	EXPECT_EQ(3ULL, s.posted);
	EXPECT_EQ(3ULL, s.dequeued);
	EXPECT_EQ(0U, s.queued);
	EXPECT_EQ(0, close(fd));
	munmap(pages, 2 * ps);
}

/*
 * A blocked waiter handed packets it cannot store returns EFAULT and the
 * packets go back to the head of the queue, ahead of later ones.
 */
TEST(efault_requeue_after_handoff)
{
	struct iocp_completion in[3], out[4];
	struct iocp_stats s;
	struct waiter w;
	char *pages;
	uint32_t count;
	long ps;
	int fd, i;

	pages = guard_pages(&ps);
	ASSERT_NE(NULL, pages);
	fd = test_port(8);
	ASSERT_LE(0, fd);

	ASSERT_EQ(0, start_waiter_buf(&w, fd, 2, 2, IOCP_INFINITE,
				      (struct iocp_completion *)(pages + ps)));
	ASSERT_TRUE(WAIT_STAT(fd, waiting, 1));
	for (i = 0; i < 3; i++)
		fill(&in[i], 12, i, 0);
	ASSERT_LE(0, post_raw(fd, in, 3, 0));
	ASSERT_EQ(0, join_ms(w.thread, WAKE_MS));
	EXPECT_EQ(-EFAULT, w.ret);

	memset(out, POISON_BYTE, sizeof(out));
	ASSERT_LE(0, dq(fd, out, 4, 0, 0, &count));
	ASSERT_EQ(3U, count) TH_LOG("packets lost after a failed delivery");
	for (i = 0; i < 3; i++)
		EXPECT_ENTRY(out[i], 12, i, 0);
	ASSERT_EQ(0, get_stats(fd, &s));
	EXPECT_EQ(3ULL, s.dequeued);
	EXPECT_EQ(3ULL, s.posted);
	EXPECT_EQ(0, iocp_close(fd));
	munmap(pages, 2 * ps);
}

/* ------------------------------------------------------------------ */
/* Queue limit                                                          */
/* ------------------------------------------------------------------ */

/* max_queued bounds the queue: EAGAIN, all or none; lowering is allowed. */
TEST(full_queue)
{
	struct iocp_completion in[2], out[4];
	struct iocp_config cfg;
	struct iocp_stats s;
	int fd, i;

	fd = test_port(4);
	ASSERT_LE(0, fd);
	memset(&cfg, 0, sizeof(cfg));
	cfg.concurrency = 4;
	cfg.max_queued = 4;
	ASSERT_EQ(0, iocp_set_config(fd, &cfg));

	for (i = 0; i < 4; i++)
		ASSERT_EQ(0, iocp_post(fd, 1, i, 0));
	EXPECT_EQ(-EAGAIN, iocp_post(fd, 1, 4, 0));
	EXPECT_EQ(4, depth_raw(fd));

	ASSERT_EQ(1, iocp_get(fd, out, 0));
	EXPECT_ENTRY(out[0], 1, 0, 0);
	fill(&in[0], 1, 10, 0);
	fill(&in[1], 1, 11, 0);
	EXPECT_EQ(-EAGAIN, post_raw(fd, in, 2, 0)) TH_LOG("batch of 2 with 1 free slot");
	EXPECT_EQ(3, depth_raw(fd)) TH_LOG("partial batch queued");
	ASSERT_EQ(0, get_stats(fd, &s));
	EXPECT_EQ(4ULL, s.posted);
	EXPECT_EQ(4U, s.high_water);

	EXPECT_LE(0, post_raw(fd, in, 1, 0));
	EXPECT_EQ(4, depth_raw(fd));

	/* Lowering below the current depth is allowed; posts fail until drained. */
	cfg.max_queued = 2;
	ASSERT_EQ(0, iocp_set_config(fd, &cfg));
	EXPECT_EQ(4, depth_raw(fd));
	EXPECT_EQ(-EAGAIN, iocp_post(fd, 1, 20, 0));
	ASSERT_EQ(2, iocp_get_many(fd, out, 2, 2, 0));
	EXPECT_ENTRY(out[0], 1, 1, 0);
	EXPECT_ENTRY(out[1], 1, 2, 0);
	EXPECT_EQ(-EAGAIN, iocp_post(fd, 1, 21, 0)) TH_LOG("depth 2 == max_queued 2");
	ASSERT_EQ(1, iocp_get(fd, out, 0));
	EXPECT_ENTRY(out[0], 1, 3, 0);
	EXPECT_EQ(0, iocp_post(fd, 1, 22, 0));
	EXPECT_EQ(-EAGAIN, iocp_post(fd, 1, 23, 0));

	ASSERT_EQ(2, iocp_get_many(fd, out, 1, 4, 0));
	EXPECT_ENTRY(out[0], 1, 10, 0);
	EXPECT_ENTRY(out[1], 1, 22, 0);

	ASSERT_EQ(0, get_stats(fd, &s));
	EXPECT_EQ(6ULL, s.posted);
	EXPECT_EQ(6ULL, s.dequeued);
	EXPECT_EQ(4U, s.high_water);
	EXPECT_EQ(0U, s.queued);
	EXPECT_EQ(0, close(fd));
}

/* ------------------------------------------------------------------ */
/* poll / epoll                                                         */
/* ------------------------------------------------------------------ */

struct epoller {
	pthread_t thread;
	int epfd;
	pid_t tid;
	int entered;
	int ret;
	struct epoll_event ev[4];
};

static void *epoll_fn(void *arg)
{
	struct epoller *p = arg;

	p->tid = sys_gettid();
	memset(p->ev, POISON_BYTE, sizeof(p->ev));
	__atomic_store_n(&p->entered, 1, __ATOMIC_SEQ_CST);
	p->ret = epoll_wait(p->epfd, p->ev, 4, 10000);
	if (p->ret < 0)
		p->ret = -errno;
	return NULL;
}

/* Wait until thread @tid of this process sleeps (state S). */
static bool wait_sleeping(pid_t tid)
{
	uint64_t deadline = now_ns() + STATE_WAIT_MS * NSEC_PER_MSEC;
	char path[64], buf[512], *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", tid);
	do {
		fd = open(path, O_RDONLY);
		if (fd < 0)
			return false;
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n > 0) {
			buf[n] = 0;
			p = strrchr(buf, ')');
			if (p && p[1] == ' ' && p[2] == 'S')
				return true;
		}
		usleep(1000);
	} while (now_ns() < deadline);
	return false;
}

/* POLLIN while packets are queued, POLLHUP after shutdown, posts wake epoll. */
TEST(poll_and_epoll)
{
	struct epoll_event ev;
	struct pollfd pfd;
	struct iocp_completion e;
	struct epoller p;
	int fd, ep;

	fd = test_port(4);
	ASSERT_LE(0, fd);

	pfd.fd = fd;
	pfd.events = POLLIN | POLLRDNORM;
	pfd.revents = 0x7fff;
	EXPECT_EQ(0, poll(&pfd, 1, 0));
	EXPECT_EQ(0, pfd.revents);

	ASSERT_EQ(0, iocp_post(fd, 1, 1, 0));
	pfd.revents = 0;
	EXPECT_EQ(1, poll(&pfd, 1, 0));
	EXPECT_EQ(POLLIN | POLLRDNORM, pfd.revents);

	ASSERT_EQ(1, iocp_get(fd, &e, 0));
	pfd.revents = 0x7fff;
	EXPECT_EQ(0, poll(&pfd, 1, 0));
	EXPECT_EQ(0, pfd.revents);

	/* A post wakes a thread sleeping in epoll_wait. */
	ep = epoll_create1(EPOLL_CLOEXEC);
	ASSERT_LE(0, ep);
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN;
	ev.data.u64 = 0x1234567890ULL;
	ASSERT_EQ(0, epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev));

	memset(&p, 0, sizeof(p));
	p.epfd = ep;
	ASSERT_EQ(0, pthread_create(&p.thread, NULL, epoll_fn, &p));
	ASSERT_TRUE(wait_int(&p.entered, 1, WAKE_MS));
	ASSERT_TRUE(wait_sleeping(p.tid)) TH_LOG("epoll thread never slept");
	EXPECT_EQ(ETIMEDOUT, join_ms(p.thread, BLOCKED_MS))
		TH_LOG("epoll_wait returned on an empty port");
	ASSERT_EQ(0, iocp_post(fd, 2, 2, 0));
	ASSERT_EQ(0, join_ms(p.thread, WAKE_MS)) TH_LOG("post did not wake epoll_wait");
	ASSERT_EQ(1, p.ret);
	EXPECT_EQ((uint32_t)EPOLLIN, p.ev[0].events);
	EXPECT_EQ(0x1234567890ULL, p.ev[0].data.u64);

	ASSERT_EQ(1, iocp_get(fd, &e, 0));
	EXPECT_EQ(0, epoll_wait(ep, &ev, 1, 0));

	/* After shutdown: POLLHUP, no POLLIN (queue discarded). */
	ASSERT_EQ(0, iocp_post(fd, 3, 3, 0));
	ASSERT_EQ(0, iocp_shutdown(fd));
	pfd.revents = 0;
	EXPECT_EQ(1, poll(&pfd, 1, 0));
	EXPECT_EQ(POLLHUP, pfd.revents);
	memset(&ev, 0, sizeof(ev));
	EXPECT_EQ(1, epoll_wait(ep, &ev, 1, 0));
	EXPECT_NE(0U, ev.events & EPOLLHUP);
	EXPECT_EQ(0U, ev.events & EPOLLIN);

	EXPECT_EQ(0, close(ep));
	EXPECT_EQ(0, close(fd));
}

/* ------------------------------------------------------------------ */
/* fdinfo                                                               */
/* ------------------------------------------------------------------ */

static int read_fdinfo(int fd, char *buf, size_t size)
{
	char path[64];
	ssize_t n, off = 0;
	int f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = open(path, O_RDONLY);
	if (f < 0)
		return -errno;
	/* The leading newline lets every line be matched as "\nname:". */
	buf[off++] = '\n';
	while ((n = read(f, buf + off, size - 1 - off)) > 0)
		off += n;
	buf[off] = 0;
	close(f);
	return n < 0 ? -errno : 0;
}

/* true if exactly one line "name:\t<decimal>" exists; its value in *val. */
static bool fdinfo_value(const char *buf, const char *name,
			 unsigned long long *val)
{
	char pat[64], *end;
	const char *p;

	snprintf(pat, sizeof(pat), "\n%s:\t", name);
	p = strstr(buf, pat);
	if (!p || strstr(p + 1, pat))
		return false;
	p += strlen(pat);
	if (*p < '0' || *p > '9')
		return false;
	*val = strtoull(p, &end, 10);
	return *end == '\n';
}

#define EXPECT_FDINFO(buf, name, want) do { \
	unsigned long long __v = ~0ULL; \
	EXPECT_TRUE(fdinfo_value(buf, name, &__v)) \
		TH_LOG("fdinfo line \"%s:\\t<n>\" missing or malformed:%s", name, buf); \
	EXPECT_EQ((unsigned long long)(want), __v) TH_LOG("fdinfo %s", name); \
} while (0)

/* /proc/self/fdinfo/<fd> shows the port's state with the documented names. */
TEST(fdinfo)
{
	struct iocp_completion in[2], e;
	struct iocp_config cfg;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	char buf[4096];
	int fd;

	fd = iocp_create(3);
	ASSERT_LE(0, fd);
	memset(&cfg, 0, sizeof(cfg));
	cfg.concurrency = 3;
	cfg.max_queued = 100;
	ASSERT_EQ(0, iocp_set_config(fd, &cfg));
	ASSERT_EQ(0, iocp_post(fd, 1, 1, 0));
	fill(&in[0], 1, 2, 0);
	fill(&in[1], 1, 3, 0);
	ASSERT_EQ(0, iocp_post_many(fd, in, 2));
	ASSERT_EQ(1, iocp_get(fd, &e, 0));

	ASSERT_EQ(0, read_fdinfo(fd, buf, sizeof(buf)));
	EXPECT_FDINFO(buf, "iocp-queued", 2);
	EXPECT_FDINFO(buf, "iocp-running", 1);
	EXPECT_FDINFO(buf, "iocp-waiting", 0);
	EXPECT_FDINFO(buf, "iocp-threads", 1);
	EXPECT_FDINFO(buf, "iocp-concurrency", 3);
	EXPECT_FDINFO(buf, "iocp-effective-concurrency", 3);
	EXPECT_FDINFO(buf, "iocp-max-queued", 100);
	EXPECT_FDINFO(buf, "iocp-high-water", 3);
	EXPECT_FDINFO(buf, "iocp-posted", 3);
	EXPECT_FDINFO(buf, "iocp-dequeued", 1);
	EXPECT_FDINFO(buf, "iocp-discarded", 0);
	EXPECT_FDINFO(buf, "iocp-shutdown", 0);

	ASSERT_EQ(0, iocp_shutdown(fd));
	ASSERT_EQ(0, read_fdinfo(fd, buf, sizeof(buf)));
	EXPECT_FDINFO(buf, "iocp-queued", 0);
	EXPECT_FDINFO(buf, "iocp-running", 0);
	EXPECT_FDINFO(buf, "iocp-threads", 0);
	EXPECT_FDINFO(buf, "iocp-discarded", 2);
	EXPECT_FDINFO(buf, "iocp-posted", 3);
	EXPECT_FDINFO(buf, "iocp-shutdown", 1);
	EXPECT_EQ(0, close(fd));

	/* Configured 0 vs effective CPU count. */
	fd = open_raw();
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, read_fdinfo(fd, buf, sizeof(buf)));
	EXPECT_FDINFO(buf, "iocp-concurrency", 0);
	EXPECT_FDINFO(buf, "iocp-effective-concurrency", cpus);
	EXPECT_FDINFO(buf, "iocp-max-queued", IOCP_DEFAULT_MAX_QUEUED);
	EXPECT_FDINFO(buf, "iocp-high-water", 0);
	EXPECT_EQ(0, close(fd));
}

/* ------------------------------------------------------------------ */
/* Module reference                                                     */
/* ------------------------------------------------------------------ */

static int read_refcnt(void)
{
	char buf[32];
	int f, n;

	f = open("/sys/module/iocp/refcnt", O_RDONLY);
	if (f < 0)
		return -1;
	n = read(f, buf, sizeof(buf) - 1);
	close(f);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	return atoi(buf);
}

/* Poll the module refcount until it equals @want (threads exit lazily). */
static bool wait_refcnt(int want)
{
	uint64_t deadline = now_ns() + STATE_WAIT_MS * NSEC_PER_MSEC;

	do {
		if (read_refcnt() == want)
			return true;
		usleep(1000);
	} while (now_ns() < deadline);
	return false;
}

/* The refcount once it stopped changing (earlier tests' threads are gone). */
static int settled_refcnt(void)
{
	int a = read_refcnt(), b, i;

	for (i = 0; i < 100; i++) {
		usleep(20000);
		b = read_refcnt();
		if (a == b)
			return a;
		a = b;
	}
	return a;
}

/*
 * The module cannot be unloaded while a port is open; a thread that ever
 * dequeued holds a module reference until it exits or gets ESHUTDOWN.
 */
TEST(module_refcount)
{
	int r0, r_open, r_main, fd;
	struct iocp_completion e;
	struct stepper t;
	long r;

	if (access("/sys/module/iocp/refcnt", F_OK))
		SKIP(return, "iocp is not loaded as a module");

	r0 = settled_refcnt();
	ASSERT_LE(0, r0);
	fd = open_raw();
	ASSERT_LE(0, fd);
	r_open = read_refcnt();
	EXPECT_LT(r0, r_open) TH_LOG("an open port holds no module reference");

	r = syscall(__NR_delete_module, "iocp", O_NONBLOCK);
	if (r < 0 && errno == EPERM) {
		close(fd);
		SKIP(return, "no CAP_SYS_MODULE");
	}
	ASSERT_EQ(-1, r) TH_LOG("module unloaded while a port was open");
	EXPECT_TRUE(errno == EBUSY || errno == EAGAIN)
		TH_LOG("delete_module: %s", strerror(errno));

	/*
	 * Threads hold module references only where the module hooks them into
	 * the scheduler (preempt notifiers, which blocking awareness shows).
	 */
	{
		struct iocp_stats st;
		int probe = iocp_create(1);

		ASSERT_LE(0, probe);
		ASSERT_EQ(0, get_stats(probe, &st));
		EXPECT_EQ(0, iocp_close(probe));
		if (!(st.flags & IOCP_STATS_BLOCKING_AWARE)) {
			EXPECT_EQ(0, iocp_close(fd));
			SKIP(return, "threads hold no module reference in this build");
		}
	}

	/* The main thread dequeues: it now holds a reference of its own. */
	EXPECT_EQ(-ETIMEDOUT, iocp_get(fd, &e, 0));
	r_main = read_refcnt();
	EXPECT_LT(r_open, r_main) TH_LOG("a dequeuing thread holds no module reference");

	/* So does another thread, until it exits. */
	ASSERT_EQ(0, start_stepper(&t, fd, 0, false));
	ASSERT_TRUE(wait_int(&t.stage, 1, WAKE_MS));
	EXPECT_EQ(-ETIMEDOUT, t.ret1);
	EXPECT_LT(r_main, read_refcnt());
	sem_post(&t.go);
	ASSERT_EQ(0, join_ms(t.thread, WAKE_MS));
	EXPECT_TRUE(wait_refcnt(r_main))
		TH_LOG("an exited thread kept its module reference (refcnt %d, want %d)",
		       read_refcnt(), r_main);

	/* After shutdown, ESHUTDOWN from DEQUEUE drops the main thread's. */
	ASSERT_EQ(0, iocp_shutdown(fd));
	EXPECT_EQ(-ESHUTDOWN, iocp_get(fd, &e, 0));
	EXPECT_TRUE(wait_refcnt(r_open))
		TH_LOG("ESHUTDOWN did not drop the thread's reference (refcnt %d, want %d)",
		       read_refcnt(), r_open);

	/* The port still answers. */
	EXPECT_EQ(-ESHUTDOWN, iocp_post(fd, 1, 1, 1));
	EXPECT_EQ(0, close(fd));
	EXPECT_TRUE(wait_refcnt(r0))
		TH_LOG("close left refcnt %d, want %d", read_refcnt(), r0);
	sem_destroy(&t.go);
	sem_destroy(&t.finish);
}

/* ------------------------------------------------------------------ */
/* Stress                                                               */
/* ------------------------------------------------------------------ */

#define ST_PRODUCERS	4
#define ST_CONSUMERS	4
#define ST_PER_PROD	100000
#define ST_TOTAL	(ST_PRODUCERS * ST_PER_PROD)
#define ST_POST_BATCH	16
#define ST_GET_MAX	32

struct stress {
	int fd;
	uint8_t *seen;
	uint64_t consumed;
	uint64_t produced;
	uint64_t seq_sum;
	uint64_t eagain;
	int abort;		/* set by the main thread on a stall */
	int errors;
	char errmsg[256];
};

struct stress_thread {
	pthread_t thread;
	struct stress *s;
	int id;
	int ret;
};

static void stress_error(struct stress *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void stress_error(struct stress *s, const char *fmt, ...)
{
	va_list ap;

	if (__atomic_fetch_add(&s->errors, 1, __ATOMIC_SEQ_CST) == 0) {
		va_start(ap, fmt);
		vsnprintf(s->errmsg, sizeof(s->errmsg), fmt, ap);
		va_end(ap);
	}
}

static void *stress_producer(void *arg)
{
	struct stress_thread *t = arg;
	struct stress *s = t->s;
	struct iocp_completion b[ST_POST_BATCH];
	uint32_t seq, j, n;
	int ret;

	for (seq = 0; seq < ST_PER_PROD; seq += n) {
		n = ST_PER_PROD - seq < ST_POST_BATCH ? ST_PER_PROD - seq : ST_POST_BATCH;
		for (j = 0; j < n; j++)
			fill(&b[j], t->id + 1, ((uint64_t)t->id << 32) | (seq + j),
			     (uint64_t)-(int64_t)(seq + j));
		for (;;) {
			ret = iocp_post_many(s->fd, b, n);
			if (ret != -EAGAIN ||
			    __atomic_load_n(&s->abort, __ATOMIC_SEQ_CST))
				break;
			__atomic_add_fetch(&s->eagain, 1, __ATOMIC_RELAXED);
			sched_yield();
		}
		if (ret < 0) {
			t->ret = ret;
			stress_error(s, "producer %d: post: %s", t->id, strerror(-ret));
			return NULL;
		}
		__atomic_add_fetch(&s->produced, n, __ATOMIC_SEQ_CST);
	}
	return NULL;
}

static void *stress_consumer(void *arg)
{
	struct stress_thread *t = arg;
	struct stress *s = t->s;
	struct iocp_completion b[ST_GET_MAX];
	int64_t last[ST_PRODUCERS];
	uint64_t sum = 0, p, seq;
	int i, n;

	for (i = 0; i < ST_PRODUCERS; i++)
		last[i] = -1;
	for (;;) {
		n = iocp_get_many(s->fd, b, 1, ST_GET_MAX, IOCP_INFINITE);
		if (n == -ESHUTDOWN)
			break;
		if (n < 1 || n > ST_GET_MAX) {
			t->ret = n;
			stress_error(s, "consumer %d: get_many returned %d", t->id, n);
			break;
		}
		for (i = 0; i < n; i++) {
			p = b[i].user_data >> 32;
			seq = b[i].user_data & 0xffffffffULL;
			if (p >= ST_PRODUCERS || seq >= ST_PER_PROD ||
			    b[i].key != p + 1 ||
			    b[i].result != (uint64_t)-(int64_t)seq ||
			    b[i].flags != IOCP_CF_POSTED || b[i].events) {
				stress_error(s, "consumer %d: bad packet key %llu ud %#llx res %lld flags %#x events %#x",
					     t->id, (unsigned long long)b[i].key,
					     (unsigned long long)b[i].user_data,
					     (long long)b[i].result, b[i].flags,
					     b[i].events);
				continue;
			}
			/* Per consumer, each producer's packets arrive in order. */
			if ((int64_t)seq <= last[p])
				stress_error(s, "consumer %d: FIFO violated: producer %llu seq %llu after %lld",
					     t->id, (unsigned long long)p,
					     (unsigned long long)seq, (long long)last[p]);
			last[p] = seq;
			if (__atomic_fetch_add(&s->seen[p * ST_PER_PROD + seq], 1,
					       __ATOMIC_RELAXED))
				stress_error(s, "producer %llu seq %llu delivered twice",
					     (unsigned long long)p,
					     (unsigned long long)seq);
			sum += seq;
		}
		__atomic_add_fetch(&s->consumed, n, __ATOMIC_SEQ_CST);
	}
	__atomic_add_fetch(&s->seq_sum, sum, __ATOMIC_SEQ_CST);
	return NULL;
}

/*
 * 4 producers x 100000 packets (batches of 16) and 4 consumers (batches of
 * up to 32), concurrency 0: every packet delivered exactly once, in FIFO
 * order per producer, totals exact.
 */
TEST_F_TIMEOUT(long_run, stress_producers_consumers, 400)
{
	struct stress_thread prod[ST_PRODUCERS], cons[ST_CONSUMERS];
	struct iocp_stats st;
	struct stress *s;
	uint64_t deadline, want_sum, cur, last;
	int i, missing = 0, dups = 0;

	s = calloc(1, sizeof(*s));
	ASSERT_NE(NULL, s);
	s->seen = calloc(ST_TOTAL, 1);
	ASSERT_NE(NULL, s->seen);
	s->fd = test_port(0);
	ASSERT_LE(0, s->fd);

	for (i = 0; i < ST_CONSUMERS; i++) {
		cons[i].s = s;
		cons[i].id = i;
		cons[i].ret = 0;
		ASSERT_EQ(0, pthread_create(&cons[i].thread, NULL, stress_consumer, &cons[i]));
	}
	for (i = 0; i < ST_PRODUCERS; i++) {
		prod[i].s = s;
		prod[i].id = i;
		prod[i].ret = 0;
		ASSERT_EQ(0, pthread_create(&prod[i].thread, NULL, stress_producer, &prod[i]));
	}
	/*
	 * Wait until everything is consumed; give up after STALL_MS without
	 * progress (then producers blocked on a full queue stop too).
	 */
	last = 0;
	deadline = now_ns() + STALL_MS * NSEC_PER_MSEC;
	while ((cur = __atomic_load_n(&s->consumed, __ATOMIC_SEQ_CST)) < ST_TOTAL) {
		cur += __atomic_load_n(&s->produced, __ATOMIC_SEQ_CST);
		if (cur != last) {
			last = cur;
			deadline = now_ns() + STALL_MS * NSEC_PER_MSEC;
		} else if (now_ns() > deadline) {
			TH_LOG("no progress for %d ms: produced %llu, consumed %llu of %d",
			       STALL_MS,
			       (unsigned long long)__atomic_load_n(&s->produced, __ATOMIC_SEQ_CST),
			       (unsigned long long)__atomic_load_n(&s->consumed, __ATOMIC_SEQ_CST),
			       ST_TOTAL);
			break;
		}
		usleep(10000);
	}
	__atomic_store_n(&s->abort, 1, __ATOMIC_SEQ_CST);
	for (i = 0; i < ST_PRODUCERS; i++)
		ASSERT_EQ(0, join_ms(prod[i].thread, WAKE_MS))
			TH_LOG("producer %d stuck", i);

	ASSERT_EQ(0, get_stats(s->fd, &st));
	EXPECT_EQ((uint64_t)ST_TOTAL, __atomic_load_n(&s->consumed, __ATOMIC_SEQ_CST));
	EXPECT_EQ((__u64)ST_TOTAL, st.posted);
	EXPECT_EQ((__u64)ST_TOTAL, st.dequeued);
	EXPECT_EQ(0ULL, st.discarded);
	EXPECT_EQ(0U, st.queued);
	EXPECT_GE((__u32)IOCP_DEFAULT_MAX_QUEUED, st.high_water);
	EXPECT_GE(st.concurrency, st.peak_running);

	ASSERT_EQ(0, iocp_shutdown(s->fd));
	for (i = 0; i < ST_CONSUMERS; i++)
		ASSERT_EQ(0, join_ms(cons[i].thread, WAKE_MS))
			TH_LOG("consumer %d not woken by shutdown", i);

	EXPECT_EQ(0, s->errors) TH_LOG("%d errors, first: %s", s->errors, s->errmsg);
	for (i = 0; i < ST_TOTAL; i++) {
		if (!s->seen[i])
			missing++;
		else if (s->seen[i] > 1)
			dups++;
	}
	EXPECT_EQ(0, missing);
	EXPECT_EQ(0, dups);
	want_sum = (uint64_t)ST_PRODUCERS * ST_PER_PROD * (ST_PER_PROD - 1) / 2;
	EXPECT_EQ(want_sum, s->seq_sum);
	TH_LOG("high water %u, EAGAIN retries %llu, peak running %u of %u",
	       st.high_water, (unsigned long long)s->eagain, st.peak_running,
	       st.concurrency);

	EXPECT_EQ(0, close(s->fd));
	free(s->seen);
	free(s);
}

#define RACE_ITERS	2000

struct race {
	int fd;
	int iters;
	pthread_barrier_t start_wait;	/* main + waiter */
	pthread_barrier_t fire;		/* main + poster */
	int waiter_done;		/* iterations finished by the waiter */
	int poster_done;
	unsigned int need;		/* the waiter's min: 1, or 2 (not eligible) */
	int waiter_ret;
	struct iocp_completion e[2];
	int post_ret;
};

static void spin(unsigned int n)
{
	volatile unsigned int i;

	for (i = 0; i < n; i++)
		;
}

static void *race_waiter(void *arg)
{
	struct race *r = arg;
	int i;

	for (i = 0; i < r->iters; i++) {
		pthread_barrier_wait(&r->start_wait);
		memset(r->e, POISON_BYTE, sizeof(r->e));
		r->waiter_ret = iocp_get_many(r->fd, r->e, r->need, r->need,
					      IOCP_INFINITE);
		__atomic_store_n(&r->waiter_done, i + 1, __ATOMIC_SEQ_CST);
	}
	return NULL;
}

static void *race_poster(void *arg)
{
	struct race *r = arg;
	int i;

	for (i = 0; i < r->iters; i++) {
		pthread_barrier_wait(&r->fire);
		spin((i * 7) % 500);
		r->post_ret = iocp_post(r->fd, 77, i, i);
		__atomic_store_n(&r->poster_done, i + 1, __ATOMIC_SEQ_CST);
	}
	return NULL;
}

/*
 * A post racing a shutdown with a blocked waiter: the packet is either
 * delivered to the waiter or counted discarded (or the post fails with
 * ESHUTDOWN and nothing is queued) -- never both, never neither. Every third
 * iteration the waiter wants two packets, so a successful post stays queued
 * and must be discarded by the shutdown.
 */
TEST_F_TIMEOUT(long_run, post_shutdown_race, 400)
{
	pthread_t waiter, poster;
	struct iocp_stats st;
	struct race *r;
	int i, delivered = 0, discarded = 0, refused = 0;

	r = calloc(1, sizeof(*r));
	ASSERT_NE(NULL, r);
	r->iters = RACE_ITERS;
	ASSERT_EQ(0, pthread_barrier_init(&r->start_wait, NULL, 2));
	ASSERT_EQ(0, pthread_barrier_init(&r->fire, NULL, 2));
	ASSERT_EQ(0, pthread_create(&waiter, NULL, race_waiter, r));
	ASSERT_EQ(0, pthread_create(&poster, NULL, race_poster, r));

	for (i = 0; i < RACE_ITERS; i++) {
		r->fd = test_port(1);
		ASSERT_LE(0, r->fd) TH_LOG("iteration %d", i);
		r->need = i % 3 == 2 ? 2 : 1;
		pthread_barrier_wait(&r->start_wait);
		ASSERT_TRUE(WAIT_STAT(r->fd, waiting, 1))
			TH_LOG("iteration %d: waiter never blocked", i);
		pthread_barrier_wait(&r->fire);
		spin((i * 13) % 500);
		ASSERT_EQ(0, iocp_shutdown(r->fd));
		ASSERT_TRUE(wait_int(&r->poster_done, i + 1, WAKE_MS))
			TH_LOG("iteration %d: post did not return", i);
		ASSERT_TRUE(wait_int(&r->waiter_done, i + 1, WAKE_MS))
			TH_LOG("iteration %d: waiter not woken", i);

		ASSERT_EQ(0, get_stats(r->fd, &st));
		ASSERT_NE(0U, st.flags & IOCP_STATS_SHUTDOWN);
		ASSERT_EQ(0U, st.queued);
		if (r->post_ret == 0) {
			ASSERT_EQ(1ULL, st.posted);
			if (r->waiter_ret == 1) {
				ASSERT_EQ(1U, r->need)
					TH_LOG("iteration %d: min=2 waiter got one packet", i);
				ASSERT_EQ(0ULL, st.discarded)
					TH_LOG("iteration %d: delivered and discarded", i);
				ASSERT_EQ(1ULL, st.dequeued);
				ASSERT_EQ(77ULL, r->e[0].key);
				ASSERT_EQ((__u64)i, r->e[0].user_data);
				ASSERT_EQ((__u64)i, r->e[0].result);
				ASSERT_EQ((__u32)IOCP_CF_POSTED, r->e[0].flags);
				ASSERT_EQ(0U, r->e[0].events);
				ASSERT_TRUE(is_poison(&r->e[1], sizeof(r->e[1])));
				delivered++;
			} else {
				ASSERT_EQ(-ESHUTDOWN, r->waiter_ret)
					TH_LOG("iteration %d: waiter returned %d", i, r->waiter_ret);
				ASSERT_EQ(1ULL, st.discarded)
					TH_LOG("iteration %d: packet neither delivered nor discarded", i);
				ASSERT_EQ(0ULL, st.dequeued);
				discarded++;
			}
		} else {
			ASSERT_EQ(-ESHUTDOWN, r->post_ret)
				TH_LOG("iteration %d: post returned %d", i, r->post_ret);
			ASSERT_EQ(-ESHUTDOWN, r->waiter_ret)
				TH_LOG("iteration %d: waiter returned %d", i, r->waiter_ret);
			ASSERT_EQ(0ULL, st.posted);
			ASSERT_EQ(0ULL, st.discarded);
			ASSERT_EQ(0ULL, st.dequeued);
			refused++;
		}
		ASSERT_EQ(0, close(r->fd));
	}
	ASSERT_EQ(0, join_ms(waiter, WAKE_MS));
	ASSERT_EQ(0, join_ms(poster, WAKE_MS));
	EXPECT_EQ(RACE_ITERS, delivered + discarded + refused);
	TH_LOG("delivered %d, discarded %d, post refused %d",
	       delivered, discarded, refused);
	pthread_barrier_destroy(&r->start_wait);
	pthread_barrier_destroy(&r->fire);
	free(r);
}

TEST_HARNESS_MAIN
