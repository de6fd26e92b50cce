// SPDX-License-Identifier: GPL-2.0
/*
 * iocp_bench: /dev/iocp against the usual ways of running a work queue.
 *
 * Backends, each a queue of items with post() and a blocking get():
 *
 *   iocp           a port of this module (concurrency 0: one per CPU)
 *   epoll-excl     a pipe carries the items; each consumer has its own
 *                  epoll instance watching it with EPOLLEXCLUSIVE and reads
 *                  the pipe directly until it is empty
 *   epoll-oneshot  a pipe; one epoll instance shared by the consumers, the
 *                  pipe armed with EPOLLONESHOT and re-armed after each read
 *   io_uring       one ring per thread; a post is an IORING_OP_MSG_RING to a
 *                  consumer's ring, chosen round-robin
 *   condvar        a ring buffer under a pthread mutex and condition
 *                  variable (futexes), as userspace IOCP emulations do
 *   eventfd        two eventfds; the wake floor, for W2 only
 *   iocp-noblock   iocp with IOCP_CONFIG_IGNORE_BLOCKING, for the W3
 *                  configurations whose items block
 *
 * Workloads (see Documentation/performance.rst):
 *
 *   W1  one thread posts a batch and dequeues it: ns per packet
 *   W2  two threads ping-pong one item: round-trip percentiles
 *   W3  a producer feeds a pool of workers: throughput, context switches
 *       per item, peak workers in the handler at once, p99 post-to-handler
 *   W4  bursts of posts to idle waiters: threads woken, time to drain
 *   W5  a TCP echo server per backend over loopback (echo.c)
 *   scale  the cost of a readiness event against the number of files
 *          watched, and the kernel memory per file (scale.c)
 *
 * W5 and scale set up servers and watched files rather than queues of
 * items, so they have backends of their own, named after the same
 * mechanisms (and "epoll", a plain epoll set); see those files.
 *
 * Every configuration runs its backends interleaved, round after round.
 * Each measurement prints one line on stdout:
 *
 *   R,<workload>,<config>,<backend>,<round>,<metric>=<value>,...
 *
 * and bench/report.py turns them into tables, CSV and a chart. "M," lines
 * describe the setup, "T," lines give the time each workload took, "P "
 * lines show progress, and with -v "I," lines count interrupts per W3 item.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <liburing.h>
#include <iocp.h>

#include "bench.h"

#define KEY_WORK	0u
#define KEY_BLOCK	1u
#define KEY_STOP	2u
#define URING_ERR_TAG	0xdeadbeefcafef00dULL
#define MAX_BATCH	32
#define MAX_THREADS	64
#define COND_CAP	8192
#define URING_ENTRIES	256

struct item {
	uint64_t ts;	/* CLOCK_MONOTONIC ns at post time */
	uint64_t key;	/* KEY_* */
};

void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "iocp_bench: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	fflush(stdout);
	exit(1);
}

uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

