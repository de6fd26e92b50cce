// SPDX-License-Identifier: GPL-2.0
/*
 * Selftests for the blocking awareness of /dev/iocp.
 *
 * A thread associated with a port counts as running outside DEQUEUE. When
 * it blocks anywhere else (nanosleep, a pipe, a futex, a mutex, a page
 * fault), it stops counting (stats.blocked goes up instead) and a queued
 * packet may go to a waiter in its place; when it runs again it counts as
 * running at once, even beyond the concurrency value. Preemption is not
 * blocking. IOCP_CONFIG_IGNORE_BLOCKING turns this off per port.
 *
 * Style as in iocp_test.c: outputs are poisoned, a thread that must stay
 * blocked is proven so by a wait that times out (BLOCKED_MS), a thread that
 * must wake by a wait that succeeds within a generous bound (WAKE_MS; the
 * guests run under TCG emulation), and GET_STATS is polled until a state
 * is reached. No test asserts speed.
 *
 * Helper threads that must count as running do not sleep while idle: they
 * spin on a command word with sched_yield() (which keeps them runnable), so
 * that the only blocking they do is the one a test asks for. The main
 * thread is not associated where a count depends on it: it sleeps while it
 * polls, and an associated thread that sleeps is blocked. Helper threads
 * never use ASSERT/EXPECT; the main thread checks what they recorded.
 *
 * Tests that need blocking awareness SKIP where stats.flags lacks
 * IOCP_STATS_BLOCKING_AWARE (a kernel without preempt notifiers).
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
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/futex.h>
#include <linux/userfaultfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <linux/iocp.h>
#include "iocp.h"

/* As in iocp_test.c: the harness itself is not -Wextra clean. */
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wclobbered"
#include "kselftest_harness.h"
#include "iocp_util.h"
/* EXPECT_COUNTS() overrides its "any" defaults with designated fields. */
#pragma GCC diagnostic ignored "-Woverride-init"

#define NSEC_PER_USEC		1000ULL
/* A thread that must stay blocked must not move within this. */
#define BLOCKED_MS		200
/* A thread that must wake must do so within this (TCG is slow). */
#define WAKE_MS			3000
/* Bound for polling GET_STATS or a flag until a state is reached. */
#define STATE_WAIT_MS		5000
/* The stress test gives up after this long without any progress. */
#define STALL_MS		20000

#define POISON_BYTE		0xcc
#define POISON_U32		0xccccccccU

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

/* Raw DEQUEUE of one packet; returns 0 or -errno, *count gets args.count. */
static int dq1(int fd, struct iocp_completion *e, uint64_t timeout_ns,
	       uint32_t *count)
{
	struct iocp_dequeue_args args;
	int ret;

	memset(&args, 0, sizeof(args));
	memset(e, POISON_BYTE, sizeof(*e));
	args.entries = (uintptr_t)e;
	args.timeout_ns = timeout_ns;
	args.max = 1;
	args.min = 1;
	args.count = POISON_U32;
	ret = ioctl(fd, IOCP_IOC_DEQUEUE, &args);
	if (count)
		*count = args.count;
	return ret < 0 ? -errno : ret;
}

static int get_stats(int fd, struct iocp_stats *s)
{
	memset(s, POISON_BYTE, sizeof(*s));
	return iocp_get_stats(fd, s);
}

static int set_flags(int fd, uint32_t flags)
{
	struct iocp_config cfg;
	int ret;

	memset(&cfg, POISON_BYTE, sizeof(cfg));
	ret = iocp_get_config(fd, &cfg);
	if (ret)
		return ret;
	cfg.flags = flags;
	return iocp_set_config(fd, &cfg);
}

static bool blocking_aware(int fd)
{
	struct iocp_stats s;

	return !get_stats(fd, &s) && (s.flags & IOCP_STATS_BLOCKING_AWARE);
}

#define REQUIRE_BLOCKING_AWARE(fd) do { \
	if (!blocking_aware(fd)) \
		SKIP(return, "IOCP_STATS_BLOCKING_AWARE not set: this module has no blocking awareness"); \
} while (0)

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

/* Expected counts; a negative value means "any". */
struct counts {
	int running, blocked, waiting, queued, threads;
};

static bool counts_match(const struct iocp_stats *s, const struct counts *c)
{
	return (c->running < 0 || s->running == (uint32_t)c->running) &&
	       (c->blocked < 0 || s->blocked == (uint32_t)c->blocked) &&
	       (c->waiting < 0 || s->waiting == (uint32_t)c->waiting) &&
	       (c->queued < 0 || s->queued == (uint32_t)c->queued) &&
	       (c->threads < 0 || s->threads == (uint32_t)c->threads);
}

/*
 * Poll GET_STATS until the counts match (transitions are applied from an
 * irq_work, a moment after the scheduler switch), at most STATE_WAIT_MS.
 */
static bool wait_counts(int fd, struct iocp_stats *s, struct counts c)
{
	uint64_t deadline = now_ns() + STATE_WAIT_MS * NSEC_PER_MSEC;

	do {
		if (get_stats(fd, s))
			return false;
		if (counts_match(s, &c))
			return true;
		usleep(1000);
	} while (now_ns() < deadline);
	return false;
}

static bool expect_counts(struct __test_metadata *_metadata, int line,
			  int fd, struct counts c)
{
	struct iocp_stats s;
	bool ok = wait_counts(fd, &s, c);

	EXPECT_TRUE(ok)
		TH_LOG("line %d: stats running %u blocked %u waiting %u queued %u threads %u;"
		       " want %d %d %d %d %d (-1: any)", line, s.running,
		       s.blocked, s.waiting, s.queued, s.threads, c.running,
		       c.blocked, c.waiting, c.queued, c.threads);
	return ok;
}

/* Fields not named are "any". */
#define EXPECT_COUNTS(fd, ...) expect_counts(_metadata, __LINE__, fd, \
	(struct counts){ .running = -1, .blocked = -1, .waiting = -1, \
			 .queued = -1, .threads = -1, __VA_ARGS__ })

/* The value of the "@name:" line of /proc/self/fdinfo/@fd, or -1. */
static long long fdinfo_value(int fd, const char *name)
{
	char path[64], buf[4096], *p;
	size_t len = strlen(name);
	ssize_t n;
	int f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = open(path, O_RDONLY);
	if (f < 0)
		return -1;
	n = read(f, buf, sizeof(buf) - 1);
	close(f);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	for (p = buf; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		if (!strncmp(p, name, len) && p[len] == ':')
			return strtoll(p + len + 1, NULL, 0);
	}
	return -1;
}

/* Wait until thread @tid of this process sleeps (state S or D). */
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
			if (p && p[1] == ' ' && (p[2] == 'S' || p[2] == 'D'))
				return true;
		}
		usleep(1000);
	} while (now_ns() < deadline);
	return false;
}

static int futex_wait(int *word, int val)
{
	return syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0);
}

