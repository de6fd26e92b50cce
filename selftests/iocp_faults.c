// SPDX-License-Identifier: GPL-2.0
/*
 * Fault-injection selftest for /dev/iocp.
 *
 * Sweeps the allocation points of every port operation with fail-nth, the
 * way syzkaller and Documentation/fault-injection/fault-injection.rst do
 * (file associations included: ASSOCIATE of an eventfd, of a port and of a
 * FIFO open for reading and writing, which polls on two wait queues;
 * MODIFY; DISSOCIATE; SHUTDOWN and close of a port with associations;
 * SUBMIT of a NOP, of a RECV that stays pending on a socketpair, of a READ
 * of a memfd and of an ACCEPT with a connection waiting; CANCEL of a
 * pending RECV by user_data and of all ops; an op that fails must FAIL with
 * -ENOMEM and queue nothing, one that does not must give exactly one
 * packet with its result, and stats.ops must say so at every step):
 * for n = 1, 2, ... the n-th fault site (slab or page allocation) met by
 * the calling thread is made to fail; the operation must then either
 * succeed (the fault hit a site whose failure is tolerated) or fail with
 * ENOMEM, and in every case the port must stay consistent: GET_STATS counts
 * as expected (associations too), posts are all or none, nothing queued is
 * lost or reordered, a failed ASSOCIATE leaves nothing behind (the file can
 * be associated again) and a failed MODIFY nothing changed, an association
 * still delivers, and a following post/dequeue round trip works. A sweep
 * ends at the first n that the operation completes without reaching.
 *
 * Needs CONFIG_FAULT_INJECTION, CONFIG_FAILSLAB (and optionally
 * CONFIG_FAIL_PAGE_ALLOC) with CONFIG_FAULT_INJECTION_DEBUG_FS, debugfs
 * mounted at /sys/kernel/debug and root; every test is reported as skipped
 * otherwise. The failslab and fail_page_alloc settings it changes are
 * restored at exit. Random faults stay off (probability 0): only the
 * thread that arms fail-nth ever sees a fault.
 *
 * Besides the checks made here, the guest runs a kmemleak scan after the
 * selftests, which catches anything a failure path leaks; this program
 * itself closes every port it opens and lets every thread it starts exit,
 * and checks that the module's reference count is back to its value before
 * each sweep once the sweep is over (ports and thread states pin the module).
 *
 * Not swept: module loading (iocp_init). Its failure paths are correct,
 * but failing the loader's own allocations makes the kernel log vmalloc
 * failures with stack traces, and 6.12's SLUB leaks the cache's kobject
 * name when sysfs_slab_add() fails (fixed upstream by 2420baa8e046,
 * "mm/slab: Allow cache creation to proceed even if sysfs registration
 * fails"); kmemleak attributes that leak to iocp_packet_cache_init().
 * Neither is the module's doing, and both would fail the run.
 *
 * IOCP_FAULTS_VERBOSE=0|1|2 sets the "verbose" knob: 0 by default; 1 logs
 * a line per injected fault on the kernel console; 2 adds a stack trace,
 * which shows where each fault site is, but which the runner counts as a
 * kernel splat: for runs by hand only (init passes the kernel command
 * line's IOCP_FAULTS_VERBOSE=2 to the guest's programs).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>

#include <linux/iocp.h>
#include "iocp.h"

#include "kselftest.h"

#define DEBUGFS			"/sys/kernel/debug"
#define REFCNT_PATH		"/sys/module/iocp/refcnt"
/* No operation has anywhere near this many fault sites. */
#define MAX_NTH			5000
/* The batch of the batched POST tests. */
#define BATCH			64
/* Bound for polling GET_STATS until a state is reached (TCG is slow). */
#define STATE_WAIT_MS		5000
/* Per operation, at most this many failure messages are printed. */
#define MAX_MESSAGES		10
/* Bound on the packets the model of a port tracks. */
#define MODEL_MAX		(4 * BATCH)

/* ------------------------------------------------------------------ */
/* Failure reporting                                                    */
/* ------------------------------------------------------------------ */

/* The sweep of one operation. */
struct sweep {
	const char *name;
	unsigned int n;		/* the fault site being failed now */
	unsigned int iters;	/* armed calls made */
	unsigned int injected;	/* ... in which a fault was injected */
	unsigned int enomem;	/* ... which then failed with ENOMEM */
	unsigned int survived;	/* ... which succeeded despite the fault */
	unsigned int failures;	/* check failures */
	bool complete;		/* reached an n beyond the last site */
};

static struct sweep *cur;

static __attribute__((format(printf, 1, 2))) void fail(const char *fmt, ...)
{
	va_list ap;

	if (cur->failures++ >= MAX_MESSAGES)
		return;
	if (cur->n)
		printf("# %s: n=%u: ", cur->name, cur->n);
	else
		printf("# %s: after the sweep: ", cur->name);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

/* Checks: on failure, report and make the calling function return -1. */
#define CHECK(cond, fmt, ...) do {					\
	if (!(cond)) {							\
		fail("line %d: %s: " fmt, __LINE__, #cond, ##__VA_ARGS__); \
		return -1;						\
	}								\
} while (0)

#define CHECK_SYS(expr) do {						\
	if ((expr) < 0) {						\
		fail("line %d: %s: %s", __LINE__, #expr, strerror(errno)); \
		return -1;						\
	}								\
} while (0)

/* ------------------------------------------------------------------ */
/* Fault injection control                                              */
/* ------------------------------------------------------------------ */

struct knob {
	const char *path;
	const char *value;
	bool required;
	bool changed;
	char saved[32];
};

static char verbose_value[8] = "0";

static struct knob knobs[] = {
	/* GFP_KERNEL allocations are exempt by default. */
#define KNOB(file, val, req) { .path = DEBUGFS file, .value = val, .required = req }
	KNOB("/failslab/ignore-gfp-wait", "N", true),
	KNOB("/failslab/probability", "0", true),
	KNOB("/failslab/verbose", verbose_value, true),
	KNOB("/fail_page_alloc/ignore-gfp-wait", "N", false),
	/* User pages (faults on user buffers) are left alone. */
	KNOB("/fail_page_alloc/ignore-gfp-highmem", "Y", false),
	KNOB("/fail_page_alloc/min-order", "0", false),
	KNOB("/fail_page_alloc/probability", "0", false),
	KNOB("/fail_page_alloc/verbose", verbose_value, false),
#undef KNOB
};

static int read_file(const char *path, char *buf, size_t size)
{
	ssize_t len;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	len = read(fd, buf, size - 1);
	close(fd);
	if (len < 0)
		return -1;
	buf[len] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}

static int write_file(const char *path, const char *value)
{
	ssize_t len;
	int fd;

	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	len = write(fd, value, strlen(value));
	close(fd);
	return len == (ssize_t)strlen(value) ? 0 : -1;
}

static void knobs_restore(void)
{
	size_t i;

	for (i = 0; i < sizeof(knobs) / sizeof(knobs[0]); i++) {
		if (knobs[i].changed && write_file(knobs[i].path, knobs[i].saved))
			printf("# could not restore %s to %s\n", knobs[i].path,
			       knobs[i].saved);
		knobs[i].changed = false;
	}
}

/* Returns NULL, or why fault injection cannot be set up. */
static const char *knobs_setup(char *why, size_t size)
{
	size_t i;

	for (i = 0; i < sizeof(knobs) / sizeof(knobs[0]); i++) {
		struct knob *k = &knobs[i];

		if (read_file(k->path, k->saved, sizeof(k->saved))) {
			if (!k->required && errno == ENOENT)
				continue;
			snprintf(why, size, "cannot read %s: %s", k->path,
				 strerror(errno));
			return why;
		}
		if (write_file(k->path, k->value)) {
			snprintf(why, size, "cannot write %s: %s", k->path,
				 strerror(errno));
			return why;
		}
		k->changed = true;
	}
	return NULL;
}

/* This thread's fail-nth file. */
static int fi_open(void)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/self/task/%d/fail-nth", gettid());
	return open(path, O_RDWR | O_CLOEXEC);
}

/* Make the n-th fault site this thread meets fail. */
static void fi_arm(int fi, unsigned int n)
{
	char buf[16];
	int len = snprintf(buf, sizeof(buf), "%u", n);

	if (pwrite(fi, buf, len, 0) != len) {
		printf("Bail out! cannot write fail-nth: %s\n", strerror(errno));
		exit(KSFT_FAIL);
	}
}

/* Disarm; returns whether the armed fault was injected. */
static bool fi_disarm(int fi)
{
	char buf[16] = "";
	ssize_t len;

	len = pread(fi, buf, sizeof(buf) - 1, 0);
	if (len <= 0 || pwrite(fi, "0", 1, 0) != 1) {
		printf("Bail out! cannot read or reset fail-nth: %s\n",
		       strerror(errno));
		exit(KSFT_FAIL);
	}
	return strtoul(buf, NULL, 10) == 0;
}

static int main_fi = -1;

/* ------------------------------------------------------------------ */
/* Ports and a model of their queue                                     */
/* ------------------------------------------------------------------ */

static uint64_t next_key = 1;

/*
 * What the test expects a port to hold and to have counted. Readiness
 * packets: @rq queued, anywhere among the posted ones; drain() expects
 * them to have key @rkey and events IOCP_POLLIN (the tests drain with at
 * most one queued). @ready counts those dequeued, which @dequeued counts
 * too.
 */
struct model {
	uint64_t keys[MODEL_MAX];	/* queued posted packets, oldest first */
	unsigned int n;
	uint64_t posted;
	uint64_t dequeued;
	uint64_t discarded;
	unsigned int assoc;		/* files associated */
	unsigned int rq;		/* readiness packets queued */
	uint64_t rkey;
	uint64_t ready;
	/*
	 * Ops: @ops in flight (submitted, packet not dequeued), @oq of them
	 * with their packet queued, @odone packets dequeued. The packet
	 * expected has user_data @oud and result @ores (@ofd: any descriptor,
	 * which drain() closes).
	 */
	unsigned int ops;
	unsigned int oq;
	uint64_t odone;
	uint64_t oud;
	int64_t ores;
	bool ofd;
};