void sleep_ns(uint64_t ns)
{
	struct timespec ts = { ns / 1000000000ULL, ns % 1000000000ULL };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/*
 * Simulated work: a calibrated loop, so that an item costs the same CPU
 * time whether or not its thread is preempted halfway (a loop on the clock
 * would count the time spent preempted as work done).
 */
static double loops_per_ns;

static void burn(uint64_t loops)
{
	for (volatile uint64_t i = 0; i < loops; i++)
		;
}

static void calibrate(void)
{
	uint64_t n = 1 << 16, best = UINT64_MAX, t;

	/* Grow the run to about 2 ms, then keep the fastest of 5. */
	for (;;) {
		t = now_ns();
		burn(n);
		t = now_ns() - t;
		if (t > 2000000)
			break;
		n *= 2;
	}
	for (int i = 0; i < 5; i++) {
		t = now_ns();
		burn(n);
		t = now_ns() - t;
		if (t < best)
			best = t;
	}
	loops_per_ns = (double)n / best;
}

static void work_ns(uint64_t ns)
{
	burn((uint64_t)(ns * loops_per_ns));
}

static long futex(atomic_uint *uaddr, int op, unsigned int val)
{
	return syscall(SYS_futex, uaddr, op, val, NULL, NULL, 0);
}

#define WOKE(t) atomic_fetch_add_explicit(&(t)->wakes, 1, memory_order_relaxed)

/* --- log-linear histogram (64 sub-buckets per power of two, ~1.5%) ------ */

void hist_add(struct hist *h, uint64_t v)
{
	unsigned int msb, shift, idx;

	if (v < HIST_SUB) {
		idx = v;
	} else {
		msb = 63 - __builtin_clzll(v);
		shift = msb - 6;
		idx = HIST_SUB + shift * HIST_SUB + ((v >> shift) - HIST_SUB);
		if (idx >= HIST_BUCKETS)
			idx = HIST_BUCKETS - 1;
	}
	h->b[idx]++;
	h->n++;
}

void hist_merge(struct hist *to, const struct hist *from)
{
	for (int i = 0; i < HIST_BUCKETS; i++)
		to->b[i] += from->b[i];
	to->n += from->n;
}

/* The value at quantile @q (0..1): the middle of its bucket. */
double hist_q(const struct hist *h, double q)
{
	uint64_t want, seen = 0;
	unsigned int shift, top;

	if (!h->n)
		return 0;
	want = (uint64_t)(q * h->n);
	if (want >= h->n)
		want = h->n - 1;
	for (int i = 0; i < HIST_BUCKETS; i++) {
		seen += h->b[i];
		if (seen > want) {
			if (i < HIST_SUB)
				return i;
			shift = (i - HIST_SUB) / HIST_SUB;
			top = HIST_SUB + (i - HIST_SUB) % HIST_SUB;
			return ((double)top + 0.5) * (double)(1ULL << shift);
		}
	}
	return 0;
}

/* --- backends ------------------------------------------------------------ */

/* A participating thread: its io_uring ring, its epoll instance, counters. */
struct thr {
	int idx;
	bool has_ring;
	struct io_uring ring;
	int epfd;
	/* Returns from a call that may sleep; written by its thread only. */
	atomic_ulong wakes;
	struct hist hist;
	pthread_t tid;
	void *work;		/* workload's per-thread argument */
} __attribute__((aligned(64)));

/* One queue, consumed by @nconsumers threads. */
struct q {
	const struct backend *be;
	int nconsumers;
	int port;				/* iocp */
	int pfd[2];				/* epoll-*: the pipe */
	int epfd;				/* epoll-oneshot: shared */
	int efd;				/* eventfd */
	atomic_bool stopped;			/* eventfd */
	pthread_mutex_t mu;			/* condvar */
	pthread_cond_t cv;
	struct item *buf;
	unsigned int head, tail, nwaiting;
	bool cstop;
	int ring_fd[MAX_THREADS];		/* io_uring: consumers' rings */
	unsigned int rr;
};

struct backend {
	const char *name;
	bool wake_only;		/* only for W2 */
	bool block_only;	/* only for W3 with blocking items */
	int (*init)(struct q *q);
	void (*fini)(struct q *q);
	void (*attach)(struct q *q, struct thr *t, int idx);
	void (*post)(struct q *q, struct thr *t, const struct item *it, int n);
	/* Wait for 1 to @max items; 0 once the queue is stopped. */
	int (*get)(struct q *q, struct thr *t, struct item *it, int max);
	/* Make every consumer's get() return 0 (after queued items). */
	void (*stop)(struct q *q, struct thr *t);
};

/* iocp */

static int iocp_b_init(struct q *q)
{
	q->port = iocp_create(0);
	return q->port < 0 ? q->port : 0;
}

/* The same with blocking awareness off (IOCP_CONFIG_IGNORE_BLOCKING). */
static int iocp_nb_init(struct q *q)
{
	struct iocp_config cfg;
	int ret = iocp_b_init(q);

	if (!ret)
		ret = iocp_get_config(q->port, &cfg);
	if (!ret) {
		cfg.flags |= IOCP_CONFIG_IGNORE_BLOCKING;
		ret = iocp_set_config(q->port, &cfg);
	}
	return ret;
}

static void iocp_b_fini(struct q *q)
{
	iocp_close(q->port);
}

static void iocp_b_post(struct q *q, struct thr *t, const struct item *it, int n)
{
	struct iocp_completion c[MAX_BATCH];
	int ret;

	(void)t;
	memset(c, 0, sizeof(c[0]) * n);
	for (int i = 0; i < n; i++) {
		c[i].key = it[i].key;
		c[i].user_data = it[i].ts;
	}
	ret = iocp_post_many(q->port, c, n);
	if (ret < 0)
		die("iocp_post_many: %s", strerror(-ret));
}

static int iocp_b_get(struct q *q, struct thr *t, struct item *it, int max)
{
	struct iocp_completion c[MAX_BATCH];
	int n;

	for (;;) {
		n = iocp_get_many(q->port, c, 1, max, IOCP_INFINITE);
		WOKE(t);
		if (n > 0)
			break;
		if (n == -ESHUTDOWN)
			return 0;
		if (n != -EINTR)
			die("iocp_get_many: %s", strerror(-n));
	}
	for (int i = 0; i < n; i++) {
		it[i].key = c[i].key;
		it[i].ts = c[i].user_data;
	}
	return n;
}

static void iocp_b_stop(struct q *q, struct thr *t)
{
	(void)t;
	iocp_shutdown(q->port);
}

/* epoll on a pipe: common parts */

static int pipe_b_init(struct q *q)
{
	if (pipe2(q->pfd, O_CLOEXEC))
		return -errno;
	/* Only the read end is non-blocking: consumers poll, posts may wait. */
	fcntl(q->pfd[0], F_SETFL, O_NONBLOCK);
	q->epfd = -1;
	return 0;
}

static void pipe_b_fini(struct q *q)
{
	close(q->pfd[0]);
	close(q->pfd[1]);
	if (q->epfd >= 0)
		close(q->epfd);
}

static void pipe_b_post(struct q *q, struct thr *t, const struct item *it, int n)
{
	ssize_t len = sizeof(*it) * n;

	(void)t;
	if (write(q->pfd[1], it, len) != len)
		die("pipe write: %s", strerror(errno));
}

/* Reads of whole items only: every write is a multiple of the item size. */
static int pipe_read(struct q *q, struct item *it, int max)
{
	ssize_t r = read(q->pfd[0], it, sizeof(*it) * max);

	if (r < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return 0;
		die("pipe read: %s", strerror(errno));
	}
	if (r % sizeof(*it))
		die("pipe read of %zd bytes", r);
	return r / sizeof(*it);
}

/* A STOP item ends the consumer (workers take one item at a time). */
static int stop_scan(struct item *it, int n)
{
	return n && it[0].key == KEY_STOP ? 0 : n;
}

static void pipe_b_stop(struct q *q, struct thr *t)
{
	struct item stop = { .key = KEY_STOP };

	for (int i = 0; i < q->nconsumers; i++)
		pipe_b_post(q, t, &stop, 1);
}

/* epoll-excl: a private epoll instance per consumer, EPOLLEXCLUSIVE */

static void excl_b_attach(struct q *q, struct thr *t, int idx)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLEXCLUSIVE };

	(void)idx;
	t->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (t->epfd < 0 || epoll_ctl(t->epfd, EPOLL_CTL_ADD, q->pfd[0], &ev))
		die("epoll (exclusive): %s", strerror(errno));
}