static int futex_wake(int *word)
{
	return syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

static bool pin_to_cpu(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(0, sizeof(set), &set) == 0;
}

static void empty_handler(int sig)
{
}

/* SIGUSR1 interrupts nanosleep (no SA_RESTART, not that it would matter). */
static int install_sigusr1(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = empty_handler;
	sigemptyset(&sa.sa_mask);
	return sigaction(SIGUSR1, &sa, NULL);
}

/* ------------------------------------------------------------------ */
/* Ways to block                                                        */
/* ------------------------------------------------------------------ */

enum block_kind {
	BLK_NANOSLEEP,		/* nanosleep(60 s), ended by SIGUSR1 */
	BLK_PIPE,		/* read() of an empty pipe */
	BLK_FUTEX,		/* FUTEX_WAIT on a word the test holds */
	BLK_MUTEX,		/* pthread_mutex_lock of a mutex the test holds */
	BLK_FAULT,		/* page fault on a MAP_SHARED tmpfs mapping */
};

static const char *const block_names[] = {
	"nanosleep", "pipe read", "futex wait", "pthread mutex", "page fault",
};

#define FAULT_BYTE		0x5a

struct blocker {
	int kind;
	int pipefd[2];
	int futex;			/* 0 while held */
	pthread_mutex_t mutex;
	/* BLK_FAULT */
	int memfd, uffd;
	long pagesz;
	char *map;
	char *src;
	/* What the releaser saw of the fault. */
	bool fault_seen;
	uint64_t fault_addr;
};

/*
 * Prepare @b so that blocker_block() blocks until blocker_release().
 * Returns 0, 1 with @why set if the kernel cannot do it (skip), or -1.
 *
 * The page fault: the guests have no block device, only tmpfs/ramfs, so no
 * file read can be made slow (dropping caches does not evict tmpfs pages).
 * A MAP_SHARED mapping of a tmpfs (memfd) file registered with userfaultfd
 * for missing pages makes the first touch a page fault that sleeps, inside
 * the fault handler, until the test resolves it with UFFDIO_COPY.
 */
static int blocker_setup(struct blocker *b, int kind, char *why, size_t len)
{
	struct uffdio_register reg;
	struct uffdio_api api;

	memset(b, 0, sizeof(*b));
	b->kind = kind;
	b->pipefd[0] = b->pipefd[1] = b->memfd = b->uffd = -1;
	switch (kind) {
	case BLK_NANOSLEEP:
		return install_sigusr1() ? -1 : 0;
	case BLK_PIPE:
		return pipe(b->pipefd) ? -1 : 0;
	case BLK_FUTEX:
		b->futex = 0;
		return 0;
	case BLK_MUTEX:
		if (pthread_mutex_init(&b->mutex, NULL))
			return -1;
		return pthread_mutex_lock(&b->mutex) ? -1 : 0;
	case BLK_FAULT:
		break;
	default:
		return -1;
	}

	b->pagesz = sysconf(_SC_PAGESIZE);
	b->uffd = syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (b->uffd < 0) {
		snprintf(why, len, "userfaultfd: %s; without it no page fault can be made to block in a guest that has no block device",
			 strerror(errno));
		return 1;
	}
	memset(&api, 0, sizeof(api));
	api.api = UFFD_API;
	if (ioctl(b->uffd, UFFDIO_API, &api)) {
		snprintf(why, len, "UFFDIO_API: %s", strerror(errno));
		return 1;
	}
	b->memfd = memfd_create("iocp-fault", MFD_CLOEXEC);
	if (b->memfd < 0 || ftruncate(b->memfd, b->pagesz))
		return -1;
	b->map = mmap(NULL, b->pagesz, PROT_READ | PROT_WRITE, MAP_SHARED,
		      b->memfd, 0);
	b->src = mmap(NULL, b->pagesz, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (b->map == MAP_FAILED || b->src == MAP_FAILED)
		return -1;
	memset(b->src, FAULT_BYTE, b->pagesz);
	memset(&reg, 0, sizeof(reg));
	reg.range.start = (uintptr_t)b->map;
	reg.range.len = b->pagesz;
	reg.mode = UFFDIO_REGISTER_MODE_MISSING;
	if (ioctl(b->uffd, UFFDIO_REGISTER, &reg)) {
		snprintf(why, len, "UFFDIO_REGISTER of a tmpfs mapping: %s",
			 strerror(errno));
		return 1;
	}
	if (!(reg.ioctls & (1ULL << _UFFDIO_COPY))) {
		snprintf(why, len, "UFFDIO_COPY not offered for tmpfs");
		return 1;
	}
	return 0;
}

/* Called by the worker: block, return what the blocking call returned. */
static int blocker_block(struct blocker *b)
{
	struct timespec ts = { .tv_sec = 60 };
	char c;

	switch (b->kind) {
	case BLK_NANOSLEEP:
		return nanosleep(&ts, NULL) ? -errno : 0;
	case BLK_PIPE:
		return read(b->pipefd[0], &c, 1) == 1 ? c : -errno;
	case BLK_FUTEX:
		while (!ld(&b->futex))
			futex_wait(&b->futex, 0);
		return 0;
	case BLK_MUTEX:
		if (pthread_mutex_lock(&b->mutex))
			return -1;
		pthread_mutex_unlock(&b->mutex);
		return 0;
	case BLK_FAULT:
		return *(volatile unsigned char *)b->map;
	}
	return -1;
}

/* What blocker_block() returns once released. */
static int blocker_expected(const struct blocker *b)
{
	switch (b->kind) {
	case BLK_NANOSLEEP:
		return -EINTR;
	case BLK_PIPE:
		return 'x';
	case BLK_FAULT:
		return FAULT_BYTE;
	default:
		return 0;
	}
}

struct worker;
static bool blocker_release(struct blocker *b, struct worker *w);

static void blocker_cleanup(struct blocker *b)
{
	if (b->pipefd[0] >= 0)
		close(b->pipefd[0]);
	if (b->pipefd[1] >= 0)
		close(b->pipefd[1]);
	if (b->kind == BLK_MUTEX)
		pthread_mutex_destroy(&b->mutex);
	if (b->map && b->map != MAP_FAILED)
		munmap(b->map, b->pagesz);
	if (b->src && b->src != MAP_FAILED)
		munmap(b->src, b->pagesz);
	if (b->memfd >= 0)
		close(b->memfd);
	if (b->uffd >= 0)
		close(b->uffd);
}

/* ------------------------------------------------------------------ */
/* Workers driven by commands                                           */
/* ------------------------------------------------------------------ */

enum worker_cmd {
	W_BLOCK,		/* block with @blk; cret = its result */
	W_DEQUEUE,		/* DEQUEUE one from port @arg, timeout 0 */
	W_DISASSOCIATE,		/* iocp_disassociate(@arg) */
	W_BUSY,			/* busy loop for @arg ms */
	W_FORK,			/* fork; the child exits 0 if it cannot
				 * DISASSOCIATE from @arg (-ENOENT) */
	W_EXIT,			/* return from the thread */
};

/*
 * A thread that dequeues once from @fd (unless @fd < 0), then runs the
 * commands it is given, one at a time. Between commands it spins with
 * sched_yield(), so it keeps counting as running.
 */
struct worker {
	pthread_t thread;
	pid_t tid;
	int fd;
	uint64_t timeout;
	struct blocker *blk;
	int stage;		/* 1 once the first DEQUEUE returned */
	int ret;		/* its result */
	uint32_t count;
	struct iocp_completion e;
	int cmd, arg;		/* the command; written before @seq */
	int seq;		/* commands issued */
	int done;		/* commands done */
	int cret;		/* the last command's result */
	struct iocp_completion ce;
	long nivcsw;		/* W_BUSY: involuntary switches during it */
	int cpu;		/* pin to this CPU if >= 0 */
};

/*
 * Fork; the child reports whether it is associated with @fd. The parent
 * polls for it without sleeping, so that it keeps counting as running.
 */
static int fork_child_not_associated(int fd)
{
	int status;
	pid_t pid;

	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0)
		_exit(iocp_disassociate(fd) == -ENOENT ? 0 : 1);
	while (waitpid(pid, &status, WNOHANG) == 0)
		sched_yield();
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

static void *worker_fn(void *arg)
{
	struct worker *w = arg;
	struct rusage r0, r1;
	uint64_t end;
	uint32_t n;
	int seq;

	if (w->cpu >= 0)
		pin_to_cpu(w->cpu);
	w->tid = sys_gettid();
	/* Touch what the idle loop uses, so that it never faults later. */
	(void)now_ns();
	getrusage(RUSAGE_THREAD, &r0);
	sched_yield();
	if (w->fd >= 0)
		w->ret = dq1(w->fd, &w->e, w->timeout, &w->count);
	st(&w->stage, 1);
	for (;;) {
		seq = ld(&w->seq);
		if (ld(&w->done) == seq) {
			sched_yield();
			continue;
		}
		switch (ld(&w->cmd)) {
		case W_BLOCK:
			w->cret = blocker_block(w->blk);
			break;
		case W_DEQUEUE:
			w->cret = dq1(w->arg, &w->ce, 0, &n);
			break;
		case W_DISASSOCIATE:
			w->cret = iocp_disassociate(w->arg);
			break;
		case W_BUSY:
			getrusage(RUSAGE_THREAD, &r0);
			end = now_ns() + (uint64_t)w->arg * NSEC_PER_MSEC;
			while (now_ns() < end)
				;
			getrusage(RUSAGE_THREAD, &r1);
			w->nivcsw = r1.ru_nivcsw - r0.ru_nivcsw;
			w->cret = 0;
			break;
		case W_FORK:
			w->cret = fork_child_not_associated(w->arg);
			break;
		case W_EXIT:
			st(&w->done, seq);
			return NULL;
		}
		st(&w->done, seq);
	}
}

static int start_worker_on(struct worker *w, int fd, uint64_t timeout,
			   struct blocker *blk, int cpu)
{
	memset(w, 0, sizeof(*w));
	w->fd = fd;
	w->timeout = timeout;
	w->blk = blk;
	w->ret = INT_MIN;
	w->cret = INT_MIN;
	w->cpu = cpu;
	return pthread_create(&w->thread, NULL, worker_fn, w);
}

static int start_worker(struct worker *w, int fd, uint64_t timeout,
			struct blocker *blk)
{
	return start_worker_on(w, fd, timeout, blk, -1);
}

static void issue(struct worker *w, int cmd, int arg)
{
	w->cret = INT_MIN;
	st(&w->cmd, cmd);
	st(&w->arg, arg);
	__atomic_add_fetch(&w->seq, 1, __ATOMIC_SEQ_CST);
}

/* The last command is done (for W_BLOCK: the worker woke), right now. */
static bool is_done(struct worker *w)
{
	return ld(&w->done) == ld(&w->seq);
}

/* The last command finished (for W_BLOCK: the worker woke). */
static bool finished(struct worker *w, unsigned int ms)
{
	return wait_int(&w->done, ld(&w->seq), ms);
}

/* Run a command and wait for it. */
static bool run(struct worker *w, int cmd, int arg)
{
	issue(w, cmd, arg);
	return finished(w, WAKE_MS);
}

static bool stop_worker(struct worker *w)
{
	issue(w, W_EXIT, 0);
	return join_ms(w->thread, WAKE_MS) == 0;
}

/*
 * Wake the blocked worker. For nanosleep, signal it until it wakes (the
 * signal could come before it entered nanosleep). For the page fault,
 * first read the fault message: proof that it sleeps in the fault.
 */
static bool blocker_release(struct blocker *b, struct worker *w)
{
	struct uffdio_copy copy;
	struct uffd_msg msg;
	struct pollfd pfd;
	int i;

	switch (b->kind) {
	case BLK_NANOSLEEP:
		for (i = 0; i < 10; i++) {
			pthread_kill(w->thread, SIGUSR1);
			if (finished(w, WAKE_MS / 10))
				return true;
		}
		return false;
	case BLK_PIPE:
		return write(b->pipefd[1], "x", 1) == 1;
	case BLK_FUTEX:
		st(&b->futex, 1);
		return futex_wake(&b->futex) >= 0;
	case BLK_MUTEX:
		return pthread_mutex_unlock(&b->mutex) == 0;
	case BLK_FAULT:
		pfd.fd = b->uffd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, STATE_WAIT_MS) == 1 &&
		    read(b->uffd, &msg, sizeof(msg)) == sizeof(msg) &&
		    msg.event == UFFD_EVENT_PAGEFAULT) {
			b->fault_seen = true;
			b->fault_addr = msg.arg.pagefault.address;
		}
		memset(&copy, 0, sizeof(copy));
		copy.dst = (uintptr_t)b->map;
		copy.src = (uintptr_t)b->src;
		copy.len = b->pagesz;
		return ioctl(b->uffd, UFFDIO_COPY, &copy) == 0 &&
		       copy.copy == b->pagesz;
	}
	return false;
}