static void fill(struct iocp_completion *c, uint64_t key)
{
	c->key = key;
	c->user_data = key * 0x9e3779b97f4a7c15ULL;
	c->result = (uint64_t)-(int64_t)key;
	c->flags = 0;
	c->events = 0;
}

static bool entry_ok(const struct iocp_completion *c, uint64_t key)
{
	return c->key == key && c->user_data == key * 0x9e3779b97f4a7c15ULL &&
	       c->result == (uint64_t)-(int64_t)key &&
	       c->flags == IOCP_CF_POSTED && c->events == 0;
}

static void model_push(struct model *m, const struct iocp_completion *c,
		       unsigned int count)
{
	unsigned int i;

	for (i = 0; i < count && m->n < MODEL_MAX; i++)
		m->keys[m->n++] = c[i].key;
	m->posted += count;
}

static void model_pop(struct model *m, unsigned int count)
{
	memmove(m->keys, m->keys + count, (m->n - count) * sizeof(m->keys[0]));
	m->n -= count;
	m->dequeued += count;
}

static int port_open(void)
{
	int fd = open(IOCP_DEVICE_PATH, O_RDWR | O_CLOEXEC);

	if (fd < 0)
		fail("cannot open %s: %s", IOCP_DEVICE_PATH, strerror(errno));
	return fd;
}

/* Buffers used by armed calls: static, and touched before every use. */
static struct iocp_completion post_buf[IOCP_MAX_BATCH];
static struct iocp_completion deq_buf[IOCP_MAX_BATCH];

static void prepare_post(unsigned int count)
{
	unsigned int i;

	for (i = 0; i < count; i++)
		fill(&post_buf[i], next_key++);
}

static void poison(void *buf, size_t size)
{
	memset(buf, 0xcc, size);
}

/* Post @count new packets, not armed. */
static int post_plain(int fd, struct model *m, unsigned int count)
{
	struct iocp_post_args a = {
		.entries = (uintptr_t)post_buf,
		.count = count,
	};

	prepare_post(count);
	CHECK_SYS(ioctl(fd, IOCP_IOC_POST, &a));
	model_push(m, post_buf, count);
	return 0;
}

/*
 * Threads counted against the concurrency value: running ones, and with
 * blocking awareness, running ones that blocked elsewhere (stats.blocked).
 * A thread that sleeps outside the port between two calls (usleep(),
 * pthread_join()) may still count as blocked when the next call looks.
 */
static unsigned int counted(const struct iocp_stats *s)
{
#ifdef IOCP_STATS_BLOCKING_AWARE
	return s->running + s->blocked;
#else
	return s->running;
#endif
}

/* Reserved fields of the stats are zero. */
static bool reserved_zero(const struct iocp_stats *s)
{
	return !s->reserved;
}

/*
 * Check GET_STATS against the model; @threads, @running < 0: not checked
 * (@running is checked against counted()).
 */
static int check_stats_w(int fd, const struct model *m, int threads,
			 int running, unsigned int waiting)
{
	struct iocp_stats s;

	poison(&s, sizeof(s));
	CHECK_SYS(ioctl(fd, IOCP_IOC_GET_STATS, &s));
	CHECK(s.queued == m->n + m->rq + m->oq, "queued %u, expected %u",
	      s.queued, m->n + m->rq + m->oq);
	CHECK(s.ops == m->ops, "ops %u, expected %u", s.ops, m->ops);
	CHECK(s.posted == m->posted, "posted %llu, expected %llu",
	      (unsigned long long)s.posted, (unsigned long long)m->posted);
	CHECK(s.dequeued == m->dequeued, "dequeued %llu, expected %llu",
	      (unsigned long long)s.dequeued, (unsigned long long)m->dequeued);
	CHECK(s.discarded == m->discarded, "discarded %llu, expected %llu",
	      (unsigned long long)s.discarded,
	      (unsigned long long)m->discarded);
	/* Readiness and op packets count as dequeued and queued, not as
	 * posted. */
	CHECK(s.posted + m->ready + m->rq + m->odone + m->oq ==
	      s.dequeued + s.discarded + s.queued,
	      "posted %llu + readiness/op %llu != dequeued %llu + discarded %llu + queued %u",
	      (unsigned long long)s.posted,
	      (unsigned long long)(m->ready + m->rq + m->odone + m->oq),
	      (unsigned long long)s.dequeued,
	      (unsigned long long)s.discarded, s.queued);
	CHECK(s.associations == m->assoc, "associations %u, expected %u",
	      s.associations, m->assoc);
	CHECK(s.waiting == waiting, "waiting %u, expected %u", s.waiting,
	      waiting);
	if (threads >= 0)
		CHECK(s.threads == (unsigned int)threads, "threads %u, expected %d",
		      s.threads, threads);
	if (running >= 0)
		CHECK(counted(&s) == (unsigned int)running,
		      "running %u (+ blocked), expected %d", s.running, running);
	CHECK(!(s.flags & IOCP_STATS_SHUTDOWN), "flags %#x", s.flags);
	CHECK(s.flags & IOCP_STATS_EXIT_TRACKING, "flags %#x", s.flags);
	CHECK(reserved_zero(&s), "reserved fields not zero");
	return 0;
}

static int check_stats(int fd, const struct model *m, int threads,
		       int running)
{
	return check_stats_w(fd, m, threads, running, 0);
}

/*
 * Dequeue (not armed) every queued packet, checking that they are exactly
 * the model's: the posted ones in order, and the readiness packet if one
 * is expected.
 */
static int drain(int fd, struct model *m)
{
	struct iocp_dequeue_args a;
	const struct iocp_completion *e;
	unsigned int i;

	for (;;) {
		poison(deq_buf, sizeof(deq_buf));
		memset(&a, 0, sizeof(a));
		a.entries = (uintptr_t)deq_buf;
		a.max = IOCP_MAX_BATCH;
		a.timeout_ns = 0;
		if (ioctl(fd, IOCP_IOC_DEQUEUE, &a) < 0) {
			CHECK(errno == ETIMEDOUT, "drain: %s", strerror(errno));
			break;
		}
		CHECK(a.count >= 1 && a.count <= m->n + m->rq + m->oq,
		      "drain: got %u packets, %u expected", a.count,
		      m->n + m->rq + m->oq);
		for (i = 0; i < a.count; i++) {
			e = &deq_buf[i];
			if (e->flags == IOCP_CF_OP) {
				int64_t res = (int64_t)e->result;

				if (m->ofd && res >= 0)
					close((int)res);
				CHECK(m->oq && e->user_data == m->oud && !e->key &&
				      !e->events &&
				      (m->ofd ? res >= 0 : res == m->ores),
				      "drain: op packet user_data %#llx result %lld, expected %s%#llx result %lld%s",
				      (unsigned long long)e->user_data,
				      (long long)res, m->oq ? "" : "none, last ",
				      (unsigned long long)m->oud,
				      (long long)m->ores,
				      m->ofd ? " (a descriptor)" : "");
				m->oq--;
				m->ops--;
				m->odone++;
				m->dequeued++;
				continue;
			}
			if (e->flags == IOCP_CF_READINESS) {
				CHECK(m->rq && e->key == m->rkey &&
				      e->events == IOCP_POLLIN && !e->user_data &&
				      !e->result,
				      "drain: readiness packet key %#llx events %#x, expected %s%#llx",
				      (unsigned long long)e->key, e->events,
				      m->rq ? "key " : "none, last key ",
				      (unsigned long long)m->rkey);
				m->rq--;
				m->ready++;
				m->dequeued++;
				continue;
			}
			CHECK(m->n && entry_ok(e, m->keys[0]),
			      "drain: entry %u: key %llu, expected %llu", i,
			      (unsigned long long)e->key,
			      (unsigned long long)m->keys[0]);
			model_pop(m, 1);
		}
	}
	CHECK(m->n == 0 && m->rq == 0 && m->oq == 0,
	      "drain: %u packets missing, next key %llu; %u readiness packets, %u op packets missing",
	      m->n, (unsigned long long)m->keys[0], m->rq, m->oq);
	return 0;
}

/* The port still works: one packet posted comes back out. */
static int round_trip(int fd, struct model *m)
{
	if (post_plain(fd, m, 1) || drain(fd, m))
		return -1;
	return 0;
}

/* Poll GET_STATS until no thread is associated (exits are asynchronous). */
static int wait_no_threads(int fd)
{
	struct iocp_stats s;
	int ms;

	for (ms = 0; ms < STATE_WAIT_MS; ms++) {
		CHECK_SYS(ioctl(fd, IOCP_IOC_GET_STATS, &s));
		if (!s.threads && !counted(&s) && !s.waiting)
			return 0;
		usleep(1000);
	}
	CHECK(false, "threads %u running %u waiting %u after %d ms", s.threads,
	      s.running, s.waiting, STATE_WAIT_MS);
	return -1;
}

static int wait_waiting(int fd, unsigned int waiting)
{
	struct iocp_stats s;
	int ms;

	for (ms = 0; ms < STATE_WAIT_MS; ms++) {
		CHECK_SYS(ioctl(fd, IOCP_IOC_GET_STATS, &s));
		if (s.waiting == waiting)
			return 0;
		usleep(1000);
	}
	CHECK(false, "waiting %u, expected %u after %d ms", s.waiting, waiting,
	      STATE_WAIT_MS);
	return -1;
}

/*
 * The calling thread drops its association state, which pins the module:
 * a DEQUEUE on a shut-down port frees it once no port holds it.
 */