static int excl_b_get(struct q *q, struct thr *t, struct item *it, int max)
{
	struct epoll_event ev;
	int n;

	for (;;) {
		n = pipe_read(q, it, max);
		if (n)
			return stop_scan(it, n);
		if (epoll_wait(t->epfd, &ev, 1, -1) < 0 && errno != EINTR)
			die("epoll_wait: %s", strerror(errno));
		WOKE(t);
	}
}

/* epoll-oneshot: one shared epoll instance, re-armed after each read */

static int oneshot_b_init(struct q *q)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLONESHOT };
	int ret = pipe_b_init(q);

	if (ret)
		return ret;
	q->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (q->epfd < 0 || epoll_ctl(q->epfd, EPOLL_CTL_ADD, q->pfd[0], &ev))
		return -errno;
	return 0;
}

static int oneshot_b_get(struct q *q, struct thr *t, struct item *it, int max)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLONESHOT };
	int n;

	for (;;) {
		n = epoll_wait(q->epfd, &ev, 1, -1);
		WOKE(t);
		if (n < 0 && errno != EINTR)
			die("epoll_wait: %s", strerror(errno));
		if (n <= 0)
			continue;
		n = pipe_read(q, it, max);
		ev.events = EPOLLIN | EPOLLONESHOT;
		if (epoll_ctl(q->epfd, EPOLL_CTL_MOD, q->pfd[0], &ev))
			die("epoll_ctl(MOD): %s", strerror(errno));
		if (n)
			return stop_scan(it, n);
	}
}

/* io_uring: one ring per thread, MSG_RING to the consumers' rings */

static void uring_thr_init(struct thr *t)
{
	int ret;

	if (t->has_ring)
		return;
	ret = io_uring_queue_init(URING_ENTRIES, &t->ring, 0);
	if (ret < 0)
		die("io_uring_queue_init: %s", strerror(-ret));
	t->has_ring = true;
}

static int uring_b_init(struct q *q)
{
	q->rr = 0;
	return 0;
}

static void uring_b_fini(struct q *q)
{
	(void)q;
}

static void uring_b_attach(struct q *q, struct thr *t, int idx)
{
	uring_thr_init(t);
	q->ring_fd[idx] = t->ring.ring_fd;
}

static void uring_b_post(struct q *q, struct thr *t, const struct item *it, int n)
{
	struct io_uring_sqe *sqe;
	int ret;

	uring_thr_init(t);
	for (int i = 0; i < n; i++) {
		sqe = io_uring_get_sqe(&t->ring);
		if (!sqe) {
			io_uring_submit(&t->ring);
			sqe = io_uring_get_sqe(&t->ring);
		}
		io_uring_prep_msg_ring(sqe, q->ring_fd[q->rr], (unsigned int)it[i].key,
				       it[i].ts, 0);
		sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
		sqe->user_data = URING_ERR_TAG;
		if (++q->rr == (unsigned int)q->nconsumers)
			q->rr = 0;
	}
	ret = io_uring_submit(&t->ring);
	if (ret < 0)
		die("io_uring_submit: %s", strerror(-ret));
}

static int uring_b_get(struct q *q, struct thr *t, struct item *it, int max)
{
	struct io_uring_cqe *cqe;
	int n = 0, ret;
	unsigned int head;

	(void)q;
	if (io_uring_peek_cqe(&t->ring, &cqe)) {
		do {
			ret = io_uring_wait_cqe(&t->ring, &cqe);
			WOKE(t);
		} while (ret == -EINTR);
		if (ret < 0)
			die("io_uring_wait_cqe: %s", strerror(-ret));
	}
	io_uring_for_each_cqe(&t->ring, head, cqe) {
		if (cqe->user_data == URING_ERR_TAG)
			die("MSG_RING failed: %s", strerror(-cqe->res));
		it[n].ts = cqe->user_data;
		it[n].key = cqe->res;
		if (++n == max)
			break;
	}
	io_uring_cq_advance(&t->ring, n);
	return stop_scan(it, n);
}

static void uring_b_stop(struct q *q, struct thr *t)
{
	struct item stop = { .key = KEY_STOP };

	for (int i = 0; i < q->nconsumers; i++)
		uring_b_post(q, t, &stop, 1);
}

/* condvar: mutex + condition variable around a ring buffer */

static int cond_b_init(struct q *q)
{
	pthread_mutex_init(&q->mu, NULL);
	pthread_cond_init(&q->cv, NULL);
	q->buf = malloc(sizeof(*q->buf) * COND_CAP);
	q->head = q->tail = q->nwaiting = 0;
	q->cstop = false;
	return q->buf ? 0 : -ENOMEM;
}

static void cond_b_fini(struct q *q)
{
	pthread_mutex_destroy(&q->mu);
	pthread_cond_destroy(&q->cv);
	free(q->buf);
}

static void cond_b_post(struct q *q, struct thr *t, const struct item *it, int n)
{
	unsigned int wake;

	(void)t;
	pthread_mutex_lock(&q->mu);
	if (q->tail - q->head + n > COND_CAP)
		die("condvar queue full");
	for (int i = 0; i < n; i++)
		q->buf[q->tail++ % COND_CAP] = it[i];
	wake = q->nwaiting < (unsigned int)n ? q->nwaiting : (unsigned int)n;
	pthread_mutex_unlock(&q->mu);
	while (wake--)
		pthread_cond_signal(&q->cv);
}

static int cond_b_get(struct q *q, struct thr *t, struct item *it, int max)
{
	int n = 0;

	pthread_mutex_lock(&q->mu);
	while (q->head == q->tail && !q->cstop) {
		q->nwaiting++;
		pthread_cond_wait(&q->cv, &q->mu);
		q->nwaiting--;
		WOKE(t);
	}
	while (n < max && q->head != q->tail)
		it[n++] = q->buf[q->head++ % COND_CAP];
	pthread_mutex_unlock(&q->mu);
	return n;
}