#define EXPECT_PACKET(e, k, u) do { \
	EXPECT_EQ((__u64)(k), (e).key); \
	EXPECT_EQ((__u64)(u), (e).user_data); \
	EXPECT_EQ((__u64)0, (e).result); \
	EXPECT_EQ((__u32)IOCP_CF_POSTED, (e).flags); \
	EXPECT_EQ(0U, (e).events); \
} while (0)

/* ------------------------------------------------------------------ */
/* A blocked thread frees its slot; a waking one counts at once          */
/* ------------------------------------------------------------------ */

FIXTURE(blocking) {
	struct blocker blk;
	bool set_up;
};

FIXTURE_VARIANT(blocking) {
	int kind;
};

FIXTURE_VARIANT_ADD(blocking, nanosleep) { .kind = BLK_NANOSLEEP };
FIXTURE_VARIANT_ADD(blocking, pipe) { .kind = BLK_PIPE };
FIXTURE_VARIANT_ADD(blocking, futex) { .kind = BLK_FUTEX };
FIXTURE_VARIANT_ADD(blocking, mutex) { .kind = BLK_MUTEX };
FIXTURE_VARIANT_ADD(blocking, page_fault) { .kind = BLK_FAULT };

FIXTURE_SETUP(blocking)
{
	self->set_up = false;
}

FIXTURE_TEARDOWN(blocking)
{
	if (self->set_up)
		blocker_cleanup(&self->blk);
}

/*
 * Concurrency 1, workers A, B, C. A takes packet 1 and blocks: B gets
 * packet 2 while A is still blocked. A wakes: running 2 > N. Packet 3 then
 * stays queued, C waiting, until running drops below 1 (B exits: 1; A
 * disassociates: 0).
 */
TEST_F(blocking, slot_goes_to_waiter)
{
	struct blocker *blk = &self->blk;
	struct worker a, b, c;
	struct iocp_stats s;
	char why[256] = "";
	int fd, ret;

	fd = iocp_create(1);
	ASSERT_LE(0, fd);
	REQUIRE_BLOCKING_AWARE(fd);
	ret = blocker_setup(blk, variant->kind, why, sizeof(why));
	self->set_up = true;
	if (ret > 0)
		SKIP(return, "%s", why);
	ASSERT_EQ(0, ret) TH_LOG("setting up the %s: %s",
				 block_names[variant->kind], strerror(errno));

	/* A takes packet 1 and runs. */
	ASSERT_EQ(0, iocp_post(fd, 1, 1, 0));
	ASSERT_EQ(0, start_worker(&a, fd, IOCP_INFINITE, blk));
	ASSERT_TRUE(wait_int(&a.stage, 1, WAKE_MS));
	ASSERT_EQ(0, a.ret) TH_LOG("A: %s", strerror(-a.ret));
	EXPECT_EQ(1U, a.count);
	EXPECT_PACKET(a.e, 1, 1);
	EXPECT_COUNTS(fd, .running = 1, .blocked = 0, .waiting = 0,
		      .queued = 0, .threads = 1);

	/* B waits; packet 2 stays queued while A runs. */
	ASSERT_EQ(0, start_worker(&b, fd, IOCP_INFINITE, NULL));
	ASSERT_TRUE(WAIT_STAT(fd, waiting, 1));
	ASSERT_EQ(0, iocp_post(fd, 1, 2, 0));
	EXPECT_FALSE(wait_int(&b.stage, 1, BLOCKED_MS))
		TH_LOG("B released while A runs with concurrency 1");
	EXPECT_COUNTS(fd, .running = 1, .blocked = 0, .waiting = 1,
		      .queued = 1, .threads = 2);

	/* A blocks: B gets packet 2 while A is still blocked. */
	issue(&a, W_BLOCK, 0);
	ASSERT_TRUE(wait_int(&b.stage, 1, WAKE_MS))
		TH_LOG("A blocked in %s, but B was not released", block_names[variant->kind]);
	EXPECT_EQ(0, b.ret);
	EXPECT_EQ(1U, b.count);
	EXPECT_PACKET(b.e, 1, 2);
	EXPECT_COUNTS(fd, .running = 1, .blocked = 1, .waiting = 0,
		      .queued = 0, .threads = 2);
	EXPECT_EQ(1, fdinfo_value(fd, "iocp-blocked"));
	EXPECT_EQ(1, fdinfo_value(fd, "iocp-running"));
	EXPECT_FALSE(is_done(&a)) TH_LOG("A is not blocked: B's release proves nothing");

	/* C waits. A wakes and counts as running at once: 2 > N. */
	ASSERT_EQ(0, start_worker(&c, fd, IOCP_INFINITE, NULL));
	ASSERT_TRUE(WAIT_STAT(fd, waiting, 1));
	EXPECT_FALSE(is_done(&a)) TH_LOG("A woke before it was released");
	ASSERT_TRUE(blocker_release(blk, &a));
	ASSERT_TRUE(finished(&a, WAKE_MS)) TH_LOG("A did not wake");
	EXPECT_EQ(blocker_expected(blk), a.cret);
	if (variant->kind == BLK_FAULT) {
		EXPECT_TRUE(blk->fault_seen) TH_LOG("no fault message: A did not sleep in the fault");
		EXPECT_EQ((uint64_t)(uintptr_t)blk->map, blk->fault_addr & ~(uint64_t)(blk->pagesz - 1));
	}
	EXPECT_COUNTS(fd, .running = 2, .blocked = 0, .waiting = 1,
		      .queued = 0, .threads = 3);
	ASSERT_EQ(0, get_stats(fd, &s));
	EXPECT_EQ(2U, s.peak_running);

	/* Packet 3 is not released while running >= N. */
	ASSERT_EQ(0, iocp_post(fd, 1, 3, 0));
	EXPECT_FALSE(wait_int(&c.stage, 1, BLOCKED_MS))
		TH_LOG("C released while 2 threads run with concurrency 1");
	EXPECT_COUNTS(fd, .running = 2, .blocked = 0, .waiting = 1,
		      .queued = 1, .threads = 3);

	/* B exits: running 1, still not below N. */
	ASSERT_TRUE(stop_worker(&b));
	EXPECT_COUNTS(fd, .running = 1, .blocked = 0, .waiting = 1,
		      .queued = 1, .threads = 2);
	EXPECT_FALSE(wait_int(&c.stage, 1, BLOCKED_MS))
		TH_LOG("C released while 1 thread runs with concurrency 1");

	/* A leaves: running 0, C gets packet 3. */
	ASSERT_TRUE(run(&a, W_DISASSOCIATE, fd));
	EXPECT_EQ(0, a.cret);
	ASSERT_TRUE(wait_int(&c.stage, 1, WAKE_MS))
		TH_LOG("running dropped below N but C was not released");
	EXPECT_EQ(0, c.ret);
	EXPECT_PACKET(c.e, 1, 3);
	EXPECT_COUNTS(fd, .running = 1, .blocked = 0, .waiting = 0,
		      .queued = 0, .threads = 1);

	ASSERT_TRUE(stop_worker(&a));
	ASSERT_TRUE(stop_worker(&c));
	EXPECT_COUNTS(fd, .running = 0, .blocked = 0, .waiting = 0,
		      .queued = 0, .threads = 0);
	ASSERT_EQ(0, get_stats(fd, &s));
	EXPECT_EQ(3ULL, s.posted);
	EXPECT_EQ(3ULL, s.dequeued);
	EXPECT_EQ(2U, s.peak_running);
	EXPECT_EQ(0, iocp_close(fd));
}

/* ------------------------------------------------------------------ */
/* Preemption is not blocking                                           */
/* ------------------------------------------------------------------ */

struct hog {
	pthread_t thread;
	int cpu;
	int started;
	int *stop;
};

static void *hog_fn(void *arg)
{
	struct hog *h = arg;

	pin_to_cpu(h->cpu);
	st(&h->started, 1);
	while (!__atomic_load_n(h->stop, __ATOMIC_RELAXED))
		;
	return NULL;
}

/*
 * Concurrency 1: A busy-loops for 200 ms after taking packet 1, sharing
 * CPU 0 with a CPU hog (another hog on every other CPU), so it is
 * preempted: packet 2 stays queued and waiter B stays blocked throughout.
 */