static int drop_thread_state(void)
{
	struct iocp_dequeue_args a = { .entries = (uintptr_t)deq_buf, .max = 1 };
	int fd, ret;

	fd = port_open();
	if (fd < 0)
		return -1;
	ret = ioctl(fd, IOCP_IOC_SHUTDOWN);
	if (!ret)
		ret = ioctl(fd, IOCP_IOC_DEQUEUE, &a);
	close(fd);
	CHECK(ret < 0 && errno == ESHUTDOWN,
	      "SHUTDOWN then DEQUEUE: %d %s", ret, strerror(errno));
	return 0;
}

static long module_refcnt(void)
{
	char buf[32];

	if (read_file(REFCNT_PATH, buf, sizeof(buf)))
		return -1;
	return strtol(buf, NULL, 10);
}

/*
 * Every port of the sweep is closed and every thread gone: the module's
 * reference count is back to its value before the sweep (@base).
 */
static int check_refcnt(long base)
{
	long ref = -1;
	int ms;

	if (base < 0)
		return 0;
	for (ms = 0; ms < STATE_WAIT_MS; ms++) {
		ref = module_refcnt();
		if (ref == base)
			return 0;
		usleep(1000);
	}
	CHECK(false, "module refcnt %ld, %ld before the sweep", ref, base);
	return -1;
}

/*
 * Account for one armed call: @ret < 0 means it failed with @err. Returns
 * -1 if the outcome is not acceptable. @may_fail: ENOMEM is acceptable.
 */
static int outcome(bool hit, long ret, int err, bool may_fail)
{
	cur->iters++;
	if (hit)
		cur->injected++;
	if (ret >= 0) {
		if (hit)
			cur->survived++;
		return 0;
	}
	CHECK(hit, "failed with %s without an injected fault", strerror(err));
	CHECK(may_fail && err == ENOMEM,
	      "failed with %s (%d) under an injected fault", strerror(err), err);
	cur->enomem++;
	return 0;
}

/* ------------------------------------------------------------------ */
/* The operations                                                       */
/* ------------------------------------------------------------------ */

/*
 * Each op_* function makes one armed call with fault site @n and checks
 * the port afterwards. It returns 1 if the fault was injected (the sweep
 * goes on), 0 if not (the sweep is complete), -1 on a check failure.
 * @c holds a port the sweep keeps across iterations (fd -1: none yet) and
 * the model of its queue: an op_* function that needs one opens it, and
 * closes it after a failure, so that the next iteration starts afresh.
 */
struct ctx {
	int fd;
	struct model m;
};

static void ctx_close(struct ctx *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	memset(&c->m, 0, sizeof(c->m));
}

static int ctx_port(struct ctx *c)
{
	if (c->fd >= 0)
		return 0;
	memset(&c->m, 0, sizeof(c->m));
	c->fd = port_open();
	return c->fd < 0 ? -1 : 0;
}

/* open(/dev/iocp): the port allocation. */
static int op_open(struct ctx *c, unsigned int n)
{
	struct model m = {};
	struct iocp_config cfg;
	struct iocp_stats s;
	bool hit;
	int fd, err;

	(void)c;
	fi_arm(main_fi, n);
	fd = open(IOCP_DEVICE_PATH, O_RDWR | O_CLOEXEC);
	err = errno;
	hit = fi_disarm(main_fi);
	if (outcome(hit, fd, err, true))
		goto out;
	if (fd < 0)
		return hit;

	/* A fresh port, with the defaults. */
	poison(&s, sizeof(s));
	if (ioctl(fd, IOCP_IOC_GET_STATS, &s) < 0) {
		fail("GET_STATS: %s", strerror(errno));
		goto out;
	}
	if (s.posted || s.dequeued || s.discarded || s.queued || counted(&s) ||
	    s.waiting || s.threads || s.high_water || s.peak_running ||
	    s.associations ||
	    (s.flags & IOCP_STATS_SHUTDOWN) ||
	    !(s.flags & IOCP_STATS_EXIT_TRACKING) || !reserved_zero(&s) ||
	    s.concurrency != (unsigned int)sysconf(_SC_NPROCESSORS_ONLN)) {
		fail("fresh port: stats posted %llu queued %u threads %u flags %#x concurrency %u",
		     (unsigned long long)s.posted, s.queued, s.threads, s.flags,
		     s.concurrency);
		goto out;
	}
	poison(&cfg, sizeof(cfg));
	if (ioctl(fd, IOCP_IOC_GET_CONFIG, &cfg) < 0 || cfg.concurrency ||
	    cfg.max_queued != IOCP_DEFAULT_MAX_QUEUED || cfg.flags ||
	    cfg.max_assoc != IOCP_DEFAULT_MAX_ASSOC ||
	    cfg.max_ops != IOCP_DEFAULT_MAX_OPS) {
		fail("fresh port: config %u/%u/%#x/%u", cfg.concurrency,
		     cfg.max_queued, cfg.flags, cfg.max_assoc);
		goto out;
	}
	if (round_trip(fd, &m) || check_stats(fd, &m, 1, 1))
		goto out;
	close(fd);
	return hit;
out:
	if (fd >= 0)
		close(fd);
	return -1;
}

/* POST of @count packets, all or none. */
static int do_post(struct ctx *c, unsigned int n, unsigned int count)
{
	struct iocp_post_args a = {
		.entries = (uintptr_t)post_buf,
		.count = count,
	};
	bool hit;
	int ret, err;

	if (ctx_port(c))
		return -1;
	/* Two packets already queued: they must survive whatever happens. */
	if (post_plain(c->fd, &c->m, 2) || check_stats(c->fd, &c->m, -1, -1))
		goto bad;

	prepare_post(count);
	fi_arm(main_fi, n);
	ret = ioctl(c->fd, IOCP_IOC_POST, &a);
	err = errno;
	hit = fi_disarm(main_fi);
	if (outcome(hit, ret, err, true))
		goto bad;
	if (!ret)
		model_push(&c->m, post_buf, count);
	/* All or none, then everything comes out in order. */
	if (check_stats(c->fd, &c->m, -1, -1) || drain(c->fd, &c->m) ||
	    round_trip(c->fd, &c->m) || check_stats(c->fd, &c->m, 1, 1))
		goto bad;
	return hit;
bad:
	ctx_close(c);
	return -1;
}

static int op_post1(struct ctx *c, unsigned int n)
{
	return do_post(c, n, 1);
}

static int op_post_batch(struct ctx *c, unsigned int n)
{
	return do_post(c, n, BATCH);
}

/* A thread blocked in DEQUEUE, for op_post_waiter. */
struct waiter {
	int fd;
	unsigned int max;
	int ret;
	int err;
	struct iocp_dequeue_args a;
	struct iocp_completion e[BATCH];
};

static void *waiter_fn(void *arg)
{
	struct waiter *w = arg;

	poison(w->e, sizeof(w->e));
	memset(&w->a, 0, sizeof(w->a));
	w->a.entries = (uintptr_t)w->e;
	w->a.max = w->max;
	w->a.timeout_ns = 60ULL * 1000000000ULL;
	w->ret = ioctl(w->fd, IOCP_IOC_DEQUEUE, &w->a);
	w->err = errno;
	return NULL;
}

/*
 * POST of a batch while a thread waits: on success the packets are handed
 * to it, on failure it keeps waiting and nothing is queued.
 */
static int op_post_waiter(struct ctx *c, unsigned int n)
{
	struct iocp_post_args a = {
		.entries = (uintptr_t)post_buf,
		.count = BATCH / 4,
	};
	struct waiter w = { .max = BATCH / 4 };
	struct iocp_completion sent[BATCH / 4];
	pthread_t th;
	unsigned int i;
	bool hit, started = false;
	int ret, err;

	if (ctx_port(c))
		return -1;
	w.fd = c->fd;
	if (pthread_create(&th, NULL, waiter_fn, &w)) {
		fail("pthread_create failed");
		goto bad;
	}
	started = true;
	if (wait_waiting(c->fd, 1))
		goto bad;

	prepare_post(BATCH / 4);
	memcpy(sent, post_buf, sizeof(sent));
	fi_arm(main_fi, n);
	ret = ioctl(c->fd, IOCP_IOC_POST, &a);
	err = errno;
	hit = fi_disarm(main_fi);
	if (outcome(hit, ret, err, true))
		goto bad;
	if (ret) {
		/* Nothing reached the waiter, which still waits. */
		if (check_stats_w(c->fd, &c->m, 1, 0, 1))
			goto bad;
		/* Release it without a fault. */
		if (ioctl(c->fd, IOCP_IOC_POST, &a) < 0) {
			fail("post: %s", strerror(errno));
			goto bad;
		}
	}
	c->m.posted += BATCH / 4;
	c->m.dequeued += BATCH / 4;
	pthread_join(th, NULL);
	started = false;
	if (w.ret || w.a.count != BATCH / 4) {
		fail("waiter: ret %d (%s), count %u", w.ret,
		     w.ret ? strerror(w.err) : "", w.a.count);
		goto bad;
	}
	for (i = 0; i < BATCH / 4; i++) {
		if (!entry_ok(&w.e[i], sent[i].key)) {
			fail("waiter: entry %u: key %llu, expected %llu", i,
			     (unsigned long long)w.e[i].key,
			     (unsigned long long)sent[i].key);
			goto bad;
		}
	}
	/* The waiter has exited; this thread never dequeues from the port. */
	if (wait_no_threads(c->fd) || check_stats(c->fd, &c->m, 0, 0))
		goto bad;
	return hit;
bad:
	/* SHUTDOWN wakes a waiter that is still blocked (close would not). */
	if (started) {
		ioctl(c->fd, IOCP_IOC_SHUTDOWN);
		pthread_join(th, NULL);
	}
	ctx_close(c);
	return -1;
}

