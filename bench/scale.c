// SPDX-License-Identifier: GPL-2.0
/*
 * scale: the cost of one readiness event against the number of files
 * watched (10, 1000 and 100000 eventfds), and the kernel memory that
 * watching one file costs.
 *
 * One event: write 1 to an eventfd picked at random among the N, wait for
 * the backend to report it, check that it names that eventfd, and read the
 * counter back to 0, so that the next write to it is a new edge. One thread
 * does it all: nobody sleeps, and what is measured is the delivery path
 * itself. Picking among all N at random is what lets N show: a backend
 * whose cost per event grows with the files it watches (a scan, a deeper
 * tree, cache misses in a bigger table) pays it here.
 *
 * Each backend watches the files the way a server would for repeated
 * readiness: set up once per file, nothing to redo per event.
 *
 *   iocp      one port; each eventfd associated for IOCP_POLLIN with key
 *             its index, flags 0 (persistent, edge-triggered: the
 *             association stays armed and queues a packet per wakeup).
 *             max_assoc (65536 by default) is raised to N.
 *   epoll     EPOLLIN | EPOLLET with data.u64 its index: edge-triggered
 *             and persistent, the same contract as the association.
 *   io_uring  one multishot poll per eventfd (POLLIN, user_data its
 *             index): stays armed and posts a CQE per wakeup, where a
 *             single-shot poll would cost a resubmission per event. The
 *             SQ (4096) is submitted whenever it fills during setup; the
 *             CQ is made much larger than the one CQE in flight needs,
 *             since an overflow would end multishot polls. A CQE without
 *             IORING_CQE_F_MORE means the poll ended anyway: the file is
 *             armed again (after its counter is reset, or it would fire at
 *             once) and counted.
 *
 * The write wakes the eventfd's wait queue with EPOLLIN; the read wakes it
 * with EPOLLOUT, which none of the three asked for, so it queues nothing.
 *
 * Kernel memory per file: the rise of Slab in /proc/meminfo from just
 * before the setup (the eventfds exist already) to just after the N files
 * are watched, over N. Only at N >= 100000, where the counter's drift and
 * the rest of the system are small against it. It counts what each backend
 * allocates per file: for iocp an iocp_assoc (its packet and first wait
 * queue entry embedded), for epoll an epitem and an eppoll_entry, for
 * io_uring an io_kiocb (the poll and its wait queue entry inside it).
 * Memory outside the slab caches is not counted: the io_uring rings, and
 * tables sized by the count (iocp's global hash table of associated files)
 * once they outgrow kmalloc. Teardown frees much of it after an RCU grace
 * period, so each measurement first lets the previous one's frees settle.
 *
 * Output: "R,scale,fds=N,<backend>,<round>,ns_per_event=...,events=..."
 * (and kmem_per_fd= at N >= 100000); "S,scale,..." lines give setup and
 * teardown times in ms (report.py ignores them): whether a big N stays
 * affordable to set up round after round.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <liburing.h>
#include <iocp.h>

#include "bench.h"

#define URING_SQ	4096
#define URING_CQ	16384
/* Below this, Slab moves too little to tell bytes per file. */
#define KMEM_MIN_FDS	100000
/* After a teardown: time for RCU callbacks to free what it dropped. */
#define SETTLE_NS	200000000ULL
/* An event that has not come this long after the measurement's end. */
#define WATCHDOG_S	10
#define NO_REARM	UINT64_MAX

/* The files of one configuration, and the backend watching them now. */
struct sc {
	unsigned int n;
	int *fd;
	int port;		/* iocp */
	int ep;			/* epoll */
	struct io_uring ring;	/* io_uring */
	uint64_t rearm;		/* io_uring: a file to arm once it is reset */
	unsigned long rearmed;	/* io_uring: multishot polls that ended */
};

struct sc_backend {
	const char *name;
	/* Watch every file of @s; die on any failure. */
	void (*setup)(struct sc *s);
	/* Wait for the next event; die unless it is file @i's. */
	void (*wait)(struct sc *s, uint64_t i);
	void (*teardown)(struct sc *s);
};