TEST(preemption_is_not_blocking)
{
	struct hog hogs[64];
	struct worker a, b;
	struct iocp_stats s;
	unsigned int samples = 0, bad = 0;
	uint32_t bad_running = 0, bad_blocked = 0, bad_queued = 0;
	int fd, i, ncpu, stop = 0;

	ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	if (ncpu > 64)
		ncpu = 64;
	fd = iocp_create(1);
	ASSERT_LE(0, fd);
	REQUIRE_BLOCKING_AWARE(fd);

	ASSERT_EQ(0, iocp_post(fd, 1, 1, 0));
	/* A runs on CPU 0, which hog 0 will share. */
	ASSERT_EQ(0, start_worker_on(&a, fd, IOCP_INFINITE, NULL, 0));
	ASSERT_TRUE(wait_int(&a.stage, 1, WAKE_MS));
	ASSERT_EQ(0, a.ret);
	EXPECT_PACKET(a.e, 1, 1);

	ASSERT_EQ(0, start_worker(&b, fd, IOCP_INFINITE, NULL));
	ASSERT_TRUE(WAIT_STAT(fd, waiting, 1));

	/* The hogs, one per CPU, exist before packet 2 is posted. */
	for (i = 0; i < ncpu; i++) {
		hogs[i].cpu = i;
		hogs[i].started = 0;
		hogs[i].stop = &stop;
		ASSERT_EQ(0, pthread_create(&hogs[i].thread, NULL, hog_fn, &hogs[i]));
	}
	for (i = 0; i < ncpu; i++)
		ASSERT_TRUE(wait_int(&hogs[i].started, 1, WAKE_MS));

	ASSERT_EQ(0, iocp_post(fd, 1, 2, 0));
	/* A moves to CPU 0 (hog 0's) and busy-loops there for 200 ms. */
	ASSERT_TRUE(run(&a, W_DISASSOCIATE, -1));	/* a no-op: EBADF */
	EXPECT_EQ(-EBADF, a.cret);
	a.cpu = 0;
	issue(&a, W_BUSY, 200);
	while (!is_done(&a)) {
		ASSERT_EQ(0, get_stats(fd, &s));
		samples++;
		if (s.running != 1 || s.blocked != 0 || s.queued != 1 ||
		    s.waiting != 1) {
			if (!bad++) {
				bad_running = s.running;
				bad_blocked = s.blocked;
				bad_queued = s.queued;
			}
		}
		if (ld(&b.stage))
			break;
		usleep(2000);
	}
	ASSERT_TRUE(finished(&a, 10 * WAKE_MS));
	st(&stop, 1);
	for (i = 0; i < ncpu; i++)
		ASSERT_EQ(0, join_ms(hogs[i].thread, WAKE_MS));

	EXPECT_EQ(0, ld(&b.stage))
		TH_LOG("B was released while A was only preempted");
	EXPECT_EQ(0U, bad)
		TH_LOG("%u of %u samples wrong, first: running %u blocked %u queued %u",
		       bad, samples, bad_running, bad_blocked, bad_queued);
	EXPECT_LT(0, a.nivcsw) TH_LOG("A was never preempted: the test proves nothing");
	EXPECT_LT(0U, samples);
	TH_LOG("A preempted %ld times in 200 ms, %u samples", a.nivcsw, samples);

	EXPECT_COUNTS(fd, .running = 1, .blocked = 0, .waiting = 1,
		      .queued = 1, .threads = 2);
	EXPECT_FALSE(wait_int(&b.stage, 1, BLOCKED_MS));

	/* A exits: B gets packet 2. */
	ASSERT_TRUE(stop_worker(&a));
	ASSERT_TRUE(wait_int(&b.stage, 1, WAKE_MS));
	EXPECT_EQ(0, b.ret);
	EXPECT_PACKET(b.e, 1, 2);
	ASSERT_TRUE(stop_worker(&b));
	EXPECT_COUNTS(fd, .running = 0, .blocked = 0, .waiting = 0,
		      .queued = 0, .threads = 0);
	EXPECT_EQ(0, iocp_close(fd));
}

/* ------------------------------------------------------------------ */
/* Exit while blocked                                                   */
/* ------------------------------------------------------------------ */

#define EXIT_ROUNDS	20

struct blocked_exiter {
	int fd;
	int rfd;		/* read end of a pipe: block here */
	int ret;
};

/* Associate (timeout 0 on a port it cannot take from), block, then exit. */
static void *blocked_exiter_fn(void *arg)
{
	struct blocked_exiter *x = arg;
	struct iocp_completion e;
	char c;

	x->ret = dq1(x->fd, &e, 0, NULL);
	if (read(x->rfd, &c, 1) != 1)
		x->ret = -EIO;
	return NULL;	/* exits right after waking */
}

struct child_blocker {
	int fd;
	int rfd;
	int futex;
};

static void *child_futex_fn(void *arg)
{
	struct child_blocker *cb = arg;
	struct iocp_completion e;

	dq1(cb->fd, &e, 0, NULL);
	for (;;)
		futex_wait(&cb->futex, 0);
	return NULL;
}

/*
 * Concurrency 1: worker R counts as running; waiter W and a queued packet.
 * Any unplanned blocking of R would release W, so R only spins.
 * A thread that associates (running 2), blocks (running 1, blocked 1) and
 * exits as soon as it wakes leaves exact counts, every round, and no
 * release happens since R still runs. Then a process whose two associated
 * threads are blocked is killed: same. Then R leaves: W gets the packet.
 * (The main thread stays unassociated: it sleeps while it polls.)
 */
TEST(exit_while_blocked)
{
	struct blocked_exiter x;
	struct worker r, w;
	struct iocp_completion e;
	int fd, i, p[2], go[2], ready[2], status;
	pid_t pid;
	char c;

	fd = iocp_create(1);
	ASSERT_LE(0, fd);
	REQUIRE_BLOCKING_AWARE(fd);
	ASSERT_EQ(0, pipe(p));
	ASSERT_EQ(0, pipe(go));
	ASSERT_EQ(0, pipe(ready));

	/*
	 * The child process is forked first: a fork write-protects the
	 * parent's memory while holding its mm locks, which could make R
	 * block in a page fault, and so release W.
	 */
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		struct child_blocker cb = { .fd = fd, .rfd = p[0] };
		pthread_t t;

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(ready[0]);
		close(go[1]);
		if (read(go[0], &c, 1) != 1)
			_exit(1);
		if (pthread_create(&t, NULL, child_futex_fn, &cb))
			_exit(1);
		dq1(fd, &e, 0, NULL);
		if (write(ready[1], "r", 1) != 1)
			_exit(1);
		read(p[0], &c, 1);	/* blocks until killed */
		_exit(2);
	}
	close(ready[1]);
	close(go[0]);

	ASSERT_EQ(0, iocp_post(fd, 1, 1, 0));
	ASSERT_EQ(0, start_worker(&r, fd, IOCP_INFINITE, NULL));
	ASSERT_TRUE(wait_int(&r.stage, 1, WAKE_MS));
	ASSERT_EQ(0, r.ret);
	ASSERT_EQ(0, start_worker(&w, fd, IOCP_INFINITE, NULL));
	ASSERT_TRUE(WAIT_STAT(fd, waiting, 1));
	ASSERT_EQ(0, iocp_post(fd, 1, 2, 0));
	EXPECT_COUNTS(fd, .running = 1, .blocked = 0, .waiting = 1,
		      .queued = 1, .threads = 2);

	for (i = 0; i < EXIT_ROUNDS; i++) {
		pthread_t t;

		x.fd = fd;
		x.rfd = p[0];
		x.ret = INT_MIN;
		ASSERT_EQ(0, pthread_create(&t, NULL, blocked_exiter_fn, &x));
		if (!EXPECT_COUNTS(fd, .running = 1, .blocked = 1, .waiting = 1,
				   .queued = 1, .threads = 3))
			TH_LOG("round %d: blocked thread not counted", i);
		ASSERT_EQ(1, write(p[1], "x", 1));
		ASSERT_EQ(0, join_ms(t, WAKE_MS));
		EXPECT_EQ(-ETIMEDOUT, x.ret);
		if (!EXPECT_COUNTS(fd, .running = 1, .blocked = 0, .waiting = 1,
				   .queued = 1, .threads = 2))
			TH_LOG("round %d: counts wrong after the blocked thread exited", i);
		if (_metadata->exit_code != KSFT_PASS)
			break;
	}
	EXPECT_EQ(0, ld(&w.stage)) TH_LOG("W released while R runs");

	/* A process with two associated threads blocked, killed. */
	ASSERT_EQ(1, write(go[1], "g", 1));
	ASSERT_EQ(1, read(ready[0], &c, 1));
	close(ready[0]);
	if (!EXPECT_COUNTS(fd, .running = 1, .blocked = 2, .waiting = 1,
			   .queued = 1, .threads = 4))
		TH_LOG("the child's blocked threads are not counted");
	ASSERT_EQ(0, kill(pid, SIGKILL));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	if (!EXPECT_COUNTS(fd, .running = 1, .blocked = 0, .waiting = 1,
			   .queued = 1, .threads = 2))
		TH_LOG("counts wrong after the child was killed");
	EXPECT_EQ(0, ld(&w.stage)) TH_LOG("W released while R runs");

	/* R leaves: W gets packet 2. */
	ASSERT_TRUE(run(&r, W_DISASSOCIATE, fd));
	EXPECT_EQ(0, r.cret);
	ASSERT_TRUE(wait_int(&w.stage, 1, WAKE_MS));
	EXPECT_EQ(0, w.ret);
	EXPECT_PACKET(w.e, 1, 2);
	ASSERT_TRUE(stop_worker(&r));
	ASSERT_TRUE(stop_worker(&w));
	EXPECT_COUNTS(fd, .running = 0, .blocked = 0, .waiting = 0,
		      .queued = 0, .threads = 0);
	close(p[0]);
	close(p[1]);
	close(go[1]);
	EXPECT_EQ(0, iocp_close(fd));
}