static void cond_b_stop(struct q *q, struct thr *t)
{
	(void)t;
	pthread_mutex_lock(&q->mu);
	q->cstop = true;
	pthread_mutex_unlock(&q->mu);
	pthread_cond_broadcast(&q->cv);
}

/* eventfd: the wake floor (items carry nothing) */

static int efd_b_init(struct q *q)
{
	q->efd = eventfd(0, EFD_CLOEXEC);
	atomic_store(&q->stopped, false);
	return q->efd < 0 ? -errno : 0;
}

static void efd_b_fini(struct q *q)
{
	close(q->efd);
}

static void efd_b_post(struct q *q, struct thr *t, const struct item *it, int n)
{
	uint64_t v = n;

	(void)t;
	(void)it;
	if (write(q->efd, &v, sizeof(v)) != sizeof(v))
		die("eventfd write: %s", strerror(errno));
}

static int efd_b_get(struct q *q, struct thr *t, struct item *it, int max)
{
	uint64_t v;

	(void)max;
	while (read(q->efd, &v, sizeof(v)) != sizeof(v))
		if (errno != EINTR)
			die("eventfd read: %s", strerror(errno));
	WOKE(t);
	if (atomic_load(&q->stopped))
		return 0;
	it[0].key = KEY_WORK;
	it[0].ts = 0;
	return 1;
}

static void efd_b_stop(struct q *q, struct thr *t)
{
	atomic_store(&q->stopped, true);
	efd_b_post(q, t, NULL, 1);
}

static void no_attach(struct q *q, struct thr *t, int idx)
{
	(void)q;
	(void)t;
	(void)idx;
}

static const struct backend backends[] = {
	{ "iocp", false, false, iocp_b_init, iocp_b_fini, no_attach,
	  iocp_b_post, iocp_b_get, iocp_b_stop },
	{ "epoll-excl", false, false, pipe_b_init, pipe_b_fini, excl_b_attach,
	  pipe_b_post, excl_b_get, pipe_b_stop },
	{ "epoll-oneshot", false, false, oneshot_b_init, pipe_b_fini, no_attach,
	  pipe_b_post, oneshot_b_get, pipe_b_stop },
	{ "io_uring", false, false, uring_b_init, uring_b_fini, uring_b_attach,
	  uring_b_post, uring_b_get, uring_b_stop },
	{ "condvar", false, false, cond_b_init, cond_b_fini, no_attach,
	  cond_b_post, cond_b_get, cond_b_stop },
	{ "eventfd", true, false, efd_b_init, efd_b_fini, no_attach,
	  efd_b_post, efd_b_get, efd_b_stop },
	{ "iocp-noblock", false, true, iocp_nb_init, iocp_b_fini, no_attach,
	  iocp_b_post, iocp_b_get, iocp_b_stop },
};
#define NBACKENDS ((int)ARRAY_SIZE(backends))

static bool is_iocp(const struct backend *be)
{
	return be->init == iocp_b_init || be->init == iocp_nb_init;
}

static bool backend_on[NBACKENDS];
static const char *only_backends;	/* -b */
static bool have_iocp = true;

/* By name: W5 and scale have backends of their own (epoll, say). */
bool backend_selected(const char *name)
{
	char list[256], want[40];

	if (!have_iocp && !strncmp(name, "iocp", 4))
		return false;
	if (!only_backends)
		return true;
	snprintf(list, sizeof(list), ",%s,", only_backends);
	snprintf(want, sizeof(want), ",%s,", name);
	return strstr(list, want) != NULL;
}

bool want_fds(unsigned long n)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		die("getrlimit: %s", strerror(errno));
	if (rl.rlim_cur >= n)
		return true;
	rl.rlim_cur = n;
	if (rl.rlim_max < n)
		rl.rlim_max = n;
	if (!setrlimit(RLIMIT_NOFILE, &rl))
		return true;
	fprintf(stderr, "iocp_bench: RLIMIT_NOFILE %lu: %s\n", n,
		strerror(errno));
	return false;
}

static struct q *q_new(const struct backend *be, int nconsumers)
{
	struct q *q = calloc(1, sizeof(*q));
	int ret;

	if (!q)
		die("out of memory");
	q->be = be;
	q->nconsumers = nconsumers;
	q->epfd = -1;
	ret = be->init(q);
	if (ret < 0)
		die("%s: init: %s", be->name, strerror(-ret));
	return q;
}

static void q_free(struct q *q)
{
	q->be->fini(q);
	free(q);
}

static struct thr *thr_new(int idx)
{
	struct thr *t = aligned_alloc(64, sizeof(*t));

	if (!t)
		die("out of memory");
	memset(t, 0, sizeof(*t));
	t->idx = idx;
	t->epfd = -1;
	return t;
}

static void thr_free(struct thr *t)
{
	if (t->has_ring)
		io_uring_queue_exit(&t->ring);
	if (t->epfd >= 0)
		close(t->epfd);
	free(t);
}

static void thr_start(struct thr *t, void *(*fn)(void *))
{
	pthread_attr_t attr;
	int ret;

	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 256 << 10);
	ret = pthread_create(&t->tid, &attr, fn, t);
	pthread_attr_destroy(&attr);
	if (ret)
		die("pthread_create: %s", strerror(ret));
}

/* --- output --------------------------------------------------------------- */

static bool verbose;