/* The file of each event: cheap, and the same sequence for every backend. */
static uint64_t xorshift64(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

/* Slab in /proc/meminfo, in kB. */
static long slab_kb(void)
{
	char line[128];
	long kb = -1;
	ssize_t r;
	FILE *f;
	int fd;

	/*
	 * The global counters lag behind per-CPU deltas (up to a few hundred
	 * kB here); as root, fold them in first.
	 */
	fd = open("/proc/sys/vm/stat_refresh", O_WRONLY);
	if (fd >= 0) {
		r = write(fd, "1\n", 2);
		(void)r;
		close(fd);
	}
	f = fopen("/proc/meminfo", "r");
	if (!f)
		die("/proc/meminfo: %s", strerror(errno));
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Slab: %ld kB", &kb) == 1)
			break;
	fclose(f);
	if (kb < 0)
		die("/proc/meminfo: no Slab line");
	return kb;
}

/*
 * Let what the previous teardown freed by RCU (epitems, iocp_assocs) or
 * from a workqueue (io_uring's ring exit) go back before the next
 * measurement. When memory is measured, also wait (up to 2 s) until Slab
 * stops falling: under TCG, 100000 callbacks may take longer than 200 ms.
 */
static void settle(bool kmem)
{
	long prev, cur;

	sleep_ns(SETTLE_NS);
	if (!kmem)
		return;
	cur = slab_kb();
	for (int k = 0; k < 20; k++) {
		sleep_ns(SETTLE_NS / 2);
		prev = cur;
		cur = slab_kb();
		if (prev - cur < 64)
			break;
	}
}

/*
 * A lost event would hang the wait for ever: the waits are the plain
 * blocking calls (a timeout costs epoll a clock read per call), and an
 * alarm ends the program if a measurement overruns by WATCHDOG_S.
 */
static char watchdog_msg[160];
static size_t watchdog_len;

static void watchdog_fire(int sig)
{
	ssize_t r;

	(void)sig;
	r = write(STDERR_FILENO, watchdog_msg, watchdog_len);
	(void)r;
	_exit(1);
}

static void watchdog_arm(const char *cfg, const char *be)
{
	struct sigaction sa = { .sa_handler = watchdog_fire };
	unsigned int secs = (warmup_ns + measure_ns) / 1000000000ULL +
			    WATCHDOG_S;
	int len;

	len = snprintf(watchdog_msg, sizeof(watchdog_msg),
		       "iocp_bench: scale %s %s: no event within %u s\n",
		       cfg, be, secs);
	watchdog_len = len < (int)sizeof(watchdog_msg) ?
		       (size_t)len : sizeof(watchdog_msg) - 1;
	if (sigaction(SIGALRM, &sa, NULL))
		die("sigaction: %s", strerror(errno));
	alarm(secs);
}

static void watchdog_disarm(void)
{
	alarm(0);
}

/* --- iocp ---------------------------------------------------------------- */

static void iocp_setup(struct sc *s)
{
	struct iocp_config cfg;
	int ret;

	/* One thread dequeues: concurrency 1 never holds it back. */
	s->port = iocp_create(1);
	if (s->port < 0)
		die("iocp_create: %s", strerror(-s->port));
	ret = iocp_get_config(s->port, &cfg);
	if (ret < 0)
		die("iocp_get_config: %s", strerror(-ret));
	if (cfg.max_assoc < s->n) {
		cfg.max_assoc = s->n;
		ret = iocp_set_config(s->port, &cfg);
		if (ret < 0)
			die("iocp_set_config(max_assoc %u): %s", s->n,
			    strerror(-ret));
	}
	for (unsigned int i = 0; i < s->n; i++) {
		ret = iocp_associate(s->port, s->fd[i], i, IOCP_POLLIN, 0);
		if (ret < 0)
			die("iocp_associate (file %u of %u): %s", i, s->n,
			    strerror(-ret));
	}
}

static void iocp_wait(struct sc *s, uint64_t i)
{
	struct iocp_completion c;
	int ret;

	do
		ret = iocp_get(s->port, &c, IOCP_INFINITE);
	while (ret == -EINTR);
	if (ret < 0)
		die("iocp_get: %s", strerror(-ret));
	if (c.key != i || !(c.flags & IOCP_CF_READINESS) ||
	    !(c.events & IOCP_POLLIN))
		die("iocp: key %llu, flags %#x, events %#x; expected key %llu",
		    (unsigned long long)c.key, c.flags, c.events,
		    (unsigned long long)i);
}

/* Closing the port ends every association. */
static void iocp_teardown(struct sc *s)
{
	int ret = iocp_close(s->port);

	if (ret < 0)
		die("iocp_close: %s", strerror(-ret));
}

/* --- epoll --------------------------------------------------------------- */

static void epoll_setup(struct sc *s)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLET };

	s->ep = epoll_create1(EPOLL_CLOEXEC);
	if (s->ep < 0)
		die("epoll_create1: %s", strerror(errno));
	for (unsigned int i = 0; i < s->n; i++) {
		ev.data.u64 = i;
		if (epoll_ctl(s->ep, EPOLL_CTL_ADD, s->fd[i], &ev))
			die("epoll_ctl(ADD) (file %u of %u): %s", i, s->n,
			    strerror(errno));
	}
}