/*
 * A stopped thread (SIGSTOP) is not running either: concurrency 1, an
 * associated child process spinning holds the slot; stopped, it counts as
 * blocked and waiter W gets the queued packet; continued, it runs (running
 * 2); killed, it leaves.
 */
TEST(stopped_counts_as_blocked)
{
	struct iocp_completion e;
	struct worker w;
	int fd, ready[2], status;
	pid_t pid;
	char c;

	fd = iocp_create(1);
	ASSERT_LE(0, fd);
	REQUIRE_BLOCKING_AWARE(fd);
	ASSERT_EQ(0, pipe(ready));

	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(ready[0]);
		if (dq1(fd, &e, 0, NULL) != -ETIMEDOUT)
			_exit(1);
		if (write(ready[1], "r", 1) != 1)
			_exit(1);
		for (;;)
			__asm__ __volatile__("" ::: "memory");
	}
	close(ready[1]);
	ASSERT_EQ(1, read(ready[0], &c, 1));
	close(ready[0]);
	EXPECT_COUNTS(fd, .running = 1, .blocked = 0, .threads = 1);

	ASSERT_EQ(0, start_worker(&w, fd, IOCP_INFINITE, NULL));
	ASSERT_TRUE(WAIT_STAT(fd, waiting, 1));
	ASSERT_EQ(0, iocp_post(fd, 1, 1, 0));
	EXPECT_FALSE(wait_int(&w.stage, 1, BLOCKED_MS))
		TH_LOG("W released while the child runs");

	ASSERT_EQ(0, kill(pid, SIGSTOP));
	ASSERT_TRUE(wait_int(&w.stage, 1, WAKE_MS))
		TH_LOG("the child was stopped, but W was not released");
	EXPECT_EQ(0, w.ret);
	EXPECT_PACKET(w.e, 1, 1);
	EXPECT_COUNTS(fd, .running = 1, .blocked = 1, .waiting = 0,
		      .queued = 0, .threads = 2);

	ASSERT_EQ(0, kill(pid, SIGCONT));
	EXPECT_COUNTS(fd, .running = 2, .blocked = 0, .threads = 2);

	ASSERT_EQ(0, kill(pid, SIGKILL));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	EXPECT_COUNTS(fd, .running = 1, .blocked = 0, .threads = 1);
	ASSERT_TRUE(stop_worker(&w));
	EXPECT_COUNTS(fd, .running = 0, .blocked = 0, .waiting = 0,
		      .queued = 0, .threads = 0);
	EXPECT_EQ(0, iocp_close(fd));
}

/* ------------------------------------------------------------------ */
/* Switching ports, DISASSOCIATE                                        */
/* ------------------------------------------------------------------ */

/*
 * A DEQUEUE on port b leaves port a: a's running/threads drop and its
 * queued packet goes to its waiter. A thread blocked while associated with
 * a, woken, and moving to b leaves exact counts on both.
 */
TEST(switch_ports)
{
	struct blocker blk;
	struct worker r, w, x;
	int a, b;
	char why[128];

	a = iocp_create(1);
	ASSERT_LE(0, a);
	b = iocp_create(2);
	ASSERT_LE(0, b);

	ASSERT_EQ(0, iocp_post(a, 1, 1, 0));
	ASSERT_EQ(0, start_worker(&r, a, IOCP_INFINITE, NULL));
	ASSERT_TRUE(wait_int(&r.stage, 1, WAKE_MS));
	ASSERT_EQ(0, r.ret);
	EXPECT_COUNTS(a, .running = 1, .threads = 1);
	ASSERT_EQ(0, start_worker(&w, a, IOCP_INFINITE, NULL));
	ASSERT_TRUE(WAIT_STAT(a, waiting, 1));
	ASSERT_EQ(0, iocp_post(a, 1, 2, 0));
	EXPECT_FALSE(wait_int(&w.stage, 1, BLOCKED_MS));

	/* R moves to b (timeout 0, nothing queued there). */
	ASSERT_TRUE(run(&r, W_DEQUEUE, b));
	EXPECT_EQ(-ETIMEDOUT, r.cret);
	ASSERT_TRUE(wait_int(&w.stage, 1, WAKE_MS))
		TH_LOG("leaving port a did not release its waiter");
	EXPECT_EQ(0, w.ret);
	EXPECT_PACKET(w.e, 1, 2);
	EXPECT_COUNTS(a, .running = 1, .blocked = 0, .waiting = 0,
		      .queued = 0, .threads = 1);
	EXPECT_COUNTS(b, .running = 1, .blocked = 0, .waiting = 0,
		      .queued = 0, .threads = 1);
	ASSERT_TRUE(stop_worker(&w));
	EXPECT_COUNTS(a, .running = 0, .threads = 0);
	/* R is not on a any more; asking to leave a changes nothing on b. */
	ASSERT_TRUE(run(&r, W_DISASSOCIATE, a));
	EXPECT_EQ(-ENOENT, r.cret);
	EXPECT_COUNTS(b, .running = 1, .threads = 1);

	if (!blocking_aware(a)) {
		stop_worker(&r);
		iocp_close(a);
		iocp_close(b);
		SKIP(return, "IOCP_STATS_BLOCKING_AWARE not set: the blocked half is skipped");
	}
	ASSERT_EQ(0, blocker_setup(&blk, BLK_PIPE, why, sizeof(why)));

	/* X takes a packet on a and blocks there. */
	ASSERT_EQ(0, iocp_post(a, 1, 3, 0));
	ASSERT_EQ(0, start_worker(&x, a, IOCP_INFINITE, &blk));
	ASSERT_TRUE(wait_int(&x.stage, 1, WAKE_MS));
	EXPECT_EQ(0, x.ret);
	issue(&x, W_BLOCK, 0);
	EXPECT_COUNTS(a, .running = 0, .blocked = 1, .threads = 1);

	/* It wakes and moves to b at once. */
	ASSERT_TRUE(blocker_release(&blk, &x));
	ASSERT_TRUE(finished(&x, WAKE_MS));
	ASSERT_TRUE(run(&x, W_DEQUEUE, b));
	EXPECT_EQ(-ETIMEDOUT, x.cret);
	EXPECT_COUNTS(a, .running = 0, .blocked = 0, .waiting = 0,
		      .queued = 0, .threads = 0);
	EXPECT_COUNTS(b, .running = 2, .blocked = 0, .threads = 2);

	/* Blocking now counts on b only. */
	issue(&x, W_BLOCK, 0);
	EXPECT_COUNTS(b, .running = 1, .blocked = 1, .threads = 2);
	EXPECT_COUNTS(a, .running = 0, .blocked = 0, .threads = 0);
	ASSERT_TRUE(blocker_release(&blk, &x));
	ASSERT_TRUE(finished(&x, WAKE_MS));
	EXPECT_COUNTS(b, .running = 2, .blocked = 0, .threads = 2);
	ASSERT_TRUE(stop_worker(&x));
	EXPECT_COUNTS(b, .running = 1, .blocked = 0, .threads = 1);
	ASSERT_TRUE(stop_worker(&r));
	EXPECT_COUNTS(b, .running = 0, .blocked = 0, .threads = 0);
	EXPECT_COUNTS(a, .running = 0, .blocked = 0, .threads = 0);

	blocker_cleanup(&blk);
	EXPECT_EQ(0, iocp_close(a));
	EXPECT_EQ(0, iocp_close(b));
}

/*
 * DISASSOCIATE: -ENOENT for a thread never associated, for another port,
 * in a child forked by an associated thread, after a shutdown, and on
 * repeat; 0 once, freeing the slot for a waiter.
 */