/* A new thread's first DEQUEUE, armed, for op_dequeue_first. */
struct first {
	int fd;
	unsigned int n;
	bool hit;
	int fi_err;
	int ret, err;
	struct iocp_dequeue_args a;
	struct iocp_completion e[4];
	/* After a failure: the stats, then a second DEQUEUE, not armed. */
	int stats_ret;
	struct iocp_stats s;
	int ret2, err2;
	struct iocp_dequeue_args a2;
	struct iocp_completion e2[4];
};

static void *first_fn(void *arg)
{
	struct first *f = arg;
	int fi = fi_open();

	if (fi < 0) {
		f->fi_err = errno;
		return NULL;
	}
	poison(f->e, sizeof(f->e));
	f->a.entries = (uintptr_t)f->e;
	f->a.max = 4;
	f->a.timeout_ns = 0;
	fi_arm(fi, f->n);
	f->ret = ioctl(f->fd, IOCP_IOC_DEQUEUE, &f->a);
	f->err = errno;
	f->hit = fi_disarm(fi);
	close(fi);
	if (f->ret < 0) {
		f->stats_ret = ioctl(f->fd, IOCP_IOC_GET_STATS, &f->s);
		poison(f->e2, sizeof(f->e2));
		f->a2.entries = (uintptr_t)f->e2;
		f->a2.max = 4;
		f->a2.timeout_ns = 0;
		f->ret2 = ioctl(f->fd, IOCP_IOC_DEQUEUE, &f->a2);
		f->err2 = errno;
	}
	return NULL;
}

/*
 * The first DEQUEUE of a thread allocates its association state: run it in
 * a new thread each time.
 */
static int op_dequeue_first(struct ctx *c, unsigned int n)
{
	struct first f = { .n = n };
	uint64_t key;
	pthread_t th;

	if (ctx_port(c))
		return -1;
	f.fd = c->fd;
	if (post_plain(c->fd, &c->m, 1))
		goto bad;
	key = c->m.keys[0];
	if (pthread_create(&th, NULL, first_fn, &f)) {
		fail("pthread_create failed");
		goto bad;
	}
	pthread_join(th, NULL);
	if (f.fi_err) {
		fail("thread cannot open fail-nth: %s", strerror(f.fi_err));
		goto bad;
	}
	if (outcome(f.hit, f.ret, f.err, true))
		goto bad;
	if (f.ret < 0) {
		/* Nothing taken, the thread not associated; then it works. */
		if (f.stats_ret < 0 || f.s.queued != 1 || f.s.threads ||
		    counted(&f.s) || f.s.waiting ||
		    f.s.dequeued != c->m.dequeued) {
			fail("after the failed DEQUEUE: stats %d, queued %u threads %u running %u waiting %u dequeued %llu",
			     f.stats_ret, f.s.queued, f.s.threads, f.s.running,
			     f.s.waiting, (unsigned long long)f.s.dequeued);
			goto bad;
		}
		if (f.ret2 < 0 || f.a2.count != 1 || !entry_ok(&f.e2[0], key)) {
			fail("DEQUEUE after the failed one: ret %d (%s), count %u, key %llu, expected %llu",
			     f.ret2, f.ret2 < 0 ? strerror(f.err2) : "",
			     f.a2.count, (unsigned long long)f.e2[0].key,
			     (unsigned long long)key);
			goto bad;
		}
	} else if (f.a.count != 1 || !entry_ok(&f.e[0], key)) {
		fail("DEQUEUE: count %u, key %llu, expected %llu", f.a.count,
		     (unsigned long long)f.e[0].key, (unsigned long long)key);
		goto bad;
	}
	model_pop(&c->m, 1);
	/* The thread has exited: its association goes away. */
	if (wait_no_threads(c->fd) || check_stats(c->fd, &c->m, 0, 0))
		goto bad;
	return f.hit;
bad:
	ctx_close(c);
	return -1;
}

/* DEQUEUE by a thread already associated, packets queued. */
static int op_dequeue(struct ctx *c, unsigned int n)
{
	struct iocp_dequeue_args a;
	unsigned int i;
	bool hit;
	int ret, err;

	if (ctx_port(c))
		return -1;
	if (post_plain(c->fd, &c->m, 4))
		goto bad;
	/* The first iteration associates this thread, not armed. */
	if (c->m.dequeued == 0 && (drain(c->fd, &c->m) ||
				    post_plain(c->fd, &c->m, 4)))
		goto bad;
	if (check_stats(c->fd, &c->m, 1, 1))
		goto bad;

	poison(deq_buf, sizeof(deq_buf));
	memset(&a, 0, sizeof(a));
	a.entries = (uintptr_t)deq_buf;
	a.max = 2;
	a.min = 2;
	a.timeout_ns = 0;
	fi_arm(main_fi, n);
	ret = ioctl(c->fd, IOCP_IOC_DEQUEUE, &a);
	err = errno;
	hit = fi_disarm(main_fi);
	if (outcome(hit, ret, err, true))
		goto bad;
	if (!ret) {
		if (a.count != 2) {
			fail("count %u, expected 2", a.count);
			goto bad;
		}
		for (i = 0; i < 2; i++) {
			if (!entry_ok(&deq_buf[i], c->m.keys[i])) {
				fail("entry %u: key %llu, expected %llu", i,
				     (unsigned long long)deq_buf[i].key,
				     (unsigned long long)c->m.keys[i]);
				goto bad;
			}
		}
		model_pop(&c->m, 2);
	}
	if (check_stats(c->fd, &c->m, 1, 1) || drain(c->fd, &c->m) ||
	    round_trip(c->fd, &c->m))
		goto bad;
	return hit;
bad:
	ctx_close(c);
	return -1;
}

static int op_set_config(struct ctx *c, unsigned int n)
{
	struct iocp_config before, want = {}, after;
	bool hit;
	int ret, err;

	if (ctx_port(c))
		return -1;
	poison(&before, sizeof(before));
	if (ioctl(c->fd, IOCP_IOC_GET_CONFIG, &before) < 0) {
		fail("GET_CONFIG: %s", strerror(errno));
		goto bad;
	}
	want.concurrency = n % 4 + 1;
	want.max_queued = 1000 + n;
	/* 0 would read back as IOCP_DEFAULT_MAX_ASSOC */
	want.max_assoc = 100 + n;
	/* 0 would read back as IOCP_DEFAULT_MAX_OPS */
	want.max_ops = 200 + n;
	fi_arm(main_fi, n);
	ret = ioctl(c->fd, IOCP_IOC_SET_CONFIG, &want);
	err = errno;
	hit = fi_disarm(main_fi);
	if (outcome(hit, ret, err, true))
		goto bad;
	poison(&after, sizeof(after));
	if (ioctl(c->fd, IOCP_IOC_GET_CONFIG, &after) < 0) {
		fail("GET_CONFIG: %s", strerror(errno));
		goto bad;
	}
	if (!ret && memcmp(&after, &want, sizeof(want))) {
		fail("config %u/%u/%u/%u, set %u/%u/%u/%u", after.concurrency,
		     after.max_queued, after.max_assoc, after.max_ops,
		     want.concurrency, want.max_queued, want.max_assoc,
		     want.max_ops);
		goto bad;
	}
	if (ret && memcmp(&after, &before, sizeof(before))) {
		fail("failed SET_CONFIG changed the config to %u/%u",
		     after.concurrency, after.max_queued);
		goto bad;
	}
	if (round_trip(c->fd, &c->m) || check_stats(c->fd, &c->m, 1, 1))
		goto bad;
	return hit;
bad:
	ctx_close(c);
	return -1;
}

static int op_get_config(struct ctx *c, unsigned int n)
{
	struct iocp_config cfg, want = {
		.concurrency = 3, .max_queued = 777, .max_assoc = 5,
		.max_ops = 9,
	};
	bool hit;
	int ret, err;

	if (ctx_port(c))
		return -1;
	if (ioctl(c->fd, IOCP_IOC_SET_CONFIG, &want) < 0) {
		fail("SET_CONFIG: %s", strerror(errno));
		goto bad;
	}
	poison(&cfg, sizeof(cfg));
	fi_arm(main_fi, n);
	ret = ioctl(c->fd, IOCP_IOC_GET_CONFIG, &cfg);
	err = errno;
	hit = fi_disarm(main_fi);
	if (outcome(hit, ret, err, true))
		goto bad;
	if (!ret && memcmp(&cfg, &want, sizeof(cfg))) {
		fail("config %u/%u/%#x/%u/%u, expected 3/777/0/5/9",
		     cfg.concurrency, cfg.max_queued, cfg.flags, cfg.max_assoc,
		     cfg.max_ops);
		goto bad;
	}
	if (round_trip(c->fd, &c->m) || check_stats(c->fd, &c->m, 1, 1))
		goto bad;
	return hit;
bad:
	ctx_close(c);
	return -1;
}

static int op_get_stats(struct ctx *c, unsigned int n)
{
	struct iocp_stats s;
	bool hit;
	int ret, err;

	if (ctx_port(c))
		return -1;
	/* Something queued, this thread associated and running. */
	if (round_trip(c->fd, &c->m) || post_plain(c->fd, &c->m, 3))
		goto bad;
	poison(&s, sizeof(s));
	fi_arm(main_fi, n);
	ret = ioctl(c->fd, IOCP_IOC_GET_STATS, &s);
	err = errno;
	hit = fi_disarm(main_fi);
	if (outcome(hit, ret, err, true))
		goto bad;
	if (!ret && (s.queued != 3 || s.posted != c->m.posted ||
		     s.dequeued != c->m.dequeued || s.threads != 1 ||
		     s.associations ||
		     counted(&s) != 1 || s.waiting || s.discarded ||
		     (s.flags & IOCP_STATS_SHUTDOWN) ||
		     !(s.flags & IOCP_STATS_EXIT_TRACKING) ||
		     !reserved_zero(&s))) {
		fail("stats queued %u posted %llu dequeued %llu threads %u running %u flags %#x",
		     s.queued, (unsigned long long)s.posted,
		     (unsigned long long)s.dequeued, s.threads, s.running,
		     s.flags);
		goto bad;
	}
	if (drain(c->fd, &c->m) || round_trip(c->fd, &c->m))
		goto bad;
	return hit;
bad:
	ctx_close(c);
	return -1;
}