static void epoll_wait1(struct sc *s, uint64_t i)
{
	struct epoll_event ev;
	int n;

	do
		n = epoll_wait(s->ep, &ev, 1, -1);
	while (n < 0 && errno == EINTR);
	if (n != 1)
		die("epoll_wait: %s", n < 0 ? strerror(errno) : "no event");
	if (ev.data.u64 != i || !(ev.events & EPOLLIN))
		die("epoll: data %llu, events %#x; expected data %llu",
		    (unsigned long long)ev.data.u64, ev.events,
		    (unsigned long long)i);
}

static void epoll_teardown(struct sc *s)
{
	if (close(s->ep))
		die("close(epoll): %s", strerror(errno));
}

/* --- io_uring ------------------------------------------------------------ */

static void uring_submit(struct sc *s)
{
	int ret = io_uring_submit(&s->ring);

	if (ret < 0)
		die("io_uring_submit: %s", strerror(-ret));
}

/* Queue a multishot poll of file @i; submits first if the SQ is full. */
static void uring_arm(struct sc *s, uint64_t i)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&s->ring);

	if (!sqe) {
		uring_submit(s);
		sqe = io_uring_get_sqe(&s->ring);
		if (!sqe)
			die("io_uring: no SQE after a submit");
	}
	io_uring_prep_poll_multishot(sqe, s->fd[i], POLLIN);
	io_uring_sqe_set_data64(sqe, i);
}

static void uring_setup(struct sc *s)
{
	struct io_uring_params p = {
		.flags = IORING_SETUP_CQSIZE,
		.cq_entries = URING_CQ,
	};
	struct io_uring_cqe *cqe;
	int ret;

	ret = io_uring_queue_init_params(URING_SQ, &s->ring, &p);
	if (ret < 0)
		die("io_uring_queue_init_params: %s", strerror(-ret));
	s->rearm = NO_REARM;
	for (unsigned int i = 0; i < s->n; i++)
		uring_arm(s, i);
	uring_submit(s);
	if (io_uring_sq_ready(&s->ring))
		die("io_uring: %u polls not submitted",
		    io_uring_sq_ready(&s->ring));
	/* No file is ready: a CQE now is a poll that failed to arm. */
	if (!io_uring_peek_cqe(&s->ring, &cqe))
		die("io_uring: poll of file %llu: %s",
		    (unsigned long long)cqe->user_data,
		    cqe->res < 0 ? strerror(-cqe->res) : "ready at setup");
}

static void uring_wait(struct sc *s, uint64_t i)
{
	struct io_uring_cqe *cqe;
	unsigned int flags;
	uint64_t got;
	int ret, res;

	for (;;) {
		ret = io_uring_wait_cqe(&s->ring, &cqe);
		if (ret == -EINTR)
			continue;
		if (ret < 0)
			die("io_uring_wait_cqe: %s", strerror(-ret));
		got = cqe->user_data;
		res = cqe->res;
		flags = cqe->flags;
		io_uring_cqe_seen(&s->ring, cqe);
		if (got >= s->n)
			die("io_uring: CQE with user_data %llu",
			    (unsigned long long)got);
		if (!(flags & IORING_CQE_F_MORE)) {
			s->rearmed++;
			if (res >= 0) {
				/* Arm it once its counter is 0 again. */
				s->rearm = got;
			} else {
				/* Ended without an event: arm it now. */
				uring_arm(s, got);
				uring_submit(s);
				continue;
			}
		}
		if (got != i || res < 0 || !(res & POLLIN))
			die("io_uring: user_data %llu, res %d; expected %llu",
			    (unsigned long long)got, res,
			    (unsigned long long)i);
		return;
	}
}

/* After the event's read: the file is no longer ready, arm it again. */
static void uring_rearm(struct sc *s)
{
	uring_arm(s, s->rearm);
	uring_submit(s);
	s->rearm = NO_REARM;
}

/* Closing the ring cancels the polls. */
static void uring_teardown(struct sc *s)
{
	io_uring_queue_exit(&s->ring);
}

static const struct sc_backend sc_backends[] = {
	{ "iocp", iocp_setup, iocp_wait, iocp_teardown },
	{ "epoll", epoll_setup, epoll_wait1, epoll_teardown },
	{ "io_uring", uring_setup, uring_wait, uring_teardown },
};

/* --- the workload -------------------------------------------------------- */