TEST(disassociate)
{
	struct iocp_completion e;
	struct worker r, w;
	int fd, other;

	fd = iocp_create(1);
	ASSERT_LE(0, fd);
	other = iocp_create(1);
	ASSERT_LE(0, other);

	/* Never associated; a depth query does not associate. */
	EXPECT_EQ(-ENOENT, iocp_disassociate(fd));
	EXPECT_EQ(0, iocp_depth(fd));
	EXPECT_EQ(-ENOENT, iocp_disassociate(fd));
	EXPECT_EQ(-1, ioctl(fd, IOCP_IOC_DISASSOCIATE, NULL));
	EXPECT_EQ(ENOENT, errno);

	ASSERT_EQ(0, iocp_post(fd, 1, 1, 0));
	ASSERT_EQ(0, start_worker(&r, fd, IOCP_INFINITE, NULL));
	ASSERT_TRUE(wait_int(&r.stage, 1, WAKE_MS));
	ASSERT_EQ(0, r.ret);
	EXPECT_COUNTS(fd, .running = 1, .threads = 1);

	/* Another port: -ENOENT, and the association is kept. */
	ASSERT_TRUE(run(&r, W_DISASSOCIATE, other));
	EXPECT_EQ(-ENOENT, r.cret);
	EXPECT_COUNTS(fd, .running = 1, .threads = 1);
	EXPECT_COUNTS(other, .running = 0, .threads = 0);

	ASSERT_EQ(0, start_worker(&w, fd, IOCP_INFINITE, NULL));
	ASSERT_TRUE(WAIT_STAT(fd, waiting, 1));
	ASSERT_EQ(0, iocp_post(fd, 1, 2, 0));
	EXPECT_FALSE(wait_int(&w.stage, 1, BLOCKED_MS));

	/* Leaving frees the slot: W gets packet 2. */
	ASSERT_TRUE(run(&r, W_DISASSOCIATE, fd));
	EXPECT_EQ(0, r.cret);
	ASSERT_TRUE(wait_int(&w.stage, 1, WAKE_MS))
		TH_LOG("DISASSOCIATE did not release the waiter");
	EXPECT_EQ(0, w.ret);
	EXPECT_PACKET(w.e, 1, 2);
	EXPECT_COUNTS(fd, .running = 1, .waiting = 0, .queued = 0, .threads = 1);
	ASSERT_TRUE(run(&r, W_DISASSOCIATE, fd));
	EXPECT_EQ(-ENOENT, r.cret) TH_LOG("second DISASSOCIATE");
	ASSERT_TRUE(stop_worker(&w));
	EXPECT_COUNTS(fd, .running = 0, .blocked = 0, .threads = 0);

	/* Associating again works. */
	ASSERT_EQ(0, iocp_post(fd, 1, 3, 0));
	ASSERT_TRUE(run(&r, W_DEQUEUE, fd));
	EXPECT_EQ(0, r.cret);
	EXPECT_PACKET(r.ce, 1, 3);
	EXPECT_COUNTS(fd, .running = 1, .threads = 1);

	/* A child forked by an associated thread is not associated. */
	ASSERT_TRUE(run(&r, W_FORK, fd));
	EXPECT_EQ(0, r.cret) TH_LOG("the forked child: DISASSOCIATE did not give ENOENT");
	EXPECT_COUNTS(fd, .running = 1, .threads = 1);

	/* Leaving again. */
	ASSERT_TRUE(run(&r, W_DISASSOCIATE, fd));
	EXPECT_EQ(0, r.cret);
	EXPECT_COUNTS(fd, .running = 0, .blocked = 0, .threads = 0);

	/* After a shutdown nothing is associated. */
	ASSERT_TRUE(run(&r, W_DEQUEUE, fd));
	EXPECT_EQ(-ETIMEDOUT, r.cret);
	EXPECT_COUNTS(fd, .running = 1, .threads = 1);
	ASSERT_EQ(0, iocp_shutdown(fd));
	EXPECT_COUNTS(fd, .running = 0, .threads = 0);
	ASSERT_TRUE(run(&r, W_DISASSOCIATE, fd));
	EXPECT_EQ(-ENOENT, r.cret);
	ASSERT_TRUE(stop_worker(&r));

	/* The main thread itself. */
	ASSERT_EQ(0, iocp_post(other, 1, 4, 0));
	ASSERT_EQ(1, iocp_get(other, &e, 0));
	EXPECT_PACKET(e, 1, 4);
	EXPECT_COUNTS(other, .threads = 1);
	EXPECT_EQ(0, iocp_disassociate(other));
	EXPECT_COUNTS(other, .running = 0, .blocked = 0, .threads = 0);
	EXPECT_EQ(-ENOENT, iocp_disassociate(other));

	EXPECT_EQ(0, close(fd));
	EXPECT_EQ(0, iocp_close(other));
}

/* ------------------------------------------------------------------ */
/* IOCP_CONFIG_IGNORE_BLOCKING                                          */
/* ------------------------------------------------------------------ */

/*
 * With the flag, A blocked in nanosleep still counts as running: B is not
 * released. Clearing it while A sleeps recounts A as blocked and releases
 * B; setting it again recounts A as running.
 */
TEST(ignore_blocking)
{
	struct iocp_config cfg;
	struct iocp_stats s;
	struct blocker blk;
	struct worker a, b;
	char why[128];
	int fd;

	fd = iocp_create(1);
	ASSERT_LE(0, fd);
	REQUIRE_BLOCKING_AWARE(fd);
	ASSERT_EQ(0, blocker_setup(&blk, BLK_NANOSLEEP, why, sizeof(why)));

	ASSERT_EQ(0, set_flags(fd, IOCP_CONFIG_IGNORE_BLOCKING));
	memset(&cfg, POISON_BYTE, sizeof(cfg));
	ASSERT_EQ(0, iocp_get_config(fd, &cfg));
	EXPECT_EQ((__u32)IOCP_CONFIG_IGNORE_BLOCKING, cfg.flags);
	EXPECT_EQ(1U, cfg.concurrency);
	ASSERT_EQ(0, get_stats(fd, &s));
	EXPECT_EQ(0U, s.flags & IOCP_STATS_BLOCKING_AWARE);
	EXPECT_NE(0U, s.flags & IOCP_STATS_EXIT_TRACKING);
	EXPECT_EQ(IOCP_CONFIG_IGNORE_BLOCKING, fdinfo_value(fd, "iocp-flags"));
	EXPECT_EQ(-EINVAL, set_flags(fd, IOCP_CONFIG_IGNORE_BLOCKING | 2));
	ASSERT_EQ(0, iocp_get_config(fd, &cfg));
	EXPECT_EQ((__u32)IOCP_CONFIG_IGNORE_BLOCKING, cfg.flags);

	ASSERT_EQ(0, iocp_post(fd, 1, 1, 0));
	ASSERT_EQ(0, start_worker(&a, fd, IOCP_INFINITE, &blk));
	ASSERT_TRUE(wait_int(&a.stage, 1, WAKE_MS));
	EXPECT_EQ(0, a.ret);
	ASSERT_EQ(0, start_worker(&b, fd, IOCP_INFINITE, NULL));
	ASSERT_TRUE(WAIT_STAT(fd, waiting, 1));
	ASSERT_EQ(0, iocp_post(fd, 1, 2, 0));

	/* A sleeps; it still counts: B stays blocked. */
	issue(&a, W_BLOCK, 0);
	ASSERT_TRUE(wait_sleeping(a.tid));
	EXPECT_FALSE(wait_int(&b.stage, 1, BLOCKED_MS))
		TH_LOG("B released although the port ignores blocking");
	EXPECT_COUNTS(fd, .running = 1, .blocked = 0, .waiting = 1,
		      .queued = 1, .threads = 2);
	EXPECT_FALSE(is_done(&a));

	/* Clearing the flag recounts A as blocked: B is released. */
	ASSERT_EQ(0, set_flags(fd, 0));
	ASSERT_TRUE(wait_int(&b.stage, 1, WAKE_MS))
		TH_LOG("clearing IOCP_CONFIG_IGNORE_BLOCKING did not release B");
	EXPECT_EQ(0, b.ret);
	EXPECT_PACKET(b.e, 1, 2);
	EXPECT_FALSE(is_done(&a));
	EXPECT_COUNTS(fd, .running = 1, .blocked = 1, .waiting = 0,
		      .queued = 0, .threads = 2);
	ASSERT_EQ(0, get_stats(fd, &s));
	EXPECT_NE(0U, s.flags & IOCP_STATS_BLOCKING_AWARE);

	/* Setting it again recounts A, still asleep, as running. */
	ASSERT_EQ(0, set_flags(fd, IOCP_CONFIG_IGNORE_BLOCKING));
	EXPECT_COUNTS(fd, .running = 2, .blocked = 0, .threads = 2);
	EXPECT_FALSE(is_done(&a));
	ASSERT_EQ(0, get_stats(fd, &s));
	EXPECT_EQ(0U, s.flags & IOCP_STATS_BLOCKING_AWARE);

	ASSERT_TRUE(blocker_release(&blk, &a));
	EXPECT_EQ(-EINTR, a.cret);
	EXPECT_COUNTS(fd, .running = 2, .blocked = 0, .threads = 2);
	/* Nobody is blocked: clearing the flag changes no count. */
	ASSERT_EQ(0, set_flags(fd, 0));
	EXPECT_COUNTS(fd, .running = 2, .blocked = 0, .threads = 2);

	ASSERT_TRUE(stop_worker(&a));
	ASSERT_TRUE(stop_worker(&b));
	EXPECT_COUNTS(fd, .running = 0, .blocked = 0, .threads = 0);
	blocker_cleanup(&blk);
	EXPECT_EQ(0, iocp_close(fd));
}

/* ------------------------------------------------------------------ */
/* Shutdown while associated threads are blocked                        */
/* ------------------------------------------------------------------ */

/*
 * Concurrency 2: A sleeps in nanosleep, B in a pipe read, D on a futex,
 * all associated; W waits in DEQUEUE. Shutdown: W gets ESHUTDOWN, every
 * count is 0. The port is closed (freed) while they sleep; then they wake:
 * A and B use another port (and block there), D exits at once.
 */