void result(const char *wl, const char *cfg, const char *be, int round,
		   const char *fmt, ...)
{
	va_list ap;

	static uint64_t last;
	uint64_t now = now_ns();

	printf("R,%s,%s,%s,%d,", wl, cfg, be, round);
	if (verbose)
		printf("cell_ms=%.0f,", last ? (now - last) / 1e6 : 0.0);
	last = now;
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

static uint64_t bench_start;
static const char *cfg_filter;

/* A progress line: the host shows these while the guest runs. */
static void progress(const char *wl, const char *cfg)
{
	printf("P %5.0f s  %s %s\n", (now_ns() - bench_start) / 1e9, wl, cfg);
	fflush(stdout);
}

static bool cfg_boundary(char c)
{
	return !c || c == ' ' || c == '=';
}

/*
 * Does @cfg contain the -c filter at word boundaries (the ends, a space or
 * an '=')? "block" selects "work=5us block=10%", "conns=1" selects
 * "conns=1 msg=128B" but not "conns=10 msg=128B".
 */
static bool cfg_matches(const char *cfg)
{
	size_t len = strlen(cfg_filter);

	for (const char *p = strstr(cfg, cfg_filter); p;
	     p = strstr(p + 1, cfg_filter))
		if ((p == cfg || cfg_boundary(p[-1])) && cfg_boundary(p[len]))
			return true;
	return false;
}

/* Is this configuration selected (-c)? Prints progress if it is. */
bool selected(const char *wl, const char *cfg)
{
	if (cfg_filter && !cfg_matches(cfg))
		return false;
	progress(wl, cfg);
	return true;
}

/*
 * -v: interrupts of kinds that tell how wakeups travel (rescheduling and
 * function-call IPIs, irq_work, local timer), summed over the CPUs.
 */
#define NIRQ 4
static const char *const irq_names[NIRQ] = { "RES", "CAL", "IWI", "LOC" };

static void irq_counts(unsigned long long *n)
{
	char line[512], *p;
	FILE *f = fopen("/proc/interrupts", "r");

	memset(n, 0, sizeof(*n) * NIRQ);
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		for (p = line; *p == ' '; p++)
			;
		for (int i = 0; i < NIRQ; i++) {
			size_t len = strlen(irq_names[i]);
			char *end;

			if (strncmp(p, irq_names[i], len) || p[len] != ':')
				continue;
			p += len + 1;
			for (;;) {
				unsigned long long v = strtoull(p, &end, 10);

				if (end == p)
					break;
				n[i] += v;
				p = end;
			}
		}
	}
	fclose(f);
}

uint64_t measure_ns = 400000000ULL;	/* per measurement */
uint64_t warmup_ns = 50000000ULL;
int rounds = 5;

/* --- W1: one thread posts a batch, then dequeues it ------------------------ */

static void w1_run(const struct backend *be, int batch, int round)
{
	struct item in[MAX_BATCH], out[MAX_BATCH];
	struct thr *t = thr_new(0);
	struct q *q = q_new(be, 1);
	uint64_t start = 0, end, packets = 0;
	bool measuring = false;
	unsigned long iter;
	char cfg[32];

	be->attach(q, t, 0);
	for (int i = 0; i < batch; i++)
		in[i] = (struct item){ .ts = i, .key = KEY_WORK };
	end = now_ns() + warmup_ns;
	for (iter = 0;; iter++) {
		if ((iter & 63) == 0) {
			uint64_t now = now_ns();

			if (now >= end) {
				if (measuring)
					break;
				measuring = true;
				start = now;
				end = now + measure_ns;
				packets = 0;
			}
		}
		be->post(q, t, in, batch);
		for (int got = 0; got < batch;) {
			int n = be->get(q, t, out + got, batch - got);

			if (n <= 0)
				die("%s: W1 get returned %d", be->name, n);
			got += n;
		}
		packets += batch;
	}
	end = now_ns();
	snprintf(cfg, sizeof(cfg), "batch=%d", batch);
	result("W1", cfg, be->name, round, "ns_per_packet=%.1f",
	       (double)(end - start) / packets);
	q_free(q);
	thr_free(t);
}

static void w1(void)
{
	static const int batches[] = { 1, 8, 32 };
	char cfg[32];

	for (unsigned int b = 0; b < 3; b++) {
		snprintf(cfg, sizeof(cfg), "batch=%d", batches[b]);
		if (!selected("W1", cfg))
			continue;
		for (int r = 0; r < rounds; r++)
			for (int i = 0; i < NBACKENDS; i++)
				if (backend_on[i] && !backends[i].wake_only &&
				    !backends[i].block_only)
					w1_run(&backends[i], batches[b], r);
	}
}

/* --- W2: two-thread ping-pong ------------------------------------------------ */

struct w2_arg {
	struct q *to_a, *to_b;
	int cpu_b;
};

/* Pin the calling thread to @cpu, or let it run anywhere (-1). */
static void pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	if (cpu >= 0) {
		CPU_SET(cpu, &set);
	} else {
		for (int i = 0; i < CPU_SETSIZE; i++)
			CPU_SET(i, &set);
	}
	sched_setaffinity(0, sizeof(set), &set);
}

static void *w2_echo(void *arg)
{
	struct thr *t = arg;
	struct w2_arg *w = t->work;
	struct item it;

	pin(w->cpu_b);
	while (w->to_b->be->get(w->to_b, t, &it, 1) > 0)
		w->to_a->be->post(w->to_a, t, &it, 1);
	return NULL;
}

/* W2 placements: where the two threads run. */
static const struct {
	const char *name;
	int cpu_a, cpu_b;
} w2_cfgs[] = {
	{ "anywhere", -1, -1 },
	{ "same-cpu", 0, 0 },
	{ "cross-cpu", 0, 1 },
};