static void one_event(struct sc *s, const struct sc_backend *be, uint64_t i)
{
	uint64_t v = 1;
	ssize_t r;

	if (write(s->fd[i], &v, sizeof(v)) != sizeof(v))
		die("eventfd write: %s", strerror(errno));
	be->wait(s, i);
	/* Back to 0: the next write to this file is a new edge. */
	r = read(s->fd[i], &v, sizeof(v));
	if (r != sizeof(v))
		die("eventfd read: %s", r < 0 ? strerror(errno) : "short");
	if (v != 1)
		die("eventfd read %llu, expected 1", (unsigned long long)v);
	if (s->rearm != NO_REARM)
		uring_rearm(s);
}

/* Events for @ns (the clock read every 64); the time they took in @took. */
static uint64_t run_for(struct sc *s, const struct sc_backend *be,
			uint64_t *x, uint64_t ns, uint64_t *took)
{
	uint64_t start = now_ns(), now, events = 0;

	do {
		for (int k = 0; k < 64; k++)
			one_event(s, be, xorshift64(x) % s->n);
		events += 64;
		now = now_ns();
	} while (now - start < ns);
	*took = now - start;
	return events;
}

static void scale_run(struct sc *s, const struct sc_backend *be,
		      const char *cfg, int round)
{
	bool kmem = s->n >= KMEM_MIN_FDS;
	uint64_t x = 0x9e3779b97f4a7c15ULL + round, t, setup, teardown;
	uint64_t events, took;
	long before = 0, after = 0;
	char extra[32] = "";

	settle(kmem);
	s->rearm = NO_REARM;
	s->rearmed = 0;
	if (kmem)
		before = slab_kb();
	t = now_ns();
	be->setup(s);
	setup = now_ns() - t;
	if (kmem)
		after = slab_kb();

	watchdog_arm(cfg, be->name);
	run_for(s, be, &x, warmup_ns, &took);
	events = run_for(s, be, &x, measure_ns, &took);
	watchdog_disarm();

	t = now_ns();
	be->teardown(s);
	teardown = now_ns() - t;

	if (kmem)
		snprintf(extra, sizeof(extra), ",kmem_per_fd=%.0f",
			 (double)(after - before) * 1024 / s->n);
	result("scale", cfg, be->name, round, "ns_per_event=%.1f,events=%llu%s",
	       (double)took / events, (unsigned long long)events, extra);
	printf("S,scale,%s,%s,%d,setup_ms=%.1f,teardown_ms=%.1f,rearmed=%lu\n",
	       cfg, be->name, round, setup / 1e6, teardown / 1e6, s->rearmed);
	if (s->rearmed)
		fprintf(stderr, "iocp_bench: scale %s %s: %lu polls re-armed\n",
			cfg, be->name, s->rearmed);
}

/* False if the descriptors are not allowed (said on stderr). */
static bool fds_open(struct sc *s, unsigned int n, const char *cfg)
{
	uint64_t t = now_ns();

	if (!want_fds(n + 1024)) {
		fprintf(stderr, "iocp_bench: scale %s skipped\n", cfg);
		return false;
	}
	s->n = n;
	s->fd = malloc(sizeof(*s->fd) * n);
	if (!s->fd)
		die("out of memory");
	for (unsigned int i = 0; i < n; i++) {
		s->fd[i] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (s->fd[i] < 0)
			die("eventfd (%u of %u): %s", i, n, strerror(errno));
	}
	printf("S,scale,%s,eventfd,-,create_ms=%.1f\n", cfg,
	       (now_ns() - t) / 1e6);
	return true;
}

static void fds_close(struct sc *s)
{
	for (unsigned int i = 0; i < s->n; i++)
		close(s->fd[i]);
	free(s->fd);
	s->fd = NULL;
	s->n = 0;
}

void scale(void)
{
	static const unsigned int counts[] = { 10, 1000, 100000 };
	struct sc s = { .port = -1, .ep = -1, .rearm = NO_REARM };
	char cfg[32];

	for (unsigned int c = 0; c < ARRAY_SIZE(counts); c++) {
		snprintf(cfg, sizeof(cfg), "fds=%u", counts[c]);
		if (!selected("scale", cfg))
			continue;
		if (!fds_open(&s, counts[c], cfg))
			continue;
		/* Interleaved, round after round: A B C A B C ... */
		for (int r = 0; r < rounds; r++)
			for (unsigned int b = 0; b < ARRAY_SIZE(sc_backends); b++)
				if (backend_selected(sc_backends[b].name))
					scale_run(&s, &sc_backends[b], cfg, r);
		fds_close(&s);
	}
}