/*
 * A port with 3 packets queued and this thread associated and running
 * (5 posted, 2 dequeued), for the SHUTDOWN and close tests.
 */
static int busy_port(struct model *m)
{
	struct iocp_dequeue_args a = {
		.entries = (uintptr_t)deq_buf,
		.max = 2,
		.min = 2,
	};
	int fd;

	memset(m, 0, sizeof(*m));
	fd = port_open();
	if (fd < 0)
		return -1;
	if (post_plain(fd, m, 5))
		goto bad;
	poison(deq_buf, sizeof(deq_buf));
	if (ioctl(fd, IOCP_IOC_DEQUEUE, &a) < 0 || a.count != 2) {
		fail("DEQUEUE: %s, count %u", strerror(errno), a.count);
		goto bad;
	}
	model_pop(m, 2);
	if (check_stats(fd, m, 1, 1))
		goto bad;
	return fd;
bad:
	close(fd);
	return -1;
}

static int op_shutdown(struct ctx *c, unsigned int n)
{
	struct iocp_dequeue_args a = { .entries = (uintptr_t)deq_buf, .max = 1 };
	struct iocp_post_args p = { .entries = (uintptr_t)post_buf, .count = 1 };
	struct model m;
	struct iocp_stats s;
	bool hit;
	int fd, ret, err;

	(void)c;
	fd = busy_port(&m);
	if (fd < 0)
		return -1;
	fi_arm(main_fi, n);
	ret = ioctl(fd, IOCP_IOC_SHUTDOWN);
	err = errno;
	hit = fi_disarm(main_fi);
	if (outcome(hit, ret, err, false))
		goto bad;
	poison(&s, sizeof(s));
	if (ioctl(fd, IOCP_IOC_GET_STATS, &s) < 0) {
		fail("GET_STATS: %s", strerror(errno));
		goto bad;
	}
	if (s.queued || s.discarded != 3 || s.posted != 5 || s.dequeued != 2 ||
	    s.threads || counted(&s) || s.waiting ||
	    !(s.flags & IOCP_STATS_SHUTDOWN) || !reserved_zero(&s)) {
		fail("after SHUTDOWN: queued %u discarded %llu posted %llu dequeued %llu threads %u running %u flags %#x",
		     s.queued, (unsigned long long)s.discarded,
		     (unsigned long long)s.posted,
		     (unsigned long long)s.dequeued, s.threads, s.running,
		     s.flags);
		goto bad;
	}
	prepare_post(1);
	ret = ioctl(fd, IOCP_IOC_POST, &p);
	if (ret >= 0 || errno != ESHUTDOWN) {
		fail("POST after SHUTDOWN: %d %s", ret, strerror(errno));
		goto bad;
	}
	ret = ioctl(fd, IOCP_IOC_DEQUEUE, &a);
	if (ret >= 0 || errno != ESHUTDOWN) {
		fail("DEQUEUE after SHUTDOWN: %d %s", ret, strerror(errno));
		goto bad;
	}
	if (ioctl(fd, IOCP_IOC_SHUTDOWN) < 0) {
		fail("second SHUTDOWN: %s", strerror(errno));
		goto bad;
	}
	close(fd);
	return hit;
bad:
	close(fd);
	return -1;
}

/* close() of the last fd: the implicit shutdown and the port's release. */
static int op_close(struct ctx *c, unsigned int n)
{
	struct model m;
	bool hit;
	int fd, ret, err;

	(void)c;
	fd = busy_port(&m);
	if (fd < 0)
		return -1;
	fi_arm(main_fi, n);
	ret = close(fd);
	err = errno;
	hit = fi_disarm(main_fi);
	if (outcome(hit, ret, err, false))
		return -1;
	/* This thread was detached: it associates with a new port cleanly. */
	memset(&m, 0, sizeof(m));
	fd = port_open();
	if (fd < 0)
		return -1;
	if (round_trip(fd, &m) || check_stats(fd, &m, 1, 1)) {
		close(fd);
		return -1;
	}
	close(fd);
	return hit;
}

/*
 * epoll_ctl(ADD) of a port: epoll allocates its item and, from the port's
 * poll method, the wait queue entry. Then a post must wake the epoll set.
 */
static int op_epoll_add(struct ctx *c, unsigned int n)
{
	struct epoll_event ev = { .events = EPOLLIN }, out;
	bool hit;
	int ep, ret, err;

	if (ctx_port(c))
		return -1;
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0) {
		fail("epoll_create1: %s", strerror(errno));
		goto bad;
	}
	ev.data.u64 = n;
	fi_arm(main_fi, n);
	ret = epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
	err = errno;
	hit = fi_disarm(main_fi);
	if (outcome(hit, ret, err, true))
		goto bad;
	if (ret < 0 && epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0) {
		fail("epoll_ctl ADD after the failed one: %s", strerror(errno));
		goto bad;
	}
	/* Nothing queued: not ready. */
	ret = epoll_wait(ep, &out, 1, 0);
	if (ret != 0) {
		fail("epoll_wait on an empty port: %d %s", ret, strerror(errno));
		goto bad;
	}
	if (post_plain(c->fd, &c->m, 1))
		goto bad;
	ret = epoll_wait(ep, &out, 1, 5000);
	if (ret != 1 || out.data.u64 != n || !(out.events & EPOLLIN)) {
		fail("epoll_wait after a post: %d %s, events %#x", ret,
		     ret < 0 ? strerror(errno) : "", ret == 1 ? out.events : 0);
		goto bad;
	}
	if (drain(c->fd, &c->m) || epoll_wait(ep, &out, 1, 0) != 0 ||
	    check_stats(c->fd, &c->m, 1, 1)) {
		fail("after the drain");
		goto bad;
	}
	close(ep);
	return hit;
bad:
	if (ep >= 0)
		close(ep);
	ctx_close(c);
	return -1;
}

/* read() of /proc/self/fdinfo/<port>: seq_file buffers, show_fdinfo. */
static int op_fdinfo(struct ctx *c, unsigned int n)
{
	static char buf[4096];
	char path[64], want[64];
	bool hit;
	int fi, ret, err;

	if (ctx_port(c))
		return -1;
	/* Something to show: 3 packets queued, 2 dequeued by this thread. */
	if (post_plain(c->fd, &c->m, 5))
		goto bad;
	poison(deq_buf, sizeof(deq_buf));
	{
		struct iocp_dequeue_args a = {
			.entries = (uintptr_t)deq_buf, .max = 2, .min = 2,
		};

		if (ioctl(c->fd, IOCP_IOC_DEQUEUE, &a) < 0 || a.count != 2) {
			fail("DEQUEUE: %s", strerror(errno));
			goto bad;
		}
		model_pop(&c->m, 2);
	}
	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", c->fd);
	fi = open(path, O_RDONLY | O_CLOEXEC);
	if (fi < 0) {
		fail("open %s: %s", path, strerror(errno));
		goto bad;
	}
	memset(buf, 0, sizeof(buf));
	fi_arm(main_fi, n);
	ret = read(fi, buf, sizeof(buf) - 1);
	err = errno;
	hit = fi_disarm(main_fi);
	close(fi);
	if (outcome(hit, ret, err, true))
		goto bad;
	snprintf(want, sizeof(want), "iocp-queued:\t%u\n", c->m.n);
	if (ret >= 0 && (!strstr(buf, want) ||
			 !strstr(buf, "iocp-threads:\t1\n") ||
			 !strstr(buf, "iocp-shutdown:\t0\n"))) {
		fail("fdinfo lacks \"%.*s\": %s", (int)strlen(want) - 1, want,
		     buf);
		goto bad;
	}
	if (check_stats(c->fd, &c->m, 1, 1) || drain(c->fd, &c->m) ||
	    round_trip(c->fd, &c->m))
		goto bad;
	return hit;
bad:
	ctx_close(c);
	return -1;
}

/* ------------------------------------------------------------------ */
/* File associations                                                    */
/* ------------------------------------------------------------------ */

/* The files an association sweep associates, made ready for IOCP_POLLIN. */
enum assoc_file { AF_EVENTFD, AF_PORT, AF_FIFO };

struct afile {
	int fd;		/* what is associated */
	int aux;	/* the pipe's write end, for AF_FIFO */
};

static void afile_close(struct afile *f)
{
	if (f->fd >= 0)
		close(f->fd);
	if (f->aux >= 0)
		close(f->aux);
	f->fd = f->aux = -1;
}

/* Make the file signal (and be) readable once more. */
static int afile_fire(enum assoc_file kind, struct afile *f)
{
	uint64_t one = 1;

	switch (kind) {
	case AF_EVENTFD:
		CHECK_SYS(write(f->fd, &one, sizeof(one)));
		break;
	case AF_PORT:
		CHECK(iocp_post(f->fd, 1, 2, 3) == 0, "POST to the inner port");
		break;
	case AF_FIFO:
		CHECK_SYS(write(f->aux, "x", 1));
		break;
	}
	return 0;
}

/*
 * A file of @kind, readable already, so that its association queues a
 * packet at once. AF_PORT: a port with a packet queued (a port in a port).
 * AF_FIFO: a pipe opened for reading and writing, which has two wait
 * queues: the association allocates a second wait queue entry.
 */