static void w2_run(const struct backend *be, int cfg, int round)
{
	struct thr *a = thr_new(0), *b = thr_new(1);
	struct w2_arg w = { q_new(be, 1), q_new(be, 1), w2_cfgs[cfg].cpu_b };
	struct item it = { .key = KEY_WORK };
	struct hist *h = calloc(1, sizeof(*h));
	uint64_t t0, t1, end, start;
	bool measuring = false;
	struct rusage ru0, ru1;

	if (!h)
		die("out of memory");
	be->attach(w.to_a, a, 0);
	be->attach(w.to_b, b, 0);
	b->work = &w;
	pin(w2_cfgs[cfg].cpu_a);
	thr_start(b, w2_echo);
	start = now_ns();
	end = start + warmup_ns;
	for (;;) {
		t0 = now_ns();
		if (t0 >= end) {
			if (measuring)
				break;
			measuring = true;
			getrusage(RUSAGE_SELF, &ru0);
			t0 = now_ns();
			end = t0 + measure_ns;
		}
		it.ts = t0;
		be->post(w.to_b, a, &it, 1);
		if (be->get(w.to_a, a, &it, 1) != 1)
			die("%s: W2 get failed", be->name);
		t1 = now_ns();
		if (measuring)
			hist_add(h, t1 - t0);
	}
	getrusage(RUSAGE_SELF, &ru1);
	be->stop(w.to_b, a);
	pthread_join(b->tid, NULL);
	pin(-1);
	result("W2", w2_cfgs[cfg].name, be->name, round,
	       "p50_ns=%.0f,p99_ns=%.0f,p999_ns=%.0f,roundtrips=%lu,"
	       "vcsw_per_roundtrip=%.2f",
	       hist_q(h, 0.5), hist_q(h, 0.99), hist_q(h, 0.999),
	       (unsigned long)h->n,
	       (double)(ru1.ru_nvcsw - ru0.ru_nvcsw) / (h->n ? h->n : 1));
	free(h);
	q_free(w.to_a);
	q_free(w.to_b);
	thr_free(a);
	thr_free(b);
}

static void w2(void)
{
	for (unsigned int c = 0; c < ARRAY_SIZE(w2_cfgs); c++) {
		if (!selected("W2", w2_cfgs[c].name))
			continue;
		for (int r = 0; r < rounds; r++)
			for (int i = 0; i < NBACKENDS; i++)
				if (backend_on[i] && !backends[i].block_only)
					w2_run(&backends[i], c, r);
	}
}

/* --- W3 and W4: a producer and a pool of workers ------------------------------ */

struct pool {
	const struct backend *be;
	struct q *q;
	struct thr *w[MAX_THREADS];
	int nworkers;
	uint64_t work_ns;
	atomic_uint completed;		/* futex word */
	atomic_ulong posted;
	atomic_uint producer_waiting;
	unsigned int wake_at;		/* wake the producer when posted - completed <= this */
	atomic_int running;		/* workers inside the handler */
	atomic_int peak;
	atomic_int measuring;
	atomic_int idle;		/* workers inside get() */
	atomic_int ready;
	atomic_ullong last_done;	/* W4: time of the last completion */
};

static void pool_note_done(struct pool *p)
{
	unsigned int c = atomic_fetch_add(&p->completed, 1) + 1;

	if (atomic_load(&p->producer_waiting) &&
	    (unsigned int)atomic_load(&p->posted) - c <= p->wake_at) {
		atomic_store(&p->producer_waiting, 0);
		futex(&p->completed, FUTEX_WAKE_PRIVATE, 1);
	}
}

static void *pool_worker(void *arg)
{
	struct thr *t = arg;
	struct pool *p = t->work;
	struct item it;
	int r, peak;

	prctl(PR_SET_TIMERSLACK, 1UL);
	p->be->attach(p->q, t, t->idx);
	atomic_fetch_add(&p->ready, 1);
	for (;;) {
		atomic_fetch_add(&p->idle, 1);
		r = p->be->get(p->q, t, &it, 1);
		atomic_fetch_sub(&p->idle, 1);
		if (r <= 0)
			break;
		if (it.key == KEY_STOP)
			break;
		r = atomic_fetch_add(&p->running, 1) + 1;
		peak = atomic_load_explicit(&p->peak, memory_order_relaxed);
		while (r > peak && !atomic_compare_exchange_weak(&p->peak, &peak, r))
			;
		if (atomic_load_explicit(&p->measuring, memory_order_relaxed))
			hist_add(&t->hist, now_ns() - it.ts);
		if (it.key == KEY_BLOCK)
			sleep_ns(100000);
		work_ns(p->work_ns);
		atomic_fetch_sub(&p->running, 1);
		atomic_store_explicit(&p->last_done, now_ns(), memory_order_relaxed);
		pool_note_done(p);
	}
	return NULL;
}

static struct pool *pool_start(const struct backend *be, int nworkers,
			       uint64_t work_ns)
{
	struct pool *p = calloc(1, sizeof(*p));

	if (!p)
		die("out of memory");
	p->be = be;
	p->nworkers = nworkers;
	p->work_ns = work_ns;
	p->q = q_new(be, nworkers);
	for (int i = 0; i < nworkers; i++) {
		p->w[i] = thr_new(i);
		p->w[i]->work = p;
	}
	for (int i = 0; i < nworkers; i++)
		thr_start(p->w[i], pool_worker);
	while (atomic_load(&p->ready) < nworkers)
		sleep_ns(100000);
	return p;
}

static void pool_stop(struct pool *p, struct thr *producer)
{
	p->be->stop(p->q, producer);
	for (int i = 0; i < p->nworkers; i++) {
		pthread_join(p->w[i]->tid, NULL);
		thr_free(p->w[i]);
	}
	q_free(p->q);
	free(p);
}

/* Wait until no more than p->wake_at items are in flight. */
static void pool_wait_inflight(struct pool *p)
{
	unsigned int c;

	for (;;) {
		atomic_store(&p->producer_waiting, 1);
		c = atomic_load(&p->completed);
		if ((unsigned int)atomic_load(&p->posted) - c <= p->wake_at) {
			atomic_store(&p->producer_waiting, 0);
			return;
		}
		futex(&p->completed, FUTEX_WAIT_PRIVATE, c);
	}
}

#define W3_WINDOW	32