TEST(shutdown_while_blocked)
{
	struct blocker ba, bb, bd;
	struct worker a, b, d, w;
	struct iocp_stats s;
	char why[128];
	int fd, fd2;

	fd = iocp_create(2);
	ASSERT_LE(0, fd);
	REQUIRE_BLOCKING_AWARE(fd);
	fd2 = iocp_create(2);
	ASSERT_LE(0, fd2);
	ASSERT_EQ(0, blocker_setup(&ba, BLK_NANOSLEEP, why, sizeof(why)));
	ASSERT_EQ(0, blocker_setup(&bb, BLK_PIPE, why, sizeof(why)));
	ASSERT_EQ(0, blocker_setup(&bd, BLK_FUTEX, why, sizeof(why)));

	ASSERT_EQ(0, iocp_post(fd, 1, 1, 0));
	ASSERT_EQ(0, iocp_post(fd, 1, 2, 0));
	ASSERT_EQ(0, iocp_post(fd, 1, 3, 0));
	ASSERT_EQ(0, start_worker(&a, fd, IOCP_INFINITE, &ba));
	ASSERT_TRUE(wait_int(&a.stage, 1, WAKE_MS));
	issue(&a, W_BLOCK, 0);
	ASSERT_EQ(0, start_worker(&b, fd, IOCP_INFINITE, &bb));
	ASSERT_TRUE(wait_int(&b.stage, 1, WAKE_MS));
	issue(&b, W_BLOCK, 0);
	ASSERT_EQ(0, start_worker(&d, fd, IOCP_INFINITE, &bd));
	ASSERT_TRUE(wait_int(&d.stage, 1, WAKE_MS));
	issue(&d, W_BLOCK, 0);
	EXPECT_EQ(0, a.ret);
	EXPECT_EQ(0, b.ret);
	EXPECT_EQ(0, d.ret);
	ASSERT_EQ(0, start_worker(&w, fd, IOCP_INFINITE, NULL));
	EXPECT_COUNTS(fd, .running = 0, .blocked = 3, .waiting = 1,
		      .queued = 0, .threads = 4);

	ASSERT_EQ(0, iocp_shutdown(fd));
	ASSERT_TRUE(wait_int(&w.stage, 1, WAKE_MS));
	EXPECT_EQ(-ESHUTDOWN, w.ret);
	ASSERT_EQ(0, get_stats(fd, &s));
	EXPECT_EQ(0U, s.running);
	EXPECT_EQ(0U, s.blocked);
	EXPECT_EQ(0U, s.waiting);
	EXPECT_EQ(0U, s.threads);
	EXPECT_NE(0U, s.flags & IOCP_STATS_SHUTDOWN);
	EXPECT_FALSE(is_done(&a));
	EXPECT_FALSE(is_done(&b));
	EXPECT_FALSE(is_done(&d));
	ASSERT_TRUE(stop_worker(&w));
	/* The port is freed while its former threads sleep. */
	EXPECT_EQ(0, close(fd));

	ASSERT_TRUE(blocker_release(&ba, &a));
	ASSERT_TRUE(blocker_release(&bb, &b));
	ASSERT_TRUE(blocker_release(&bd, &d));
	ASSERT_TRUE(finished(&a, WAKE_MS));
	ASSERT_TRUE(finished(&b, WAKE_MS));
	ASSERT_TRUE(finished(&d, WAKE_MS));
	EXPECT_EQ(-EINTR, a.cret);
	EXPECT_EQ('x', b.cret);
	ASSERT_TRUE(stop_worker(&d));

	/* A and B use another port, and block there. */
	ASSERT_EQ(0, iocp_post(fd2, 2, 1, 0));
	ASSERT_EQ(0, iocp_post(fd2, 2, 2, 0));
	ASSERT_TRUE(run(&a, W_DEQUEUE, fd2));
	EXPECT_EQ(0, a.cret);
	ASSERT_TRUE(run(&b, W_DEQUEUE, fd2));
	EXPECT_EQ(0, b.cret);
	EXPECT_COUNTS(fd2, .running = 2, .blocked = 0, .queued = 0, .threads = 2);
	issue(&a, W_BLOCK, 0);
	issue(&b, W_BLOCK, 0);
	EXPECT_COUNTS(fd2, .running = 0, .blocked = 2, .threads = 2);
	ASSERT_TRUE(blocker_release(&ba, &a));
	ASSERT_TRUE(blocker_release(&bb, &b));
	ASSERT_TRUE(finished(&a, WAKE_MS));
	ASSERT_TRUE(finished(&b, WAKE_MS));
	EXPECT_COUNTS(fd2, .running = 2, .blocked = 0, .threads = 2);
	ASSERT_TRUE(stop_worker(&a));
	ASSERT_TRUE(stop_worker(&b));
	EXPECT_COUNTS(fd2, .running = 0, .blocked = 0, .waiting = 0,
		      .threads = 0);

	blocker_cleanup(&ba);
	blocker_cleanup(&bb);
	blocker_cleanup(&bd);
	EXPECT_EQ(0, iocp_close(fd2));
}

/* ------------------------------------------------------------------ */
/* Stress                                                               */
/* ------------------------------------------------------------------ */

#define STRESS_WORKERS	16
#define STRESS_ITEMS	20000
#define STRESS_CHUNK	100
#define STRESS_KEY	0x57

enum { WANT_NONE, WANT_PIPE, WANT_FUTEX };

struct stress;

struct stress_worker {
	pthread_t thread;
	struct stress *s;
	unsigned int seed;
	int pipefd[2];
	int futex;
	int want;		/* WANT_*: what the waker must do */
	int blocks[3];		/* nanosleep, pipe, futex */
};

struct stress {
	int fd;
	uint32_t conc;
	int processed;
	int errors;
	int bad_ret;
	int stop;		/* sampler and waker */
	/* Sampler. */
	uint32_t samples;
	uint32_t max_running, max_blocked, max_threads;
	uint32_t idle_slot, over_count, mismatch, ignored_blocked;
	uint32_t toggles;
	struct iocp_stats first_bad;
	int sampler_err;
	struct stress_worker w[STRESS_WORKERS];
	uint8_t seen[STRESS_ITEMS];
};

static void *stress_worker_fn(void *arg)
{
	struct stress_worker *sw = arg;
	struct stress *s = sw->s;
	struct iocp_completion e;
	struct timespec ts;
	unsigned int r, i;
	char c;
	int ret;

	for (;;) {
		memset(&e, POISON_BYTE, sizeof(e));
		ret = iocp_get(s->fd, &e, IOCP_INFINITE);
		if (ret == -ESHUTDOWN)
			break;
		if (ret != 1) {
			s->bad_ret = ret;
			__atomic_add_fetch(&s->errors, 1, __ATOMIC_SEQ_CST);
			break;
		}
		if (e.key != STRESS_KEY || e.user_data >= STRESS_ITEMS ||
		    e.result != (e.user_data ^ 0x5a5a) ||
		    e.flags != IOCP_CF_POSTED || e.events)
			__atomic_add_fetch(&s->errors, 1, __ATOMIC_SEQ_CST);
		else
			__atomic_add_fetch(&s->seen[e.user_data], 1, __ATOMIC_SEQ_CST);

		r = rand_r(&sw->seed) % 100;
		if (r < 10) {
			ts.tv_sec = 0;
			ts.tv_nsec = rand_r(&sw->seed) % (2 * NSEC_PER_MSEC);
			nanosleep(&ts, NULL);
			sw->blocks[0]++;
		} else if (r < 20) {
			st(&sw->want, WANT_PIPE);
			if (read(sw->pipefd[0], &c, 1) != 1)
				__atomic_add_fetch(&s->errors, 1, __ATOMIC_SEQ_CST);
			sw->blocks[1]++;
		} else if (r < 30) {
			st(&sw->futex, 0);
			st(&sw->want, WANT_FUTEX);
			while (!ld(&sw->futex))
				futex_wait(&sw->futex, 0);
			sw->blocks[2]++;
		} else {
			for (i = 0; i < 2000; i++)
				__asm__ __volatile__("" ::: "memory");
		}
		__atomic_add_fetch(&s->processed, 1, __ATOMIC_SEQ_CST);
	}
	return NULL;
}

/* Unassociated: ends the pipe and futex waits after a short delay. */
static void *stress_waker_fn(void *arg)
{
	struct stress *s = arg;
	struct timespec ts = { .tv_nsec = 200 * NSEC_PER_USEC };
	int i, want;

	while (!ld(&s->stop)) {
		for (i = 0; i < STRESS_WORKERS; i++) {
			struct stress_worker *sw = &s->w[i];

			want = ld(&sw->want);
			if (want == WANT_NONE)
				continue;
			st(&sw->want, WANT_NONE);
			if (want == WANT_PIPE) {
				if (write(sw->pipefd[1], "x", 1) != 1)
					__atomic_add_fetch(&s->errors, 1, __ATOMIC_SEQ_CST);
			} else {
				st(&sw->futex, 1);
				futex_wake(&sw->futex);
			}
		}
		nanosleep(&ts, NULL);
	}
	return NULL;
}