static int afile_open(enum assoc_file kind, struct afile *f)
{
	char path[64];
	int p[2];

	f->fd = f->aux = -1;
	switch (kind) {
	case AF_EVENTFD:
		f->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		CHECK_SYS(f->fd);
		break;
	case AF_PORT:
		f->fd = port_open();
		if (f->fd < 0)
			return -1;
		break;
	case AF_FIFO:
		CHECK_SYS(pipe2(p, O_CLOEXEC | O_NONBLOCK));
		f->aux = p[1];
		snprintf(path, sizeof(path), "/proc/self/fd/%d", p[0]);
		f->fd = open(path, O_RDWR | O_CLOEXEC | O_NONBLOCK);
		close(p[0]);
		CHECK_SYS(f->fd);
		break;
	}
	return afile_fire(kind, f);
}

static int assoc_ioctl(int port, unsigned long cmd, int fd, uint64_t key,
		       uint32_t flags)
{
	struct iocp_assoc_args a = {
		.key = key,
		.fd = (uint32_t)fd,
		.events = cmd == IOCP_IOC_DISSOCIATE ? 0 : IOCP_POLLIN,
		.flags = flags,
	};

	return ioctl(port, cmd, &a);
}

/* ASSOCIATE (not armed) a ready file of @kind: a packet is queued. */
static int assoc_plain(int fd, struct model *m, enum assoc_file kind,
		       struct afile *f, uint64_t key)
{
	if (afile_open(kind, f))
		return -1;
	CHECK_SYS(assoc_ioctl(fd, IOCP_IOC_ASSOCIATE, f->fd, key, 0));
	m->assoc++;
	m->rq++;
	m->rkey = key;
	return 0;
}

/*
 * The association of @f works: the file fires, a packet with @key comes;
 * DISSOCIATE (not armed) ends it: the file fires, nothing comes.
 */
static int assoc_check_end(int fd, struct model *m, enum assoc_file kind,
			   struct afile *f, uint64_t key)
{
	if (afile_fire(kind, f))
		return -1;
	m->rq = 1;
	m->rkey = key;
	if (check_stats(fd, m, 1, 1) || drain(fd, m))
		return -1;
	CHECK_SYS(assoc_ioctl(fd, IOCP_IOC_DISSOCIATE, f->fd, 0, 0));
	m->assoc--;
	if (afile_fire(kind, f) || check_stats(fd, m, 1, 1) || drain(fd, m))
		return -1;
	return 0;
}

/*
 * ASSOCIATE of a ready file, two posted packets queued: on success the
 * readiness packet is queued; on ENOMEM nothing changed and the file is
 * not left associated with anything (associating it again works).
 */
static int do_associate(struct ctx *c, unsigned int n, enum assoc_file kind)
{
	struct afile f = { -1, -1 };
	uint64_t key = 0xa550c0000000ULL + n;
	bool hit;
	int ret, err;

	if (ctx_port(c))
		return -1;
	if (post_plain(c->fd, &c->m, 2) || check_stats(c->fd, &c->m, -1, -1) ||
	    afile_open(kind, &f))
		goto bad;

	fi_arm(main_fi, n);
	ret = assoc_ioctl(c->fd, IOCP_IOC_ASSOCIATE, f.fd, key, 0);
	err = errno;
	hit = fi_disarm(main_fi);
	if (outcome(hit, ret, err, true))
		goto bad;
	if (!ret) {
		c->m.assoc++;
		c->m.rq = 1;
		c->m.rkey = key;
	}
	if (check_stats(c->fd, &c->m, -1, -1) || drain(c->fd, &c->m))
		goto bad;
	if (ret) {
		/* Nothing was left behind: not EEXIST. */
		if (assoc_ioctl(c->fd, IOCP_IOC_ASSOCIATE, f.fd, key, 0) < 0) {
			fail("ASSOCIATE after the failed one: %s", strerror(errno));
			goto bad;
		}
		c->m.assoc++;
		c->m.rq = 1;
		c->m.rkey = key;
		if (check_stats(c->fd, &c->m, 1, 1) || drain(c->fd, &c->m))
			goto bad;
	}
	if (assoc_check_end(c->fd, &c->m, kind, &f, key))
		goto bad;
	afile_close(&f);
	if (round_trip(c->fd, &c->m) || check_stats(c->fd, &c->m, 1, 1))
		goto bad;
	return hit;
bad:
	afile_close(&f);
	ctx_close(c);
	return -1;
}

static int op_associate(struct ctx *c, unsigned int n)
{
	return do_associate(c, n, AF_EVENTFD);
}

static int op_associate_port(struct ctx *c, unsigned int n)
{
	return do_associate(c, n, AF_PORT);
}

static int op_associate_fifo(struct ctx *c, unsigned int n)
{
	return do_associate(c, n, AF_FIFO);
}

/*
 * MODIFY of an association whose packet is queued: on success the packet
 * has the new key; on failure the association is unchanged.
 */
static int op_modify(struct ctx *c, unsigned int n)
{
	struct afile f = { -1, -1 };
	uint64_t k1 = 0xa550d0000000ULL + 2 * n, k2 = k1 + 1;
	bool hit;
	int ret, err;

	if (ctx_port(c))
		return -1;
	if (post_plain(c->fd, &c->m, 2) ||
	    assoc_plain(c->fd, &c->m, AF_EVENTFD, &f, k1) ||
	    check_stats(c->fd, &c->m, -1, -1))
		goto bad;

	fi_arm(main_fi, n);
	ret = assoc_ioctl(c->fd, IOCP_IOC_MODIFY, f.fd, k2, 0);
	err = errno;
	hit = fi_disarm(main_fi);
	if (outcome(hit, ret, err, true))
		goto bad;
	/* Still readable: a packet with the key in effect. */
	if (!ret)
		c->m.rkey = k2;
	if (check_stats(c->fd, &c->m, -1, -1) || drain(c->fd, &c->m) ||
	    assoc_check_end(c->fd, &c->m, AF_EVENTFD, &f, ret ? k1 : k2))
		goto bad;
	afile_close(&f);
	if (round_trip(c->fd, &c->m) || check_stats(c->fd, &c->m, 1, 1))
		goto bad;
	return hit;
bad:
	afile_close(&f);
	ctx_close(c);
	return -1;
}

/* DISSOCIATE with a packet queued: never fails; the packet goes. */
static int op_dissociate(struct ctx *c, unsigned int n)
{
	struct afile f = { -1, -1 };
	uint64_t key = 0xa550e0000000ULL + n;
	bool hit;
	int ret, err;

	if (ctx_port(c))
		return -1;
	if (post_plain(c->fd, &c->m, 2) ||
	    assoc_plain(c->fd, &c->m, AF_PORT, &f, key) ||
	    check_stats(c->fd, &c->m, -1, -1))
		goto bad;

	fi_arm(main_fi, n);
	ret = assoc_ioctl(c->fd, IOCP_IOC_DISSOCIATE, f.fd, 0, 0);
	err = errno;
	hit = fi_disarm(main_fi);
	if (outcome(hit, ret, err, false))
		goto bad;
	c->m.assoc--;
	c->m.rq = 0;
	if (check_stats(c->fd, &c->m, -1, -1) || drain(c->fd, &c->m) ||
	    afile_fire(AF_PORT, &f) || check_stats(c->fd, &c->m, 1, 1))
		goto bad;
	/* The file is free: it can be associated again. */
	if (assoc_ioctl(c->fd, IOCP_IOC_ASSOCIATE, f.fd, key, 0) < 0) {
		fail("ASSOCIATE after DISSOCIATE: %s", strerror(errno));
		goto bad;
	}
	c->m.assoc++;
	c->m.rq = 1;
	c->m.rkey = key;
	if (check_stats(c->fd, &c->m, 1, 1) || drain(c->fd, &c->m) ||
	    assoc_check_end(c->fd, &c->m, AF_PORT, &f, key))
		goto bad;
	afile_close(&f);
	if (round_trip(c->fd, &c->m) || check_stats(c->fd, &c->m, 1, 1))
		goto bad;
	return hit;
bad:
	afile_close(&f);
	ctx_close(c);
	return -1;
}

/*
 * SHUTDOWN (@close false) or close() (true) of a port with a file of each
 * kind associated, one readiness packet and two posted packets queued:
 * never fails, and the files are free afterwards.
 */