static void w3_run(const struct backend *be, int nworkers, uint64_t work_ns,
		   bool blocking, int round, const char *cfg)
{
	struct thr *prod = thr_new(MAX_THREADS);
	struct pool *p = pool_start(be, nworkers, work_ns);
	struct rusage ru0, ru1;
	uint64_t t0 = 0, t1, end, done0 = 0, done1, seq = 0;
	struct hist *h = calloc(1, sizeof(*h));
	struct iocp_stats st = { 0 };
	struct item it;
	int phase = 0;
	long refill;
	unsigned long long irq0[NIRQ], irq1[NIRQ];

	if (!h)
		die("out of memory");
	p->wake_at = W3_WINDOW / 2;
	end = now_ns() + warmup_ns;
	for (;;) {
		uint64_t now = now_ns();

		if (now >= end) {
			if (phase == 1)
				break;
			phase = 1;
			if (verbose)
				irq_counts(irq0);
			getrusage(RUSAGE_SELF, &ru0);
			done0 = atomic_load(&p->completed);
			atomic_store(&p->peak, atomic_load(&p->running));
			atomic_store(&p->measuring, 1);
			t0 = now_ns();
			end = t0 + measure_ns;
		}
		/* Refill the window one post at a time, then wait for half. */
		refill = W3_WINDOW - (atomic_load(&p->posted) - atomic_load(&p->completed));
		while (refill-- > 0) {
			it.key = blocking && seq % 10 == 9 ? KEY_BLOCK : KEY_WORK;
			seq++;
			it.ts = now_ns();
			atomic_fetch_add(&p->posted, 1);
			be->post(p->q, prod, &it, 1);
		}
		pool_wait_inflight(p);
	}
	atomic_store(&p->measuring, 0);
	done1 = atomic_load(&p->completed);
	getrusage(RUSAGE_SELF, &ru1);
	t1 = now_ns();
	if (verbose) {
		irq_counts(irq1);
		printf("I,W3,%s,%s,%d", cfg, be->name, round);
		for (int i = 0; i < NIRQ; i++)
			printf(",%s_per_item=%.3f", irq_names[i],
			       (irq1[i] - irq0[i]) / (double)(done1 - done0));
		printf("\n");
	}
	if (is_iocp(be))
		iocp_get_stats(p->q->port, &st);
	for (int i = 0; i < nworkers; i++)
		hist_merge(h, &p->w[i]->hist);
	{
		double items = done1 - done0;

		result("W3", cfg, be->name, round,
		       "items_per_s=%.0f,vcsw_per_item=%.3f,ivcsw_per_item=%.3f,"
		       "peak_running=%d,iocp_peak_running=%d,p99_ns=%.0f,p50_ns=%.0f",
		       items * 1e9 / (t1 - t0),
		       (ru1.ru_nvcsw - ru0.ru_nvcsw) / items,
		       (ru1.ru_nivcsw - ru0.ru_nivcsw) / items,
		       atomic_load(&p->peak),
		       is_iocp(be) ? (int)st.peak_running : -1,
		       hist_q(h, 0.99), hist_q(h, 0.5));
	}
	pool_stop(p, prod);
	thr_free(prod);
	free(h);
}

static void w3(void)
{
	static const int workers[] = { 2, 4, 8, 32 };
	static const int work_us[] = { 0, 5, 50 };
	char cfg[64];

	for (int blk = 0; blk < 2; blk++)
		for (unsigned int wu = 0; wu < 3; wu++)
			for (unsigned int nw = 0; nw < 4; nw++) {
				snprintf(cfg, sizeof(cfg), "workers=%d work=%dus%s",
					 workers[nw], work_us[wu], blk ? " block=10%" : "");
				if (!selected("W3", cfg))
					continue;
				for (int r = 0; r < rounds; r++)
					for (int i = 0; i < NBACKENDS; i++)
						if (backend_on[i] && !backends[i].wake_only &&
						    (blk || !backends[i].block_only))
							w3_run(&backends[i], workers[nw],
							       work_us[wu] * 1000ULL,
							       blk, r, cfg);
			}
}

/* --- W4: bursts of posts to idle waiters ------------------------------------- */

#define W4_WAITERS	16
#define W4_WORK_NS	5000ULL

/* Wait until every worker sits in get(), then let the last ones fall asleep. */
static void pool_wait_idle(struct pool *p)
{
	uint64_t deadline = now_ns() + 1000000000ULL;

	while (atomic_load(&p->idle) < p->nworkers) {
		if (now_ns() > deadline)
			die("%s: W4 workers do not go idle", p->be->name);
		sleep_ns(50000);
	}
	sleep_ns(300000);
}

/* Voluntary context switches of every thread but the calling one. */
static long others_nvcsw(void)
{
	struct rusage all, self;

	getrusage(RUSAGE_SELF, &all);
	getrusage(RUSAGE_THREAD, &self);
	return all.ru_nvcsw - self.ru_nvcsw;
}