/* Unassociated: GET_STATS every 300 us, every snapshot checked. */
static void *stress_sampler_fn(void *arg)
{
	struct stress *s = arg;
	struct iocp_stats snap;
	bool bad;

	/* Sample every 300 us, not every 300 us plus the default 50 us slack. */
	prctl(PR_SET_TIMERSLACK, 1UL);
	while (!ld(&s->stop)) {
		if (get_stats(s->fd, &snap)) {
			s->sampler_err++;
			break;
		}
		s->samples++;
		bad = false;
		/* No idle slot while work and a waiter are there. */
		if (snap.queued && snap.waiting && snap.running < s->conc) {
			s->idle_slot++;
			bad = true;
		}
		/* Ignoring blocking, nobody counts as blocked. */
		if (!(snap.flags & IOCP_STATS_BLOCKING_AWARE) && snap.blocked) {
			s->ignored_blocked++;
			bad = true;
		}
		if (snap.running + snap.blocked > snap.threads ||
		    snap.threads > STRESS_WORKERS) {
			s->over_count++;
			bad = true;
		}
		/* Each associated thread waits, runs or is blocked. */
		if (snap.running + snap.blocked + snap.waiting != snap.threads) {
			s->mismatch++;
			bad = true;
		}
		if (bad && s->idle_slot + s->over_count + s->mismatch +
			   s->ignored_blocked == 1)
			s->first_bad = snap;
		if (snap.running > s->max_running)
			s->max_running = snap.running;
		if (snap.blocked > s->max_blocked)
			s->max_blocked = snap.blocked;
		if (snap.threads > s->max_threads)
			s->max_threads = snap.threads;
		usleep(300);
	}
	return NULL;
}

/* Unassociated: flips IOCP_CONFIG_IGNORE_BLOCKING, recounting every time. */
static void *stress_toggler_fn(void *arg)
{
	struct stress *s = arg;

	while (!ld(&s->stop)) {
		if (set_flags(s->fd, IOCP_CONFIG_IGNORE_BLOCKING))
			break;
		usleep(700);
		if (set_flags(s->fd, 0))
			break;
		s->toggles++;
		usleep(1300);
	}
	return NULL;
}

FIXTURE(long_run) {
	int unused;
};

FIXTURE_VARIANT(long_run) {
	uint32_t conc;
	bool toggle;		/* flip IOCP_CONFIG_IGNORE_BLOCKING meanwhile */
};

FIXTURE_VARIANT_ADD(long_run, n2) { .conc = 2 };
FIXTURE_VARIANT_ADD(long_run, n1) { .conc = 1 };
FIXTURE_VARIANT_ADD(long_run, n2_toggling) { .conc = 2, .toggle = true };

FIXTURE_SETUP(long_run)
{
}

FIXTURE_TEARDOWN(long_run)
{
}

/*
 * 16 workers, concurrency 2 (or 1), STRESS_ITEMS packets; 30% of the items
 * make their worker block (nanosleep 0-2 ms, a pipe read, a futex wait).
 * Every sampled snapshot keeps the invariants (no idle slot while packets
 * and waiters wait; running + blocked + waiting == threads; nobody blocked
 * while blocking is ignored); every item is processed once; at the end
 * every count is exact again. One variant flips IGNORE_BLOCKING meanwhile.
 */
TEST_F_TIMEOUT(long_run, stress, 300)
{
	pthread_t sampler, waker, toggler;
	struct iocp_completion batch[STRESS_CHUNK];
	struct stress_worker *sw;
	struct iocp_stats snap;
	struct stress *s;
	uint64_t start, deadline, elapsed;
	int i, j, ret, cur, last, missing = 0, dups = 0;
	int blocks[3] = { 0, 0, 0 };

	s = calloc(1, sizeof(*s));
	ASSERT_NE(NULL, s);
	s->conc = variant->conc;
	s->fd = iocp_create(s->conc);
	ASSERT_LE(0, s->fd);
	REQUIRE_BLOCKING_AWARE(s->fd);

	for (i = 0; i < STRESS_WORKERS; i++) {
		sw = &s->w[i];
		sw->s = s;
		sw->seed = 0x10c9 + i * 7919;
		ASSERT_EQ(0, pipe(sw->pipefd));
		ASSERT_EQ(0, pthread_create(&sw->thread, NULL, stress_worker_fn, sw));
	}
	ASSERT_TRUE(WAIT_STAT(s->fd, waiting, STRESS_WORKERS));
	ASSERT_EQ(0, pthread_create(&waker, NULL, stress_waker_fn, s));
	ASSERT_EQ(0, pthread_create(&sampler, NULL, stress_sampler_fn, s));
	if (variant->toggle)
		ASSERT_EQ(0, pthread_create(&toggler, NULL, stress_toggler_fn, s));

	start = now_ns();
	for (i = 0; i < STRESS_ITEMS; i += STRESS_CHUNK) {
		for (j = 0; j < STRESS_CHUNK; j++) {
			memset(&batch[j], 0, sizeof(batch[j]));
			batch[j].key = STRESS_KEY;
			batch[j].user_data = i + j;
			batch[j].result = (i + j) ^ 0x5a5a;
		}
		ret = iocp_post_many(s->fd, batch, STRESS_CHUNK);
		ASSERT_EQ(0, ret) TH_LOG("post: %s", strerror(-ret));
		/* Let the queue drain to a few items, sometimes to none. */
		deadline = now_ns() + STALL_MS * NSEC_PER_MSEC;
		while ((ret = iocp_depth(s->fd)) > ((i / STRESS_CHUNK) % 3) * 10 &&
		       now_ns() < deadline)
			usleep(500);
		ASSERT_LE(0, ret);
	}

	last = -1;
	deadline = now_ns() + STALL_MS * NSEC_PER_MSEC;
	while ((cur = ld(&s->processed)) < STRESS_ITEMS && !ld(&s->errors)) {
		if (cur != last) {
			last = cur;
			deadline = now_ns() + STALL_MS * NSEC_PER_MSEC;
		} else if (now_ns() > deadline) {
			TH_LOG("no progress for %d ms at %d of %d items",
			       STALL_MS, cur, STRESS_ITEMS);
			break;
		}
		usleep(2000);
	}
	elapsed = now_ns() - start;

	/* Everyone back in DEQUEUE: the counts are exact again. */
	EXPECT_TRUE(WAIT_STAT(s->fd, waiting, STRESS_WORKERS));
	st(&s->stop, 1);
	ASSERT_EQ(0, join_ms(sampler, WAKE_MS));
	ASSERT_EQ(0, join_ms(waker, WAKE_MS));
	if (variant->toggle) {
		ASSERT_EQ(0, join_ms(toggler, WAKE_MS));
		EXPECT_EQ(0, set_flags(s->fd, 0));
		EXPECT_LT(0U, s->toggles);
	}
	ASSERT_EQ(0, get_stats(s->fd, &snap));
	EXPECT_EQ(STRESS_ITEMS, ld(&s->processed));
	EXPECT_EQ(0, s->errors) TH_LOG("bad return %d or bad packet contents", s->bad_ret);
	EXPECT_EQ((__u64)STRESS_ITEMS, snap.posted);
	EXPECT_EQ((__u64)STRESS_ITEMS, snap.dequeued);
	EXPECT_EQ(0U, snap.queued);
	EXPECT_EQ(0U, snap.running);
	EXPECT_EQ(0U, snap.blocked);
	EXPECT_EQ((__u32)STRESS_WORKERS, snap.waiting);
	EXPECT_EQ((__u32)STRESS_WORKERS, snap.threads);
	EXPECT_EQ(0, s->sampler_err);
	EXPECT_EQ(0U, s->idle_slot)
		TH_LOG("%u samples with queued > 0, waiting > 0 and running < %u",
		       s->idle_slot, s->conc);
	EXPECT_EQ(0U, s->ignored_blocked)
		TH_LOG("%u samples with blocked > 0 while blocking is ignored",
		       s->ignored_blocked);
	EXPECT_EQ(0U, s->over_count)
		TH_LOG("%u samples with running + blocked > threads", s->over_count);
	EXPECT_EQ(0U, s->mismatch)
		TH_LOG("%u samples with running + blocked + waiting != threads",
		       s->mismatch);
	if (s->idle_slot + s->over_count + s->mismatch + s->ignored_blocked)
		TH_LOG("first bad sample: queued %u running %u blocked %u waiting %u threads %u flags %#x",
		       s->first_bad.queued, s->first_bad.running,
		       s->first_bad.blocked, s->first_bad.waiting,
		       s->first_bad.threads, s->first_bad.flags);
	EXPECT_LT(0U, s->max_blocked) TH_LOG("no blocked thread was ever seen");

	ASSERT_EQ(0, iocp_shutdown(s->fd));
	for (i = 0; i < STRESS_WORKERS; i++) {
		ASSERT_EQ(0, join_ms(s->w[i].thread, WAKE_MS))
			TH_LOG("worker %d not woken by shutdown", i);
		for (j = 0; j < 3; j++)
			blocks[j] += s->w[i].blocks[j];
		close(s->w[i].pipefd[0]);
		close(s->w[i].pipefd[1]);
	}
	ASSERT_EQ(0, get_stats(s->fd, &snap));
	EXPECT_EQ(0U, snap.threads);
	EXPECT_EQ(0U, snap.running);
	EXPECT_EQ(0U, snap.blocked);

	for (i = 0; i < STRESS_ITEMS; i++) {
		if (!s->seen[i])
			missing++;
		else if (s->seen[i] > 1)
			dups++;
	}
	EXPECT_EQ(0, missing);
	EXPECT_EQ(0, dups);
	TH_LOG("items %d (blocked in nanosleep %d, pipe %d, futex %d), samples %u",
	       STRESS_ITEMS, blocks[0], blocks[1], blocks[2], s->samples);
	TH_LOG("max running seen %u (concurrency %u, peak_running %u), max blocked %u, %u flag flips, time %llu ms",
	       s->max_running, s->conc, snap.peak_running, s->max_blocked,
	       s->toggles, (unsigned long long)(elapsed / NSEC_PER_MSEC));
	EXPECT_EQ(0, close(s->fd));
	free(s);
}

TEST_HARNESS_MAIN