static int do_end_assoc(unsigned int n, bool do_close)
{
	static const enum assoc_file kinds[] = { AF_EVENTFD, AF_PORT, AF_FIFO };
	struct afile f[3] = { { -1, -1 }, { -1, -1 }, { -1, -1 } };
	struct model m = {};
	struct iocp_stats s;
	bool hit;
	int fd, ret, err, i, other = -1;

	fd = port_open();
	if (fd < 0)
		return -1;
	if (post_plain(fd, &m, 2))
		goto bad;
	/* Each queues its packet at once. */
	for (i = 0; i < 3; i++) {
		if (assoc_plain(fd, &m, kinds[i], &f[i], 0xa550f0000000ULL + i))
			goto bad;
	}
	/* The two posted packets and two readiness packets go; the last
	 * readiness packet stays queued. */
	poison(deq_buf, sizeof(deq_buf));
	{
		struct iocp_dequeue_args a = {
			.entries = (uintptr_t)deq_buf, .max = 4, .min = 4,
		};

		if (ioctl(fd, IOCP_IOC_DEQUEUE, &a) < 0 || a.count != 4) {
			fail("DEQUEUE of 4: %s, count %u", strerror(errno), a.count);
			goto bad;
		}
		model_pop(&m, 2);
		m.ready += 2;
		m.dequeued += 2;
		m.rq = 1;
		m.rkey = 0xa550f0000002ULL;
	}
	if (check_stats(fd, &m, 1, 1))
		goto bad;

	fi_arm(main_fi, n);
	ret = do_close ? close(fd) : ioctl(fd, IOCP_IOC_SHUTDOWN);
	err = errno;
	hit = fi_disarm(main_fi);
	if (do_close)
		fd = -1;
	if (outcome(hit, ret, err, false))
		goto bad;
	if (!do_close) {
		poison(&s, sizeof(s));
		if (ioctl(fd, IOCP_IOC_GET_STATS, &s) < 0 || s.associations ||
		    s.queued || s.discarded != 1 || !(s.flags & IOCP_STATS_SHUTDOWN)) {
			fail("after SHUTDOWN: associations %u queued %u discarded %llu flags %#x",
			     s.associations, s.queued,
			     (unsigned long long)s.discarded, s.flags);
			goto bad;
		}
		if (assoc_ioctl(fd, IOCP_IOC_DISSOCIATE, f[0].fd, 0, 0) == 0 ||
		    errno != ENOENT) {
			fail("DISSOCIATE after SHUTDOWN: %s", strerror(errno));
			goto bad;
		}
	}
	/* Every file is free again. */
	other = port_open();
	if (other < 0)
		goto bad;
	for (i = 0; i < 3; i++) {
		if (assoc_ioctl(other, IOCP_IOC_ASSOCIATE, f[i].fd, i, 0) < 0) {
			fail("ASSOCIATE of file %d with another port: %s", i,
			     strerror(errno));
			goto bad;
		}
	}
	close(other);
	for (i = 0; i < 3; i++)
		afile_close(&f[i]);
	if (fd >= 0)
		close(fd);
	/* This thread was detached: it associates with a new port cleanly. */
	memset(&m, 0, sizeof(m));
	fd = port_open();
	if (fd < 0)
		return -1;
	if (round_trip(fd, &m) || check_stats(fd, &m, 1, 1)) {
		close(fd);
		return -1;
	}
	close(fd);
	return hit;
bad:
	if (other >= 0)
		close(other);
	for (i = 0; i < 3; i++)
		afile_close(&f[i]);
	if (fd >= 0)
		close(fd);
	return -1;
}

static int op_shutdown_assoc(struct ctx *c, unsigned int n)
{
	(void)c;
	return do_end_assoc(n, false);
}

static int op_close_assoc(struct ctx *c, unsigned int n)
{
	(void)c;
	return do_end_assoc(n, true);
}


/* ------------------------------------------------------------------ */
/* Overlapped I/O: SUBMIT and CANCEL                                    */
/* ------------------------------------------------------------------ */

enum sub_kind { SK_NOP, SK_RECV, SK_READ, SK_ACCEPT };

/* The files of one op, and its buffer (touched before every use). */
struct opfiles {
	int fd;		/* the op's file */
	int aux;	/* RECV: the peer; ACCEPT: the connected client */
};

static unsigned char op_buf[4096];
static const char file_data[] = "0123456789";

static void opfiles_close(struct opfiles *f)
{
	if (f->fd >= 0)
		close(f->fd);
	if (f->aux >= 0)
		close(f->aux);
	f->fd = f->aux = -1;
}

/* Make the files of an op of @kind, and the op (fault site @n). */
static int op_prepare(enum sub_kind kind, unsigned int n, struct opfiles *f,
		      struct iocp_op *op)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	socklen_t salen;
	int sv[2];

	f->fd = f->aux = -1;
	memset(op, 0, sizeof(*op));
	memset(op_buf, 0, sizeof(op_buf));
	op->user_data = 0x0b0000000000ULL + ((uint64_t)kind << 24) + n;
	switch (kind) {
	case SK_NOP:
		op->opcode = IOCP_OP_NOP;
		break;
	case SK_RECV:
		CHECK_SYS(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
		f->fd = sv[0];
		f->aux = sv[1];
		op->opcode = IOCP_OP_RECV;
		op->fd = f->fd;
		op->addr = (uintptr_t)op_buf;
		op->len = sizeof(op_buf);
		break;
	case SK_READ:
		f->fd = memfd_create("iocp_faults", MFD_CLOEXEC);
		CHECK_SYS(f->fd);
		CHECK(write(f->fd, file_data, strlen(file_data)) ==
		      (ssize_t)strlen(file_data), "write to the memfd");
		op->opcode = IOCP_OP_READ;
		op->fd = f->fd;
		op->addr = (uintptr_t)op_buf;
		op->len = sizeof(op_buf);
		op->offset = 0;
		break;
	case SK_ACCEPT:
		salen = offsetof(struct sockaddr_un, sun_path) + 1 +
			snprintf(sa.sun_path + 1, sizeof(sa.sun_path) - 1,
				 "iocp_faults.%d.%u", getpid(), n);
		f->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		CHECK_SYS(f->fd);
		CHECK_SYS(bind(f->fd, (struct sockaddr *)&sa, salen));
		CHECK_SYS(listen(f->fd, 4));
		/* A connection waits: the ACCEPT is done at submit. */
		f->aux = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		CHECK_SYS(f->aux);
		CHECK_SYS(connect(f->aux, (struct sockaddr *)&sa, salen));
		op->opcode = IOCP_OP_ACCEPT;
		op->fd = f->fd;
		op->op_flags = O_CLOEXEC;
		break;
	}
	return 0;
}

/* What the packet of a successful op of @kind carries. */
static void op_expect(struct model *m, enum sub_kind kind,
		      const struct iocp_op *op)
{
	m->oud = op->user_data;
	m->ofd = kind == SK_ACCEPT;
	m->ores = kind == SK_RECV ? 1 : kind == SK_READ ?
		  (int64_t)strlen(file_data) : 0;
}

/* Wait (not armed) until @count op packets are queued. */
static int wait_op_packets(int fd, struct model *m, unsigned int count)
{
	struct iocp_stats s;
	int ms;

	for (ms = 0; ms < STATE_WAIT_MS; ms++) {
		CHECK_SYS(ioctl(fd, IOCP_IOC_GET_STATS, &s));
		if (s.queued == m->n + m->rq + count)
			break;
		usleep(1000);
	}
	CHECK(s.queued == m->n + m->rq + count,
	      "queued %u after %d ms, expected %u (%u op packets)", s.queued,
	      STATE_WAIT_MS, m->n + m->rq + count, count);
	m->oq = count;
	return 0;
}

/* A pending op of @kind completes: make it ready, wait for its packet. */
static int op_complete(int fd, struct model *m, enum sub_kind kind,
		       struct opfiles *f)
{
	if (kind == SK_RECV)
		CHECK(write(f->aux, "x", 1) == 1, "write to the peer: %s",
		      strerror(errno));
	return wait_op_packets(fd, m, m->ops);
}

static int submit_one(int fd, struct iocp_op *op)
{
	struct iocp_submit_args a = {
		.ops = (uintptr_t)op,
		.count = 1,
	};

	return ioctl(fd, IOCP_IOC_SUBMIT, &a);
}

/*
 * Account for one armed SUBMIT: the ioctl's own result (@ret, @err) as
 * outcome() does, then the op's: FAILED only with -ENOMEM under a fault;
 * PENDING or QUEUED otherwise (never DONE: no skip on success asked).
 */
static int op_outcome(bool hit, int ret, int err, const struct iocp_op *op)
{
	int64_t res = (int64_t)op->result;

	if (ret < 0)
		return outcome(hit, ret, err, true);
	if (op->status != IOCP_OP_FAILED)
		return outcome(hit, 0, 0, true);
	cur->iters++;
	if (hit)
		cur->injected++;
	CHECK(hit, "op FAILED with %lld without an injected fault", (long long)res);
	CHECK(res == -ENOMEM, "op FAILED with %lld under an injected fault",
	      (long long)res);
	cur->enomem++;
	return 0;
}

/*
 * SUBMIT of one op of @kind, two posted packets queued: the fault makes
 * the op FAIL with -ENOMEM (no packet, stats.ops unchanged) or not at all
 * (exactly one packet, with the op's result). Then the same op again,
 * not armed, works.
 */
static int do_submit(struct ctx *c, unsigned int n, enum sub_kind kind)
{
	struct opfiles f = { -1, -1 };
	struct iocp_op op;
	bool hit;
	int ret, err, round;

	if (ctx_port(c))
		return -1;
	if (post_plain(c->fd, &c->m, 2) || check_stats(c->fd, &c->m, -1, -1))
		goto bad;
	for (round = 0; round < 2; round++) {
		if (op_prepare(kind, n, &f, &op))
			goto bad;
		op.status = 0x5a5a5a5a;
		op.result = 0xdeadbeefULL;
		if (!round)
			fi_arm(main_fi, n);
		ret = submit_one(c->fd, &op);
		err = errno;
		if (!round) {
			hit = fi_disarm(main_fi);
			if (op_outcome(hit, ret, err, &op))
				goto bad;
			if (ret < 0) {
				/* Nothing was processed: op untouched. */
				if (op.status != 0x5a5a5a5a) {
					fail("SUBMIT failed, but the op's status is %u",
					     op.status);
					goto bad;
				}
				opfiles_close(&f);
				continue;
			}
		} else if (ret < 0) {
			fail("SUBMIT (not armed): %s", strerror(errno));
			goto bad;
		}
		switch (op.status) {
		case IOCP_OP_FAILED:
			if (round) {
				fail("SUBMIT (not armed): op FAILED with %lld",
				     (long long)op.result);
				goto bad;
			}
			/* No packet, nothing in flight. */
			if (check_stats(c->fd, &c->m, -1, -1) ||
			    drain(c->fd, &c->m))
				goto bad;
			opfiles_close(&f);
			continue;
		case IOCP_OP_PENDING:
			if (op.result || kind == SK_NOP || kind == SK_ACCEPT) {
				fail("op of kind %d PENDING, result %lld", kind,
				     (long long)op.result);
				goto bad;
			}
			c->m.ops++;
			op_expect(&c->m, kind, &op);
			/* A READ of a file that cannot be read without
			 * blocking goes to a worker: its packet may be
			 * queued already. A RECV waits for its data. */
			if ((kind == SK_RECV &&
			     check_stats(c->fd, &c->m, -1, -1)) ||
			    op_complete(c->fd, &c->m, kind, &f))
				goto bad;
			break;
		case IOCP_OP_QUEUED:
			op_expect(&c->m, kind, &op);
			if ((int64_t)op.result != c->m.ores || kind == SK_RECV) {
				fail("op of kind %d QUEUED with result %lld", kind,
				     (long long)op.result);
				goto bad;
			}
			c->m.ops++;
			c->m.oq++;
			break;
		default:
			fail("op of kind %d: status %u result %lld", kind,
			     op.status, (long long)op.result);
			goto bad;
		}
		if (check_stats(c->fd, &c->m, -1, -1) || drain(c->fd, &c->m) ||
		    check_stats(c->fd, &c->m, -1, -1))
			goto bad;
		if (kind == SK_READ && memcmp(op_buf, file_data, strlen(file_data))) {
			fail("READ op: wrong data");
			goto bad;
		}
		opfiles_close(&f);
	}
	if (round_trip(c->fd, &c->m) || check_stats(c->fd, &c->m, 1, 1))
		goto bad;
	return hit;
bad:
	opfiles_close(&f);
	ctx_close(c);
	return -1;
}