static void w4_run(const struct backend *be, int burst, int round, const char *cfg)
{
	struct thr *prod = thr_new(MAX_THREADS);
	struct pool *p = pool_start(be, W4_WAITERS, W4_WORK_NS);
	unsigned long before[MAX_THREADS];
	struct hist *drain = calloc(1, sizeof(*drain));
	uint64_t end, t0, woken = 0, bursts = 0;
	struct item it = { .key = KEY_WORK };
	long sleeps = 0, cs0;

	if (!drain)
		die("out of memory");
	p->wake_at = 0;
	end = now_ns() + measure_ns;
	pool_wait_idle(p);
	while (now_ns() < end || bursts < 10) {
		for (int i = 0; i < W4_WAITERS; i++)
			before[i] = atomic_load(&p->w[i]->wakes);
		cs0 = others_nvcsw();
		t0 = now_ns();
		for (int i = 0; i < burst; i++) {
			it.ts = t0;
			atomic_fetch_add(&p->posted, 1);
			be->post(p->q, prod, &it, 1);
		}
		pool_wait_inflight(p);
		hist_add(drain, atomic_load(&p->last_done) - t0);
		/* Every worker that woke has gone back to sleep: one switch each. */
		pool_wait_idle(p);
		sleeps += others_nvcsw() - cs0;
		for (int i = 0; i < W4_WAITERS; i++)
			woken += atomic_load(&p->w[i]->wakes) != before[i];
		bursts++;
	}
	result("W4", cfg, be->name, round,
	       "woken_per_burst=%.2f,sleeps_per_burst=%.2f,drain_p50_ns=%.0f,"
	       "drain_p90_ns=%.0f,bursts=%lu",
	       (double)woken / bursts, (double)sleeps / bursts,
	       hist_q(drain, 0.5), hist_q(drain, 0.9), (unsigned long)bursts);
	pool_stop(p, prod);
	thr_free(prod);
	free(drain);
}

static void w4(void)
{
	static const int bursts[] = { 1, 4, 16 };
	char cfg[64];

	for (unsigned int b = 0; b < 3; b++) {
		snprintf(cfg, sizeof(cfg), "waiters=%d burst=%d", W4_WAITERS, bursts[b]);
		if (!selected("W4", cfg))
			continue;
		for (int r = 0; r < rounds; r++)
			for (int i = 0; i < NBACKENDS; i++)
				if (backend_on[i] && !backends[i].wake_only &&
				    !backends[i].block_only)
					w4_run(&backends[i], bursts[b], r, cfg);
	}
}

/* --- main ------------------------------------------------------------------------ */

static const char *clocksource(void)
{
	static char cs[64];
	FILE *f;

	strcpy(cs, "unknown");
	f = fopen("/sys/devices/system/clocksource/clocksource0/current_clocksource", "r");
	if (f) {
		if (fscanf(f, "%63s", cs) != 1)
			strcpy(cs, "unknown");
		fclose(f);
	}
	return cs;
}

static void print_meta(void)
{
	struct utsname u;

	uname(&u);
	printf("M,kernel=%s,cpus=%ld,clocksource=%s,rounds=%d,measure_ms=%lu,"
	       "loops_per_us=%.1f\n",
	       u.release, sysconf(_SC_NPROCESSORS_ONLN), clocksource(), rounds,
	       (unsigned long)(measure_ns / 1000000), loops_per_ns * 1000);
}

static void usage(void)
{
	fprintf(stderr,
		"usage: iocp_bench [-v] [-r ROUNDS] [-t MS] [-w W1,W2,W3,W4,W5,scale]\n"
		"                  [-b BACKEND,...] [-c CONFIG-SUBSTRING]\n"
		"backends of W1-W4:");
	for (int i = 0; i < NBACKENDS; i++)
		fprintf(stderr, " %s", backends[i].name);
	fprintf(stderr, "\nbackends of W5: iocp epoll epoll-oneshot io_uring condvar\n"
		"backends of scale: iocp epoll io_uring\n"
		"-c: configurations containing the string at word boundaries\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *workloads = "W1,W2,W3,W4,W5,scale", *only = NULL;
	uint64_t start = bench_start = now_ns(), t;
	int opt;

	while ((opt = getopt(argc, argv, "r:t:w:b:c:v")) != -1) {
		switch (opt) {
		case 'c':
			cfg_filter = optarg;
			break;
		case 'v':
			verbose = true;
			break;
		case 'r':
			rounds = atoi(optarg);
			break;
		case 't':
			measure_ns = strtoull(optarg, NULL, 10) * 1000000ULL;
			warmup_ns = measure_ns / 8;
			break;
		case 'w':
			workloads = optarg;
			break;
		case 'b':
			only = optarg;
			break;
		default:
			usage();
		}
	}
	if (rounds < 1 || !measure_ns)
		usage();
	only_backends = only;
	if (access(IOCP_DEVICE_PATH, R_OK | W_OK)) {
		fprintf(stderr, "iocp_bench: no %s, skipping the iocp backends\n",
			IOCP_DEVICE_PATH);
		have_iocp = false;
	}
	for (int i = 0; i < NBACKENDS; i++)
		backend_on[i] = backend_selected(backends[i].name);
	prctl(PR_SET_TIMERSLACK, 1UL);
	setvbuf(stdout, NULL, _IOLBF, 0);
	/* Right after boot the kernel is about to replace tsc-early: wait. */
	for (int i = 0; i < 50 && !strcmp(clocksource(), "tsc-early"); i++)
		sleep_ns(100000000);
	calibrate();
	print_meta();

	t = now_ns();
	if (strstr(workloads, "W1")) {
		w1();
		printf("T,W1,%.1f\n", (now_ns() - t) / 1e9);
	}
	t = now_ns();
	if (strstr(workloads, "W2")) {
		w2();
		printf("T,W2,%.1f\n", (now_ns() - t) / 1e9);
	}
	t = now_ns();
	if (strstr(workloads, "W3")) {
		w3();
		printf("T,W3,%.1f\n", (now_ns() - t) / 1e9);
	}
	t = now_ns();
	if (strstr(workloads, "W4")) {
		w4();
		printf("T,W4,%.1f\n", (now_ns() - t) / 1e9);
	}
	t = now_ns();
	if (strstr(workloads, "W5")) {
		w5();
		printf("T,W5,%.1f\n", (now_ns() - t) / 1e9);
	}
	t = now_ns();
	if (strstr(workloads, "scale")) {
		scale();
		printf("T,scale,%.1f\n", (now_ns() - t) / 1e9);
	}
	printf("M,clocksource_end=%s\n", clocksource());
	printf("T,total,%.1f\n", (now_ns() - start) / 1e9);
	return 0;
}