static int op_submit_nop(struct ctx *c, unsigned int n)
{
	return do_submit(c, n, SK_NOP);
}

static int op_submit_recv(struct ctx *c, unsigned int n)
{
	return do_submit(c, n, SK_RECV);
}

static int op_submit_read(struct ctx *c, unsigned int n)
{
	return do_submit(c, n, SK_READ);
}

static int op_submit_accept(struct ctx *c, unsigned int n)
{
	return do_submit(c, n, SK_ACCEPT);
}

/*
 * CANCEL (by user_data, or of all) of a pending RECV: on success the op
 * completes with -ECANCELED (one packet); on ENOMEM it is still pending
 * and completes with its data.
 */
static int do_cancel(struct ctx *c, unsigned int n, uint32_t flags)
{
	struct opfiles f = { -1, -1 };
	struct iocp_cancel_args a;
	struct iocp_op op;
	bool hit;
	int ret, err;

	if (ctx_port(c))
		return -1;
	if (post_plain(c->fd, &c->m, 2) || op_prepare(SK_RECV, n, &f, &op))
		goto bad;
	if (submit_one(c->fd, &op) < 0 || op.status != IOCP_OP_PENDING) {
		fail("SUBMIT of a RECV (not armed): %d status %u result %lld",
		     errno, op.status, (long long)op.result);
		goto bad;
	}
	c->m.ops++;
	op_expect(&c->m, SK_RECV, &op);
	if (check_stats(c->fd, &c->m, -1, -1))
		goto bad;

	memset(&a, 0, sizeof(a));
	a.flags = flags;
	a.user_data = op.user_data;
	a.count = 0xdeadbeef;
	fi_arm(main_fi, n);
	ret = ioctl(c->fd, IOCP_IOC_CANCEL, &a);
	err = errno;
	hit = fi_disarm(main_fi);
	if (outcome(hit, ret, err, true))
		goto bad;
	if (!ret) {
		if (a.count != 1) {
			fail("CANCEL: count %u", a.count);
			goto bad;
		}
		/* Completed by the cancel itself: queued already. */
		c->m.ores = -ECANCELED;
		c->m.oq = 1;
	} else if (a.count != 0xdeadbeef) {
		fail("CANCEL failed, but wrote count %u", a.count);
		goto bad;
	} else if (op_complete(c->fd, &c->m, SK_RECV, &f)) {
		goto bad;
	}
	if (check_stats(c->fd, &c->m, -1, -1) || drain(c->fd, &c->m) ||
	    check_stats(c->fd, &c->m, -1, -1))
		goto bad;
	/* Nothing left to cancel. */
	a.count = 0xdeadbeef;
	if (ioctl(c->fd, IOCP_IOC_CANCEL, &a) == 0 || errno != ENOENT) {
		fail("second CANCEL: %s", strerror(errno));
		goto bad;
	}
	opfiles_close(&f);
	if (round_trip(c->fd, &c->m) || check_stats(c->fd, &c->m, 1, 1))
		goto bad;
	return hit;
bad:
	opfiles_close(&f);
	ctx_close(c);
	return -1;
}

static int op_cancel_user_data(struct ctx *c, unsigned int n)
{
	return do_cancel(c, n, IOCP_CANCEL_USER_DATA);
}

static int op_cancel_fd_all(struct ctx *c, unsigned int n)
{
	return do_cancel(c, n, IOCP_CANCEL_ALL);
}

struct op {
	const char *name;
	int (*fn)(struct ctx *c, unsigned int n);
};

static const struct op ops[] = {
	{ "open", op_open },
	{ "post_1", op_post1 },
	{ "post_batch", op_post_batch },
	{ "post_to_waiter", op_post_waiter },
	{ "dequeue_first", op_dequeue_first },
	{ "dequeue", op_dequeue },
	{ "set_config", op_set_config },
	{ "get_config", op_get_config },
	{ "get_stats", op_get_stats },
	{ "epoll_add", op_epoll_add },
	{ "fdinfo", op_fdinfo },
	{ "shutdown", op_shutdown },
	{ "close", op_close },
	{ "associate", op_associate },
	{ "associate_port", op_associate_port },
	{ "associate_fifo", op_associate_fifo },
	{ "modify", op_modify },
	{ "dissociate", op_dissociate },
	{ "shutdown_assoc", op_shutdown_assoc },
	{ "close_assoc", op_close_assoc },
	{ "submit_nop", op_submit_nop },
	{ "submit_recv", op_submit_recv },
	{ "submit_read", op_submit_read },
	{ "submit_accept", op_submit_accept },
	{ "cancel_user_data", op_cancel_user_data },
	{ "cancel_all", op_cancel_fd_all },
};

#define NOPS (sizeof(ops) / sizeof(ops[0]))

static struct sweep sweeps[NOPS];

static void run_op(size_t i)
{
	struct sweep *sw = &sweeps[i];
	struct ctx c = { .fd = -1 };
	long base = module_refcnt();
	int ret;

	sw->name = ops[i].name;
	cur = sw;
	for (sw->n = 1; sw->n <= MAX_NTH; sw->n++) {
		ret = ops[i].fn(&c, sw->n);
		if (ret == 0) {
			sw->complete = true;
			break;
		}
		if (sw->failures >= MAX_MESSAGES)
			break;
	}
	ctx_close(&c);
	if (sw->failures >= MAX_MESSAGES)
		ksft_print_msg("%s: sweep abandoned at n=%u after %u failures\n",
			       sw->name, sw->n, sw->failures);
	sw->n = 0;
	if (!sw->complete && !sw->failures)
		fail("no end after %d fault sites", MAX_NTH);
	/* Failures are reported by the checks themselves. */
	if (!drop_thread_state())
		check_refcnt(base);

	ksft_print_msg("%s: %u calls, %u faults injected, %u failed with ENOMEM, %u succeeded despite the fault\n",
		       sw->name, sw->iters, sw->injected, sw->enomem,
		       sw->survived);
	ksft_print_msg("faults injected: %s %u\n", sw->name, sw->injected);
	if (sw->failures > MAX_MESSAGES)
		ksft_print_msg("%s: %u more failures not shown\n", sw->name,
			       sw->failures - MAX_MESSAGES);
	if (sw->failures)
		ksft_test_result_fail("%s\n", sw->name);
	else
		ksft_test_result_pass("%s\n", sw->name);
}

static void skip_all(const char *why)
{
	size_t i;

	ksft_print_msg("%s\n", why);
	for (i = 0; i < NOPS; i++)
		ksft_test_result_skip("%s: %s\n", ops[i].name, why);
	ksft_finished();
}

int main(void)
{
	char why[256];
	const char *v;
	unsigned int total = 0;
	struct stat st;
	size_t i;
	int fd;

	ksft_print_header();
	ksft_set_plan(NOPS);

	v = getenv("IOCP_FAULTS_VERBOSE");
	if (v && (!strcmp(v, "0") || !strcmp(v, "1") || !strcmp(v, "2")))
		snprintf(verbose_value, sizeof(verbose_value), "%s", v);

	main_fi = fi_open();
	if (main_fi < 0)
		skip_all("no /proc/self/task/<tid>/fail-nth (CONFIG_FAULT_INJECTION is off)");
	if (stat(DEBUGFS "/failslab", &st))
		skip_all("no " DEBUGFS "/failslab (CONFIG_FAILSLAB or CONFIG_FAULT_INJECTION_DEBUG_FS is off, or debugfs is not mounted)");
	if (knobs_setup(why, sizeof(why))) {
		knobs_restore();
		skip_all(why);
	}
	atexit(knobs_restore);
	ksft_print_msg("failslab%s: ignore-gfp-wait N, probability 0, verbose %s; faults by fail-nth\n",
		       stat(DEBUGFS "/fail_page_alloc", &st) ? "" :
		       " and fail_page_alloc (min-order 0)", verbose_value);

	fd = open(IOCP_DEVICE_PATH, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		printf("Bail out! cannot open %s: %s\n", IOCP_DEVICE_PATH,
		       strerror(errno));
		exit(KSFT_FAIL);
	}
	close(fd);
	if (module_refcnt() < 0)
		ksft_print_msg("no %s: the module reference count is not checked\n",
			       REFCNT_PATH);

	for (i = 0; i < NOPS; i++) {
		run_op(i);
		total += sweeps[i].injected;
	}
	ksft_print_msg("faults injected: total %u\n", total);
	ksft_finished();
}
