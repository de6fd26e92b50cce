// SPDX-License-Identifier: GPL-2.0
/*
 * iocp_fuzz: a seeded, multi-threaded ioctl fuzzer for /dev/iocp.
 *
 *   iocp_fuzz [-s SEED] [-t SECONDS] [-n THREADS] [-q]
 *
 *   -s SEED     seed of every random choice; by default taken from the
 *               clock. Always printed first, as "# seed: N". Each thread's
 *               sequence of calls is a function of (seed, round, thread);
 *               the interleaving of the threads is not reproducible, the
 *               calls are.
 *   -t SECONDS  time budget (default 20).
 *   -n THREADS  fuzzing threads per round (default 6, at most 64).
 *   -q          no per-round lines.
 *
 * The defaults of -t and -n can be changed at build time with
 * -DIOCP_FUZZ_SECONDS=N and -DIOCP_FUZZ_THREADS=N.
 *
 * Prints KTAP: "ok 1 fuzz" or "not ok 1 fuzz", and exits non-zero on
 * failure. A watchdog (alarm) prints "not ok" and exits if the budget is
 * exceeded by a margin; every blocking call has a bounded timeout (or is
 * woken by a SHUTDOWN or by signals at the end of its round), threads are
 * joined with timed joins and children are reaped with deadlines.
 *
 * The run is a series of rounds. Each round opens a fresh "accounting" port
 * (slot 0) and two fresh "chaos" ports (slots 1 and 2), and runs THREADS
 * threads for 0.3-2 s against them and against file descriptors that are
 * not ports. The threads issue random SET_CONFIG, GET_CONFIG, POST, DEQUEUE
 * (including depth queries), GET_STATS, SHUTDOWN, DISASSOCIATE, ASSOCIATE,
 * MODIFY, DISSOCIATE, unknown ioctl numbers and known numbers with a wrong
 * size or direction, with random counts (0, 1, small, any, IOCP_MAX_BATCH,
 * IOCP_MAX_BATCH + 1, huge), flags (IOCP_CONFIG_IGNORE_BLOCKING,
 * IOCP_ASSOC_ONESHOT and undefined bits), poll events (valid sets, none,
 * undefined bits), max_assoc values (0, small, the limit, beyond), reserved
 * words, timeouts (0, microseconds, milliseconds, infinite), argument and
 * entry pointers (valid, NULL, unmapped, kernel, PROT_NONE, read-only,
 * straddling into a PROT_NONE page), on ports, dup()ed ports, a pipe,
 * /dev/null, an eventfd, a memfd, an O_PATH fd, a closed fd number and -1.
 * The files they associate come from a pool made afresh each round: pipes,
 * socketpairs, eventfds and a signalfd (pollable), a regular file (EPERM),
 * a closed fd, -1 and an O_PATH fd (EBADF), the chaos ports (ports in
 * ports, loops: ELOOP) and the target port itself (ELOOP); the files of
 * the pool are written to, read and shut down so that readiness packets
 * flow into the chaos ports (the signalfd is woken, keylessly, by every
 * signal the process gets), and are closed with iocp_close_fd() through a
 * dup. Nothing is ever associated with the accounting port. Private ports
 * check associations exactly (edge-triggered coalescing, one-shot and
 * re-arming, MODIFY replacing a queued packet, DISSOCIATE, the file
 * reference surviving close(), POLLHUP, max_assoc and ENOSPC, a port in a
 * port and a loop, shutdown, POLLFREE of a signalfd whose polling process
 * exited), and children associate the pool's signalfd with chaos ports
 * before they exit (POLLFREE).
 * They also poll and epoll the ports, read their fdinfo, replace chaos ports
 * by new ones (dup2 over the fd: the old file is closed under its waiters),
 * shut ports down under waiters, create, check exactly and close private
 * ports, block elsewhere (sleep, poll) or yield, start bursts of short-lived
 * threads that dequeue and exit while associated, fork children that
 * dequeue and exit, exec, are stopped and continued, or are SIGKILLed, and,
 * where /proc/thread-self/fail-nth exists (debug kernel), inject allocation
 * failures (failslab's ignore-gfp-wait and verbose are set for the run and
 * restored). The main thread posts to the accounting port and (in
 * non-strict rounds) sends SIGUSR1 to the threads to interrupt their waits.
 *
 * Ops: threads and children SUBMIT batches of random ops to the chaos ports
 * (never to the accounting port, whose counts are exact): every opcode
 * (NOP, POLL, READ, WRITE, READV, WRITEV on pipes, socketpairs, eventfds,
 * the signalfd, a memfd, ports; RECV, SEND, RECVMSG, SENDMSG on
 * socketpairs; ACCEPT on a listening UNIX socket, to which connections
 * are made; CONNECT of new sockets to it, or to an address nobody listens
 * on), with bad descriptors, bad fields, flags and opcodes, unreadable,
 * straddling and EFAULT buffers and iovecs, op arrays that are unreadable,
 * straddle into a PROT_NONE page or are read-only, counts 0, 1..64 and
 * beyond IOCP_MAX_BATCH, and CANCEL by user_data, by fd, both, all, with
 * bad flags, reserved words and descriptors. max_ops is set on new chaos
 * ports (4096, or 1..16) and by SET_CONFIG, and the ops of a round are
 * bounded (a registry of OPS_MAX ops in shared memory).
 *  - SUBMIT's errno is the one its arguments determine (EFAULT, EINVAL,
 *    else 0, or EFAULT after the ops that could be read); each processed
 *    op's status is PENDING (result 0), QUEUED (result >= 0, 0 for
 *    ACCEPT), DONE (skip on success asked, or maybe by an association) or
 *    FAILED with a plausible negative errno: exactly EINVAL for a bad
 *    opcode, flags or NOP fields, EBADF for a bad descriptor; ops not
 *    processed are not written, input fields never change.
 *  - every IOCP_CF_OP packet carries the user_data of an op submitted to
 *    that port that SUBMIT said PENDING or QUEUED (or whose status could
 *    not be written), at most once; a key 0 or associated with the port;
 *    a result within the op's bounds (bytes <= len, POLL events among those
 *    asked for plus ERR and HUP, NOP and CONNECT 0); -ECANCELED only if a
 *    CANCEL that could match it was made after it was submitted (or its
 *    submitter was a child, whose exit cancels its ops). Accepted sockets
 *    (in packets, or as DONE results) are closed by whoever gets them.
 *  - CANCEL: EFAULT, EINVAL, EBADF (FD with a bad descriptor) as
 *    determined, ENOENT on the accounting port, else 0 with 1 <= count
 *    (count <= 1 by user_data) or ENOENT; nothing written on failure.
 *  - at the end of each round, each chaos port gets a CANCEL ALL and is
 *    drained until stats.ops is 0: then every op that SUBMIT said PENDING
 *    or QUEUED on that port (not shut down, not replaced meanwhile) had
 *    exactly one packet (unless a SIGKILLed child may have taken some).
 *
 * Checks, on every call:
 *  - the result is in the documented errno set for that call and those
 *    arguments; where the result is determined (unreadable arguments, bad
 *    counts or flags, a port known to be shut down, DISASSOCIATE by a thread
 *    that cannot be associated) it must be that one. EINTR is only accepted
 *    from a call during which the thread handled a signal (or a child was
 *    stopped and continued); ETIMEDOUT never for an infinite timeout, never
 *    before the timeout elapsed, and never when a SHUTDOWN of that port
 *    completed before the deadline; ESHUTDOWN only if GET_STATS then says
 *    the port is shut down.
 *    ASSOCIATE, MODIFY and DISSOCIATE: EFAULT, then EINVAL, EBADF, EPERM
 *    (ASSOCIATE of a regular file), ESHUTDOWN (ENOENT for DISSOCIATE) on a
 *    port known to be shut down, ELOOP for the port itself, ENOENT for
 *    MODIFY and DISSOCIATE of a file never associated with the port; else
 *    success or EEXIST, ENOSPC, ENOMEM, ELOOP (for ports), ENOENT.
 *  - outputs: dequeued packets carry IOCP_CF_POSTED, events 0 and key/result
 *    matching their user_data, or IOCP_CF_READINESS, user_data and result
 *    0, nonzero events among those the key asked for plus IOCP_POLLERR and
 *    IOCP_POLLHUP, and a key given to an ASSOCIATE or MODIFY of that port
 *    that may have succeeded (a registry of keys in shared memory); count
 *    within [min, max]; nothing written past count, nothing written on
 *    failure, input fields unchanged; GET_CONFIG and GET_STATS flags known
 *    and reserved words zero, max_assoc in [1, IOCP_MAX_ASSOC_LIMIT].
 *  - every GET_STATS and fdinfo snapshot: posted == dequeued + discarded +
 *    queued (on ports that may have had associations, readiness packets
 *    count too: posted <= dequeued + discarded + queued); no association
 *    on the accounting port or after shutdown; fdinfo has one iocp-assoc
 *    line per association, with a key, events and flags given to an
 *    ASSOCIATE or MODIFY of the port; high_water >= queued; peak_running
 *    >= running; after shutdown queued, running, blocked and threads are
 *    0; before it threads == running + waiting + blocked (an associated
 *    thread is waiting, released or running, or blocked); blocked is 0
 *    without blocking awareness.
 *  - packets never cross ports, are never duplicated, and a failed POST never
 *    delivers anything (per-packet state in shared memory, updated atomically
 *    by threads and children).
 *  - FIFO: within a port, each dequeuer sees each poster's packets in post
 *    order. Exception: a packet put back after EFAULT goes to the head, so
 *    this is only enforced in rounds/ports without possible put-backs.
 *  - in "strict" rounds (blocking awareness off, no finite timeout nor signal
 *    on the accounting port, its concurrency value and flags unchanged)
 *    every snapshot has running <= N, and at the end peak_running <= N. In
 *    other rounds running may legitimately exceed N: a thread returning from
 *    DEQUEUE with ETIMEDOUT or EINTR counts as running unconditionally (as on
 *    Windows), and so does a blocked thread that runs again. So there
 *    peak_running <= N is only checked if blocking awareness was off, no such
 *    return happened on the accounting port, N was not changed, and no child
 *    was SIGKILLed in a DEQUEUE (max > 0) or a SET_CONFIG changing N or the
 *    flags on the accounting port before it could record the result: a
 *    child killed as a waiter there leaves DEQUEUE with EINTR in the kernel
 *    and counts as running until its exit is seen (N + 1 if N others run),
 *    but never gets to record that EINTR; nor can a killed child record
 *    that its SET_CONFIG changed N or the flags.
 *  - in "minone" rounds (every DEQUEUE on the accounting port has min <= 1)
 *    no snapshot may show packets queued, a waiter and running < N: a freed
 *    slot must be handed to a waiter (no lost wake-up).
 *  - at the end of each round, once the threads are joined and the children
 *    reaped (quiescent): waiting is 0; threads and running drop to 0 (exit
 *    tracking; not required where the module has no scheduler notifiers and
 *    reaps exited threads on demand); stats.posted equals the tally of
 *    successful posts; stats.dequeued equals the tally of delivered packets
 *    (plus at most what SIGKILLed children may have taken without recording
 *    it); a final drain returns exactly stats.queued packets, each posted
 *    once and never seen before; afterwards no posted packet is unaccounted
 *    for: it was delivered or discarded by a shutdown.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <execinfo.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <linux/iocp.h>
#include "iocp.h"

#define NPORTS		3		/* slot 0: accounting port; 1..: chaos */
#define ACCT		0
#define MAX_THREADS	64
#define MAX_HELPERS	4		/* short-lived threads per thread */
#define NCTX		(MAX_THREADS + 2 + MAX_THREADS * MAX_HELPERS)	/* + main, drain, helpers */
#define UD_MAX		(1u << 22)	/* accounting packets per round */
#define CLOSED_FD	1000		/* a descriptor number never opened */
#define NERR		134		/* errno buckets; the last one: others */
#define MAX_FAIL_PRINT	40
#define MAX_CHILD_MSG	16

#define NSEC		1000000000ull
#define MSEC		1000000ull
#define USEC		1000ull

#define ENT_SIZE	sizeof(struct iocp_completion)
#define ENT_CAP		(IOCP_MAX_BATCH + 64)

/* user_data: magic:8 slot:8 poster:8 gen:16 seq:24 */
#define UD_MAGIC	0xA5ull
#define SLOT_TEMP	0xE
#define SLOT_STATIC	0xF
#define POSTER_MAIN	254
#define POSTER_STATIC	255
#define POSTER_CHILD	128		/* + thread: children's posts */
#define RES_SALT	0x5bd1e9955bd1e995ull
#define SOFT_CAP	50000		/* queue depth above which posts stay small */

/* Keys of associations: magic:8 slot:8 flags:8 events:16 serial:24. The
 * serial indexes a registry of the keys given to ASSOCIATE or MODIFY calls
 * that may have succeeded (set before the call, cleared when it fails). */
#define KEY_MAGIC	0xC3ull
#define KEYREG_MAX	(1u << 20)	/* keys per round */
#define POLL_ALL	(IOCP_POLLIN | IOCP_POLLPRI | IOCP_POLLOUT | IOCP_POLLERR | \
			 IOCP_POLLHUP | IOCP_POLLRDHUP)
#define MAX_POOL	24

/* Ops (SUBMIT): user_data is magic:8 slot:8 gen:16 seq:32; seq indexes a
 * registry of the round's ops in shared memory. */
#define OP_MAGIC	0x0Bull
#define OPS_MAX		(1u << 17)	/* ops per round */
#define OP_BATCH	64		/* at most per SUBMIT: one page */
#define OPBUF_SIZE	65536		/* I/O buffers, a PROT_NONE page follows */
#define NIOV		8
#define OPS_PORT_MAX	4096		/* max_ops of a new chaos port */
/* Registry states of an op. */
enum { OS_FREE, OS_SUBMIT, OS_EXPECT, OS_NONE, OS_GOT, OS_UNKNOWN };
/* Registry flags of an op. */
#define OI_CANCEL	0x1	/* a CANCEL by its user_data was made */
#define OI_CHILD	0x2	/* submitted by a child (which exits) */
#define OI_UNSTABLE	0x4	/* the slot may have been replaced meanwhile */

enum kind {
	K_SET_CONFIG, K_GET_CONFIG, K_POST, K_DEQUEUE, K_GET_STATS, K_SHUTDOWN,
	K_DISASSOCIATE, K_ASSOCIATE, K_MODIFY, K_DISSOCIATE, K_SUBMIT, K_CANCEL,
	K_UNKNOWN,
	K_NIOCTL,
	K_OPEN = K_NIOCTL, K_REOPEN, K_CLOSE, K_DUP, K_POLL, K_EPOLL,
	K_FDINFO, K_FORK, K_KILL, K_SIGNAL, K_FAILNTH, K_SLEEP, K_THREAD,
	K_EXEC, K_STOP, K_FDIO, K_CLOSE_FD, K_ASSOC_PRIVATE, K_POLLFREE,
	K_NKINDS
};

static const char *const kind_name[K_NKINDS] = {
	"SET_CONFIG", "GET_CONFIG", "POST", "DEQUEUE", "GET_STATS", "SHUTDOWN",
	"DISASSOCIATE", "ASSOCIATE", "MODIFY", "DISSOCIATE", "SUBMIT", "CANCEL",
	"unknown-ioctl",
	"open", "reopen", "close", "dup", "poll", "epoll", "fdinfo", "fork",
	"kill", "signal", "fail-nth", "sleep", "thread", "exec", "stop",
	"file-io", "iocp_close_fd", "assoc-private", "pollfree",
};

/* A set of errno values (0: success). */
typedef struct { uint64_t w[3]; } eset_t;

static void es_add(eset_t *s, int e)
{
	if (e >= 0 && e < 192)
		s->w[e / 64] |= 1ull << (e % 64);
}

static bool es_has(const eset_t *s, int e)
{
	return e >= 0 && e < 192 && ((s->w[e / 64] >> (e % 64)) & 1);
}

static const char *errname(int e)
{
	static __thread char buf[24];
	const char *n;

	if (!e)
		return "success";
	n = strerrorname_np(e);
	if (n)
		return n;
	snprintf(buf, sizeof(buf), "errno %d", e);
	return buf;
}

static void es_str(const eset_t *s, char *buf, size_t len)
{
	size_t n = 0;

	buf[0] = 0;
	for (int e = 0; e < 192 && n < len; e++) {
		if (es_has(s, e))
			n += snprintf(buf + n, len - n, "%s%s", n ? ", " : "",
				      errname(e));
	}
}

/* A port slot. Its descriptor number never changes during a round: a new
 * port replaces the old one with dup2(), so a number read from a slot always
 * names a port of that slot. @gen is odd while a replacement is under way. */
struct slot {
	int fd;
	atomic_uint gen;
	/* (gen & 0xffff) << 48 | time (ns since start) a SHUTDOWN completed */
	atomic_ullong shut;
	atomic_uint last_queued;
	pthread_mutex_t lock;
};

/* Shared with the children (MAP_SHARED). */
struct shared {
	atomic_int stop;
	atomic_int nfail;
	atomic_int nmsg;
	char msg[MAX_CHILD_MSG][512];
	uint64_t t0;
	int round;
	bool strict, ordered, minone;
	uint32_t acct_conc, acct_flags;
	atomic_ullong acct_shut_at;	/* rel. ns; 0: no mid-round shutdown */
	atomic_int acct_shut_ticket;
	atomic_ullong calls[K_NKINDS];
	atomic_ullong errs[K_NIOCTL][NERR];
	/* accounting port, this round; acct_kills: children SIGKILLed with
	 * child_acct set */
	atomic_ullong posted, dequeued, nopkt, slack, cfgchg, putback_acct, acct_kills;
	atomic_uint seq;
	/* per slot, this round: possible put-backs, order anomalies, packets
	 * with another generation's tag, posts that may have been misdirected */
	atomic_ullong putbacks[NPORTS], anomalies[NPORTS], tagmis[NPORTS],
		misposts[NPORTS];
	/* whole run */
	atomic_ullong eshut_wakes, injected, injections, forks, kills, sigs,
		nopkt_total, putback_total, stop_eintr;
	atomic_ullong child_inflight[MAX_THREADS];
	/* set while the child is in a DEQUEUE (max > 0) or a SET_CONFIG that
	 * changes N or the flags on the accounting port, until it recorded
	 * the result (nopkt, cfgchg): if it is killed meanwhile, running may
	 * have exceeded N without a record */
	atomic_uint child_acct[MAX_THREADS];
	atomic_uint child_stops[MAX_THREADS];	/* SIGSTOPs sent to the child */
	/* associations: files associated with the slot's port this round
	 * (then its stats count readiness packets too); readiness packets
	 * dequeued, with POLLHUP, associations made, private-port checks */
	atomic_int assoc_used[NPORTS];
	atomic_ullong ready_pkts, ready_hup, assoc_ok, assoc_private, pollfree_hup;
	atomic_uint keyseq;
	struct slot slots[NPORTS];
	atomic_uchar ud[UD_MAX];	/* 0 free, 1 posted, 2 delivered */
	atomic_uchar keyreg[KEYREG_MAX];	/* 1: the key may be associated */
	/* ops, this round: the registry, broad CANCELs (ALL, or FD without
	 * USER_DATA) made per slot, packets of another generation, ops whose
	 * slot was replaced during their SUBMIT */
	atomic_uint opseq;
	atomic_uint cancels[NPORTS];
	atomic_ullong op_tagmis[NPORTS], op_unstable[NPORTS];
	atomic_ullong kills_at_start;
	/* ops, whole run */
	atomic_ullong op_sub, op_pend, op_queued, op_done, op_failed, op_pkts,
		op_canceled, op_accepted, op_checked, op_missing_killed,
		cancel_calls, cancel_found;
	atomic_uchar opst[OPS_MAX];
	atomic_uchar opinfo[OPS_MAX];
	uint8_t opcode[OPS_MAX];
	uint32_t oparg[OPS_MAX];	/* bound of a result >= 0 (POLL: events) */
	uint32_t opcx[OPS_MAX];		/* cancels[slot] when submitted */
	uint64_t opud[OPS_MAX];
};

/* The read-only page: prebuilt arguments, and zeroes to write into. */
#define RO_NENT 48
struct ro_layout {
	struct iocp_dequeue_args deq[4];
	struct iocp_post_args post[2];
	struct iocp_config cfg, cfg_bad;
	struct iocp_cancel_args cancel[2];
	struct iocp_completion ent[RO_NENT];
	unsigned char zeros[1024];
};

enum { TT_SLOT, TT_DUP, TT_NOTTY, TT_BADF };

struct tgt {
	int type, fd, slot;
	unsigned int gen;
	bool gen_ok;
	uint64_t t_begin;	/* rel. ns: when the last call on it began */
	const char *name;
};

struct weird {
	int fd;
	int type;		/* TT_NOTTY or TT_BADF */
	const char *name;
	bool epollable;		/* EPOLL_CTL_ADD works */
};

struct tctx {
	int idx;
	int poster;
	char name[32];
	pthread_t tid;
	pid_t ktid;
	bool running, is_child, no_inf;
	uint64_t rng;
	unsigned char *ent_end;	/* end of RW entry pages, PROT_NONE follows */
	unsigned char *args_end;	/* end of RW args page, PROT_NONE follows */
	int epfd;
	int failfd;
	uint32_t cseq;
	bool may_be_associated;	/* a DEQUEUE (max > 0) since the state was freed */
	uint32_t ord_gen[NPORTS];
	int32_t ord_last[NPORTS][256];
	unsigned int cgen[NPORTS];
	bool cgen_ok[NPORTS];
};

static struct shared *sh;
static struct ro_layout *g_ro;
static unsigned char *g_none;		/* a PROT_NONE page */
static unsigned char *g_scratch;	/* RW, written by the kernel, never read */
static size_t page;
static struct weird weird[10];
static int nweird;
static int g_epfd;			/* shared epoll instance */
static struct tctx ctxs[NCTX];
static struct tctx *mainc, *drainc;
static uint64_t g_seed;
#ifndef IOCP_FUZZ_SECONDS
#define IOCP_FUZZ_SECONDS 20
#endif
#ifndef IOCP_FUZZ_THREADS
#define IOCP_FUZZ_THREADS 6
#endif
static int g_nthreads = IOCP_FUZZ_THREADS;
static double g_budget = IOCP_FUZZ_SECONDS;
static bool g_quiet;
static bool g_failnth;			/* fault injection usable */
/* No blocking awareness on a default port: the module has no scheduler
 * notifiers, and finds exited threads only when it needs their slots. */
static bool g_lazy_exit;
static long g_ncpus;
static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;
/* fork() takes it shared; a check that needs the last reference to a file
 * it made (close() must release it) takes it exclusive, so that no child
 * inherits the file meanwhile. */
static pthread_rwlock_t fork_lock = PTHREAD_RWLOCK_INITIALIZER;
static __thread struct tctx *T;
static __thread volatile sig_atomic_t tls_sigs;

/* Fault injection settings saved for restoring. */
struct fi_setting {
	const char *path;
	char saved[32];
	size_t len;
};
static struct fi_setting fi_settings[] = {
	{ "/sys/kernel/debug/failslab/ignore-gfp-wait", "", 0 },
	{ "/sys/kernel/debug/failslab/verbose", "", 0 },
	{ "/sys/kernel/debug/fail_page_alloc/verbose", "", 0 },
};
#define NFI ((int)(sizeof(fi_settings) / sizeof(fi_settings[0])))

/* ------------------------------------------------------------------ */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NSEC + (uint64_t)ts.tv_nsec;
}

static uint64_t rel_ns(uint64_t t)
{
	return t - sh->t0;
}

static void sleep_ns(uint64_t ns)
{
	struct timespec ts = { (time_t)(ns / NSEC), (long)(ns % NSEC) };

	nanosleep(&ts, NULL);
}

static uint64_t mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	x ^= x >> 33;
	return x;
}

static uint64_t rnd64(struct tctx *c)
{
	uint64_t z = (c->rng += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint32_t rn(struct tctx *c, uint32_t n)
{
	return n ? (uint32_t)(rnd64(c) % n) : 0;
}

static bool chance(struct tctx *c, unsigned int pct)
{
	return rn(c, 100) < pct;
}

static void fi_restore(void);

static void outf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void outf(const char *fmt, ...)
{
	char buf[2048];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if (n > (int)sizeof(buf) - 2)
		n = sizeof(buf) - 2;
	buf[n++] = '\n';
	pthread_mutex_lock(&out_lock);
	fwrite(buf, 1, n, stdout);
	fflush(stdout);
	pthread_mutex_unlock(&out_lock);
}

/* Report a failure: printed by threads, stored in shared memory by
 * children (which must not take locks another thread may have held). */
static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void fail(const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	int n, k;

	n = snprintf(buf, sizeof(buf), "FAIL seed=%" PRIu64 " round=%d %s: ",
		     g_seed, sh->round, T ? T->name : "?");
	va_start(ap, fmt);
	vsnprintf(buf + n, sizeof(buf) - n, fmt, ap);
	va_end(ap);
	k = atomic_fetch_add(&sh->nfail, 1);
	if (T && T->is_child) {
		int m = atomic_fetch_add(&sh->nmsg, 1);

		if (m < MAX_CHILD_MSG) {
			size_t l = strlen(buf);

			if (l >= sizeof(sh->msg[m]))
				l = sizeof(sh->msg[m]) - 1;
			memcpy(sh->msg[m], buf, l);
			sh->msg[m][l] = 0;
		}
		return;
	}
	if (k < MAX_FAIL_PRINT)
		outf("# %s", buf);
	else if (k == MAX_FAIL_PRINT)
		outf("# (further failures are counted, not printed)");
}

static void count_call(int kind, int e)
{
	atomic_fetch_add_explicit(&sh->calls[kind], 1, memory_order_relaxed);
	if (kind < K_NIOCTL)
		atomic_fetch_add_explicit(&sh->errs[kind][e < NERR ? e : NERR - 1],
					  1, memory_order_relaxed);
}

/* ioctl: 0 or errno; counted. */
static int xioctl(int fd, unsigned long cmd, void *arg, int kind)
{
	int r = ioctl(fd, cmd, arg);
	int e = r < 0 ? errno : 0;

	if (r > 0)
		fail("%s on fd %d returned %d (positive)", kind_name[kind], fd, r);
	count_call(kind, e);
	return e;
}

static void fill_entry(struct iocp_completion *e, uint64_t ud)
{
	e->key = mix64(ud);
	e->user_data = ud;
	e->result = mix64(ud ^ RES_SALT);
	e->flags = 0;
	e->events = 0;
}

static uint64_t ud_make(unsigned int slot, unsigned int poster,
			unsigned int gen, uint32_t seq)
{
	return UD_MAGIC << 56 | (uint64_t)(slot & 0xff) << 48 |
	       (uint64_t)(poster & 0xff) << 40 | (uint64_t)(gen & 0xffff) << 24 |
	       (seq & 0xffffff);
}

/* ------------------------------------------------------------------ */
/* Targets                                                              */

static bool is_port(const struct tgt *t)
{
	return t->type == TT_SLOT || t->type == TT_DUP;
}

static void slot_tgt(struct tgt *t, int s)
{
	memset(t, 0, sizeof(*t));
	t->type = TT_SLOT;
	t->slot = s;
	t->fd = sh->slots[s].fd;
	t->name = s == ACCT ? "accounting port" : "chaos port";
}

static void weird_tgt(struct tctx *c, struct tgt *t)
{
	const struct weird *w = &weird[rn(c, nweird)];

	memset(t, 0, sizeof(*t));
	t->type = w->type;
	t->fd = w->fd;
	t->slot = -1;
	t->name = w->name;
}

/* Pick a target: pa% the accounting port, pc% a chaos port, else not a port. */
static void pick_tgt(struct tctx *c, struct tgt *t, unsigned int pa,
		     unsigned int pc)
{
	unsigned int r = rn(c, 100);

	if (r < pa)
		slot_tgt(t, ACCT);
	else if (r < pa + pc)
		slot_tgt(t, 1 + rn(c, NPORTS - 1));
	else
		weird_tgt(c, t);
}

/* Read the generation before a call. */
static void tgt_begin(struct tctx *c, struct tgt *t)
{
	t->t_begin = rel_ns(now_ns());
	if (t->type != TT_SLOT)
		return;
	if (c->is_child) {
		t->gen = c->cgen[t->slot];
		t->gen_ok = c->cgen_ok[t->slot];
		return;
	}
	t->gen = atomic_load(&sh->slots[t->slot].gen);
	t->gen_ok = !(t->gen & 1);
}

/* Did the call surely reach the port of generation t->gen? */
static bool tgt_stable(struct tctx *c, const struct tgt *t)
{
	if (t->type == TT_DUP || (t->type == TT_SLOT && c->is_child))
		return t->gen_ok;
	if (t->type != TT_SLOT)
		return false;
	return t->gen_ok && atomic_load(&sh->slots[t->slot].gen) == t->gen;
}

/* When a SHUTDOWN of this port completed (ns since start), or 0. */
static uint64_t tgt_shut_ns(const struct tgt *t)
{
	uint64_t r;

	if (!is_port(t) || !t->gen_ok)
		return 0;
	r = atomic_load(&sh->slots[t->slot].shut);
	if (!r || (r >> 48) != (t->gen & 0xffff))
		return 0;
	return r & ((1ull << 48) - 1);
}

static void tgt_note_shut(const struct tgt *t, uint64_t when)
{
	struct slot *sl;
	uint64_t cur, val;

	if (!is_port(t) || !t->gen_ok)
		return;
	sl = &sh->slots[t->slot];
	val = (uint64_t)(t->gen & 0xffff) << 48 | (when & ((1ull << 48) - 1));
	cur = atomic_load(&sl->shut);
	for (;;) {
		if (atomic_load(&sl->gen) != t->gen)
			return;
		if (cur && (cur >> 48) == (t->gen & 0xffff) && (cur & ((1ull << 48) - 1)) <= when)
			return;
		if (atomic_compare_exchange_weak(&sl->shut, &cur, val))
			return;
	}
}

static const char *tdesc(const struct tgt *t, char *b, size_t n)
{
	switch (t->type) {
	case TT_SLOT:
		snprintf(b, n, "fd %d (%s, slot %d, gen %u)", t->fd, t->name,
			 t->slot, t->gen);
		break;
	case TT_DUP:
		snprintf(b, n, "fd %d (dup of slot %d gen %u%s)", t->fd,
			 t->slot, t->gen, t->gen_ok ? "" : "?");
		break;
	default:
		snprintf(b, n, "fd %d (%s)", t->fd, t->name);
	}
	return b;
}

/* Results on something that is not a port. */
static bool check_not_port(const struct tgt *t, int kind, int e, const char *what)
{
	int want = t->type == TT_BADF ? EBADF : ENOTTY;
	char b[96];

	if (is_port(t))
		return false;
	if (e != want)
		fail("%s%s on %s: got %s, expected %s", kind_name[kind], what,
		     tdesc(t, b, sizeof(b)), errname(e), errname(want));
	return true;
}

static void bad_result(int kind, const struct tgt *t, int e, const eset_t *ok,
		       const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void bad_result(int kind, const struct tgt *t, int e, const eset_t *ok,
		       const char *fmt, ...)
{
	char args[400], set[200], b[96];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(args, sizeof(args), fmt, ap);
	va_end(ap);
	es_str(ok, set, sizeof(set));
	fail("%s(%s, %s): got %s, expected one of {%s}", kind_name[kind],
	     tdesc(t, b, sizeof(b)), args, errname(e), set);
}

/* ------------------------------------------------------------------ */
/* Random values and pointers                                           */

static void *bad_ptr(struct tctx *c)
{
	switch (rn(c, 7)) {
	case 0:
		return NULL;
	case 1:
		return (void *)0x10000ul;	/* below mmap_min_addr */
	case 2:
		return g_none;
	case 3:
		return g_none + rn(c, page);
	case 4:
		return (void *)0xffffffff81000000ul;	/* kernel */
	case 5:
		return (void *)0x0000800000000000ul;	/* beyond user space */
	default:
		return (void *)(~0ul - rn(c, 64));
	}
}

static const char *ptrdesc(const void *p, char *b, size_t n)
{
	uintptr_t v = (uintptr_t)p;

	if (!p)
		snprintf(b, n, "NULL");
	else if (v >= (uintptr_t)g_none && v < (uintptr_t)g_none + page)
		snprintf(b, n, "PROT_NONE+%#lx", (unsigned long)(v - (uintptr_t)g_none));
	else if (v >= (uintptr_t)g_ro && v < (uintptr_t)g_ro + sizeof(*g_ro))
		snprintf(b, n, "read-only+%#lx", (unsigned long)(v - (uintptr_t)g_ro));
	else if (T && v < (uintptr_t)T->ent_end && v + 65536 >= (uintptr_t)T->ent_end)
		snprintf(b, n, "entries-end-%#lx", (unsigned long)((uintptr_t)T->ent_end - v));
	else if (T && v < (uintptr_t)T->args_end && v + page >= (uintptr_t)T->args_end)
		snprintf(b, n, "args-end-%#lx", (unsigned long)((uintptr_t)T->args_end - v));
	else
		snprintf(b, n, "%#lx", (unsigned long)v);
	return b;
}

static uint32_t pick_huge(struct tctx *c)
{
	static const uint32_t h[] = {
		0x80000000u, 0xffffffffu, 0x10000u, 2 * IOCP_MAX_BATCH,
		IOCP_MAX_BATCH + 2, 0x7fffffffu,
	};

	return h[rn(c, sizeof(h) / sizeof(h[0]))];
}

static uint32_t pick_count(struct tctx *c)
{
	unsigned int r = rn(c, 100);

	if (r < 5)
		return 0;
	if (r < 40)
		return 1;
	if (r < 75)
		return 2 + rn(c, 15);
	if (r < 87)
		return 1 + rn(c, IOCP_MAX_BATCH);
	if (r < 92)
		return IOCP_MAX_BATCH;
	if (r < 96)
		return IOCP_MAX_BATCH + 1;
	return pick_huge(c);
}

static uint32_t pick_max(struct tctx *c)
{
	unsigned int r = rn(c, 100);

	if (r < 8)
		return 0;
	if (r < 35)
		return 1;
	if (r < 70)
		return 2 + rn(c, 15);
	if (r < 85)
		return 1 + rn(c, IOCP_MAX_BATCH);
	if (r < 92)
		return IOCP_MAX_BATCH;
	if (r < 96)
		return IOCP_MAX_BATCH + 1;
	return pick_huge(c);
}

static uint32_t pick_min(struct tctx *c, uint32_t max, bool minone)
{
	unsigned int r = rn(c, 100);

	if (minone)
		return r < 95 ? rn(c, 2) : max + 1;
	if (r < 35)
		return 0;
	if (r < 60)
		return 1;
	if (r < 80)
		return rn(c, max + 1);
	if (r < 90)
		return max;
	if (r < 95)
		return max + 1;
	return pick_huge(c);
}

static uint32_t pick_flags(struct tctx *c)
{
	return chance(c, 5) ? 1u << rn(c, 32) : 0;
}

/* SET_CONFIG flags: 0, IOCP_CONFIG_IGNORE_BLOCKING or an undefined bit. */
static uint32_t pick_cfg_flags(struct tctx *c)
{
	unsigned int r = rn(c, 100);

	if (r < 75)
		return 0;
	if (r < 93)
		return IOCP_CONFIG_IGNORE_BLOCKING;
	return (1u << (1 + rn(c, 31))) | (r & 1);
}

static uint32_t pick_conc(struct tctx *c)
{
	static const uint32_t v[] = { 0, 1, 1, 2, 2, 3, 4, 8, 64, 0xffffffffu };

	return chance(c, 5) ? (uint32_t)rnd64(c) : v[rn(c, sizeof(v) / sizeof(v[0]))];
}

static uint32_t pick_mq(struct tctx *c)
{
	static const uint32_t v[] = {
		0, 1, 2, 16, 1024, 4096, 65536, IOCP_MAX_QUEUED_LIMIT,
		IOCP_MAX_QUEUED_LIMIT + 1, 0xffffffffu,
	};

	return chance(c, 10) ? 1 + rn(c, IOCP_MAX_QUEUED_LIMIT) : v[rn(c, sizeof(v) / sizeof(v[0]))];
}

/* max_assoc: 0 (the default), small values (ENOSPC), the limit, beyond it. */
static uint32_t pick_ma(struct tctx *c)
{
	static const uint32_t v[] = {
		0, 0, 0, 0, 1, 2, 3, 8, IOCP_DEFAULT_MAX_ASSOC, IOCP_MAX_ASSOC_LIMIT,
		IOCP_MAX_ASSOC_LIMIT + 1, 0xffffffffu,
	};

	return chance(c, 5) ? (uint32_t)rnd64(c) : v[rn(c, sizeof(v) / sizeof(v[0]))];
}

/* Timeout of a DEQUEUE on target @t. Infinite waits are only used where
 * something is sure to end them: the SHUTDOWN of the accounting port at the
 * end of a strict round, or the signals at the end of other rounds. */
static uint64_t pick_timeout(struct tctx *c, const struct tgt *t)
{
	bool acct = is_port(t) && t->slot == ACCT;
	bool inf_ok = !c->is_child && !c->no_inf && !sh->strict;
	unsigned int r;

	if (acct && sh->strict)
		return chance(c, 50) ? IOCP_INFINITE : 30 * NSEC;
	r = rn(c, 100);
	if (r < 30)
		return 0;
	if (r < 50)
		return USEC + rn(c, 100 * USEC);
	if (r < 85)
		return MSEC + rn(c, 10 * MSEC);
	if (r < 98 || !inf_ok || !acct)
		return 10 * MSEC + rn(c, 40 * MSEC);
	switch (rn(c, 3)) {
	case 0:
		return IOCP_INFINITE;
	case 1:
		return IOCP_INFINITE - 1;
	default:
		return 1ull << 62;
	}
}

/* ------------------------------------------------------------------ */
/* Statistics checks                                                    */

static uint32_t eff_conc(uint32_t conc)
{
	return conc ? conc : (uint32_t)g_ncpus;
}

static void check_stats(struct tctx *c, const struct tgt *t, const struct iocp_stats *st,
			bool stable, const char *what)
{
	bool acct = is_port(t) && t->slot == ACCT && stable;
	bool shut = st->flags & IOCP_STATS_SHUTDOWN;
	char b[96];

	(void)c;
	tdesc(t, b, sizeof(b));
	if (st->reserved)
		fail("%s on %s: reserved = %#x", what, b, st->reserved);
	if (st->flags & ~(uint32_t)(IOCP_STATS_SHUTDOWN | IOCP_STATS_EXIT_TRACKING |
				    IOCP_STATS_BLOCKING_AWARE))
		fail("%s on %s: unknown flags %#x", what, b, st->flags);
	if (!(st->flags & IOCP_STATS_EXIT_TRACKING))
		fail("%s on %s: IOCP_STATS_EXIT_TRACKING missing", what, b);
	/* Readiness packets count in dequeued, discarded and queued, not in
	 * posted: only ports that may have had associations have more. The
	 * flag is set before any ASSOCIATE and read after the snapshot. */
	if (is_port(t) && atomic_load(&sh->assoc_used[t->slot])) {
		if (st->posted > st->dequeued + st->discarded + st->queued)
			fail("%s on %s: posted %llu > dequeued %llu + discarded %llu + queued %u",
			     what, b, (unsigned long long)st->posted,
			     (unsigned long long)st->dequeued,
			     (unsigned long long)st->discarded, st->queued);
	} else if (st->posted != st->dequeued + st->discarded + st->queued) {
		fail("%s on %s: posted %llu != dequeued %llu + discarded %llu + queued %u",
		     what, b, (unsigned long long)st->posted,
		     (unsigned long long)st->dequeued,
		     (unsigned long long)st->discarded, st->queued);
	}
	/* Nothing can be associated with the accounting port. A shutdown
	 * ends every association before it returns, but after it sets the
	 * flag: only a shutdown complete before the snapshot began counts. */
	if (acct && st->associations)
		fail("%s on %s: %u associations", what, b, st->associations);
	if (acct && st->ops)
		fail("%s on %s: %u ops (never submitted there)", what, b, st->ops);
	if (shut && st->associations && stable && is_port(t)) {
		uint64_t sn = tgt_shut_ns(t);

		if (sn && sn < t->t_begin)
			fail("%s on %s: %u associations, %.3f ms after a shutdown", what, b,
			     st->associations, (t->t_begin - sn) / 1e6);
	}
	if (st->high_water < st->queued)
		fail("%s on %s: high_water %u < queued %u", what, b, st->high_water, st->queued);
	if (st->peak_running < st->running)
		fail("%s on %s: peak_running %u < running %u", what, b,
		     st->peak_running, st->running);
	if (!st->concurrency)
		fail("%s on %s: effective concurrency 0", what, b);
	if (shut) {
		if (st->queued || st->running || st->threads || st->blocked)
			fail("%s on %s: shut down but queued %u running %u threads %u blocked %u",
			     what, b, st->queued, st->running, st->threads, st->blocked);
	} else if (st->threads != st->running + st->waiting + st->blocked) {
		/* an associated thread is waiting, running or blocked */
		fail("%s on %s: threads %u != running %u + waiting %u + blocked %u",
		     what, b, st->threads, st->running, st->waiting, st->blocked);
	}
	if (!(st->flags & IOCP_STATS_BLOCKING_AWARE) && st->blocked)
		fail("%s on %s: blocked %u without blocking awareness", what, b, st->blocked);
	if (acct && !shut) {
		if (sh->strict && st->running > st->concurrency)
			fail("%s on %s: strict round, running %u > concurrency %u",
			     what, b, st->running, st->concurrency);
		if (sh->strict && st->concurrency != eff_conc(sh->acct_conc))
			fail("%s on %s: strict round, concurrency %u, configured %u",
			     what, b, st->concurrency, sh->acct_conc);
		if (sh->strict && (st->flags & IOCP_STATS_BLOCKING_AWARE))
			fail("%s on %s: strict round, blocking awareness on, configured off",
			     what, b);
		if (sh->minone && st->queued && st->waiting &&
		    st->running < st->concurrency)
			fail("%s on %s: %u queued, %u waiting (all with min <= 1) and running %u < concurrency %u: a waiter was not released",
			     what, b, st->queued, st->waiting, st->running,
			     st->concurrency);
	}
	if (stable && is_port(t))
		atomic_store(&sh->slots[t->slot].last_queued, st->queued);
}

/* After ESHUTDOWN: the port must say it is shut down. */
static void verify_shut(struct tctx *c, const struct tgt *t, const char *what)
{
	struct iocp_stats st;
	int e;

	memset(&st, 0xcc, sizeof(st));
	e = xioctl(t->fd, IOCP_IOC_GET_STATS, &st, K_GET_STATS);
	if (e) {
		fail("GET_STATS after %s returned ESHUTDOWN failed: %s", what, errname(e));
		return;
	}
	if (!tgt_stable(c, t))
		return;
	if (!(st.flags & IOCP_STATS_SHUTDOWN)) {
		char b[96];

		fail("%s on %s returned ESHUTDOWN, but the port is not shut down (stats flags %#x)",
		     what, tdesc(t, b, sizeof(b)), st.flags);
	}
	check_stats(c, t, &st, true, "GET_STATS after ESHUTDOWN");
}

/* ------------------------------------------------------------------ */
/* Delivered packets                                                    */

static uint64_t key_make(unsigned int slot, uint32_t flags, uint32_t events,
			 uint32_t serial)
{
	return KEY_MAGIC << 56 | (uint64_t)(slot & 0xff) << 48 |
	       (uint64_t)(flags & 0xff) << 40 | (uint64_t)(events & 0xffff) << 24 |
	       (serial & 0xffffff);
}

/* Is @key one that an ASSOCIATE or MODIFY may have given to slot @slot? */
static bool key_known(uint64_t key, int slot)
{
	uint32_t serial = key & 0xffffff;

	return (key >> 56) == KEY_MAGIC && (int)((key >> 48) & 0xff) == slot &&
	       serial < KEYREG_MAX && atomic_load(&sh->keyreg[serial]);
}

/* A readiness packet dequeued from @t: IOCP_CF_READINESS, user_data and
 * result 0, events among those its key asked for plus ERR and HUP, and a
 * key associated with this port at some point. */
static void check_readiness(const struct tgt *t, const struct iocp_completion *p,
			    uint32_t i, uint32_t n)
{
	uint32_t want = (p->key >> 24) & 0xffff;
	char b[96];

	atomic_fetch_add(&sh->ready_pkts, 1);
	if (p->events & IOCP_POLLHUP)
		atomic_fetch_add(&sh->ready_hup, 1);
	if (p->user_data || p->result || !p->events || (p->events & ~POLL_ALL))
		fail("DEQUEUE on %s: readiness packet %u/%u: key %#llx user_data %#llx result %#llx events %#x",
		     tdesc(t, b, sizeof(b)), i, n, (unsigned long long)p->key,
		     (unsigned long long)p->user_data, (unsigned long long)p->result,
		     p->events);
	if (!is_port(t) || !key_known(p->key, t->slot))
		fail("DEQUEUE on %s: readiness packet %u/%u with key %#llx, never associated with this port",
		     tdesc(t, b, sizeof(b)), i, n, (unsigned long long)p->key);
	else if (p->events & ~(want | IOCP_POLLERR | IOCP_POLLHUP))
		fail("DEQUEUE on %s: readiness packet %u/%u with key %#llx: events %#x, asked for %#x",
		     tdesc(t, b, sizeof(b)), i, n, (unsigned long long)p->key,
		     p->events, want);
}

static void check_op_packet(const struct tgt *t, bool stable,
			    const struct iocp_completion *p, uint32_t i, uint32_t n);

static void take_packets(struct tctx *c, const struct tgt *t, bool stable,
			 const struct iocp_completion *e, uint32_t n)
{
	bool to_acct = is_port(t) && t->slot == ACCT;
	unsigned int acct_gen = atomic_load(&sh->slots[ACCT].gen) & 0xffff;
	uint64_t nacct = 0;
	char b[96];

	for (uint32_t i = 0; i < n; i++) {
		const struct iocp_completion *p = &e[i];
		uint64_t ud = p->user_data;
		unsigned int slot = (ud >> 48) & 0xff, poster = (ud >> 40) & 0xff;
		unsigned int gen = (ud >> 24) & 0xffff;
		uint32_t seq = ud & 0xffffff;

		if (p->flags == IOCP_CF_READINESS) {
			check_readiness(t, p, i, n);
			continue;
		}
		if (p->flags == IOCP_CF_OP) {
			check_op_packet(t, stable, p, i, n);
			continue;
		}
		if (p->flags != IOCP_CF_POSTED || p->events)
			fail("DEQUEUE on %s: packet %u/%u has flags %#x events %#x",
			     tdesc(t, b, sizeof(b)), i, n, p->flags, p->events);
		if ((ud >> 56) != UD_MAGIC || p->key != mix64(ud) ||
		    p->result != mix64(ud ^ RES_SALT)) {
			fail("DEQUEUE on %s: packet %u/%u corrupt: key %#llx user_data %#llx result %#llx",
			     tdesc(t, b, sizeof(b)), i, n,
			     (unsigned long long)p->key, (unsigned long long)ud,
			     (unsigned long long)p->result);
			continue;
		}
		if (slot == ACCT) {
			unsigned char old = 1;

			nacct++;
			if (!to_acct)
				fail("DEQUEUE on %s returned a packet of the accounting port (user_data %#llx)",
				     tdesc(t, b, sizeof(b)), (unsigned long long)ud);
			if (gen != acct_gen) {
				fail("DEQUEUE on %s: packet of round tag %u in round tag %u (user_data %#llx)",
				     tdesc(t, b, sizeof(b)), gen, acct_gen,
				     (unsigned long long)ud);
				continue;
			}
			if (seq >= atomic_load(&sh->seq) || seq >= UD_MAX) {
				fail("DEQUEUE on %s: packet %u never posted", tdesc(t, b, sizeof(b)), seq);
				continue;
			}
			if (!atomic_compare_exchange_strong(&sh->ud[seq], &old, 2))
				fail("DEQUEUE on %s: packet %u (user_data %#llx) %s",
				     tdesc(t, b, sizeof(b)), seq, (unsigned long long)ud,
				     old == 2 ? "delivered twice" :
				     "was never queued (its POST failed or was not made)");
		} else if (slot == SLOT_STATIC) {
			if (to_acct)
				fail("DEQUEUE on the accounting port returned a static packet");
			continue;
		} else if (slot == SLOT_TEMP) {
			fail("DEQUEUE on %s returned a packet posted to a private port (user_data %#llx)",
			     tdesc(t, b, sizeof(b)), (unsigned long long)ud);
			continue;
		} else if (slot < NPORTS) {
			if (!is_port(t) || t->slot != (int)slot) {
				fail("DEQUEUE on %s returned a packet posted to slot %u (user_data %#llx)",
				     tdesc(t, b, sizeof(b)), slot, (unsigned long long)ud);
				continue;
			}
			if (stable && gen != (t->gen & 0xffff))
				atomic_fetch_add(&sh->tagmis[slot], 1);
		} else {
			fail("DEQUEUE on %s: packet with slot %u", tdesc(t, b, sizeof(b)), slot);
			continue;
		}
		/* FIFO per poster */
		if (poster < MAX_THREADS || poster == POSTER_MAIN) {
			if (c->ord_gen[slot] != gen) {
				c->ord_gen[slot] = gen;
				for (int k = 0; k < 256; k++)
					c->ord_last[slot][k] = -1;
			}
			if ((int32_t)seq <= c->ord_last[slot][poster]) {
				if (slot == ACCT && sh->ordered)
					fail("DEQUEUE on the accounting port: packet %u of poster %u after its packet %d (FIFO order broken)",
					     seq, poster, c->ord_last[slot][poster]);
				else
					atomic_fetch_add(&sh->anomalies[slot], 1);
			}
			c->ord_last[slot][poster] = seq;
		}
	}
	if (nacct)
		atomic_fetch_add(&sh->dequeued, nacct);
}

/* ------------------------------------------------------------------ */
/* The ioctls                                                           */

enum { AM_VALID, AM_BAD, AM_STRADDLE, AM_RO };
enum { EM_VALID, EM_STRADDLE, EM_RO, EM_NULL, EM_BAD };

/* Place an argument struct of @size bytes. */
static void *place_args(struct tctx *c, int am, size_t size)
{
	switch (am) {
	case AM_BAD:
		return bad_ptr(c);
	case AM_STRADDLE:
		return c->args_end - 1 - rn(c, size - 1);
	default:
		return chance(c, 50) ? c->args_end - size : c->args_end - page;
	}
}

static void put_args(void *a, int am, const void *v, size_t size, struct tctx *c)
{
	if (am == AM_VALID)
		memcpy(a, v, size);
	else if (am == AM_STRADDLE)
		memcpy(a, v, (size_t)(c->args_end - (unsigned char *)a));
}

static int pick_am(struct tctx *c, bool ro_ok)
{
	unsigned int r = rn(c, 100);

	if (r < 6)
		return AM_BAD;
	if (r < 12)
		return AM_STRADDLE;
	if (r < 17 && ro_ok)
		return AM_RO;
	return AM_VALID;
}

static void do_dequeue(struct tctx *c, struct tgt *t, bool force_valid)
{
	bool acct = is_port(t) && t->slot == ACCT;
	bool strict = acct && sh->strict, careful = acct && sh->ordered;
	bool minone = acct && sh->minone;
	struct iocp_dequeue_args v, *a;
	unsigned char *ebuf = NULL;
	uint32_t wr = 0, m = 0;
	int am, em = EM_VALID, e, h0;
	unsigned int s0;
	uint64_t t0, t1, sn;
	bool stable, args_rd, args_wr, poisoned = false;
	eset_t ok = { { 0 } };
	char pb[48], eb[48];

	am = force_valid ? AM_VALID : pick_am(c, !strict && !careful);
	memset(&v, 0, sizeof(v));
	if (am == AM_RO) {
		unsigned int i = rn(c, 4);

		if (minone && i == 1)
			i = 0;
		a = &g_ro->deq[i];
		v = *a;
		wr = v.max;	/* entries go to the scratch area */
	} else {
		a = place_args(c, am, sizeof(*a));
		if (force_valid) {
			v.max = 1 + rn(c, 8);
			v.min = rn(c, 2);
		} else {
			v.max = pick_max(c);
			v.min = pick_min(c, v.max, minone);
			v.flags = pick_flags(c);
		}
		v.timeout_ns = pick_timeout(c, t);
		if (force_valid && !strict && v.timeout_ns > 10 * MSEC)
			v.timeout_ns = rn(c, 2) * MSEC;
		v.count = (uint32_t)rnd64(c);
		m = v.max <= IOCP_MAX_BATCH ? v.max : 1;
		unsigned int r = force_valid || careful ? 0 : rn(c, 100);

		if (r < 80) {
			em = EM_VALID;
			ebuf = c->ent_end - (size_t)(m + 1) * ENT_SIZE;
			memset(ebuf, 0xcc, (size_t)(m + 1) * ENT_SIZE);
			poisoned = true;
			wr = v.max;
		} else if (r < 87) {
			uint32_t j = m ? rn(c, m) : 0;

			em = EM_STRADDLE;
			ebuf = c->ent_end - (size_t)j * ENT_SIZE - (chance(c, 50) ? 0 : 8 + rn(c, 24));
			wr = j;
		} else if (r < 92) {
			em = EM_RO;
			ebuf = g_ro->zeros;
		} else if (r < 96) {
			em = EM_NULL;
		} else {
			em = EM_BAD;
			ebuf = bad_ptr(c);
		}
		v.entries = (uintptr_t)ebuf;
		put_args(a, am, &v, sizeof(v), c);
	}
	args_rd = am == AM_VALID || am == AM_RO;
	args_wr = am == AM_VALID;
	(void)em;

	tgt_begin(c, t);
	if (acct && c->is_child && args_rd)
		atomic_store(&sh->child_inflight[c->idx], v.max);
	if (acct && c->is_child && args_rd && v.max && !v.flags &&
	    v.max <= IOCP_MAX_BATCH && v.min <= v.max)
		atomic_store(&sh->child_acct[c->idx], 1);
	if (is_port(t) && args_rd && v.max)
		c->may_be_associated = true;
	h0 = tls_sigs;
	s0 = c->is_child ? atomic_load(&sh->child_stops[c->idx]) : 0;
	t0 = now_ns();
	e = xioctl(t->fd, IOCP_IOC_DEQUEUE, a, K_DEQUEUE);
	t1 = now_ns();
	if (check_not_port(t, K_DEQUEUE, e, ""))
		return;
	stable = tgt_stable(c, t);
	sn = stable ? tgt_shut_ns(t) : 0;

	if (!args_rd) {
		es_add(&ok, EFAULT);
	} else if (v.flags || v.max > IOCP_MAX_BATCH || v.min > v.max) {
		es_add(&ok, EINVAL);
	} else if (sn && sn < rel_ns(t0)) {
		es_add(&ok, ESHUTDOWN);
	} else if (!v.max) {
		es_add(&ok, ESHUTDOWN);
		es_add(&ok, args_wr ? 0 : EFAULT);
	} else {
		es_add(&ok, ESHUTDOWN);
		es_add(&ok, ENOMEM);
		if (v.timeout_ns != IOCP_INFINITE)
			es_add(&ok, ETIMEDOUT);
		/* A signal handler ran, or the child was stopped and continued:
		 * the wait returns EINTR and is not restarted. */
		if (tls_sigs != h0 ||
		    (c->is_child && atomic_load(&sh->child_stops[c->idx]) != s0))
			es_add(&ok, EINTR);
		if (!args_wr || wr < v.max)
			es_add(&ok, EFAULT);
		if (args_wr && wr >= (v.min ? v.min : 1))
			es_add(&ok, 0);
	}
#define DQ_FMT "args %s%s entries %s max %u min %u flags %#x timeout %llu, after %.3f ms"
#define DQ_ARGS ptrdesc(a, pb, sizeof(pb)), am == AM_STRADDLE ? " (straddling)" : "", \
		ptrdesc(ebuf ? ebuf : (void *)(uintptr_t)v.entries, eb, sizeof(eb)), \
		v.max, v.min, v.flags, (unsigned long long)v.timeout_ns, (t1 - t0) / 1e6
	if (!es_has(&ok, e)) {
		bad_result(K_DEQUEUE, t, e, &ok, DQ_FMT, DQ_ARGS);
		if (e == ESHUTDOWN && stable)
			verify_shut(c, t, "DEQUEUE");
		return;
	}
	if (e == ETIMEDOUT) {
		uint64_t deadline = v.timeout_ns > 3600 * NSEC ? UINT64_MAX : rel_ns(t0) + v.timeout_ns;

		if (t1 - t0 < v.timeout_ns)
			bad_result(K_DEQUEUE, t, e, &ok, "before the timeout elapsed: " DQ_FMT, DQ_ARGS);
		sn = stable ? tgt_shut_ns(t) : 0;
		if (sn && sn < deadline)
			bad_result(K_DEQUEUE, t, e, &ok,
				   DQ_FMT ", though SHUTDOWN completed %.3f ms before the deadline",
				   DQ_ARGS, (deadline - sn) / 1e6);
	}
	if (e == EINTR && tls_sigs == h0)
		atomic_fetch_add(&sh->stop_eintr, 1);	/* no handler ran */
	if (acct && (e == ETIMEDOUT || e == EINTR) && v.max && args_rd && !v.flags &&
	    v.max <= IOCP_MAX_BATCH && v.min <= v.max) {
		atomic_fetch_add(&sh->nopkt, 1);
		atomic_fetch_add(&sh->nopkt_total, 1);
	}
	if (acct && c->is_child)
		atomic_store(&sh->child_acct[c->idx], 0);
	if (e == EFAULT && args_rd && v.max && !v.flags && v.max <= IOCP_MAX_BATCH &&
	    v.min <= v.max) {
		/* maybe a put-back */
		atomic_fetch_add(&sh->putbacks[t->slot], 1);
		atomic_fetch_add(&sh->putback_total, 1);
		if (acct)
			atomic_fetch_add(&sh->putback_acct, 1);
	}
	if (e == ESHUTDOWN) {
		if (t1 - t0 > MSEC)
			atomic_fetch_add(&sh->eshut_wakes, 1);
		if (stable)
			verify_shut(c, t, "DEQUEUE");
	}
	if (args_wr) {
		if (a->entries != v.entries || a->timeout_ns != v.timeout_ns ||
		    a->max != v.max || a->min != v.min || a->flags != v.flags)
			bad_result(K_DEQUEUE, t, e, &ok, "input fields changed: " DQ_FMT, DQ_ARGS);
		if (e && a->count != v.count)
			bad_result(K_DEQUEUE, t, e, &ok, DQ_FMT ", count written on failure (%u)",
				   DQ_ARGS, a->count);
	}
	if (!e && v.max) {
		uint32_t n = a->count, need = v.min ? v.min : 1;

		if (n < need || n > v.max || n > wr) {
			bad_result(K_DEQUEUE, t, e, &ok, DQ_FMT ", count %u out of range", DQ_ARGS, n);
		} else {
			take_packets(c, t, stable, (const struct iocp_completion *)ebuf, n);
			if (poisoned) {
				for (size_t k = (size_t)n * ENT_SIZE; k < (size_t)(m + 1) * ENT_SIZE; k++) {
					if (ebuf[k] != 0xcc) {
						bad_result(K_DEQUEUE, t, e, &ok,
							   DQ_FMT ", byte %zu written beyond count %u",
							   DQ_ARGS, k, n);
						break;
					}
				}
			}
		}
	} else if (!e && stable) {
		atomic_store(&sh->slots[t->slot].last_queued, a->count);
	}
	if (e && e != EFAULT && poisoned) {
		for (size_t k = 0; k < (size_t)(m + 1) * ENT_SIZE; k++) {
			if (ebuf[k] != 0xcc) {
				bad_result(K_DEQUEUE, t, e, &ok,
					   DQ_FMT ", entries written on failure (byte %zu)", DQ_ARGS, k);
				break;
			}
		}
	}
	if (acct && c->is_child)
		atomic_store(&sh->child_inflight[c->idx], 0);
#undef DQ_FMT
#undef DQ_ARGS
}

static uint64_t est_queued(const struct tgt *t)
{
	if (!is_port(t))
		return 0;
	if (t->slot == ACCT) {
		uint64_t p = atomic_load(&sh->posted), d = atomic_load(&sh->dequeued);

		return p > d ? p - d : 0;
	}
	return atomic_load(&sh->slots[t->slot].last_queued);
}

static void do_post(struct tctx *c, struct tgt *t, bool force_valid)
{
	bool acct = is_port(t) && t->slot == ACCT;
	struct iocp_post_args v, *a;
	struct iocp_completion *ebuf = NULL;
	uint32_t rd = 0, base = 0, nmark = 0;
	int am, em = EM_VALID, e, inval = -1;
	uint64_t t0, t1, sn;
	bool stable, args_rd;
	eset_t ok = { { 0 } };
	char pb[48], eb[48];

	am = force_valid ? AM_VALID : pick_am(c, !acct);
	memset(&v, 0, sizeof(v));
	tgt_begin(c, t);
	if (am == AM_RO) {
		a = &g_ro->post[rn(c, 2)];
		v = *a;
		rd = v.count;
		ebuf = (struct iocp_completion *)(uintptr_t)v.entries;
	} else {
		a = place_args(c, am, sizeof(*a));
		v.count = force_valid ? 1 + rn(c, 8) : pick_count(c);
		v.flags = force_valid ? 0 : pick_flags(c);
		if (v.count >= 1 && v.count <= IOCP_MAX_BATCH && est_queued(t) > SOFT_CAP)
			v.count = 1 + rn(c, 2);
		uint32_t m = v.count <= ENT_CAP ? v.count : ENT_CAP;
		unsigned int r = force_valid ? 0 : rn(c, 100);

		if (r < 85 || (acct && r < 92)) {
			em = EM_VALID;
			ebuf = (struct iocp_completion *)(c->ent_end - (size_t)m * ENT_SIZE);
			rd = v.count;
		} else if (r < 92) {
			em = EM_RO;
			ebuf = g_ro->ent;
			if (v.count > RO_NENT)
				v.count = 1 + rn(c, RO_NENT);
			rd = v.count;
		} else if (r < 96) {
			uint32_t j = m ? rn(c, m) : 0;

			em = EM_STRADDLE;
			ebuf = (struct iocp_completion *)(c->ent_end - (size_t)j * ENT_SIZE -
							  (chance(c, 50) ? 0 : 8 + rn(c, 24)));
			rd = j;
			m = j + 1;
		} else if (r < 98) {
			em = EM_NULL;
			m = 0;
		} else {
			em = EM_BAD;
			ebuf = bad_ptr(c);
			m = 0;
		}
		if (em == EM_VALID || em == EM_STRADDLE) {
			bool valid_call = !v.flags && v.count && v.count <= IOCP_MAX_BATCH &&
					  am != AM_BAD && am != AM_STRADDLE;

			if (acct && valid_call) {
				base = atomic_fetch_add(&sh->seq, v.count);
				if (base + (uint64_t)v.count > UD_MAX)
					return;	/* out of packet numbers this round */
				nmark = v.count;
				for (uint32_t i = 0; i < nmark; i++)
					atomic_store(&sh->ud[base + i], 1);
			}
			for (uint32_t i = 0; i < m; i++) {
				struct iocp_completion tmp;
				uint64_t ud;
				size_t avail = (size_t)(c->ent_end - (unsigned char *)&ebuf[i]);

				if (acct)
					ud = ud_make(ACCT, c->poster, t->gen, base + i);
				else if (is_port(t))
					ud = ud_make(t->slot, c->poster, t->gen, c->cseq++);
				else
					ud = ud_make(SLOT_STATIC, POSTER_STATIC, 0, i);
				fill_entry(&tmp, ud);
				memcpy(&ebuf[i], &tmp, avail < ENT_SIZE ? avail : ENT_SIZE);
			}
			if (!force_valid && em == EM_VALID && v.count && v.count <= m && chance(c, 6)) {
				inval = rn(c, v.count);
				if (chance(c, 50))
					ebuf[inval].flags = 1u << rn(c, 32);
				else
					ebuf[inval].events = 1u << rn(c, 32);
			}
		}
		v.entries = (uintptr_t)ebuf;
		put_args(a, am, &v, sizeof(v), c);
	}
	args_rd = am == AM_VALID || am == AM_RO;

	t0 = now_ns();
	e = xioctl(t->fd, IOCP_IOC_POST, a, K_POST);
	t1 = now_ns();
	if (!check_not_port(t, K_POST, e, "")) {
		stable = tgt_stable(c, t);
		sn = stable ? tgt_shut_ns(t) : 0;
		if (!args_rd) {
			es_add(&ok, EFAULT);
		} else if (v.flags || !v.count || v.count > IOCP_MAX_BATCH) {
			es_add(&ok, EINVAL);
		} else if (sn && sn < rel_ns(t0)) {
			es_add(&ok, ESHUTDOWN);
		} else {
			es_add(&ok, ESHUTDOWN);
			es_add(&ok, EAGAIN);
			es_add(&ok, ENOMEM);
			if (rd < v.count)
				es_add(&ok, EFAULT);
			if (inval >= 0)
				es_add(&ok, EINVAL);
			if (rd >= v.count && inval < 0)
				es_add(&ok, 0);
		}
		if (!es_has(&ok, e))
			bad_result(K_POST, t, e, &ok,
				   "args %s%s entries %s count %u flags %#x%s, after %.3f ms",
				   ptrdesc(a, pb, sizeof(pb)),
				   am == AM_STRADDLE ? " (straddling)" : "",
				   ptrdesc(ebuf, eb, sizeof(eb)), v.count, v.flags,
				   inval >= 0 ? " (one entry has flags/events)" : "",
				   (t1 - t0) / 1e6);
		if (am == AM_VALID && memcmp(a, &v, sizeof(v)))
			fail("POST on fd %d changed its arguments", t->fd);
		if (e == ESHUTDOWN && stable)
			verify_shut(c, t, "POST");
		if (!e && !acct && !stable)
			atomic_fetch_add(&sh->misposts[t->slot], v.count);
	}
	if (nmark) {
		if (!e) {
			atomic_fetch_add(&sh->posted, nmark);
		} else {
			for (uint32_t i = 0; i < nmark; i++) {
				unsigned char old = 1;

				if (!atomic_compare_exchange_strong(&sh->ud[base + i], &old, 0))
					fail("POST on the accounting port failed with %s, but its packet %u was delivered",
					     errname(e), base + i);
			}
		}
	}
}

static void do_set_config(struct tctx *c, struct tgt *t, bool force_valid)
{
	bool acct = is_port(t) && t->slot == ACCT;
	struct iocp_config v, *a;
	int am, e;
	uint64_t t0, sn;
	bool stable, invalid;
	eset_t ok = { { 0 } };
	char pb[48];

	am = force_valid ? AM_VALID : pick_am(c, !acct);
	memset(&v, 0, sizeof(v));
	if (am == AM_RO) {
		a = chance(c, 50) ? &g_ro->cfg : &g_ro->cfg_bad;
		v = *a;
	} else {
		a = place_args(c, am, sizeof(*a));
		v.concurrency = pick_conc(c);
		v.max_queued = pick_mq(c);
		v.max_assoc = pick_ma(c);
		{
			static const uint32_t mo[] = { 1, 2, 16, OPS_PORT_MAX, OPS_PORT_MAX,
						       IOCP_MAX_OPS_LIMIT + 1 };

			v.max_ops = mo[rn(c, sizeof(mo) / sizeof(mo[0]))];
			if (force_valid && v.max_ops > IOCP_MAX_OPS_LIMIT)
				v.max_ops = OPS_PORT_MAX;
		}
		if (force_valid && (!v.max_queued || v.max_queued > IOCP_MAX_QUEUED_LIMIT))
			v.max_queued = 4096;
		if (force_valid && v.max_assoc > IOCP_MAX_ASSOC_LIMIT)
			v.max_assoc = 0;
		if (!force_valid) {
			v.flags = pick_cfg_flags(c);
			if (chance(c, 5))
				v.reserved[rn(c, 3)] = 1u << rn(c, 32);
		}
		if (acct && (sh->strict || chance(c, 70))) {
			v.concurrency = sh->acct_conc;
			if (!(v.flags & ~IOCP_CONFIG_IGNORE_BLOCKING))
				v.flags = sh->acct_flags;
		}
		put_args(a, am, &v, sizeof(v), c);
	}
	invalid = (v.flags & ~IOCP_CONFIG_IGNORE_BLOCKING) || v.reserved[0] || v.reserved[1] || v.reserved[2] ||
		  !v.max_queued || v.max_queued > IOCP_MAX_QUEUED_LIMIT ||
		  v.max_assoc > IOCP_MAX_ASSOC_LIMIT || v.max_ops > IOCP_MAX_OPS_LIMIT;
	tgt_begin(c, t);
	if (acct && c->is_child && (am == AM_VALID || am == AM_RO) && !invalid &&
	    (v.concurrency != sh->acct_conc || v.flags != sh->acct_flags))
		atomic_store(&sh->child_acct[c->idx], 1);
	t0 = now_ns();
	e = xioctl(t->fd, IOCP_IOC_SET_CONFIG, a, K_SET_CONFIG);
	if (check_not_port(t, K_SET_CONFIG, e, ""))
		return;
	stable = tgt_stable(c, t);
	sn = stable ? tgt_shut_ns(t) : 0;
	if (am == AM_BAD || am == AM_STRADDLE) {
		es_add(&ok, EFAULT);
	} else if (invalid) {
		es_add(&ok, EINVAL);
	} else if (sn && sn < rel_ns(t0)) {
		es_add(&ok, ESHUTDOWN);
	} else {
		es_add(&ok, 0);
		es_add(&ok, ESHUTDOWN);
	}
	if (!es_has(&ok, e))
		bad_result(K_SET_CONFIG, t, e, &ok,
			   "args %s concurrency %u max_queued %u flags %#x max_assoc %u max_ops %u reserved %#x,%#x,%#x",
			   ptrdesc(a, pb, sizeof(pb)), v.concurrency, v.max_queued,
			   v.flags, v.max_assoc, v.max_ops, v.reserved[0], v.reserved[1],
			   v.reserved[2]);
	if (am == AM_VALID && memcmp(a, &v, sizeof(v)))
		fail("SET_CONFIG on fd %d changed its argument", t->fd);
	if (e == ESHUTDOWN && stable)
		verify_shut(c, t, "SET_CONFIG");
	if (!e && acct && (v.concurrency != sh->acct_conc || v.flags != sh->acct_flags))
		atomic_store(&sh->cfgchg, 1);
	if (acct && c->is_child)
		atomic_store(&sh->child_acct[c->idx], 0);
}

/* GET_CONFIG or GET_STATS. */
static void do_get(struct tctx *c, struct tgt *t, int kind)
{
	size_t size = kind == K_GET_CONFIG ? sizeof(struct iocp_config) :
					     sizeof(struct iocp_stats);
	unsigned long cmd = kind == K_GET_CONFIG ? IOCP_IOC_GET_CONFIG : IOCP_IOC_GET_STATS;
	unsigned char *a;
	int am = pick_am(c, true), e;
	bool stable;
	eset_t ok = { { 0 } };
	char pb[48];

	if (am == AM_RO)
		a = g_ro->zeros + rn(c, 64);
	else
		a = place_args(c, am, size);
	if (am == AM_VALID)
		memset(a, 0xcc, size);
	tgt_begin(c, t);
	e = xioctl(t->fd, cmd, a, kind);
	if (check_not_port(t, kind, e, ""))
		return;
	stable = tgt_stable(c, t);
	es_add(&ok, am == AM_VALID ? 0 : EFAULT);
	if (!es_has(&ok, e)) {
		bad_result(kind, t, e, &ok, "out %s", ptrdesc(a, pb, sizeof(pb)));
		return;
	}
	if (e)
		return;
	if (kind == K_GET_STATS) {
		check_stats(c, t, (struct iocp_stats *)a, stable, "GET_STATS");
	} else {
		struct iocp_config *cf = (struct iocp_config *)a;
		char b[96];

		if ((cf->flags & ~IOCP_CONFIG_IGNORE_BLOCKING) || cf->reserved[0] ||
		    cf->reserved[1] || cf->reserved[2])
			fail("GET_CONFIG on %s: flags %#x or reserved words nonzero",
			     tdesc(t, b, sizeof(b)), cf->flags);
		if (!cf->max_queued || cf->max_queued > IOCP_MAX_QUEUED_LIMIT)
			fail("GET_CONFIG on %s: max_queued %u", tdesc(t, b, sizeof(b)),
			     cf->max_queued);
		/* 0 is stored as IOCP_DEFAULT_MAX_ASSOC: never read back */
		if (!cf->max_assoc || cf->max_assoc > IOCP_MAX_ASSOC_LIMIT)
			fail("GET_CONFIG on %s: max_assoc %u", tdesc(t, b, sizeof(b)),
			     cf->max_assoc);
		if (stable && t->slot == ACCT && sh->strict &&
		    (cf->concurrency != sh->acct_conc || cf->flags != sh->acct_flags))
			fail("GET_CONFIG on the accounting port: concurrency %u flags %#x, set %u %#x (strict round)",
			     cf->concurrency, cf->flags, sh->acct_conc, sh->acct_flags);
	}
}

static void check_shut_stats(struct tctx *c, const struct tgt *t, const char *what)
{
	struct iocp_stats st;
	int e;

	memset(&st, 0xcc, sizeof(st));
	e = xioctl(t->fd, IOCP_IOC_GET_STATS, &st, K_GET_STATS);
	if (e) {
		fail("GET_STATS after %s: %s", what, errname(e));
		return;
	}
	if (!tgt_stable(c, t))
		return;
	if (!(st.flags & IOCP_STATS_SHUTDOWN))
		fail("GET_STATS after %s: not shut down (flags %#x)", what, st.flags);
	/* SHUTDOWN returns once every association is gone. */
	if (st.associations)
		fail("GET_STATS after %s: %u associations", what, st.associations);
	check_stats(c, t, &st, true, "GET_STATS after SHUTDOWN");
}

static void do_shutdown(struct tctx *c, struct tgt *t)
{
	uint64_t t1;
	int e;

	tgt_begin(c, t);
	e = xioctl(t->fd, IOCP_IOC_SHUTDOWN, (void *)(uintptr_t)rnd64(c), K_SHUTDOWN);
	t1 = now_ns();
	if (check_not_port(t, K_SHUTDOWN, e, ""))
		return;
	if (e) {
		char b[96];

		fail("SHUTDOWN on %s: %s", tdesc(t, b, sizeof(b)), errname(e));
		return;
	}
	if (tgt_stable(c, t))
		tgt_note_shut(t, rel_ns(t1));
	check_shut_stats(c, t, "SHUTDOWN");
}

static const unsigned int real_cmds[] = {
	IOCP_IOC_SET_CONFIG, IOCP_IOC_GET_CONFIG, IOCP_IOC_POST,
	IOCP_IOC_DEQUEUE, IOCP_IOC_GET_STATS, IOCP_IOC_SHUTDOWN,
	IOCP_IOC_DISASSOCIATE, IOCP_IOC_ASSOCIATE, IOCP_IOC_MODIFY,
	IOCP_IOC_DISSOCIATE, IOCP_IOC_SUBMIT, IOCP_IOC_CANCEL,
};
#define NREAL ((unsigned int)(sizeof(real_cmds) / sizeof(real_cmds[0])))

/* Is @cmd one of the real commands? */
static bool real_cmd(unsigned int cmd)
{
	for (unsigned int i = 0; i < NREAL; i++) {
		if (cmd == real_cmds[i])
			return true;
	}
	return false;
}

static void do_unknown(struct tctx *c, struct tgt *t)
{
	/* Magic numbers the VFS handles itself for any file. */
	static const unsigned char vfs_magic[] = { 0x00, 0x15, 0x54, 0x58, 0x66, 0x94 };
	unsigned int cmd, dir, type = IOCP_IOC_MAGIC, nr, size;
	void *arg;
	int e;

	do {
		dir = rn(c, 4);
		size = rn(c, 100) < 70 ? rn(c, 128) : rn(c, 1u << 14);
		switch (rn(c, 4)) {
		case 0:
			nr = NREAL + rn(c, 256 - NREAL);
			break;
		case 1:
			cmd = real_cmds[rn(c, NREAL)];
			nr = _IOC_NR(cmd);
			if (chance(c, 50))
				size = _IOC_SIZE(cmd) + (chance(c, 50) ? 8 : -8u);
			else
				dir = _IOC_DIR(cmd);
			size &= _IOC_SIZEMASK;
			break;
		case 2:
			nr = rn(c, NREAL);
			break;
		default:
			nr = rn(c, 256);
			if (is_port(t)) {
				bool vfs;

				do {
					type = rn(c, 256);
					vfs = false;
					for (size_t i = 0; i < sizeof(vfs_magic); i++)
						vfs |= type == vfs_magic[i];
				} while (vfs);
			}
		}
		cmd = _IOC(dir, type, nr, size);
	} while (real_cmd(cmd));
	arg = chance(c, 50) ? (void *)(c->args_end - page) : bad_ptr(c);
	e = xioctl(t->fd, cmd, arg, K_UNKNOWN);
	if (check_not_port(t, K_UNKNOWN, e, ""))
		return;
	if (e != ENOTTY) {
		char b[96];

		fail("ioctl %#x (dir %u type %#x nr %u size %u) on %s: got %s, expected ENOTTY",
		     cmd, dir, type, nr, size, tdesc(t, b, sizeof(b)), errname(e));
	}
}

/* ------------------------------------------------------------------ */
/* Other operations                                                     */

static void do_poll(struct tctx *c)
{
	struct pollfd pfd[8];
	struct tgt tg[8];
	uint64_t t0;
	int n = 1 + rn(c, 6), r, e, h0, timeout, nz = 0;

	for (int i = 0; i < n; i++) {
		pick_tgt(c, &tg[i], 40, 45);
		tgt_begin(c, &tg[i]);
		pfd[i].fd = tg[i].fd;
		pfd[i].events = chance(c, 70) ? POLLIN | POLLRDNORM :
			(short)(rn(c, 16) & (POLLIN | POLLPRI | POLLOUT | POLLRDNORM));
		pfd[i].revents = (short)0xdead;
	}
	timeout = chance(c, 50) ? 0 : 1 + (int)rn(c, 20);
	if (sh->strict && c->is_child)
		timeout = 0;
	h0 = tls_sigs;
	t0 = now_ns();
	r = poll(pfd, n, timeout);
	e = r < 0 ? errno : 0;
	count_call(K_POLL, e);
	if (r < 0) {
		if (!(e == EINTR && tls_sigs != h0) && e != ENOMEM)
			fail("poll of %d fds: %s", n, errname(e));
		return;
	}
	for (int i = 0; i < n; i++) {
		short rev = pfd[i].revents, allowed;
		char b[96];

		if (rev)
			nz++;
		if (tg[i].fd == CLOSED_FD) {
			if (!(rev & POLLNVAL))
				fail("poll: closed fd %d without POLLNVAL (%#x)", tg[i].fd, rev);
			continue;
		}
		if (tg[i].fd < 0) {
			if (rev)
				fail("poll: fd -1 has revents %#x", rev);
			continue;
		}
		if (!is_port(&tg[i]))
			continue;
		allowed = (pfd[i].events & (POLLIN | POLLRDNORM)) | POLLHUP;
		if (rev & ~allowed)
			fail("poll on %s (events %#x): revents %#x", tdesc(&tg[i], b, sizeof(b)),
			     pfd[i].events, rev);
		if (!tgt_stable(c, &tg[i]))
			continue;
		uint64_t sn = tgt_shut_ns(&tg[i]);

		if (sn && sn < rel_ns(t0) && !(rev & POLLHUP))
			fail("poll on %s: shut down %.3f ms before, no POLLHUP (revents %#x)",
			     tdesc(&tg[i], b, sizeof(b)), (rel_ns(t0) - sn) / 1e6, rev);
		if (rev & POLLHUP)
			verify_shut(c, &tg[i], "poll (POLLHUP)");
	}
	if (nz != r)
		fail("poll returned %d but %d fds have revents", r, nz);
}

#define EPT_PORT	(1ull << 40)

static void do_epoll(struct tctx *c)
{
	struct epoll_event ev, evs[8];
	int epfd = chance(c, 20) ? g_epfd : c->epfd;
	int r, e, h0;

	if (chance(c, 65)) {
		static const int ops[] = { EPOLL_CTL_ADD, EPOLL_CTL_ADD, EPOLL_CTL_MOD, EPOLL_CTL_DEL };
		int op = ops[rn(c, 4)];
		struct tgt t;
		eset_t ok = { { 0 } };
		const struct weird *w = NULL;

		pick_tgt(c, &t, 40, 40);
		if (!is_port(&t)) {
			w = &weird[rn(c, nweird)];
			t.fd = w->fd;
		}
		tgt_begin(c, &t);
		memset(&ev, 0, sizeof(ev));
		ev.events = EPOLLIN | (chance(c, 30) ? EPOLLRDNORM : 0);
		if (chance(c, 20))
			ev.events |= EPOLLET;
		if (chance(c, 10))
			ev.events |= EPOLLONESHOT;
		else if (op == EPOLL_CTL_ADD && chance(c, 10))
			ev.events |= EPOLLEXCLUSIVE;
		ev.data.u64 = (is_port(&t) ? EPT_PORT : 0) | (uint64_t)(t.slot & 0xff) << 32 | t.gen;
		r = epoll_ctl(epfd, op, t.fd, &ev);
		e = r < 0 ? errno : 0;
		count_call(K_EPOLL, e);
		if (w && w->type == TT_BADF) {
			es_add(&ok, EBADF);
		} else if (w && !w->epollable) {
			es_add(&ok, EPERM);
		} else if ((ev.events & EPOLLEXCLUSIVE) && (ev.events & EPOLLRDNORM)) {
			es_add(&ok, EINVAL);	/* not allowed with EPOLLEXCLUSIVE */
		} else {
			es_add(&ok, ENOMEM);
			es_add(&ok, ENOSPC);
			if (op == EPOLL_CTL_ADD) {
				es_add(&ok, 0);
				es_add(&ok, EEXIST);
			} else {
				es_add(&ok, 0);
				es_add(&ok, ENOENT);
				if (op == EPOLL_CTL_MOD)
					es_add(&ok, EINVAL);	/* item added with EPOLLEXCLUSIVE */
			}
		}
		if (!es_has(&ok, e)) {
			char set[128];

			es_str(&ok, set, sizeof(set));
			fail("epoll_ctl(op %d, fd %d (%s), events %#x): %s, expected one of {%s}",
			     op, t.fd, w ? w->name : t.name, ev.events, errname(e), set);
		}
	}
	h0 = tls_sigs;
	r = epoll_wait(epfd, evs, 8, chance(c, 50) ? 0 : 1 + (int)rn(c, 10));
	e = r < 0 ? errno : 0;
	count_call(K_EPOLL, e);
	if (r < 0) {
		if (!(e == EINTR && tls_sigs != h0))
			fail("epoll_wait: %s", errname(e));
		return;
	}
	for (int i = 0; i < r; i++) {
		if (!(evs[i].data.u64 & EPT_PORT))
			continue;
		if (evs[i].events & ~(uint32_t)(EPOLLIN | EPOLLRDNORM | EPOLLHUP))
			fail("epoll_wait: port (slot %u) reported events %#x",
			     (unsigned int)(evs[i].data.u64 >> 32) & 0xff, evs[i].events);
	}
}

enum {
	FI_QUEUED, FI_RUNNING, FI_BLOCKED, FI_WAITING, FI_THREADS, FI_CONC,
	FI_EFF, FI_MQ, FI_FLAGS, FI_HW, FI_POSTED, FI_DEQUEUED, FI_DISCARDED,
	FI_SHUTDOWN, FI_ASSOC, FI_MAX_ASSOC, NKEYS
};

static const char *const fdinfo_keys[NKEYS] = {
	"iocp-queued", "iocp-running", "iocp-blocked", "iocp-waiting",
	"iocp-threads", "iocp-concurrency", "iocp-effective-concurrency",
	"iocp-max-queued", "iocp-flags", "iocp-high-water", "iocp-posted",
	"iocp-dequeued", "iocp-discarded", "iocp-shutdown", "iocp-associations",
	"iocp-max-assoc",
};

/* An "iocp-assoc:" line of the fdinfo of @t: its key, events and flags are
 * those of an ASSOCIATE or MODIFY made on the port. */
static void fdinfo_assoc(struct tctx *c, const struct tgt *t, const char *val)
{
	unsigned long long key;
	unsigned long ino;
	unsigned int ev, fl;
	char b[96];

	if (sscanf(val, "inode:%lu key:%llx events:%x flags:%x", &ino, &key, &ev, &fl) != 4) {
		fail("fdinfo of %s: iocp-assoc: bad value '%s'", tdesc(t, b, sizeof(b)), val);
		return;
	}
	if ((ev & ~(uint32_t)POLL_ALL) ||
	    (fl & ~(uint32_t)(IOCP_ASSOC_ONESHOT | IOCP_ASSOC_SKIP_ON_SUCCESS)))
		fail("fdinfo of %s: iocp-assoc: events %#x flags %#x", tdesc(t, b, sizeof(b)),
		     ev, fl);
	if (!is_port(t) || !tgt_stable(c, t))
		return;
	if (!key_known(key, t->slot))
		fail("fdinfo of %s: iocp-assoc: key %#llx never associated with this port",
		     tdesc(t, b, sizeof(b)), key);
	else if (ev != ((key >> 24) & 0xffff) || fl != ((key >> 40) & 0xff))
		fail("fdinfo of %s: iocp-assoc: key %#llx with events %#x flags %#x, given with events %#llx flags %#llx",
		     tdesc(t, b, sizeof(b)), key, ev, fl, (key >> 24) & 0xffff, (key >> 40) & 0xff);
}

/* /proc/self/fdinfo: the lines of a port, checked like a GET_STATS
 * snapshot (unknown iocp- lines are ignored). */
static void do_fdinfo(struct tctx *c)
{
	unsigned long long v[NKEYS];
	int seen[NKEYS] = { 0 };
	char path[64], buf[16384], b[96];
	struct tgt t;
	ssize_t n;
	int fd, e, nlines = 0;
	char *line, *save;

	pick_tgt(c, &t, 45, 45);
	if (t.fd < 0)
		return;
	tgt_begin(c, &t);
	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", t.fd);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	e = fd < 0 ? errno : 0;
	if (fd < 0) {
		count_call(K_FDINFO, e);
		if (t.type != TT_BADF)
			fail("open %s (%s): %s", path, tdesc(&t, b, sizeof(b)), errname(e));
		return;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	e = n < 0 ? errno : 0;
	close(fd);
	count_call(K_FDINFO, e);
	if (n < 0) {
		fail("read %s: %s", path, errname(e));
		return;
	}
	buf[n] = 0;
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *colon = strchr(line, ':'), *end;

		if (!colon || strncmp(line, "iocp-", 5))
			continue;
		*colon = 0;
		if (!strcmp(line, "iocp-assoc")) {
			nlines++;
			if (colon[1] != '\t')
				fail("fdinfo of %s: %s: not followed by a tab",
				     tdesc(&t, b, sizeof(b)), line);
			else
				fdinfo_assoc(c, &t, colon + 2);
			continue;
		}
		for (int k = 0; k < NKEYS; k++) {
			if (strcmp(line, fdinfo_keys[k]))
				continue;
			if (colon[1] != '\t')
				fail("fdinfo of %s: %s: not followed by a tab",
				     tdesc(&t, b, sizeof(b)), line);
			v[k] = strtoull(colon + 1, &end, 0);
			if (end == colon + 1 || *end)
				fail("fdinfo of %s: %s: bad value '%s'",
				     tdesc(&t, b, sizeof(b)), line, colon + 1);
			seen[k]++;
		}
	}
	if (!is_port(&t)) {
		for (int k = 0; k < NKEYS; k++) {
			if (seen[k])
				fail("fdinfo of %s has %s", tdesc(&t, b, sizeof(b)), fdinfo_keys[k]);
		}
		if (nlines)
			fail("fdinfo of %s has iocp-assoc lines", tdesc(&t, b, sizeof(b)));
		return;
	}
	for (int k = 0; k < NKEYS; k++) {
		if (seen[k] != 1) {
			fail("fdinfo of %s: %s seen %d times", tdesc(&t, b, sizeof(b)),
			     fdinfo_keys[k], seen[k]);
			return;
		}
	}
	tdesc(&t, b, sizeof(b));
	if (atomic_load(&sh->assoc_used[t.slot]) ?
	    v[FI_POSTED] > v[FI_DEQUEUED] + v[FI_DISCARDED] + v[FI_QUEUED] :
	    v[FI_POSTED] != v[FI_DEQUEUED] + v[FI_DISCARDED] + v[FI_QUEUED])
		fail("fdinfo of %s: posted %llu, dequeued %llu + discarded %llu + queued %llu",
		     b, v[FI_POSTED], v[FI_DEQUEUED], v[FI_DISCARDED], v[FI_QUEUED]);
	/* The iocp-assoc lines are listed after the counters are read,
	 * not in the same atomic step: their number may differ. */
	if (t.slot == ACCT && tgt_stable(c, &t) && (v[FI_ASSOC] || nlines))
		fail("fdinfo of %s: %llu associations, %d iocp-assoc lines", b, v[FI_ASSOC],
		     nlines);
	if (v[FI_SHUTDOWN] && v[FI_ASSOC] && tgt_stable(c, &t)) {
		uint64_t sn = tgt_shut_ns(&t);

		if (sn && sn < t.t_begin)
			fail("fdinfo of %s: %llu associations, %.3f ms after a shutdown", b,
			     v[FI_ASSOC], (t.t_begin - sn) / 1e6);
	}
	if (!v[FI_MAX_ASSOC] || v[FI_MAX_ASSOC] > IOCP_MAX_ASSOC_LIMIT)
		fail("fdinfo of %s: max-assoc %llu", b, v[FI_MAX_ASSOC]);
	if (v[FI_HW] < v[FI_QUEUED])
		fail("fdinfo of %s: high water %llu < queued %llu", b, v[FI_HW], v[FI_QUEUED]);
	if (v[FI_SHUTDOWN] > 1)
		fail("fdinfo of %s: shutdown %llu", b, v[FI_SHUTDOWN]);
	if (v[FI_SHUTDOWN] && (v[FI_QUEUED] || v[FI_RUNNING] || v[FI_THREADS] || v[FI_BLOCKED]))
		fail("fdinfo of %s: shut down with queued %llu running %llu threads %llu blocked %llu",
		     b, v[FI_QUEUED], v[FI_RUNNING], v[FI_THREADS], v[FI_BLOCKED]);
	if (!v[FI_SHUTDOWN] &&
	    v[FI_THREADS] != v[FI_RUNNING] + v[FI_WAITING] + v[FI_BLOCKED])
		fail("fdinfo of %s: threads %llu != running %llu + waiting %llu + blocked %llu",
		     b, v[FI_THREADS], v[FI_RUNNING], v[FI_WAITING], v[FI_BLOCKED]);
	if ((v[FI_FLAGS] & IOCP_CONFIG_IGNORE_BLOCKING) && v[FI_BLOCKED])
		fail("fdinfo of %s: blocked %llu with flags %#llx", b, v[FI_BLOCKED], v[FI_FLAGS]);
	if (v[FI_FLAGS] & ~(unsigned long long)IOCP_CONFIG_IGNORE_BLOCKING)
		fail("fdinfo of %s: flags %#llx", b, v[FI_FLAGS]);
	if (!v[FI_EFF] || (v[FI_CONC] && v[FI_CONC] != v[FI_EFF]))
		fail("fdinfo of %s: concurrency %llu effective %llu", b, v[FI_CONC], v[FI_EFF]);
	if (!v[FI_MQ] || v[FI_MQ] > IOCP_MAX_QUEUED_LIMIT)
		fail("fdinfo of %s: max-queued %llu", b, v[FI_MQ]);
	if (tgt_stable(c, &t) && t.slot == ACCT && sh->strict && !v[FI_SHUTDOWN] &&
	    v[FI_RUNNING] > v[FI_EFF])
		fail("fdinfo of the accounting port: strict round, running %llu > concurrency %llu",
		     v[FI_RUNNING], v[FI_EFF]);
}

static void one_ioctl(struct tctx *c, struct tgt *t);

/* Block outside DEQUEUE (blocking awareness), or just yield (not a block). */
static void do_sleep(struct tctx *c)
{
	struct pollfd pfd = { .fd = weird[0].fd, .events = POLLIN };

	switch (rn(c, 4)) {
	case 0:
		sched_yield();
		break;
	case 1:
		/* the pipe is never written: poll() sleeps for its timeout */
		if (poll(&pfd, 1, rn(c, 3)) != 0 && errno != EINTR)
			fail("poll of an empty pipe: %s", errname(errno));
		break;
	default:
		sleep_ns(rn(c, 2000) * USEC);
	}
	count_call(K_SLEEP, 0);
}

/* DISASSOCIATE: 0 if the thread was associated with the port, else ENOENT. */
static void do_disassociate(struct tctx *c, struct tgt *t)
{
	bool maybe = c->may_be_associated;
	char b[96];
	int e;

	tgt_begin(c, t);
	e = xioctl(t->fd, IOCP_IOC_DISASSOCIATE, (void *)(uintptr_t)rnd64(c),
		   K_DISASSOCIATE);
	if (check_not_port(t, K_DISASSOCIATE, e, ""))
		return;
	if ((e && e != ENOENT) || (!maybe && e != ENOENT)) {
		fail("DISASSOCIATE on %s: %s, expected %s", tdesc(t, b, sizeof(b)),
		     errname(e), maybe ? "success or ENOENT" :
		     "ENOENT (no DEQUEUE since the thread left its last port)");
		return;
	}
	if (e)
		return;
	c->may_be_associated = false;
	e = xioctl(t->fd, IOCP_IOC_DISASSOCIATE, NULL, K_DISASSOCIATE);
	if (e != ENOENT)
		fail("second DISASSOCIATE on %s: %s, expected ENOENT",
		     tdesc(t, b, sizeof(b)), errname(e));
}

/* Operate on a dup of a port, then close it. */
static void do_dup(struct tctx *c)
{
	struct tgt t;
	int d, s = chance(c, 50) ? ACCT : 1 + (int)rn(c, NPORTS - 1), e;

	slot_tgt(&t, s);
	tgt_begin(c, &t);
	switch (rn(c, 3)) {
	case 0:
		d = dup(t.fd);
		break;
	case 1:
		d = fcntl(t.fd, F_DUPFD_CLOEXEC, 3 + (int)rn(c, 200));
		break;
	default:
		d = fcntl(t.fd, F_DUPFD, 0);
	}
	e = d < 0 ? errno : 0;
	count_call(K_DUP, e);
	if (d < 0) {
		if (e != EMFILE && e != ENOMEM)
			fail("dup of fd %d: %s", t.fd, errname(e));
		return;
	}
	t.gen_ok = tgt_stable(c, &t);
	t.type = TT_DUP;
	t.fd = d;
	for (int i = 1 + (int)rn(c, 3); i > 0; i--)
		one_ioctl(c, &t);
	e = close(d) ? errno : 0;
	count_call(K_CLOSE, e);
	if (e)
		fail("close of dup fd %d: %s", d, errname(e));
}

/* Replace a chaos port: the old file is closed (implicitly shut down if it
 * was the last reference) while other threads may be blocked on it. */
static void do_reopen(struct tctx *c, int s, bool force)
{
	struct slot *sl = &sh->slots[s];
	struct iocp_config cfg;
	int nfd, e;

	if (force)
		pthread_mutex_lock(&sl->lock);
	else if (pthread_mutex_trylock(&sl->lock))
		return;
	atomic_fetch_add(&sl->gen, 1);
	if (chance(c, 30)) {
		e = xioctl(sl->fd, IOCP_IOC_SHUTDOWN, NULL, K_SHUTDOWN);
		if (e)
			fail("SHUTDOWN of chaos port %d before replacing it: %s", s, errname(e));
	}
	nfd = open("/dev/iocp", (chance(c, 10) ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	e = nfd < 0 ? errno : 0;
	count_call(K_OPEN, e);
	if (nfd < 0) {
		if (e != ENOMEM && e != EMFILE && e != ENFILE)
			fail("open /dev/iocp: %s", errname(e));
	} else {
		memset(&cfg, 0, sizeof(cfg));
		cfg.concurrency = rn(c, 4);
		cfg.max_queued = chance(c, 20) ? 1 + rn(c, 64) : IOCP_DEFAULT_MAX_QUEUED;
		cfg.flags = rn(c, 2);
		cfg.max_assoc = chance(c, 20) ? 1 + rn(c, 4) : 0;
		cfg.max_ops = chance(c, 20) ? 1 + rn(c, 16) : OPS_PORT_MAX;
		e = xioctl(nfd, IOCP_IOC_SET_CONFIG, &cfg, K_SET_CONFIG);
		if (e)
			fail("SET_CONFIG on a new port: %s", errname(e));
		if (dup2(nfd, sl->fd) != sl->fd)
			fail("dup2(%d, %d): %s", nfd, sl->fd, errname(errno));
		close(nfd);
		atomic_store(&sl->last_queued, 0);
	}
	count_call(K_REOPEN, e);
	atomic_fetch_add(&sl->gen, 1);
	pthread_mutex_unlock(&sl->lock);
}

static int failnth_arm(struct tctx *c, unsigned int n)
{
	char b[16];
	int len = snprintf(b, sizeof(b), "%u", n);

	return pwrite(c->failfd, b, len, 0) == len ? 0 : -1;
}

/* 1: the fault was injected, 0: not reached; disarms. */
static int failnth_disarm(struct tctx *c)
{
	char b[16];
	ssize_t n = pread(c->failfd, b, sizeof(b) - 1, 0);
	int injected;

	if (n <= 0)
		return 0;
	b[n] = 0;
	injected = atoi(b) == 0;
	if (!injected && pwrite(c->failfd, "0", 1, 0) != 1)
		fail("cannot disarm fail-nth: %s", errname(errno));
	return injected;
}

/* A private port: exact checks of a port no other thread uses. */
static void do_temp(struct tctx *c, bool inject)
{
	struct iocp_completion in[72], out[72];
	struct iocp_dequeue_args dq;
	struct iocp_post_args pa;
	struct iocp_config cfg;
	struct iocp_stats st;
	struct pollfd pfd;
	uint32_t conc, mq, k, x, sflags, tflags;
	int fd, d, e, n;
	uint64_t t0, to;

	if (inject)
		failnth_arm(c, 1 + rn(c, 3));
	fd = open("/dev/iocp", (chance(c, 10) ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	e = fd < 0 ? errno : 0;
	if (inject) {
		atomic_fetch_add(&sh->injections, 1);
		if (failnth_disarm(c))
			atomic_fetch_add(&sh->injected, 1);
	}
	count_call(K_OPEN, e);
	if (fd < 0) {
		if (e != EMFILE && e != ENFILE && e != ENOMEM)
			fail("open /dev/iocp: %s", errname(e));
		return;
	}
	if (inject) {
		close(fd);
		return;
	}
#define TFAIL(fmt, ...) do { fail("private port: " fmt, ##__VA_ARGS__); goto out; } while (0)
	conc = 1 + rn(c, 3);
	mq = 4 + rn(c, 60);
	memset(&cfg, 0, sizeof(cfg));
	cfg.concurrency = conc;
	cfg.max_queued = mq;
	cfg.flags = chance(c, 50) ? IOCP_CONFIG_IGNORE_BLOCKING : 0;
	tflags = cfg.flags;
	sflags = IOCP_STATS_EXIT_TRACKING |
		 (cfg.flags & IOCP_CONFIG_IGNORE_BLOCKING || g_lazy_exit ?
		  0 : IOCP_STATS_BLOCKING_AWARE);
	if ((e = xioctl(fd, IOCP_IOC_SET_CONFIG, &cfg, K_SET_CONFIG)))
		TFAIL("SET_CONFIG(%u, %u, %#x): %s", conc, mq, cfg.flags, errname(e));
	k = 1 + rn(c, mq < 8 ? mq : 8);
	for (uint32_t i = 0; i < mq + 1 && i < 72; i++)
		fill_entry(&in[i], ud_make(SLOT_TEMP, c->poster, 0, i));
	pa.entries = (uintptr_t)in;
	pa.count = k;
	pa.flags = 0;
	if ((e = xioctl(fd, IOCP_IOC_POST, &pa, K_POST)))
		TFAIL("POST %u: %s", k, errname(e));
	pa.entries = (uintptr_t)&in[k];
	pa.count = mq - k + 1;
	if ((e = xioctl(fd, IOCP_IOC_POST, &pa, K_POST)) != EAGAIN)
		TFAIL("POST of %u more with %u of %u queued: %s, expected EAGAIN",
		      mq - k + 1, k, mq, errname(e));
	memset(&st, 0xcc, sizeof(st));
	if ((e = xioctl(fd, IOCP_IOC_GET_STATS, &st, K_GET_STATS)))
		TFAIL("GET_STATS: %s", errname(e));
	if (st.posted != k || st.queued != k || st.high_water != k || st.dequeued ||
	    st.threads || st.running || st.waiting || st.blocked ||
	    st.concurrency != conc || st.flags != sflags)
		TFAIL("after %u posts: posted %llu queued %u high_water %u dequeued %llu threads %u running %u waiting %u blocked %u concurrency %u flags %#x (want %#x)",
		      k, (unsigned long long)st.posted, st.queued, st.high_water,
		      (unsigned long long)st.dequeued, st.threads, st.running,
		      st.waiting, st.blocked, st.concurrency, st.flags, sflags);
	pfd.fd = fd;
	pfd.events = POLLIN;
	n = poll(&pfd, 1, 0);
	count_call(K_POLL, n < 0 ? errno : 0);
	if (n != 1 || pfd.revents != POLLIN)
		TFAIL("poll with %u queued: %d revents %#x", k, n, pfd.revents);
	if (chance(c, 50)) {
		/* EFAULT: the packets go back, in order */
		memset(&dq, 0, sizeof(dq));
		dq.entries = chance(c, 50) ? 0 : (uintptr_t)g_ro->zeros;
		dq.max = k;
		dq.count = 77;
		e = xioctl(fd, IOCP_IOC_DEQUEUE, &dq, K_DEQUEUE);
		if (e == ENOMEM)
			goto out;
		if (e != EFAULT)
			TFAIL("DEQUEUE into %s with %u queued: %s, expected EFAULT",
			      dq.entries ? "read-only memory" : "NULL", k, errname(e));
		atomic_fetch_add(&sh->putback_total, 1);
		memset(&st, 0xcc, sizeof(st));
		xioctl(fd, IOCP_IOC_GET_STATS, &st, K_GET_STATS);
		if (st.queued != k || st.dequeued || st.threads != 1 || st.running != 1 ||
		    st.waiting || st.blocked)
			TFAIL("after EFAULT: queued %u (want %u) dequeued %llu threads %u running %u waiting %u blocked %u",
			      st.queued, k, (unsigned long long)st.dequeued, st.threads,
			      st.running, st.waiting, st.blocked);
	}
	d = dup(fd);
	count_call(K_DUP, d < 0 ? errno : 0);
	if (d < 0)
		goto out;
	close(fd);
	fd = d;
	memset(&dq, 0, sizeof(dq));
	memset(out, 0xcc, sizeof(out));
	dq.entries = (uintptr_t)out;
	dq.max = k + rn(c, 3);
	dq.min = k;
	e = xioctl(fd, IOCP_IOC_DEQUEUE, &dq, K_DEQUEUE);
	if (e == ENOMEM)
		goto out;
	if (e || dq.count != k)
		TFAIL("DEQUEUE min %u max %u with %u queued (through a dup, original closed): %s count %u",
		      k, dq.max, k, errname(e), dq.count);
	for (uint32_t i = 0; i < k; i++) {
		if (out[i].user_data != in[i].user_data || out[i].key != in[i].key ||
		    out[i].result != in[i].result || out[i].flags != IOCP_CF_POSTED ||
		    out[i].events)
			TFAIL("packet %u: user_data %#llx (want %#llx) flags %#x events %#x",
			      i, (unsigned long long)out[i].user_data,
			      (unsigned long long)in[i].user_data, out[i].flags, out[i].events);
	}
	for (size_t i = k * ENT_SIZE; i < sizeof(out); i++) {
		if (((unsigned char *)out)[i] != 0xcc)
			TFAIL("DEQUEUE wrote beyond count %u", k);
	}
	memset(&dq, 0, sizeof(dq));
	dq.entries = (uintptr_t)out;
	dq.max = 1;
	to = chance(c, 50) ? 0 : USEC * (1 + rn(c, 3000));
	dq.timeout_ns = to;
	t0 = now_ns();
	e = xioctl(fd, IOCP_IOC_DEQUEUE, &dq, K_DEQUEUE);
	if (e == EINTR)
		goto out;
	if (e != ETIMEDOUT || now_ns() - t0 < to)
		TFAIL("DEQUEUE of an empty port, timeout %llu ns: %s after %llu ns",
		      (unsigned long long)to, errname(e), (unsigned long long)(now_ns() - t0));
	memset(&st, 0xcc, sizeof(st));
	xioctl(fd, IOCP_IOC_GET_STATS, &st, K_GET_STATS);
	if (st.posted != k || st.dequeued != k || st.queued || st.threads != 1 ||
	    st.running != 1 || st.waiting || st.blocked || st.peak_running != 1 ||
	    st.discarded)
		TFAIL("after draining %u: posted %llu dequeued %llu queued %u threads %u running %u waiting %u blocked %u peak %u discarded %llu",
		      k, (unsigned long long)st.posted, (unsigned long long)st.dequeued,
		      st.queued, st.threads, st.running, st.waiting, st.blocked,
		      st.peak_running, (unsigned long long)st.discarded);
	if (chance(c, 50)) {
		if ((e = xioctl(fd, IOCP_IOC_DISASSOCIATE, NULL, K_DISASSOCIATE)))
			TFAIL("DISASSOCIATE of the associated thread: %s", errname(e));
		c->may_be_associated = false;
		memset(&st, 0xcc, sizeof(st));
		xioctl(fd, IOCP_IOC_GET_STATS, &st, K_GET_STATS);
		if (st.threads || st.running || st.waiting || st.blocked || st.dequeued != k)
			TFAIL("after DISASSOCIATE: threads %u running %u waiting %u blocked %u dequeued %llu",
			      st.threads, st.running, st.waiting, st.blocked,
			      (unsigned long long)st.dequeued);
		if ((e = xioctl(fd, IOCP_IOC_DISASSOCIATE, NULL, K_DISASSOCIATE)) != ENOENT)
			TFAIL("second DISASSOCIATE: %s, expected ENOENT", errname(e));
	}
	x = 1 + rn(c, 3);
	pa.entries = (uintptr_t)in;
	pa.count = x;
	if ((e = xioctl(fd, IOCP_IOC_POST, &pa, K_POST)))
		TFAIL("POST %u: %s", x, errname(e));
	if (chance(c, 50)) {
		if ((e = xioctl(fd, IOCP_IOC_SHUTDOWN, NULL, K_SHUTDOWN)))
			TFAIL("SHUTDOWN: %s", errname(e));
		memset(&st, 0xcc, sizeof(st));
		xioctl(fd, IOCP_IOC_GET_STATS, &st, K_GET_STATS);
		if (st.discarded != x || st.queued || st.threads || st.running ||
		    st.blocked || st.flags != (IOCP_STATS_SHUTDOWN | sflags))
			TFAIL("after SHUTDOWN with %u queued: discarded %llu queued %u threads %u running %u flags %#x",
			      x, (unsigned long long)st.discarded, st.queued, st.threads,
			      st.running, st.flags);
		if ((e = xioctl(fd, IOCP_IOC_POST, &pa, K_POST)) != ESHUTDOWN)
			TFAIL("POST after SHUTDOWN: %s", errname(e));
		dq.max = 0;
		if ((e = xioctl(fd, IOCP_IOC_DEQUEUE, &dq, K_DEQUEUE)) != ESHUTDOWN)
			TFAIL("depth query after SHUTDOWN: %s", errname(e));
		dq.max = 1;
		dq.timeout_ns = IOCP_INFINITE;
		if ((e = xioctl(fd, IOCP_IOC_DEQUEUE, &dq, K_DEQUEUE)) != ESHUTDOWN)
			TFAIL("DEQUEUE after SHUTDOWN: %s", errname(e));
		cfg.reserved[2] = 1;
		if ((e = xioctl(fd, IOCP_IOC_SET_CONFIG, &cfg, K_SET_CONFIG)) != EINVAL)
			TFAIL("invalid SET_CONFIG after SHUTDOWN: %s (arguments are checked first)",
			      errname(e));
		cfg.reserved[2] = 0;
		if ((e = xioctl(fd, IOCP_IOC_SET_CONFIG, &cfg, K_SET_CONFIG)) != ESHUTDOWN)
			TFAIL("SET_CONFIG after SHUTDOWN: %s", errname(e));
		if ((e = xioctl(fd, IOCP_IOC_GET_CONFIG, &cfg, K_GET_CONFIG)) ||
		    cfg.concurrency != conc || cfg.max_queued != mq ||
		    cfg.flags != tflags || cfg.max_assoc != IOCP_DEFAULT_MAX_ASSOC)
			TFAIL("GET_CONFIG after SHUTDOWN: %s, %u/%u/%u (max_assoc set to 0: the default)",
			      errname(e), cfg.concurrency, cfg.max_queued, cfg.max_assoc);
		if ((e = xioctl(fd, IOCP_IOC_SHUTDOWN, NULL, K_SHUTDOWN)))
			TFAIL("second SHUTDOWN: %s", errname(e));
		if ((e = xioctl(fd, IOCP_IOC_DISASSOCIATE, NULL, K_DISASSOCIATE)) != ENOENT)
			TFAIL("DISASSOCIATE after SHUTDOWN: %s, expected ENOENT", errname(e));
		pfd.fd = fd;
		pfd.events = POLLIN;
		n = poll(&pfd, 1, 0);
		count_call(K_POLL, n < 0 ? errno : 0);
		if (n != 1 || pfd.revents != POLLHUP)
			TFAIL("poll after SHUTDOWN: %d revents %#x", n, pfd.revents);
	}
out:
	e = close(fd) ? errno : 0;
	count_call(K_CLOSE, e);
	if (e)
		fail("close of a private port: %s", errname(e));
#undef TFAIL
}

/* ------------------------------------------------------------------ */
/* Associations                                                         */

/* The files that ASSOCIATE, MODIFY and DISSOCIATE name: made afresh each
 * round (after the chaos ports that held them were replaced), O_NONBLOCK. */
enum { PF_PIPE_R, PF_PIPE_W, PF_SOCK, PF_EVENTFD, PF_SIGNALFD, PF_REG, PF_BADF, PF_PORT };

struct pfile {
	int fd;
	int kind;
	int slot;		/* PF_PORT */
	const char *name;
};

static struct pfile pool[MAX_POOL];
static int npool, npollable;	/* the pollable files come first */

static void pool_add(int fd, int kind, const char *name)
{
	if (fd < 0 && kind != PF_BADF) {
		outf("# cannot create a %s: %s", name, errname(errno));
		return;
	}
	pool[npool++] = (struct pfile){ fd, kind, -1, name };
}

static void pool_setup(void)
{
	int p[2], sv[2];

	for (int i = 0; i < npool; i++) {
		if (pool[i].kind != PF_BADF && pool[i].kind != PF_PORT)
			close(pool[i].fd);
	}
	npool = 0;
	for (int i = 0; i < 2; i++) {
		if (pipe2(p, O_NONBLOCK | O_CLOEXEC) == 0) {
			pool_add(p[0], PF_PIPE_R, "pipe read end");
			pool_add(p[1], PF_PIPE_W, "pipe write end");
		}
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0) {
			pool_add(sv[0], PF_SOCK, "socket");
			pool_add(sv[1], PF_SOCK, "socket");
		}
		pool_add(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC), PF_EVENTFD, "eventfd");
	}
	{
		/* Keyless wakeups: every signal sent to the process wakes it;
		 * readable while the polling thread has SIGUSR1 pending. */
		sigset_t set;

		sigemptyset(&set);
		sigaddset(&set, SIGUSR1);
		sigaddset(&set, SIGUSR2);
		pool_add(signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC), PF_SIGNALFD, "signalfd");
	}
	npollable = npool;
	pool_add(memfd_create("iocp_fuzz_reg", MFD_CLOEXEC), PF_REG, "regular file");
	pool_add(CLOSED_FD, PF_BADF, "closed fd");
	pool_add(-1, PF_BADF, "fd -1");
	for (int i = 0; i < nweird; i++) {
		if (weird[i].fd >= 0 && weird[i].type == TT_BADF && weird[i].fd != CLOSED_FD)
			pool_add(weird[i].fd, PF_BADF, weird[i].name);	/* O_PATH */
	}
	for (int s = 1; s < NPORTS; s++) {
		pool[npool] = (struct pfile){ sh->slots[s].fd, PF_PORT, s, "chaos port" };
		npool++;
	}
}

static uint32_t pick_events(struct tctx *c)
{
	static const uint32_t v[] = {
		IOCP_POLLIN, IOCP_POLLIN, IOCP_POLLIN, IOCP_POLLOUT,
		IOCP_POLLIN | IOCP_POLLOUT, IOCP_POLLIN | IOCP_POLLRDHUP,
		IOCP_POLLERR, IOCP_POLLHUP, IOCP_POLLPRI, POLL_ALL,
	};
	unsigned int r = rn(c, 100);

	if (r < 70)
		return v[rn(c, sizeof(v) / sizeof(v[0]))];
	if (r < 92)
		return 1 + rn(c, POLL_ALL);	/* maybe with undefined bits */
	if (r < 96)
		return 0;
	return 1u << rn(c, 32);
}

static uint32_t pick_assoc_flags(struct tctx *c)
{
	unsigned int r = rn(c, 100);

	if (r < 65)
		return 0;
	if (r < 95)
		return IOCP_ASSOC_ONESHOT;
	return 1u << rn(c, 32);
}

/* Do the arguments of ASSOCIATE or MODIFY (or of DISSOCIATE) fail EINVAL? */
static bool assoc_invalid(int kind, const struct iocp_assoc_args *v)
{
	if (kind == K_DISSOCIATE)
		return v->events || v->flags || v->reserved;
	/* events 0: a key-only association (the key for ops on the file) */
	return (v->flags & ~(uint32_t)(IOCP_ASSOC_ONESHOT | IOCP_ASSOC_SKIP_ON_SUCCESS)) ||
	       v->reserved || (v->events & ~(uint32_t)POLL_ALL);
}

static unsigned long assoc_cmd(int kind)
{
	return kind == K_ASSOCIATE ? IOCP_IOC_ASSOCIATE :
	       kind == K_MODIFY ? IOCP_IOC_MODIFY : IOCP_IOC_DISSOCIATE;
}

/*
 * ASSOCIATE, MODIFY or DISSOCIATE on target @t, of a file of the pool (or
 * of @t itself); @file >= 0 forces that pool file, @force_valid valid
 * arguments. Nothing is ever associated with the accounting port: there
 * the calls are made so that they must fail.
 */
static void do_assoc(struct tctx *c, struct tgt *t, int kind, int file, bool force_valid)
{
	bool acct = is_port(t) && t->slot == ACCT;
	struct iocp_assoc_args v, *a;
	const struct pfile *pf = NULL;
	bool self = false, maybe_self = false, is_reg, is_badf, is_portf, inval;
	bool stable, self_sure, reg = false;
	uint32_t serial = 0;
	uint64_t t0, sn;
	int am, e, fkind;
	eset_t ok = { { 0 } };
	char pb[48], fb[64];

	if (npool < npollable + 3 + NPORTS - 1 || npollable < 1)
		return;		/* no pool */
	am = force_valid ? AM_VALID : pick_am(c, false);
	if (am == AM_RO)
		am = AM_VALID;
	memset(&v, 0, sizeof(v));
	if (file >= 0) {
		pf = &pool[file];
	} else {
		unsigned int r = rn(c, 100);

		if (r < 8 || (acct && r < 30))
			self = true;
		else if (r < 14 || (acct && r < 60))
			pf = &pool[npollable];		/* the regular file */
		else if (r < 20 || acct)
			pf = &pool[npollable + 1 + rn(c, npool - npollable - 1 - (NPORTS - 1))];
		else if (r < 28)
			pf = &pool[npool - (NPORTS - 1) + rn(c, NPORTS - 1)];
		else
			pf = &pool[rn(c, npollable)];
		if (acct && pf && pf->kind != PF_REG && pf->kind != PF_BADF)
			self = true, pf = NULL;
	}
	fkind = self ? PF_PORT : pf->kind;
	v.fd = self ? (uint32_t)t->fd : (uint32_t)pf->fd;
	is_reg = fkind == PF_REG;
	is_badf = fkind == PF_BADF;
	is_portf = fkind == PF_PORT;
	/* The same slot's port by its slot fd: the same file unless the
	 * slot's port is replaced during the call. */
	maybe_self = self || (pf && pf->kind == PF_PORT && is_port(t) && pf->slot == t->slot);
	if (kind == K_DISSOCIATE) {
		if (!force_valid && chance(c, 8)) {
			if (chance(c, 50))
				v.events = pick_events(c) | 1;
			else
				v.flags = 1u << rn(c, 32);
		}
		v.key = rnd64(c);	/* ignored */
	} else {
		v.events = force_valid ? (uint32_t)IOCP_POLLIN << rn(c, 3) : pick_events(c);
		v.flags = force_valid ? (chance(c, 30) ? (uint32_t)IOCP_ASSOC_ONESHOT : 0) :
			  pick_assoc_flags(c);
		/* A key-only association (events 0) of the regular file would
		 * succeed: never on the accounting port. */
		if (acct && !v.events)
			v.events = IOCP_POLLIN;
	}
	if (!force_valid && chance(c, 3))
		v.reserved = 1u << rn(c, 32);
	inval = assoc_invalid(kind, &v);
	if (kind != K_DISSOCIATE) {
		/* A key in the registry if the call may succeed. */
		bool may = is_port(t) && !acct && !inval && !(is_reg && v.events) && !is_badf &&
			   (am == AM_VALID);

		serial = atomic_fetch_add(&sh->keyseq, 1);
		if (serial >= KEYREG_MAX)
			return;		/* out of keys this round */
		v.key = key_make(is_port(t) ? (unsigned int)t->slot : 0xff, v.flags,
				 v.events, serial);
		if (may) {
			atomic_store(&sh->keyreg[serial], 1);
			reg = true;
			if (kind == K_ASSOCIATE)
				atomic_store(&sh->assoc_used[t->slot], 1);
		}
	}
	a = place_args(c, am, sizeof(*a));
	put_args(a, am, &v, sizeof(v), c);

	tgt_begin(c, t);
	t0 = now_ns();
	e = xioctl(t->fd, assoc_cmd(kind), a, kind);
	if (reg && e)
		atomic_store(&sh->keyreg[serial], 0);
	if (check_not_port(t, kind, e, ""))
		return;
	stable = tgt_stable(c, t);
	sn = stable ? tgt_shut_ns(t) : 0;
	/* Is the file surely the port itself? The same descriptor names the
	 * same file unless a replacement of the slot's port came between its
	 * two lookups; a dup, and a child's descriptors, are not replaced. */
	if (!maybe_self)
		self_sure = false;
	else if (v.fd == (uint32_t)t->fd)
		self_sure = c->is_child || t->type == TT_DUP || stable;
	else	/* a dup of the slot's port, and the slot's descriptor */
		self_sure = t->gen_ok && atomic_load(&sh->slots[t->slot].gen) == t->gen;
	if (am != AM_VALID) {
		es_add(&ok, EFAULT);
	} else if (inval) {
		es_add(&ok, EINVAL);
	} else if (is_badf) {
		es_add(&ok, EBADF);
	} else if (kind == K_ASSOCIATE && is_reg && v.events) {
		es_add(&ok, EPERM);
	} else if (sn && sn < rel_ns(t0)) {
		es_add(&ok, kind == K_DISSOCIATE ? ENOENT : ESHUTDOWN);
		if (kind == K_ASSOCIATE)
			es_add(&ok, ENOMEM);
	} else if (kind == K_ASSOCIATE) {
		/* The association is allocated before the other checks. */
		es_add(&ok, ENOMEM);
		es_add(&ok, ESHUTDOWN);
		es_add(&ok, ELOOP);
		if (!self_sure && !acct) {
			es_add(&ok, 0);
			es_add(&ok, EEXIST);
			es_add(&ok, ENOSPC);
			es_add(&ok, ENOMEM);
			if (!is_portf)
				ok.w[ELOOP / 64] &= ~(1ull << (ELOOP % 64));
		}
	} else {
		es_add(&ok, ENOENT);
		if (kind == K_MODIFY)
			es_add(&ok, ESHUTDOWN);
		if (!self_sure && !acct && !(is_reg && v.events))
			es_add(&ok, 0);
		if (kind == K_MODIFY && is_reg && v.events)
			es_add(&ok, EPERM);
	}
	if (!es_has(&ok, e)) {
		snprintf(fb, sizeof(fb), "%s %d", self ? "the port itself, fd" : pf->name,
			 (int)v.fd);
		bad_result(kind, t, e, &ok,
			   "args %s%s: file %s, key %#llx, events %#x, flags %#x, reserved %#x",
			   ptrdesc(a, pb, sizeof(pb)), am == AM_STRADDLE ? " (straddling)" : "",
			   fb, (unsigned long long)v.key, v.events, v.flags, v.reserved);
	}
	if (am == AM_VALID && memcmp(a, &v, sizeof(v)))
		fail("%s on fd %d changed its arguments", kind_name[kind], t->fd);
	if (e == ESHUTDOWN && stable)
		verify_shut(c, t, kind_name[kind]);
	if (!e && kind == K_ASSOCIATE)
		atomic_fetch_add(&sh->assoc_ok, 1);
}

/* Make the files of the pool ready (or not): write, read, send, recv. */
static void do_fdio(struct tctx *c)
{
	const struct pfile *pf;
	char buf[4096];
	uint64_t one;
	ssize_t n = 0;
	int e;

	if (!npollable)
		return;
	pf = &pool[rn(c, npollable)];
	memset(buf, 0x5a, 512);
	switch (pf->kind) {
	case PF_PIPE_W:
		n = write(pf->fd, buf, 1 + rn(c, 512));
		break;
	case PF_PIPE_R:
		n = read(pf->fd, buf, chance(c, 50) ? sizeof(buf) : 1 + rn(c, 64));
		break;
	case PF_SOCK:
		if (chance(c, 1))
			n = shutdown(pf->fd, chance(c, 50) ? SHUT_WR : SHUT_RDWR);
		else if (chance(c, 50))
			n = send(pf->fd, buf, 1 + rn(c, 512), MSG_DONTWAIT | MSG_NOSIGNAL);
		else
			n = recv(pf->fd, buf, sizeof(buf), MSG_DONTWAIT);
		break;
	case PF_EVENTFD:
		one = 1 + rn(c, 3);
		if (chance(c, 60))
			n = write(pf->fd, &one, sizeof(one));
		else
			n = read(pf->fd, &one, sizeof(one));
		break;
	default:
		return;
	}
	e = n < 0 ? errno : 0;
	count_call(K_FDIO, e);
	if (e && e != EAGAIN && e != EPIPE && e != ECONNRESET && e != EINTR)
		fail("I/O on the %s (fd %d): %s", pf->name, pf->fd, errname(e));
}

/* iocp_close_fd() of a dup of a pool file: the association (if with this
 * port) ends, ENOENT is no error, the dup is closed. */
static void do_close_fd(struct tctx *c, struct tgt *t)
{
	int d, e;

	if (!is_port(t) || !npollable)
		return;
	d = fcntl(pool[rn(c, npollable)].fd, F_DUPFD_CLOEXEC, 300);
	if (d < 0) {
		count_call(K_CLOSE_FD, errno);
		return;
	}
	e = -iocp_close_fd(t->fd, d);
	count_call(K_CLOSE_FD, e);
	if (e) {
		char b[96];

		fail("iocp_close_fd(%s, dup %d of a pooled file): %s", tdesc(t, b, sizeof(b)),
		     d, errname(e));
	}
}

/* A child (of do_fork) associates the pool's signalfd: the wait queue it
 * polls is the child's, freed when the child is reaped (POLLFREE): the
 * port then gets one POLLHUP packet and the association goes quiet. */
static void do_pollfree(struct tctx *c)
{
	struct tgt t;

	for (int i = 0; i < npollable; i++) {
		if (pool[i].kind == PF_SIGNALFD) {
			slot_tgt(&t, 1 + rn(c, NPORTS - 1));
			do_assoc(c, &t, chance(c, 80) ? K_ASSOCIATE : K_MODIFY, i, true);
			count_call(K_POLLFREE, 0);
			return;
		}
	}
}

/* A private port under exact checks (do_assoc_private). */
struct priv {
	int port;
	uint64_t dequeued;	/* packets dequeued from it so far */
	uint32_t serial;
	int got;
	struct iocp_completion out[8];
};

static uint64_t pkey(struct priv *pv, uint32_t events, uint32_t flags)
{
	return key_make(SLOT_TEMP, flags, events, ++pv->serial);
}

static int pcall(struct priv *pv, int kind, int fd, uint64_t key, uint32_t events,
		 uint32_t flags)
{
	struct iocp_assoc_args a = {
		.key = key, .fd = (uint32_t)fd, .events = events, .flags = flags,
	};

	return xioctl(pv->port, assoc_cmd(kind), &a, kind);
}

/* The checks below return 0 if all is well, 1 on ENOMEM (always possible:
 * allocations, memory cgroup), -1 on a failure, reported. */
static int pexpect(int want, int e, const char *what, int line)
{
	if (e == ENOMEM && want != ENOMEM)
		return 1;
	if (e == want)
		return 0;
	fail("private associations, line %d: %s: %s, expected %s", line, what, errname(e),
	     errname(want));
	return -1;
}

/* Dequeue without waiting: @want packets (for 0: ETIMEDOUT). */
static int pdq(struct priv *pv, int want, int line)
{
	struct iocp_dequeue_args dq = { .entries = (uintptr_t)pv->out, .max = 8 };
	int e;

	memset(pv->out, 0xcc, sizeof(pv->out));
	/* The fuzzer signals its threads: a pending signal gives EINTR. */
	do
		e = xioctl(pv->port, IOCP_IOC_DEQUEUE, &dq, K_DEQUEUE);
	while (e == EINTR);
	if (e == ENOMEM)
		return 1;
	pv->got = e ? 0 : (int)dq.count;
	pv->dequeued += pv->got;
	if (want == 0 ? e == ETIMEDOUT : (!e && pv->got == want))
		return 0;
	fail("private associations, line %d: DEQUEUE: %s, %d packets, expected %d (first key %#llx events %#x)",
	     line, errname(e), pv->got, want,
	     (unsigned long long)(pv->got ? pv->out[0].key : 0), pv->got ? pv->out[0].events : 0);
	return -1;
}

/* out[@i] is a readiness packet with key @key and events @events. */
static int pready(struct priv *pv, int i, uint64_t key, uint32_t events, int line)
{
	const struct iocp_completion *p = &pv->out[i];

	if (p->key == key && p->flags == IOCP_CF_READINESS && !p->user_data && !p->result &&
	    p->events == events)
		return 0;
	fail("private associations, line %d: packet key %#llx flags %#x events %#x user_data %#llx result %#llx, expected key %#llx events %#x",
	     line, (unsigned long long)p->key, p->flags, p->events,
	     (unsigned long long)p->user_data, (unsigned long long)p->result,
	     (unsigned long long)key, events);
	return -1;
}

/* The statistics: nothing posted, @nassoc associations, @nqueued queued. */
static int pstats(struct priv *pv, uint32_t nassoc, uint32_t nqueued, int line)
{
	struct iocp_stats st;
	int e;

	memset(&st, 0xcc, sizeof(st));
	e = xioctl(pv->port, IOCP_IOC_GET_STATS, &st, K_GET_STATS);
	if (!e && st.associations == nassoc && st.queued == nqueued && !st.posted &&
	    st.dequeued == pv->dequeued)
		return 0;
	fail("private associations, line %d: GET_STATS %s: associations %u queued %u posted %llu dequeued %llu, expected %u, %u, 0, %llu",
	     line, errname(e), st.associations, st.queued, (unsigned long long)st.posted,
	     (unsigned long long)st.dequeued, nassoc, nqueued,
	     (unsigned long long)pv->dequeued);
	return -1;
}

/* Exact checks of associations on a private port and private files. */
static void do_assoc_private(struct tctx *c)
{
	struct priv pv = { .port = -1 };
	struct iocp_config cfg;
	struct iocp_stats st;
	int q = -1, efd = -1, p[2] = { -1, -1 }, sv[2] = { -1, -1 }, mfd = -1;
	int e, d, n;
	uint64_t one = 1, k;

#define TRY(x) do { if (x) goto out; } while (0)
#define EXPECT(want, kind, fd, key, ev, fl, what) \
	TRY(pexpect((want), pcall(&pv, (kind), (fd), (key), (ev), (fl)), (what), __LINE__))
#define DQ(n) TRY(pdq(&pv, (n), __LINE__))
#define READY(i, key, ev) TRY(pready(&pv, (i), (key), (ev), __LINE__))
#define STATS(nassoc, nqueued) TRY(pstats(&pv, (nassoc), (nqueued), __LINE__))
#define AFAIL(fmt, ...) do {							\
	fail("private associations, line %d: " fmt, __LINE__, ##__VA_ARGS__);	\
	goto out;								\
} while (0)
#define EFD_WRITE() do {							\
	if (write(efd, &one, sizeof(one)) != sizeof(one))			\
		AFAIL("eventfd write: %s", errname(errno));			\
} while (0)

	count_call(K_ASSOC_PRIVATE, 0);
	pv.port = open("/dev/iocp", O_RDWR | O_CLOEXEC);
	count_call(K_OPEN, pv.port < 0 ? errno : 0);
	if (pv.port < 0)
		return;
	/* Closing the pipe's write end must drop its last writer. */
	pthread_rwlock_wrlock(&fork_lock);
	efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (efd < 0 || pipe2(p, O_NONBLOCK | O_CLOEXEC) ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv))
		goto out;

	/* Persistent, edge-triggered: nothing ready, nothing queued. */
	k = pkey(&pv, IOCP_POLLIN, 0);
	EXPECT(0, K_ASSOCIATE, efd, k, IOCP_POLLIN, 0, "ASSOCIATE of an eventfd");
	STATS(1, 0);
	/* Several writes before a dequeue: one packet. */
	for (int i = 1 + rn(c, 4); i > 0; i--)
		EFD_WRITE();
	STATS(1, 1);
	DQ(1);
	READY(0, k, IOCP_POLLIN);
	DQ(0);		/* still readable, but no new event */
	/* Errors. */
	d = dup(efd);
	if (d >= 0) {
		e = pcall(&pv, K_ASSOCIATE, d, pkey(&pv, IOCP_POLLIN, 0), IOCP_POLLIN, 0);
		close(d);
		TRY(pexpect(EEXIST, e, "ASSOCIATE of a dup of an associated eventfd", __LINE__));
	}
	EXPECT(ENOENT, K_MODIFY, p[0], pkey(&pv, IOCP_POLLIN, 0), IOCP_POLLIN, 0,
	       "MODIFY of a file not associated");
	EXPECT(ENOENT, K_DISSOCIATE, sv[0], 0, 0, 0, "DISSOCIATE of a file not associated");
	EXPECT(ELOOP, K_ASSOCIATE, pv.port, pkey(&pv, IOCP_POLLIN, 0), IOCP_POLLIN, 0,
	       "ASSOCIATE of the port with itself");
	EXPECT(EBADF, K_ASSOCIATE, CLOSED_FD, pkey(&pv, IOCP_POLLIN, 0), IOCP_POLLIN, 0,
	       "ASSOCIATE of a closed fd");
	EXPECT(EBADF, K_ASSOCIATE, CLOSED_FD, pkey(&pv, 0, 0), 0, 0,
	       "ASSOCIATE of a closed fd without events");
	EXPECT(EINVAL, K_MODIFY, efd, pkey(&pv, IOCP_POLLIN, 4), IOCP_POLLIN, 4,
	       "MODIFY with flags 4");
	EXPECT(EINVAL, K_DISSOCIATE, efd, 0, IOCP_POLLIN, 0, "DISSOCIATE with events");
	mfd = memfd_create("iocp_fuzz_private", MFD_CLOEXEC);
	if (mfd >= 0)
		EXPECT(EPERM, K_ASSOCIATE, mfd, pkey(&pv, IOCP_POLLIN, 0), IOCP_POLLIN, 0,
		       "ASSOCIATE of a regular file");
	STATS(1, 0);
	/* One-shot: the MODIFY polls, the eventfd is readable: a packet
	 * with the new key at once; then disarmed. */
	k = pkey(&pv, IOCP_POLLIN, IOCP_ASSOC_ONESHOT);
	EXPECT(0, K_MODIFY, efd, k, IOCP_POLLIN, IOCP_ASSOC_ONESHOT, "MODIFY to one-shot");
	DQ(1);
	READY(0, k, IOCP_POLLIN);
	EFD_WRITE();
	DQ(0);		/* disarmed */
	k = pkey(&pv, IOCP_POLLIN, IOCP_ASSOC_ONESHOT);
	EXPECT(0, K_MODIFY, efd, k, IOCP_POLLIN, IOCP_ASSOC_ONESHOT, "MODIFY re-arming");
	STATS(1, 1);
	/* MODIFY with a packet queued: replaced by one with the new key. */
	k = pkey(&pv, IOCP_POLLIN | IOCP_POLLOUT, 0);
	EXPECT(0, K_MODIFY, efd, k, IOCP_POLLIN | IOCP_POLLOUT, 0, "MODIFY of a queued one");
	DQ(1);
	READY(0, k, IOCP_POLLIN | IOCP_POLLOUT);
	/* Reading an eventfd fires POLLOUT only: not asked for. */
	k = pkey(&pv, IOCP_POLLIN, 0);
	EXPECT(0, K_MODIFY, efd, k, IOCP_POLLIN, 0, "MODIFY to POLLIN");
	DQ(1);
	READY(0, k, IOCP_POLLIN);
	if (read(efd, &one, sizeof(one)) != sizeof(one))
		AFAIL("eventfd read: %s", errname(errno));
	one = 1;
	DQ(0);
	EFD_WRITE();
	/* DISSOCIATE drops the queued packet; then nothing more. */
	STATS(1, 1);
	EXPECT(0, K_DISSOCIATE, efd, 0, 0, 0, "DISSOCIATE");
	STATS(0, 0);
	EFD_WRITE();
	DQ(0);
	EXPECT(ENOENT, K_DISSOCIATE, efd, 0, 0, 0, "second DISSOCIATE");
	EXPECT(ENOENT, K_MODIFY, efd, pkey(&pv, IOCP_POLLIN, 0), IOCP_POLLIN, 0,
	       "MODIFY after DISSOCIATE");
	/* The association holds the file: closing the fd does not end it. */
	k = pkey(&pv, IOCP_POLLIN, 0);
	EXPECT(0, K_ASSOCIATE, p[0], k, IOCP_POLLIN, 0, "ASSOCIATE of a pipe");
	close(p[0]);
	p[0] = -1;
	if (write(p[1], "x", 1) != 1)
		AFAIL("pipe write: %s", errname(errno));
	DQ(1);
	READY(0, k, IOCP_POLLIN);
	STATS(1, 0);
	/* The last writer goes: POLLHUP, always reported (a keyless
	 * wakeup: the dequeue polls the pipe, still readable). */
	close(p[1]);
	p[1] = -1;
	DQ(1);
	READY(0, k, IOCP_POLLIN | IOCP_POLLHUP);
	/* iocp_close_fd: dissociate, then close. */
	k = pkey(&pv, IOCP_POLLIN | IOCP_POLLRDHUP, 0);
	EXPECT(0, K_ASSOCIATE, sv[0], k, IOCP_POLLIN | IOCP_POLLRDHUP, 0,
	       "ASSOCIATE of a socket");
	if (send(sv[1], "x", 1, MSG_DONTWAIT | MSG_NOSIGNAL) != 1)
		AFAIL("send: %s", errname(errno));
	DQ(1);
	READY(0, k, IOCP_POLLIN);
	STATS(2, 0);
	e = -iocp_close_fd(pv.port, sv[0]);
	sv[0] = -1;
	if (e)
		AFAIL("iocp_close_fd of an associated socket: %s", errname(e));
	STATS(1, 0);
	e = -iocp_close_fd(pv.port, sv[1]);
	sv[1] = -1;
	if (e)
		AFAIL("iocp_close_fd of a socket not associated: %s", errname(e));
	DQ(0);
	/* max_assoc */
	memset(&cfg, 0xcc, sizeof(cfg));
	if ((e = xioctl(pv.port, IOCP_IOC_GET_CONFIG, &cfg, K_GET_CONFIG)) ||
	    cfg.max_assoc != IOCP_DEFAULT_MAX_ASSOC)
		AFAIL("GET_CONFIG of a new port: %s, max_assoc %u", errname(e), cfg.max_assoc);
	cfg.max_assoc = 1;
	if ((e = xioctl(pv.port, IOCP_IOC_SET_CONFIG, &cfg, K_SET_CONFIG)))
		AFAIL("SET_CONFIG max_assoc 1: %s", errname(e));
	EXPECT(ENOSPC, K_ASSOCIATE, efd, pkey(&pv, IOCP_POLLIN, 0), IOCP_POLLIN, 0,
	       "ASSOCIATE beyond max_assoc");
	cfg.max_assoc = IOCP_MAX_ASSOC_LIMIT + 1;
	if ((e = xioctl(pv.port, IOCP_IOC_SET_CONFIG, &cfg, K_SET_CONFIG)) != EINVAL)
		AFAIL("SET_CONFIG max_assoc IOCP_MAX_ASSOC_LIMIT + 1: %s", errname(e));
	cfg.max_assoc = 0;
	if ((e = xioctl(pv.port, IOCP_IOC_SET_CONFIG, &cfg, K_SET_CONFIG)) ||
	    (e = xioctl(pv.port, IOCP_IOC_GET_CONFIG, &cfg, K_GET_CONFIG)) ||
	    cfg.max_assoc != IOCP_DEFAULT_MAX_ASSOC)
		AFAIL("SET_CONFIG max_assoc 0: %s, reads back %u", errname(e), cfg.max_assoc);
	/* A port in a port: readable while it has packets; a loop is ELOOP;
	 * POLLHUP once shut down. */
	q = open("/dev/iocp", O_RDWR | O_CLOEXEC);
	if (q < 0)
		goto out;
	k = pkey(&pv, IOCP_POLLIN, 0);
	EXPECT(0, K_ASSOCIATE, q, k, IOCP_POLLIN, 0, "ASSOCIATE of a port");
	DQ(0);
	if ((e = -iocp_post(q, 1, 2, 3)))
		AFAIL("POST to the inner port: %s", errname(e));
	DQ(1);
	READY(0, k, IOCP_POLLIN);
	{
		struct iocp_assoc_args la = {
			.key = pkey(&pv, IOCP_POLLIN, 0), .fd = (uint32_t)pv.port,
			.events = IOCP_POLLIN,
		};

		e = xioctl(q, IOCP_IOC_ASSOCIATE, &la, K_ASSOCIATE);
		TRY(pexpect(ELOOP, e, "ASSOCIATE making a loop of two ports", __LINE__));
	}
	if ((e = xioctl(q, IOCP_IOC_SHUTDOWN, NULL, K_SHUTDOWN)))
		AFAIL("SHUTDOWN of the inner port: %s", errname(e));
	DQ(1);
	if (pv.out[0].key != k || !(pv.out[0].events & IOCP_POLLHUP) ||
	    pv.out[0].flags != IOCP_CF_READINESS)
		AFAIL("after the SHUTDOWN of the inner port: key %#llx events %#x flags %#x",
		      (unsigned long long)pv.out[0].key, pv.out[0].events, pv.out[0].flags);
	STATS(2, 0);
	atomic_fetch_add(&sh->assoc_private, 1);
	if (chance(c, 50)) {
		/* Shutdown ends every association, discards their packets. */
		EFD_WRITE();
		k = pkey(&pv, IOCP_POLLIN, 0);
		EXPECT(0, K_ASSOCIATE, efd, k, IOCP_POLLIN, 0, "ASSOCIATE of a ready eventfd");
		STATS(3, 1);
		if ((e = xioctl(pv.port, IOCP_IOC_SHUTDOWN, NULL, K_SHUTDOWN)))
			AFAIL("SHUTDOWN: %s", errname(e));
		memset(&st, 0xcc, sizeof(st));
		xioctl(pv.port, IOCP_IOC_GET_STATS, &st, K_GET_STATS);
		if (st.associations || st.queued || st.discarded != 1)
			AFAIL("after SHUTDOWN: associations %u queued %u discarded %llu",
			      st.associations, st.queued, (unsigned long long)st.discarded);
		EXPECT(ESHUTDOWN, K_ASSOCIATE, efd, k, IOCP_POLLIN, 0, "ASSOCIATE after SHUTDOWN");
		EXPECT(ESHUTDOWN, K_MODIFY, efd, k, IOCP_POLLIN, 0, "MODIFY after SHUTDOWN");
		EXPECT(ENOENT, K_DISSOCIATE, efd, 0, 0, 0, "DISSOCIATE after SHUTDOWN");
		/* The file is free again. */
		close(q);
		q = open("/dev/iocp", O_RDWR | O_CLOEXEC);
		if (q < 0)
			goto out;
		e = -iocp_associate(q, efd, k, IOCP_POLLIN, 0);
		TRY(pexpect(0, e, "ASSOCIATE with another port after SHUTDOWN", __LINE__));
		n = iocp_get_many(q, pv.out, 1, 8, 0);
		if (n != 1 || pv.out[0].key != k)
			AFAIL("the eventfd, ready, associated with another port: %d packets, key %#llx",
			      n, (unsigned long long)pv.out[0].key);
	}
out:
	/* Whatever is still associated is dropped by the release. */
	{
		int *fds[] = { &efd, &p[0], &p[1], &sv[0], &sv[1], &mfd, &q, &pv.port };

		for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++) {
			if (*fds[i] >= 0)
				close(*fds[i]);
		}
	}
	pthread_rwlock_unlock(&fork_lock);
	count_call(K_CLOSE, 0);
#undef TRY
#undef EXPECT
#undef DQ
#undef READY
#undef STATS
#undef AFAIL
#undef EFD_WRITE
}

/* POLLFREE on a private port: a child associates a signalfd (so polls the
 * child's signal wait queue) and exits; once it is reaped, exactly one
 * POLLHUP packet, and the association stays until dissociated. */
static void do_pollfree_private(struct tctx *c)
{
	struct iocp_completion out[4];
	struct iocp_stats st;
	sigset_t set;
	uint64_t key = key_make(SLOT_TEMP, 0, IOCP_POLLIN, 1 + rn(c, 1000));
	int port, sfd, st_w = 0, e, n;
	pid_t pid;

	port = open("/dev/iocp", O_RDWR | O_CLOEXEC);
	if (port < 0)
		return;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR2);
	sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (sfd < 0) {
		close(port);
		return;
	}
	count_call(K_POLLFREE, 0);
	pthread_rwlock_rdlock(&fork_lock);
	pid = fork();
	if (pid == 0)
		_exit(-iocp_associate(port, sfd, key, IOCP_POLLIN, 0));
	pthread_rwlock_unlock(&fork_lock);
	if (pid < 0)
		goto out;
	for (uint64_t end = now_ns() + 30 * NSEC; ; sleep_ns(MSEC)) {
		pid_t w = waitpid(pid, &st_w, WNOHANG);

		if (w == pid)
			break;
		if (now_ns() > end) {
			fail("pollfree: child %d did not exit", pid);
			kill(pid, SIGKILL);
			waitpid(pid, &st_w, 0);
			goto out;
		}
	}
	e = WIFEXITED(st_w) ? WEXITSTATUS(st_w) : -1;
	if (e == ENOMEM)
		goto out;
	if (e) {
		fail("pollfree: ASSOCIATE of a signalfd in a child: %s", e < 0 ? "killed" : errname(e));
		goto out;
	}
	memset(out, 0, sizeof(out));
	/* A signal (SIGUSR1 in ordinary rounds) interrupts even a poll. */
	do
		n = iocp_get_many(port, out, 1, 4, 0);
	while (n == -EINTR);
	if (n != 1 || out[0].key != key || out[0].flags != IOCP_CF_READINESS ||
	    !(out[0].events & IOCP_POLLHUP)) {
		fail("pollfree: after the child that associated a signalfd was reaped: %d packets (%s), key %#llx (want %#llx) flags %#x events %#x, expected one POLLHUP packet",
		     n, n < 0 ? errname(-n) : "-", (unsigned long long)out[0].key,
		     (unsigned long long)key, out[0].flags, out[0].events);
		goto out;
	}
	atomic_fetch_add(&sh->pollfree_hup, 1);
	do
		n = iocp_get_many(port, out, 1, 4, 0);
	while (n == -EINTR);
	if (n != -ETIMEDOUT)
		fail("pollfree: a second packet: %d", n);
	if (iocp_get_stats(port, &st) == 0 && st.associations != 1)
		fail("pollfree: %u associations after POLLFREE, expected 1 until dissociated",
		     st.associations);
	e = -iocp_dissociate(port, sfd);
	if (e)
		fail("pollfree: DISSOCIATE after POLLFREE: %s", errname(e));
out:
	close(sfd);
	close(port);
}

/* ------------------------------------------------------------------ */
/* Ops: SUBMIT and CANCEL                                               */

static unsigned char *g_opbuf;		/* I/O buffers; PROT_NONE follows */
static struct iovec *g_iov;		/* read-only: NIOV into g_opbuf, 1 bad */
static struct msghdr *g_msg;		/* RW: the kernel writes RECVMSG's back */
static unsigned char *g_acc;		/* ACCEPT: peer addresses and lengths */
static int g_listen = -1;		/* a listening UNIX socket, this round */
static struct sockaddr_un g_listen_addr, g_nobody_addr;
static socklen_t g_listen_len, g_nobody_len;

static uint64_t op_ud(unsigned int slot, unsigned int gen, uint32_t seq)
{
	return OP_MAGIC << 56 | (uint64_t)(slot & 0xff) << 48 |
	       (uint64_t)(gen & 0xffff) << 32 | seq;
}

/* The iovecs g_iov[first .. first + n): their total length. */
static uint32_t iov_total(unsigned int first, unsigned int n)
{
	uint64_t sum = 0;

	for (unsigned int i = first; i < first + n && i <= NIOV; i++)
		sum += g_iov[i].iov_len;
	return sum > UINT32_MAX ? UINT32_MAX : (uint32_t)sum;
}

static void ops_setup_memory(void)
{
	unsigned char *p;

	p = mmap(NULL, OPBUF_SIZE + page, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	g_iov = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	g_msg = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	g_acc = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED || g_iov == MAP_FAILED || g_msg == MAP_FAILED ||
	    g_acc == MAP_FAILED || mprotect(p + OPBUF_SIZE, page, PROT_NONE)) {
		perror("mmap");
		exit(1);
	}
	g_opbuf = p;
	for (int i = 0; i < NIOV; i++) {
		g_iov[i].iov_base = g_opbuf + i * 4096;
		g_iov[i].iov_len = i == 3 ? 0 : 1 + i * 300;
	}
	g_iov[NIOV].iov_base = g_none;		/* EFAULT */
	g_iov[NIOV].iov_len = 64;
	/* [0]: plain; [1]: with a name buffer; [2]: with a control buffer */
	for (int i = 0; i < 3; i++) {
		g_msg[i].msg_iov = &g_iov[i];
		g_msg[i].msg_iovlen = 2;
	}
	g_msg[1].msg_name = g_acc + 2048;
	g_msg[1].msg_namelen = sizeof(struct sockaddr_un);
	g_msg[2].msg_control = g_acc + 3072;
	g_msg[2].msg_controllen = 256;
	if (mprotect(g_iov, page, PROT_READ)) {
		perror("mprotect");
		exit(1);
	}
}

/* The round's listening socket (ACCEPT, CONNECT). */
static void ops_setup_round(int round)
{
	if (g_listen >= 0)
		close(g_listen);
	memset(&g_listen_addr, 0, sizeof(g_listen_addr));
	g_listen_addr.sun_family = AF_UNIX;
	g_listen_len = offsetof(struct sockaddr_un, sun_path) + 1 +
		snprintf(g_listen_addr.sun_path + 1, sizeof(g_listen_addr.sun_path) - 1,
			 "iocp_fuzz.%d.%d", getpid(), round);
	g_nobody_addr = g_listen_addr;
	g_nobody_addr.sun_path[1] = 'X';	/* nobody listens there */
	g_nobody_len = g_listen_len;
	g_listen = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (g_listen < 0 ||
	    bind(g_listen, (struct sockaddr *)&g_listen_addr, g_listen_len) ||
	    listen(g_listen, 8)) {
		outf("# cannot make a listening socket: %s", errname(errno));
		if (g_listen >= 0)
			close(g_listen);
		g_listen = -1;
	}
	/* The previous round's registry is forgotten. */
	{
		uint32_t n = atomic_load(&sh->opseq);

		if (n > OPS_MAX)
			n = OPS_MAX;
		memset((void *)sh->opst, 0, n);
		memset((void *)sh->opinfo, 0, n);
		atomic_store(&sh->opseq, 0);
	}
	for (int s = 0; s < NPORTS; s++) {
		atomic_store(&sh->cancels[s], 0);
		atomic_store(&sh->op_tagmis[s], 0);
		atomic_store(&sh->op_unstable[s], 0);
	}
	atomic_store(&sh->kills_at_start, atomic_load(&sh->kills));
}

static bool op_plausible_errno(int64_t r)
{
	return r < 0 && r >= -133;
}

/* An op packet dequeued from @t. */
static void check_op_packet(const struct tgt *t, bool stable,
			    const struct iocp_completion *p, uint32_t i, uint32_t n)
{
	uint64_t ud = p->user_data;
	unsigned int slot = (ud >> 48) & 0xff, gen = (ud >> 32) & 0xffff;
	uint32_t seq = (uint32_t)ud, arg;
	int64_t res = (int64_t)p->result;
	unsigned char st, info, opc;
	char b[96];

	atomic_fetch_add(&sh->op_pkts, 1);
	tdesc(t, b, sizeof(b));
	if ((ud >> 56) != OP_MAGIC || seq >= OPS_MAX || seq >= atomic_load(&sh->opseq) ||
	    sh->opud[seq] != ud || p->events) {
		fail("DEQUEUE on %s: op packet %u/%u never submitted or corrupt: key %#llx user_data %#llx result %lld events %#x",
		     b, i, n, (unsigned long long)p->key, (unsigned long long)ud,
		     (long long)res, p->events);
		return;
	}
	opc = sh->opcode[seq];
	arg = sh->oparg[seq];
	/* An accepted socket is ours now, whatever else is wrong. */
	if (opc == IOCP_OP_ACCEPT && res >= 0) {
		atomic_fetch_add(&sh->op_accepted, 1);
		if (close((int)res))
			fail("DEQUEUE on %s: ACCEPT op %u: result %lld is no descriptor: %s",
			     b, seq, (long long)res, errname(errno));
	}
	if (!is_port(t) || t->slot != (int)slot) {
		fail("DEQUEUE on %s: packet of an op submitted to slot %u (user_data %#llx)",
		     b, slot, (unsigned long long)ud);
		return;
	}
	if (stable && gen != (t->gen & 0xffff))
		atomic_fetch_add(&sh->op_tagmis[slot], 1);
	if (p->key && !key_known(p->key, slot))
		fail("DEQUEUE on %s: op %u packet with key %#llx, never associated with this port",
		     b, seq, (unsigned long long)p->key);
	st = atomic_load(&sh->opst[seq]);
	for (;;) {
		if (st != OS_SUBMIT && st != OS_EXPECT && st != OS_UNKNOWN) {
			fail("DEQUEUE on %s: packet of op %u (opcode %u, user_data %#llx, result %lld) %s",
			     b, seq, opc, (unsigned long long)ud, (long long)res,
			     st == OS_GOT ? "delivered twice" :
			     st == OS_NONE ? "whose SUBMIT said FAILED or DONE (or did not process it)" :
			     "never submitted");
			return;
		}
		if (atomic_compare_exchange_weak(&sh->opst[seq], &st, OS_GOT))
			break;
	}
	info = atomic_load(&sh->opinfo[seq]);
	if (res < 0) {
		if (!op_plausible_errno(res))
			fail("DEQUEUE on %s: op %u (opcode %u): result %lld", b, seq, opc,
			     (long long)res);
		if (res == -ECANCELED) {
			atomic_fetch_add(&sh->op_canceled, 1);
			if (!(info & (OI_CANCEL | OI_CHILD)) &&
			    atomic_load(&sh->cancels[slot]) == sh->opcx[seq])
				fail("DEQUEUE on %s: op %u (opcode %u) completed with ECANCELED, but no CANCEL could have matched it",
				     b, seq, opc);
		}
		return;
	}
	switch (opc) {
	case IOCP_OP_NOP:
	case IOCP_OP_CONNECT:
		if (res)
			fail("DEQUEUE on %s: op %u (opcode %u): result %lld, expected 0", b, seq,
			     opc, (long long)res);
		break;
	case IOCP_OP_POLL:
		if (!res || (res & ~(int64_t)(arg | IOCP_POLLERR | IOCP_POLLHUP)))
			fail("DEQUEUE on %s: POLL op %u for %#x: result %#llx", b, seq, arg,
			     (unsigned long long)res);
		break;
	case IOCP_OP_ACCEPT:
		break;
	default:
		if (res > (int64_t)arg)
			fail("DEQUEUE on %s: op %u (opcode %u): %lld bytes of %u", b, seq, opc,
			     (long long)res, arg);
	}
}

/* What a random op is expected to give: exact errno, or anything plausible. */
struct opgen {
	int64_t want;		/* 0: any; else the FAILED result */
	uint32_t arg;
	int closefd;		/* a socket made for a CONNECT, closed after */
	bool skip;		/* DONE possible */
	int port_slot;		/* the fd was this chaos port's, else -1 */
	unsigned int port_gen;	/* its slot's generation when picked */
};

/* The pool entry op_pick_fd() chose last, per thread. */
static __thread const struct pfile *g_picked;

/* A pool file, the listener, or a bad descriptor. */
static int op_pick_fd(struct tctx *c, bool *bad)
{
	unsigned int r = rn(c, 100);
	const struct pfile *pf;

	*bad = false;
	g_picked = NULL;
	if (r < 5 && g_listen >= 0)
		return g_listen;
	if (r < 10 || !npool) {
		*bad = true;
		return chance(c, 50) ? CLOSED_FD : -1;
	}
	pf = &pool[rn(c, npool)];
	*bad = pf->kind == PF_BADF;
	g_picked = pf;
	return pf->fd;
}

static const struct pfile *pool_pick_kind(struct tctx *c, int kind)
{
	int n = 0, k;

	for (int i = 0; i < npool; i++)
		n += pool[i].kind == kind;
	if (!n)
		return NULL;
	k = rn(c, n);
	for (int i = 0; i < npool; i++) {
		if (pool[i].kind == kind && !k--)
			return &pool[i];
	}
	return NULL;
}

/* A buffer for @len bytes: in g_opbuf, straddling its end, or bad. */
static uint64_t op_buf(struct tctx *c, uint32_t *len, bool *efault)
{
	unsigned int r = rn(c, 100);

	*efault = false;
	*len = chance(c, 10) ? 0 : chance(c, 80) ? 1 + rn(c, 512) : 1 + rn(c, 16384);
	if (r < 5) {
		*efault = *len != 0;
		return (uintptr_t)bad_ptr(c);
	}
	if (r < 10 && *len > 1) {
		/* straddles into the PROT_NONE page: a short transfer or EFAULT */
		return (uintptr_t)(g_opbuf + OPBUF_SIZE - rn(c, *len - 1) - 1);
	}
	return (uintptr_t)(g_opbuf + rn(c, OPBUF_SIZE - *len + 1));
}

static void gen_op(struct tctx *c, struct iocp_op *op, struct opgen *g)
{
	unsigned int r = rn(c, 100), vr;
	const struct pfile *pf;
	bool bad = false, efault;

	memset(g, 0, sizeof(*g));
	g->closefd = -1;
	g->port_slot = -1;
	g_picked = NULL;
	op->addr = op->addr2 = op->offset = 0;
	op->len = op->fd = op->flags = op->op_flags = 0;
	op->user_data = rnd64(c);
	op->result = 0xdeadbeefcafef00dull;
	op->status = 0x5a5a5a5a;
	if (chance(c, 15))
		op->flags = IOCP_OPF_SKIP_ON_SUCCESS;
	if (r < 12) {
		op->opcode = IOCP_OP_NOP;
		g->want = 0;
		if (chance(c, 6)) {
			switch (rn(c, 5)) {
			case 0: op->fd = pool[0].fd + 1; break;
			case 1: op->addr = (uintptr_t)g_opbuf; break;
			case 2: op->len = 1; break;
			case 3: op->offset = IOCP_OFFSET_CURRENT; break;
			default: op->op_flags = IOCP_POLLIN;
			}
			g->want = -EINVAL;
		}
	} else if (r < 24) {
		op->opcode = IOCP_OP_POLL;
		op->fd = op_pick_fd(c, &bad);
		op->op_flags = (IOCP_POLLIN | IOCP_POLLPRI | IOCP_POLLOUT | IOCP_POLLRDHUP) &
			       (uint32_t)rnd64(c);
		if (!op->op_flags)
			op->op_flags = chance(c, 80) ? IOCP_POLLIN : 0;
		if (chance(c, 4))
			op->op_flags |= 1u << rn(c, 32);
		if (chance(c, 3))
			op->len = 1;
		g->arg = op->op_flags;
	} else if (r < 44) {
		/* READ, WRITE, READV, WRITEV: every kind of file */
		vr = rn(c, 4);
		op->opcode = IOCP_OP_READ + vr;
		op->fd = op_pick_fd(c, &bad);
		if (!bad && chance(c, 30) && (pf = pool_pick_kind(c, PF_REG)))
			op->fd = pf->fd;
		if (vr < 2) {
			op->addr = op_buf(c, &op->len, &efault);
			g->arg = op->len;
		} else {
			unsigned int first = rn(c, NIOV), cnt = rn(c, NIOV + 1 - first);

			if (chance(c, 5))
				cnt = chance(c, 50) ? 1025 : 0xffffffffu;	/* EINVAL */
			op->addr = chance(c, 4) ? (uintptr_t)bad_ptr(c) : (uintptr_t)&g_iov[first];
			op->len = cnt;
			g->arg = iov_total(first, cnt > NIOV + 1 ? 0 : cnt);
		}
		op->offset = chance(c, 75) ? IOCP_OFFSET_CURRENT : rn(c, 1u << 20);
		if (chance(c, 3))
			op->op_flags = MSG_PEEK;
	} else if (r < 62) {
		/* RECV, SEND, RECVMSG, SENDMSG: sockets, mostly */
		static const uint32_t mflags[] = { 0, 0, 0, MSG_PEEK, MSG_DONTWAIT,
						   MSG_WAITALL, MSG_OOB, 0x80000000u /* MSG_CMSG_COMPAT */ };

		vr = rn(c, 4);
		op->opcode = IOCP_OP_RECV + vr;
		if (chance(c, 80) && (pf = pool_pick_kind(c, PF_SOCK)))
			op->fd = pf->fd;
		else
			op->fd = op_pick_fd(c, &bad);
		op->op_flags = mflags[rn(c, sizeof(mflags) / sizeof(mflags[0]))];
		if (vr < 2) {
			op->addr = op_buf(c, &op->len, &efault);
			g->arg = op->len;
			/* recv(2) of MSG_OOB on AF_UNIX counts its byte even into 0 bytes */
			if ((op->op_flags & MSG_OOB) && !g->arg)
				g->arg = 1;
		} else {
			unsigned int m = rn(c, 3);

			op->addr = chance(c, 4) ? (uintptr_t)bad_ptr(c) : (uintptr_t)&g_msg[m];
			g->arg = iov_total(m, 2);
			if (chance(c, 3))
				op->len = 1;
		}
		if (chance(c, 3))
			op->offset = 1;
	} else if (r < 74) {
		op->opcode = IOCP_OP_ACCEPT;
		op->fd = g_listen >= 0 && chance(c, 80) ? g_listen : op_pick_fd(c, &bad);
		if (chance(c, 50)) {
			unsigned int k = rn(c, 8);
			socklen_t *len = (socklen_t *)(g_acc + 1024 + k * 8);

			*len = chance(c, 80) ? sizeof(struct sockaddr_un) : rn(c, 8);
			op->addr = (uintptr_t)(g_acc + k * 128);
			op->addr2 = chance(c, 5) ? 0 : (uintptr_t)len;
		}
		op->op_flags = (uint32_t)rnd64(c) & (O_CLOEXEC | O_NONBLOCK);
		if (chance(c, 3))
			op->op_flags |= 1u << rn(c, 32);
		if (chance(c, 40) && g_listen >= 0) {
			/* a connection to take, now or later */
			int s = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

			if (s >= 0) {
				(void)!connect(s, (struct sockaddr *)&g_listen_addr, g_listen_len);
				if (chance(c, 50))
					(void)!send(s, "hello", 5, MSG_NOSIGNAL);
				close(s);
			}
		}
	} else if (r < 84) {
		op->opcode = IOCP_OP_CONNECT;
		op->addr = (uintptr_t)(chance(c, 85) ? &g_listen_addr : &g_nobody_addr);
		op->len = g_listen_len;
		if (chance(c, 10) && (pf = pool_pick_kind(c, PF_SOCK))) {
			op->fd = pf->fd;	/* connected already */
		} else if (chance(c, 5)) {
			op->fd = op_pick_fd(c, &bad);
		} else {
			g->closefd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
			op->fd = g->closefd >= 0 ? g->closefd : CLOSED_FD;
			bad = g->closefd < 0;
		}
		switch (rn(c, 20)) {
		case 0: op->len = rn(c, 2); break;
		case 1: op->len = 1000; break;
		case 2: op->addr = (uintptr_t)bad_ptr(c); break;
		case 3: op->op_flags = 1; break;
		}
	} else if (r < 92) {
		/* a valid opcode on a bad descriptor */
		op->opcode = 1 + rn(c, IOCP_OP_POLL);
		op->fd = chance(c, 50) ? CLOSED_FD : (uint32_t)-1;
		op->addr = (uintptr_t)g_opbuf;
		op->len = 16;
		bad = true;
	} else {
		/* junk */
		op->opcode = rn(c, 16);
		op->fd = op_pick_fd(c, &bad);
		if (chance(c, 50))
			op->addr = (uintptr_t)(g_opbuf + rn(c, OPBUF_SIZE / 2));
		if (chance(c, 30))
			op->len = rn(c, 4096);
		if (chance(c, 30))
			op->addr2 = rnd64(c);
		if (chance(c, 30))
			op->offset = rnd64(c);
		if (chance(c, 30))
			op->op_flags = (uint32_t)rnd64(c);
		if (chance(c, 20))
			op->flags = (uint32_t)rnd64(c);
		g->arg = op->len;
		if (op->opcode == IOCP_OP_NOP && (op->addr || op->addr2 || op->offset ||
						  op->len || op->fd || op->op_flags))
			g->want = -EINVAL;
		/* a buffer of junk is never touched: a failure is expected,
		 * but which one depends on too much (READ on a pipe...) */
		if (op->opcode == IOCP_OP_READ || op->opcode == IOCP_OP_READV ||
		    op->opcode == IOCP_OP_RECV || op->opcode == IOCP_OP_RECVMSG ||
		    op->opcode == IOCP_OP_ACCEPT)
			op->opcode = IOCP_OP_POLL + 1 + rn(c, 4);	/* never write memory at random */
	}
	if (chance(c, 2))
		op->flags |= 1u << (1 + rn(c, 31));
	/* Deterministic outcomes, in the module's order of checks. */
	if (op->opcode > IOCP_OP_POLL || (op->flags & ~IOCP_OPF_SKIP_ON_SUCCESS))
		g->want = -EINVAL;
	else if (op->opcode != IOCP_OP_NOP && bad)
		g->want = -EBADF;
	else if (op->opcode != IOCP_OP_NOP)
		g->want = 0;
	/* An op never takes a port's file: ELOOP, if the slot still holds it. */
	if (op->opcode != IOCP_OP_NOP && !g->want && g_picked &&
	    g_picked->kind == PF_PORT && (int)op->fd == g_picked->fd) {
		g->port_slot = g_picked->slot;
		g->port_gen = atomic_load(&sh->slots[g_picked->slot].gen);
		g->want = -ELOOP;
	}
	g->skip = op->flags & IOCP_OPF_SKIP_ON_SUCCESS;
}

static const char *status_name(uint32_t st)
{
	switch (st) {
	case IOCP_OP_PENDING: return "PENDING";
	case IOCP_OP_QUEUED: return "QUEUED";
	case IOCP_OP_DONE: return "DONE";
	case IOCP_OP_FAILED: return "FAILED";
	}
	return "?";
}

/* Mark op @seq as having no packet to come; a packet already seen fails. */
static void op_settle(uint32_t seq, unsigned char to, const char *why)
{
	unsigned char st = OS_SUBMIT;

	if (atomic_compare_exchange_strong(&sh->opst[seq], &st, to))
		return;
	if (st == OS_GOT && to != OS_EXPECT && to != OS_UNKNOWN)
		fail("op %u (user_data %#llx): a packet was dequeued, but %s", seq,
		     (unsigned long long)sh->opud[seq], why);
}

enum { OM_VALID, OM_STRADDLE, OM_BAD, OM_RO };

static void do_submit(struct tctx *c, struct tgt *t)
{
	struct iocp_op ops[OP_BATCH], *uops;
	struct opgen g[OP_BATCH];
	struct iocp_submit_args v, *a;
	uint32_t count, nmade, seq0 = 0, nfit = 0, processed = 0;
	size_t ocopy = 0;
	int am, om, e, want;
	bool port = is_port(t), stable;
	unsigned char info = c->is_child ? OI_CHILD : 0;
	char b[96], pb[48];
	unsigned char *opage = c->args_end - page;

	if (port && t->slot == ACCT)
		slot_tgt(t, 1 + rn(c, NPORTS - 1));	/* exact counts there */
	if (atomic_load(&sh->opseq) >= OPS_MAX - OP_BATCH)
		return;
	/* Counts */
	{
		unsigned int r = rn(c, 100);

		if (r < 3)
			count = 0;
		else if (r < 5)
			count = pick_huge(c);
		else if (r < 60)
			count = 1;
		else if (r < 90)
			count = 2 + rn(c, 7);
		else
			count = 9 + rn(c, OP_BATCH - 8);
	}
	nmade = count < OP_BATCH ? count : (count <= IOCP_MAX_BATCH ? OP_BATCH : 0);
	for (uint32_t i = 0; i < nmade; i++)
		gen_op(c, &ops[i], &g[i]);

	/* Placement of the ops: in the args page, PROT_NONE after it. */
	{
		unsigned int r = rn(c, 100);

		om = r < 5 ? OM_BAD : r < 12 ? OM_STRADDLE : r < 16 && nmade ? OM_RO : OM_VALID;
	}
	if (om == OM_BAD) {
		uops = bad_ptr(c);
		nfit = 0;
	} else {
		uint32_t k = nmade;
		size_t extra = 0;

		if (om == OM_STRADDLE && nmade) {
			k = rn(c, nmade);
			extra = 1 + rn(c, sizeof(struct iocp_op) - 1);
		}
		uops = (struct iocp_op *)(c->args_end - k * sizeof(struct iocp_op) - extra);
		ocopy = k * sizeof(struct iocp_op) + extra;
		nfit = k;
		if (count > nmade && om == OM_VALID)
			nfit = nmade;	/* count beyond the page: EFAULT there */
	}
	am = pick_am(c, false);
	if (am == AM_STRADDLE) {
		a = (struct iocp_submit_args *)(c->ent_end - 1 - rn(c, sizeof(*a) - 1));
	} else if (am == AM_BAD) {
		a = bad_ptr(c);
	} else {
		a = &v;
	}
	memset(&v, 0, sizeof(v));
	v.ops = (uintptr_t)uops;
	v.count = count;
	if (chance(c, 3))
		v.flags = 1u << rn(c, 32);
	if (am == AM_STRADDLE)
		memcpy(a, &v, (size_t)(c->ent_end - (unsigned char *)a));

	if (am == AM_BAD || am == AM_STRADDLE) {
		want = EFAULT;
	} else if (v.flags || !count || count > IOCP_MAX_BATCH) {
		want = EINVAL;
	} else if (om == OM_RO) {
		want = EFAULT;
		processed = 1;
	} else if (nfit < count) {
		want = EFAULT;
		processed = nfit;
	} else {
		want = 0;
		processed = count;
	}
	if (!port)
		processed = 0;

	tgt_begin(c, t);
	/* Register the ops before the call: their packets may come first. */
	if (port && nmade) {
		unsigned int gen = t->gen & 0xffff;

		atomic_store(&sh->assoc_used[t->slot], 1);
		seq0 = atomic_fetch_add(&sh->opseq, nmade);
		if (seq0 + nmade > OPS_MAX) {
			if (om != OM_BAD)
				return;
			nmade = 0;
		}
		for (uint32_t i = 0; i < nmade; i++) {
			uint32_t seq = seq0 + i;

			ops[i].user_data = op_ud(t->slot, gen, seq);
			sh->opud[seq] = ops[i].user_data;
			sh->opcode[seq] = ops[i].opcode;
			sh->oparg[seq] = g[i].arg;
			sh->opcx[seq] = atomic_load(&sh->cancels[t->slot]);
			atomic_store(&sh->opinfo[seq], info);
			atomic_store(&sh->opst[seq], OS_SUBMIT);
		}
	}
	if (ocopy)
		memcpy(uops, ops, ocopy);
	if (om == OM_RO && mprotect(opage, page, PROT_READ))
		fail("mprotect: %s", errname(errno));
	e = xioctl(t->fd, IOCP_IOC_SUBMIT, a, K_SUBMIT);
	if (om == OM_RO && mprotect(opage, page, PROT_READ | PROT_WRITE))
		fail("mprotect: %s", errname(errno));
	for (uint32_t i = 0; i < nmade; i++) {
		if (g[i].closefd >= 0)
			close(g[i].closefd);
	}
	atomic_fetch_add(&sh->op_sub, processed);
	if (check_not_port(t, K_SUBMIT, e, "")) {
		return;
	}
	stable = tgt_stable(c, t);
	if (!stable) {
		for (uint32_t i = 0; i < nmade; i++)
			atomic_fetch_or(&sh->opinfo[seq0 + i], OI_UNSTABLE);
		atomic_fetch_add(&sh->op_unstable[t->slot], nmade);
	}
	if (e != want) {
		eset_t ok = { { 0 } };

		es_add(&ok, want);
		bad_result(K_SUBMIT, t, e, &ok, "args %s%s ops %s (%s) count %u flags %#x",
			   ptrdesc(a, pb, sizeof(pb)), am == AM_STRADDLE ? " (straddling)" : "",
			   ptrdesc(uops, b, sizeof(b)),
			   om == OM_RO ? "read-only" : om == OM_STRADDLE ? "straddling" : "",
			   count, v.flags);
		/* Which ops were processed is unknown now. */
		for (uint32_t i = 0; i < nmade; i++)
			op_settle(seq0 + i, OS_UNKNOWN, "");
		return;
	}
	for (uint32_t i = 0; i < nmade; i++) {
		uint32_t seq = seq0 + i;
		const struct iocp_op *o = &uops[i];
		const struct iocp_op *in = &ops[i];
		int64_t res;

		if (i >= processed || om == OM_RO) {
			if (om == OM_RO && i == 0) {
				/* processed, but its status could not be written */
				op_settle(seq, OS_UNKNOWN, "");
				if (o->status != in->status || o->result != in->result)
					fail("SUBMIT on %s: read-only op array was written", tdesc(t, b, sizeof(b)));
				continue;
			}
			op_settle(seq, OS_NONE, "SUBMIT did not process it");
			if (i < nfit && (o->status != in->status || o->result != in->result))
				fail("SUBMIT on %s: op %u/%u not processed (EFAULT at op %u), but its status %#x result %#llx were written",
				     tdesc(t, b, sizeof(b)), i, count, nfit, o->status,
				     (unsigned long long)o->result);
			continue;
		}
		res = (int64_t)o->result;
		if (o->user_data != in->user_data || o->addr != in->addr ||
		    o->addr2 != in->addr2 || o->offset != in->offset || o->len != in->len ||
		    o->opcode != in->opcode || o->fd != in->fd || o->flags != in->flags ||
		    o->op_flags != in->op_flags)
			fail("SUBMIT on %s: op %u/%u: input fields changed", tdesc(t, b, sizeof(b)),
			     i, count);
		/* The port's slot was replaced meanwhile: the fd may be another file. */
		if (g[i].port_slot >= 0 &&
		    atomic_load(&sh->slots[g[i].port_slot].gen) != g[i].port_gen)
			g[i].want = 0;
		switch (o->status) {
		case IOCP_OP_PENDING:
			atomic_fetch_add(&sh->op_pend, 1);
			if (res)
				goto bad;
			op_settle(seq, OS_EXPECT, "");
			break;
		case IOCP_OP_QUEUED:
			atomic_fetch_add(&sh->op_queued, 1);
			if (res < 0 || (o->opcode == IOCP_OP_ACCEPT && res))
				goto bad;
			op_settle(seq, OS_EXPECT, "");
			break;
		case IOCP_OP_DONE:
			atomic_fetch_add(&sh->op_done, 1);
			if (o->opcode == IOCP_OP_ACCEPT && res >= 0) {
				atomic_fetch_add(&sh->op_accepted, 1);
				if (close((int)res))
					fail("SUBMIT on %s: ACCEPT op DONE with %lld, no descriptor",
					     tdesc(t, b, sizeof(b)), (long long)res);
			}
			op_settle(seq, OS_NONE, "its SUBMIT said DONE");
			if (res < 0 || (!g[i].skip && !atomic_load(&sh->assoc_used[t->slot])))
				goto bad;
			break;
		case IOCP_OP_FAILED:
			atomic_fetch_add(&sh->op_failed, 1);
			op_settle(seq, OS_NONE, "its SUBMIT said FAILED");
			if (!op_plausible_errno(res))
				goto bad;
			/* ENOMEM: the op is allocated first, and faults are injected */
			if (g[i].want && res != g[i].want && res != -ENOMEM)
				goto bad;
			break;
		default:
			op_settle(seq, OS_UNKNOWN, "");
			goto bad;
		}
		if (g[i].want && o->status != IOCP_OP_FAILED)
			goto bad;
		if (o->status != IOCP_OP_FAILED && o->status != IOCP_OP_PENDING) {
			/* results of ops done at submit */
			if (o->opcode == IOCP_OP_NOP && res)
				goto bad;
			if (o->opcode == IOCP_OP_POLL &&
			    (!res || (res & ~(int64_t)(g[i].arg | IOCP_POLLERR | IOCP_POLLHUP))))
				goto bad;
			if (o->opcode != IOCP_OP_POLL && o->opcode != IOCP_OP_ACCEPT &&
			    o->opcode != IOCP_OP_NOP && o->opcode != IOCP_OP_CONNECT &&
			    res > (int64_t)g[i].arg)
				goto bad;
		}
		continue;
bad:
		fail("SUBMIT on %s: op %u/%u (opcode %u fd %d addr %#llx addr2 %#llx offset %#llx len %u flags %#x op_flags %#x): status %s (%u) result %lld%s%s",
		     tdesc(t, b, sizeof(b)), i, count, in->opcode, (int)in->fd,
		     (unsigned long long)in->addr, (unsigned long long)in->addr2,
		     (unsigned long long)in->offset, in->len, in->flags, in->op_flags,
		     status_name(o->status), o->status, (long long)res,
		     g[i].want ? ", expected FAILED " : "",
		     g[i].want ? errname((int)-g[i].want) : "");
	}
}

/* The user_data of a recent op of this thread (or a random one). */
static uint64_t op_recent_ud(struct tctx *c)
{
	uint32_t n = atomic_load(&sh->opseq);

	if (!n || chance(c, 10))
		return chance(c, 50) ? rnd64(c) : 0;
	n = n > OPS_MAX ? OPS_MAX : n;
	return sh->opud[n - 1 - rn(c, n < 64 ? n : 64)];
}

static void do_cancel(struct tctx *c, struct tgt *t)
{
	struct iocp_cancel_args v, *a;
	int am, e, fd;
	bool port = is_port(t), badfd = false, invalid, has_ud;
	eset_t ok = { { 0 } };
	char b[96], pb[48];

	am = pick_am(c, true);
	memset(&v, 0, sizeof(v));
	if (am == AM_RO) {
		a = &g_ro->cancel[rn(c, 2)];
		v = *a;
	} else {
		unsigned int r = rn(c, 100);

		a = place_args(c, am, sizeof(*a));
		if (r < 30)
			v.flags = IOCP_CANCEL_USER_DATA;
		else if (r < 50)
			v.flags = IOCP_CANCEL_FD;
		else if (r < 60)
			v.flags = IOCP_CANCEL_USER_DATA | IOCP_CANCEL_FD;
		else if (r < 85)
			v.flags = IOCP_CANCEL_ALL;
		else if (r < 90)
			v.flags = 0;
		else if (r < 95)
			v.flags = IOCP_CANCEL_ALL | (1 + rn(c, 3));
		else
			v.flags = 1u << rn(c, 32);
		v.user_data = op_recent_ud(c);
		fd = op_pick_fd(c, &badfd);
		v.fd = (uint32_t)fd;
		if (chance(c, 3))
			v.reserved = 1u << rn(c, 32);
		v.count = 0xdeadbeef;
		put_args(a, am, &v, sizeof(v), c);
	}
	invalid = v.reserved || !v.flags ||
		  (v.flags & ~(uint32_t)(IOCP_CANCEL_USER_DATA | IOCP_CANCEL_FD | IOCP_CANCEL_ALL)) ||
		  ((v.flags & IOCP_CANCEL_ALL) && v.flags != IOCP_CANCEL_ALL);
	if ((v.flags & IOCP_CANCEL_FD) && !invalid && am != AM_RO) {
		struct stat sb;

		badfd = fstat((int)v.fd, &sb) != 0;
		if (!badfd && (fcntl((int)v.fd, F_GETFL) & O_PATH))
			badfd = true;
	}
	has_ud = v.flags & IOCP_CANCEL_USER_DATA;
	/* Note what this CANCEL may cancel, before it does. */
	if (port && !invalid && am != AM_BAD && am != AM_STRADDLE) {
		uint64_t ud = v.user_data;

		if (has_ud) {
			uint32_t seq = (uint32_t)ud;

			if ((ud >> 56) == OP_MAGIC && seq < OPS_MAX && sh->opud[seq] == ud)
				atomic_fetch_or(&sh->opinfo[seq], OI_CANCEL);
		} else {
			atomic_fetch_add(&sh->cancels[t->slot], 1);
		}
	}
	tgt_begin(c, t);
	e = xioctl(t->fd, IOCP_IOC_CANCEL, a, K_CANCEL);
	atomic_fetch_add(&sh->cancel_calls, 1);
	if (check_not_port(t, K_CANCEL, e, ""))
		return;
	if (am == AM_BAD || am == AM_STRADDLE)
		es_add(&ok, EFAULT);
	else if (invalid)
		es_add(&ok, EINVAL);
	else if ((v.flags & IOCP_CANCEL_FD) && badfd)
		es_add(&ok, EBADF);
	else if (t->slot == ACCT)
		es_add(&ok, ENOENT);
	else {
		es_add(&ok, ENOENT);
		es_add(&ok, am == AM_RO ? EFAULT : 0);
	}
	if (!es_has(&ok, e))
		bad_result(K_CANCEL, t, e, &ok, "args %s user_data %#llx fd %d flags %#x reserved %#x",
			   ptrdesc(a, pb, sizeof(pb)), (unsigned long long)v.user_data,
			   (int)v.fd, v.flags, v.reserved);
	if (am != AM_VALID)
		return;
	if (e && a->count != 0xdeadbeef)
		fail("CANCEL on %s failed with %s but wrote count %u", tdesc(t, b, sizeof(b)),
		     errname(e), a->count);
	if (!e) {
		atomic_fetch_add(&sh->cancel_found, a->count);
		if (!a->count || (has_ud && a->count > 1))
			fail("CANCEL on %s (flags %#x user_data %#llx): count %u",
			     tdesc(t, b, sizeof(b)), v.flags, (unsigned long long)v.user_data,
			     a->count);
	}
	if (a->user_data != v.user_data || a->fd != v.fd || a->flags != v.flags ||
	    a->reserved != v.reserved)
		fail("CANCEL on %s changed its input fields", tdesc(t, b, sizeof(b)));
}

/*
 * End of a round, threads joined and children reaped: CANCEL ALL on the
 * slot's port and drain it until no op is in flight; then every op that
 * SUBMIT said PENDING or QUEUED on this port must have had exactly one
 * packet, unless the port was shut down (its packets are discarded) or a
 * SIGKILLed child may have taken some without recording them.
 */
static bool get_stats(int fd, struct iocp_stats *st, const char *what);
static void print_fdinfo(int fd);

static void ops_round_end(int s)
{
	struct iocp_cancel_args ca = { .flags = IOCP_CANCEL_ALL };
	struct iocp_stats st;
	struct tgt t;
	uint64_t end = now_ns() + 20 * NSEC;
	uint32_t nseq, missing = 0, checked = 0;
	bool shut, killed;
	int e;

	if (atomic_load(&sh->op_tagmis[s]) > atomic_load(&sh->op_unstable[s]))
		fail("chaos port %d: %llu op packets of another generation of the port, %llu ops submitted while it was being replaced",
		     s, (unsigned long long)atomic_load(&sh->op_tagmis[s]),
		     (unsigned long long)atomic_load(&sh->op_unstable[s]));
	slot_tgt(&t, s);
	t.gen = atomic_load(&sh->slots[s].gen);
	t.gen_ok = true;
	atomic_fetch_add(&sh->cancels[s], 1);
	e = xioctl(t.fd, IOCP_IOC_CANCEL, &ca, K_CANCEL);
	if (e && e != ENOENT)
		fail("round end: CANCEL ALL on chaos port %d: %s", s, errname(e));
	for (;;) {
		struct iocp_dequeue_args dq = { 0 };
		struct iocp_completion *ent;

		if (!get_stats(t.fd, &st, "round end (ops)"))
			return;
		shut = st.flags & IOCP_STATS_SHUTDOWN;
		if (!st.ops || shut)
			break;
		if (now_ns() > end) {
			fail("round end: chaos port %d: %u ops still in flight 20 s after CANCEL ALL",
			     s, st.ops);
			print_fdinfo(t.fd);
			return;
		}
		dq.max = IOCP_MAX_BATCH;
		dq.timeout_ns = 10 * MSEC;
		ent = (struct iocp_completion *)(mainc->ent_end - (size_t)dq.max * ENT_SIZE);
		dq.entries = (uintptr_t)ent;
		e = xioctl(t.fd, IOCP_IOC_DEQUEUE, &dq, K_DEQUEUE);
		if (!e)
			take_packets(mainc, &t, true, ent, dq.count);
		else if (e != ETIMEDOUT && e != ESHUTDOWN)
			fail("round end: DEQUEUE on chaos port %d: %s", s, errname(e));
	}
	/* The main thread must not stay associated with the port. */
	(void)xioctl(t.fd, IOCP_IOC_DISASSOCIATE, NULL, K_DISASSOCIATE);
	if (shut)
		return;
	killed = atomic_load(&sh->kills) != atomic_load(&sh->kills_at_start);
	nseq = atomic_load(&sh->opseq);
	if (nseq > OPS_MAX)
		nseq = OPS_MAX;
	for (uint32_t seq = 0; seq < nseq; seq++) {
		uint64_t ud = sh->opud[seq];

		if (((ud >> 48) & 0xff) != (unsigned int)s ||
		    ((ud >> 32) & 0xffff) != (t.gen & 0xffff) ||
		    (atomic_load(&sh->opinfo[seq]) & OI_UNSTABLE))
			continue;
		checked++;
		if (atomic_load(&sh->opst[seq]) != OS_EXPECT)
			continue;
		if (!killed && missing < 5)
			fail("round end: chaos port %d: op %u (opcode %u, user_data %#llx) was PENDING or QUEUED, but no packet came",
			     s, seq, sh->opcode[seq], (unsigned long long)ud);
		missing++;
	}
	atomic_fetch_add(&sh->op_checked, checked);
	if (killed)
		atomic_fetch_add(&sh->op_missing_killed, missing);
	else if (missing > 5)
		fail("round end: chaos port %d: %u ops without a packet", s, missing);
}

static void do_failnth(struct tctx *c)
{
	struct tgt t;
	int injected;

	if (c->failfd < 0)
		return;
	switch (rn(c, 7)) {
	case 0:
		do_temp(c, true);
		return;
	case 5:
		pick_tgt(c, &t, 0, 100);
		failnth_arm(c, 1 + rn(c, 4));
		do_submit(c, &t);
		break;
	case 6:
		pick_tgt(c, &t, 0, 100);
		failnth_arm(c, 1 + rn(c, 2));
		do_cancel(c, &t);
		break;
	case 4:
		pick_tgt(c, &t, 5, 95);
		failnth_arm(c, 1 + rn(c, 3));
		do_assoc(c, &t, chance(c, 75) ? K_ASSOCIATE : K_MODIFY, -1, true);
		break;
	case 1:
		pick_tgt(c, &t, 50, 50);
		failnth_arm(c, 1 + rn(c, 4));
		do_post(c, &t, true);
		break;
	case 2:
		pick_tgt(c, &t, 50, 50);
		failnth_arm(c, 1 + rn(c, 2));
		do_dequeue(c, &t, true);
		break;
	default:
		pick_tgt(c, &t, 20, 80);
		failnth_arm(c, 1 + rn(c, 2));
		do_set_config(c, &t, true);
	}
	injected = failnth_disarm(c);
	count_call(K_FAILNTH, 0);
	atomic_fetch_add(&sh->injections, 1);
	if (injected)
		atomic_fetch_add(&sh->injected, 1);
}

static void one_ioctl(struct tctx *c, struct tgt *t)
{
	unsigned int r = rn(c, 100);

	if (r < 35)
		do_post(c, t, false);
	else if (r < 70)
		do_dequeue(c, t, false);
	else if (r < 80)
		do_get(c, t, K_GET_STATS);
	else if (r < 86)
		do_get(c, t, K_GET_CONFIG);
	else if (r < 91)
		do_set_config(c, t, false);
	else if (r < 93)
		do_assoc(c, t, K_ASSOCIATE + (int)rn(c, 3), -1, false);
	else if (r < 95)
		do_unknown(c, t);
	else if (r < 98 || t->slot == ACCT)
		do_disassociate(c, t);
	else
		do_shutdown(c, t);
}

/* ------------------------------------------------------------------ */
/* Children                                                             */

static void __attribute__((noreturn)) child_main(struct tctx *c, int iters, bool exec_it)
{
	struct tgt t;

	signal(SIGALRM, SIG_DFL);
	alarm(60);
	c->rng = mix64(c->rng ^ 0xc41d);
	for (int i = 0; i < iters && !atomic_load(&sh->stop); i++) {
		switch (rn(c, 16)) {
		case 14:
			pick_tgt(c, &t, 0, 95);
			do_submit(c, &t);
			break;
		case 15:
			pick_tgt(c, &t, 5, 90);
			do_cancel(c, &t);
			break;
		case 12:
			do_pollfree(c);
			break;
		case 13:
			pick_tgt(c, &t, 5, 90);
			do_assoc(c, &t, K_ASSOCIATE + (int)rn(c, 3), -1, false);
			break;
		case 0: case 1: case 2: case 3: case 4:
			slot_tgt(&t, ACCT);
			do_dequeue(c, &t, false);
			break;
		case 5: case 6:
			slot_tgt(&t, 1 + rn(c, NPORTS - 1));
			do_dequeue(c, &t, false);
			break;
		case 7:
			pick_tgt(c, &t, 0, 90);
			do_post(c, &t, false);
			break;
		case 8:
			pick_tgt(c, &t, 50, 45);
			do_get(c, &t, K_GET_STATS);
			break;
		case 9:
			do_poll(c);
			break;
		case 10:
			do_fdinfo(c);
			break;
		default:
			pick_tgt(c, &t, 0, 80);
			if (chance(c, 40))
				do_set_config(c, &t, false);
			else if (chance(c, 50))
				do_disassociate(c, &t);
			else
				do_unknown(c, &t);
		}
	}
	if (exec_it) {
		/* exec while associated (and maybe counted running): the
		 * new image exits at once; its exit must free the slot. */
		char *const args[] = { "iocp_fuzz", "-X", NULL };

		execv("/proc/self/exe", args);
		fail("execv /proc/self/exe: %s", errname(errno));
	}
	_exit(0);
}

static void dump_task(pid_t pid, pid_t tid)
{
	static const char *const files[] = { "wchan", "stack", "status" };
	char path[96], buf[2048];

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		int fd;
		ssize_t n;

		snprintf(path, sizeof(path), "/proc/%d/task/%d/%s", pid, tid, files[i]);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n <= 0)
			continue;
		buf[n] = 0;
		char *sv;

		for (char *l = strtok_r(buf, "\n", &sv); l; l = strtok_r(NULL, "\n", &sv)) {
			if (i == 2 && strncmp(l, "State", 5))
				continue;
			outf("#   %s: %s", path, l);
		}
	}
}

static void do_fork(struct tctx *c)
{
	unsigned int gb[NPORTS];
	bool kill_it = !sh->strict && chance(c, 40);
	bool stop_it = !sh->strict && !kill_it && chance(c, 30);
	bool exec_it = chance(c, 15);
	int iters = 1 + rn(c, 12), st, e;
	uint64_t deadline, kill_at;
	pid_t pid, w;

	for (int s = 0; s < NPORTS; s++)
		gb[s] = atomic_load(&sh->slots[s].gen);
	atomic_store(&sh->child_inflight[c->idx], 0);
	atomic_store(&sh->child_acct[c->idx], 0);
	pthread_rwlock_rdlock(&fork_lock);
	pid = fork();
	if (pid == 0) {
		c->is_child = true;
		snprintf(c->name, sizeof(c->name), "child of thread %d", c->idx);
		for (int s = 0; s < NPORTS; s++) {
			unsigned int ga = atomic_load(&sh->slots[s].gen);

			c->cgen[s] = gb[s];
			c->cgen_ok[s] = ga == gb[s] && !(ga & 1);
		}
		c->poster = POSTER_CHILD + c->idx;
		c->may_be_associated = false;
		signal(SIGSEGV, SIG_DFL);
		signal(SIGBUS, SIG_DFL);
		signal(SIGABRT, SIG_DFL);
		child_main(c, iters, exec_it);
	}
	e = pid < 0 ? errno : 0;
	pthread_rwlock_unlock(&fork_lock);
	count_call(K_FORK, e);
	if (pid < 0) {
		if (e != EAGAIN && e != ENOMEM)
			fail("fork: %s", errname(e));
		return;
	}
	atomic_fetch_add(&sh->forks, 1);
	if (exec_it)
		count_call(K_EXEC, 0);
	if (stop_it) {
		/* Stopped counts as blocked (blocking awareness). */
		sleep_ns(rn(c, 10) * MSEC);
		atomic_fetch_add(&sh->child_stops[c->idx], 1);
		kill(pid, SIGSTOP);
		count_call(K_STOP, 0);
		sleep_ns(rn(c, 5) * MSEC);
		atomic_fetch_add(&sh->child_stops[c->idx], 1);
		kill(pid, SIGCONT);
	}
	kill_at = now_ns() + rn(c, 30) * MSEC;
	deadline = now_ns() + 40 * NSEC;
	for (;;) {
		w = waitpid(pid, &st, WNOHANG);
		if (w == pid)
			break;
		if (w < 0 && errno != EINTR) {
			fail("waitpid(%d): %s", pid, errname(errno));
			return;
		}
		if (kill_it && now_ns() >= kill_at) {
			kill(pid, SIGKILL);
			count_call(K_KILL, 0);
			atomic_fetch_add(&sh->kills, 1);
			kill_it = false;
			deadline = now_ns() + 10 * NSEC;
		}
		if (now_ns() >= deadline) {
			fail("child %d did not exit in time", pid);
			dump_task(pid, pid);
			kill(pid, SIGKILL);
			deadline = now_ns() + 10 * NSEC;
			kill_it = false;
			for (;;) {
				w = waitpid(pid, &st, WNOHANG);
				if (w == pid || now_ns() >= deadline)
					break;
				sleep_ns(MSEC);
			}
			if (w != pid) {
				fail("child %d survives SIGKILL", pid);
				return;
			}
			break;
		}
		sleep_ns(MSEC);
	}
	if (WIFSIGNALED(st)) {
		if (WTERMSIG(st) == SIGKILL) {
			atomic_fetch_add(&sh->slack, atomic_load(&sh->child_inflight[c->idx]));
			if (atomic_load(&sh->child_acct[c->idx]))
				atomic_fetch_add(&sh->acct_kills, 1);
		} else {
			fail("child %d died of signal %d", pid, WTERMSIG(st));
		}
	} else if (WEXITSTATUS(st)) {
		fail("child %d exited with %d", pid, WEXITSTATUS(st));
	}
	atomic_store(&sh->child_inflight[c->idx], 0);
}

/* ------------------------------------------------------------------ */
/* Threads                                                              */

/* A short-lived thread: a few dequeues, maybe a sleep, then it exits while
 * associated (exit tracking, notifier teardown). */
static void *helper_main(void *arg)
{
	struct tctx *c = arg;
	struct tgt t;
	int n;

	T = c;
	c->ktid = gettid();
	n = 1 + rn(c, 3);
	for (int i = 0; i < n && !atomic_load(&sh->stop); i++) {
		pick_tgt(c, &t, 60, 40);
		if (chance(c, 80))
			do_dequeue(c, &t, false);
		else
			do_disassociate(c, &t);
	}
	if (chance(c, 40))
		sleep_ns(rn(c, 3000) * USEC);
	return NULL;
}

/* A burst of short-lived threads that associate and exit. */
static void do_helper(struct tctx *c)
{
	int n = 1 + rn(c, MAX_HELPERS), started = 0;
	uint64_t deadline = now_ns() + 40 * NSEC;

	for (int i = 0; i < n; i++) {
		struct tctx *h = &ctxs[MAX_THREADS + 2 + c->idx * MAX_HELPERS + i];
		int e;

		h->rng = mix64(rnd64(c));
		h->poster = c->poster;
		h->is_child = false;
		h->no_inf = true;	/* main's end-of-round signals do not reach it */
		h->may_be_associated = false;
		h->cseq = 0;
		for (int s = 0; s < NPORTS; s++)
			h->ord_gen[s] = UINT32_MAX;
		snprintf(h->name, sizeof(h->name), "helper %d of thread %d", i, c->idx);
		e = pthread_create(&h->tid, NULL, helper_main, h);
		count_call(K_THREAD, e);
		if (e) {
			if (e != EAGAIN && e != ENOMEM)
				fail("pthread_create: %s", errname(e));
			break;
		}
		h->running = true;
		started++;
	}
	for (int left = started; left; ) {
		left = 0;
		for (int i = 0; i < started; i++) {
			struct tctx *h = &ctxs[MAX_THREADS + 2 + c->idx * MAX_HELPERS + i];

			if (!h->running)
				continue;
			if (!pthread_tryjoin_np(h->tid, NULL)) {
				h->running = false;
				continue;
			}
			left++;
			if (now_ns() > deadline) {
				fail("%s (tid %d) did not finish", h->name, h->ktid);
				dump_task(getpid(), h->ktid);
				outf("not ok 1 fuzz # a thread is stuck");
				fi_restore();
				_exit(1);
			}
		}
		if (left)
			sleep_ns(MSEC);
	}
}

/* Associations and the files they watch. */
static void one_assoc_op(struct tctx *c, unsigned int r)
{
	struct tgt t;

	if (r < 35) {
		pick_tgt(c, &t, 10, 80);
		do_assoc(c, &t, K_ASSOCIATE, -1, false);
	} else if (r < 53) {
		pick_tgt(c, &t, 10, 80);
		do_assoc(c, &t, K_MODIFY, -1, false);
	} else if (r < 71) {
		pick_tgt(c, &t, 10, 80);
		do_assoc(c, &t, K_DISSOCIATE, -1, false);
	} else if (r < 99) {
		do_fdio(c);
	} else if (r < 103) {
		pick_tgt(c, &t, 20, 80);
		do_close_fd(c, &t);
	} else if (r < 108) {
		do_assoc_private(c);
	} else {
		do_pollfree_private(c);
	}
}

static void one_op(struct tctx *c)
{
	unsigned int r = rn(c, 1160);
	struct tgt t;

	if (r >= 1145) {
		pick_tgt(c, &t, 10, 80);
		do_cancel(c, &t);
	} else if (r >= 1110) {
		pick_tgt(c, &t, 0, 92);
		do_submit(c, &t);
	} else if (r >= 1000) {
		one_assoc_op(c, r - 1000);
	} else if (r < 250) {
		pick_tgt(c, &t, 45, 43);
		do_post(c, &t, false);
	} else if (r < 530) {
		pick_tgt(c, &t, 45, 43);
		do_dequeue(c, &t, false);
	} else if (r < 610) {
		pick_tgt(c, &t, 45, 43);
		do_get(c, &t, K_GET_STATS);
	} else if (r < 650) {
		pick_tgt(c, &t, 40, 45);
		do_get(c, &t, K_GET_CONFIG);
	} else if (r < 710) {
		pick_tgt(c, &t, 25, 65);
		do_set_config(c, &t, false);
	} else if (r < 720) {
		uint64_t at = atomic_load(&sh->acct_shut_at);
		int z = 0;

		if (at && rel_ns(now_ns()) >= at &&
		    atomic_compare_exchange_strong(&sh->acct_shut_ticket, &z, 1))
			slot_tgt(&t, ACCT);
		else
			pick_tgt(c, &t, 0, 85);
		do_shutdown(c, &t);
	} else if (r < 760) {
		pick_tgt(c, &t, 40, 45);
		do_unknown(c, &t);
	} else if (r < 775) {
		do_reopen(c, 1 + rn(c, NPORTS - 1), false);
	} else if (r < 815) {
		do_dup(c);
	} else if (r < 850) {
		do_poll(c);
	} else if (r < 885) {
		do_epoll(c);
	} else if (r < 905) {
		do_fdinfo(c);
	} else if (r < 925) {
		do_temp(c, false);
	} else if (r < 930) {
		do_fork(c);
	} else if (r < 960 && c->failfd >= 0) {
		do_failnth(c);
	} else if (r < 975) {
		pick_tgt(c, &t, 45, 45);
		do_disassociate(c, &t);
	} else if (r < 982) {
		do_sleep(c);
	} else if (r < 992) {
		do_helper(c);
	} else {
		/* depth queries */
		struct iocp_dequeue_args dq = { 0 };
		int e;

		pick_tgt(c, &t, 50, 50);
		tgt_begin(c, &t);
		dq.count = 0xdeadbeef;
		e = xioctl(t.fd, IOCP_IOC_DEQUEUE, &dq, K_DEQUEUE);
		if (!e && tgt_stable(c, &t))
			atomic_store(&sh->slots[t.slot].last_queued, dq.count);
		if (e && e != ESHUTDOWN)
			fail("depth query on fd %d: %s", t.fd, errname(e));
		if (e == ESHUTDOWN && tgt_stable(c, &t))
			verify_shut(c, &t, "depth query");
	}
}

static void *thread_main(void *arg)
{
	struct tctx *c = arg;

	T = c;
	c->ktid = gettid();
	if (g_failnth) {
		c->failfd = open("/proc/thread-self/fail-nth", O_RDWR | O_CLOEXEC);
		if (c->failfd >= 0 && pwrite(c->failfd, "0", 1, 0) != 1) {
			close(c->failfd);
			c->failfd = -1;
		}
	}
	c->epfd = epoll_create1(EPOLL_CLOEXEC);
	while (!atomic_load(&sh->stop))
		one_op(c);
	if (c->epfd >= 0)
		close(c->epfd);
	if (c->failfd >= 0)
		close(c->failfd);
	c->failfd = -1;
	return NULL;
}

static void ctx_init(struct tctx *c, int idx)
{
	size_t len = (ENT_CAP * ENT_SIZE + page - 1) / page * page;
	unsigned char *p;

	memset(c, 0, sizeof(*c));
	c->idx = idx;
	c->failfd = -1;
	c->epfd = -1;
	p = mmap(NULL, len + 3 * page, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		perror("mmap");
		exit(1);
	}
	if (mprotect(p + len, page, PROT_NONE) ||
	    mprotect(p + len + 2 * page, page, PROT_NONE)) {
		perror("mprotect");
		exit(1);
	}
	c->ent_end = p + len;
	c->args_end = p + len + 2 * page;
}

static void ctx_round(struct tctx *c, int round)
{
	c->rng = mix64(g_seed ^ mix64(((uint64_t)round << 16) + c->idx + 1));
	c->cseq = 0;
	c->may_be_associated = false;
	for (int s = 0; s < NPORTS; s++)
		c->ord_gen[s] = UINT32_MAX;
}

/* ------------------------------------------------------------------ */
/* Main                                                                 */

static void on_usr1(int sig)
{
	(void)sig;
	tls_sigs++;
}

/* debugfs attributes are not seekable: open, write, close. */
static int write_file(const char *path, const char *val, size_t len)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC), ok;

	if (fd < 0)
		return -1;
	ok = write(fd, val, len) == (ssize_t)len;
	close(fd);
	return ok ? 0 : -1;
}

/* Async-signal-safe. */
static void fi_restore(void)
{
	for (int i = 0; i < NFI; i++) {
		if (fi_settings[i].len)
			write_file(fi_settings[i].path, fi_settings[i].saved,
				   fi_settings[i].len);
	}
}

static void on_alarm(int sig)
{
	static const char msg[] =
		"# watchdog: the time budget was exceeded by the margin\nnot ok 1 fuzz # watchdog\n";

	(void)sig;
	fi_restore();
	if (write(1, msg, sizeof(msg) - 1) < 0) {
		/* nothing to do */
	}
	_exit(1);
}

/* A crash of the fuzzer itself: say where, and fail. */
static void on_crash(int sig, siginfo_t *si, void *uc)
{
	char buf[160];
	void *bt[32];
	int n, len;

	(void)uc;
	len = snprintf(buf, sizeof(buf), "# crash: signal %d, address %p (seed %" PRIu64 ")\n",
		       sig, si->si_addr, g_seed);
	if (write(1, buf, len) < 0)
		_exit(1);
	n = backtrace(bt, 32);
	for (int i = 0; i < n; i++) {
		len = snprintf(buf, sizeof(buf), "#   %p\n", bt[i]);
		if (write(1, buf, len) < 0)
			break;
	}
	len = snprintf(buf, sizeof(buf), "not ok 1 fuzz # crashed\n");
	if (write(1, buf, len) < 0)
		_exit(1);
	fi_restore();
	_exit(1);
}

static char g_fi_buf[160] = "no /proc/thread-self/fail-nth";
static const char *g_fi_why = g_fi_buf;

static void fi_setup(void)
{
	int fd = open("/proc/thread-self/fail-nth", O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return;
	close(fd);
	for (int i = 0; i < NFI; i++) {
		struct fi_setting *s = &fi_settings[i];
		ssize_t n;

		fd = open(s->path, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			snprintf(g_fi_buf, sizeof(g_fi_buf), "open %s: %s", s->path,
				 errname(errno));
			if (i < 2)	/* failslab is required */
				goto undo;
			continue;
		}
		n = read(fd, s->saved, sizeof(s->saved) - 1);
		close(fd);
		if (n <= 0) {
			snprintf(g_fi_buf, sizeof(g_fi_buf), "read %s: %s", s->path,
				 n ? errname(errno) : "empty");
			goto undo;
		}
		s->len = n;
	}
	/* GFP_KERNEL allocations fail too; no stack dumps in the console. */
	if (write_file(fi_settings[0].path, "N", 1) ||
	    write_file(fi_settings[1].path, "0", 1) ||
	    (fi_settings[2].len && write_file(fi_settings[2].path, "0", 1))) {
		snprintf(g_fi_buf, sizeof(g_fi_buf), "cannot write the settings: %s",
			 errname(errno));
		goto undo;
	}
	g_failnth = true;
	return;
undo:
	fi_restore();
	for (int i = 0; i < NFI; i++)
		fi_settings[i].len = 0;
}

static void setup_weird(void)
{
	int p[2], fd;

	if (pipe2(p, O_CLOEXEC)) {
		perror("pipe");
		exit(1);
	}
	weird[nweird++] = (struct weird){ p[0], TT_NOTTY, "pipe read end", true };
	weird[nweird++] = (struct weird){ p[1], TT_NOTTY, "pipe write end", true };
	fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (fd >= 0)
		weird[nweird++] = (struct weird){ fd, TT_NOTTY, "/dev/null", false };
	fd = eventfd(0, EFD_CLOEXEC);
	if (fd >= 0)
		weird[nweird++] = (struct weird){ fd, TT_NOTTY, "eventfd", true };
	fd = memfd_create("iocp_fuzz", MFD_CLOEXEC);
	if (fd >= 0)
		weird[nweird++] = (struct weird){ fd, TT_NOTTY, "memfd", false };
	fd = open("/dev/iocp", O_PATH | O_CLOEXEC);
	if (fd >= 0)
		weird[nweird++] = (struct weird){ fd, TT_BADF, "O_PATH /dev/iocp", false };
	if (fcntl(CLOSED_FD, F_GETFD) >= 0)
		close(CLOSED_FD);
	weird[nweird++] = (struct weird){ CLOSED_FD, TT_BADF, "closed fd", false };
	weird[nweird++] = (struct weird){ -1, TT_BADF, "fd -1", false };
}

static void setup_memory(void)
{
	unsigned char *p;
	size_t rolen = (sizeof(struct ro_layout) + page - 1) / page * page;

	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	g_none = mmap(NULL, page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	g_scratch = mmap(NULL, ENT_CAP * ENT_SIZE, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	p = mmap(NULL, rolen, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED || g_none == MAP_FAILED || g_scratch == MAP_FAILED ||
	    p == MAP_FAILED) {
		perror("mmap");
		exit(1);
	}
	g_ro = (struct ro_layout *)p;
	for (int i = 0; i < 4; i++)
		g_ro->deq[i].entries = (uintptr_t)g_scratch;
	g_ro->deq[0].max = 1;
	g_ro->deq[1].max = 8;
	g_ro->deq[1].min = 2;
	g_ro->deq[1].timeout_ns = MSEC;
	g_ro->deq[2].max = IOCP_MAX_BATCH;
	g_ro->deq[2].min = 1;
	g_ro->deq[3].max = 0;
	for (int i = 0; i < RO_NENT; i++)
		fill_entry(&g_ro->ent[i], ud_make(SLOT_STATIC, POSTER_STATIC, 0, i));
	g_ro->post[0].entries = (uintptr_t)g_ro->ent;
	g_ro->post[0].count = 1;
	g_ro->post[1].entries = (uintptr_t)g_ro->ent;
	g_ro->post[1].count = RO_NENT;
	g_ro->cfg.concurrency = 2;
	g_ro->cfg.max_queued = 4096;
	g_ro->cfg_bad.concurrency = 1;
	g_ro->cfg_bad.max_queued = 4096;
	g_ro->cfg_bad.reserved[2] = 7;
	g_ro->cancel[0].flags = IOCP_CANCEL_ALL;
	g_ro->cancel[1].flags = IOCP_CANCEL_USER_DATA;
	g_ro->cancel[1].user_data = 0x1234;
	if (mprotect(p, rolen, PROT_READ)) {
		perror("mprotect");
		exit(1);
	}
	ops_setup_memory();
}

static int open_port(uint32_t conc, uint32_t mq, uint32_t flags)
{
	struct iocp_config cfg = { .concurrency = conc, .max_queued = mq, .flags = flags };
	int fd = open("/dev/iocp", O_RDWR | O_CLOEXEC), e;

	count_call(K_OPEN, fd < 0 ? errno : 0);
	if (fd < 0)
		return -errno;
	e = xioctl(fd, IOCP_IOC_SET_CONFIG, &cfg, K_SET_CONFIG);
	if (e) {
		close(fd);
		return -e;
	}
	return fd;
}

static bool get_stats(int fd, struct iocp_stats *st, const char *what)
{
	int e;

	memset(st, 0xcc, sizeof(*st));
	e = xioctl(fd, IOCP_IOC_GET_STATS, st, K_GET_STATS);
	if (e)
		fail("GET_STATS (%s) on fd %d: %s", what, fd, errname(e));
	return !e;
}

/* Wait until no thread is associated with the port (exit tracking). */
static bool wait_idle(int s, struct iocp_stats *st, const char *when)
{
	uint64_t end = now_ns() + 8 * NSEC;
	struct tgt t;
	bool first = true;

	slot_tgt(&t, s);
	t.gen = atomic_load(&sh->slots[s].gen);
	t.gen_ok = true;
	for (;;) {
		if (!get_stats(t.fd, st, when))
			return false;
		check_stats(mainc, &t, st, true, when);
		if (first && st->waiting)
			fail("%s: slot %d has %u waiting with no thread in DEQUEUE", when, s,
			     st->waiting);
		first = false;
		if (!st->threads && !st->running && !st->waiting)
			return true;
		if (g_lazy_exit && !st->waiting)
			return true;	/* dead threads are reaped on demand */
		if (now_ns() > end) {
			fail("%s: slot %d still has threads %u running %u waiting %u 8 s after every thread exited",
			     when, s, st->threads, st->running, st->waiting);
			return false;
		}
		sleep_ns(2 * MSEC);
	}
}

struct drain_result {
	uint64_t drained;
};

static void *drain_main(void *arg)
{
	struct drain_result *res = arg;
	struct tctx *c = drainc;
	struct tgt t;

	T = c;
	c->ktid = gettid();
	slot_tgt(&t, ACCT);
	t.gen = atomic_load(&sh->slots[ACCT].gen);
	t.gen_ok = true;
	for (int it = 0; it < 200000; it++) {
		struct iocp_completion *ent;
		struct iocp_dequeue_args dq = { 0 };
		int e;

		dq.max = 1 + rn(c, IOCP_MAX_BATCH);
		dq.min = rn(c, 2);
		ent = (struct iocp_completion *)(c->ent_end - (size_t)dq.max * ENT_SIZE);
		dq.entries = (uintptr_t)ent;
		e = xioctl(t.fd, IOCP_IOC_DEQUEUE, &dq, K_DEQUEUE);
		if (e == ETIMEDOUT)
			break;
		if (e) {
			fail("drain: DEQUEUE max %u: %s", dq.max, errname(e));
			break;
		}
		if (!dq.count || dq.count > dq.max) {
			fail("drain: DEQUEUE max %u returned count %u", dq.max, dq.count);
			break;
		}
		take_packets(c, &t, true, ent, dq.count);
		res->drained += dq.count;
	}
	return NULL;
}

/* Join the threads, signalling them; false if one is stuck. */
static bool join_all(int n, double secs, bool sig)
{
	uint64_t end = now_ns() + (uint64_t)(secs * NSEC);
	int left = n;

	while (left) {
		left = 0;
		for (int i = 0; i < n; i++) {
			struct tctx *c = &ctxs[i];

			if (!c->running)
				continue;
			if (!pthread_tryjoin_np(c->tid, NULL)) {
				c->running = false;
				continue;
			}
			left++;
			if (sig) {
				pthread_kill(c->tid, SIGUSR1);
				count_call(K_SIGNAL, 0);
			}
		}
		if (!left)
			break;
		if (now_ns() > end) {
			for (int i = 0; i < n; i++) {
				if (!ctxs[i].running)
					continue;
				fail("%s (tid %d) did not finish %.0f s after the end of its round",
				     ctxs[i].name, ctxs[i].ktid, secs);
				dump_task(getpid(), ctxs[i].ktid);
			}
			return false;
		}
		sleep_ns(5 * MSEC);
	}
	return true;
}

static void print_fdinfo(int fd)
{
	char path[64], buf[2048];
	ssize_t n;
	int f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = open(path, O_RDONLY | O_CLOEXEC);
	if (f < 0)
		return;
	n = read(f, buf, sizeof(buf) - 1);
	close(f);
	if (n <= 0)
		return;
	buf[n] = 0;
	for (char *l = strtok(buf, "\n"); l; l = strtok(NULL, "\n"))
		outf("#   fd %d: %s", fd, l);
}

static void flush_child_msgs(void)
{
	int n = atomic_exchange(&sh->nmsg, 0);

	for (int i = 0; i < n && i < MAX_CHILD_MSG; i++)
		outf("# %s", sh->msg[i]);
	if (n > MAX_CHILD_MSG)
		outf("# (%d more failures in children)", n - MAX_CHILD_MSG);
}

static uint64_t g_rounds, g_strict_rounds, g_peak_checked, g_peak_skipped,
	g_drained, g_acct_posted, g_acct_discarded, g_ordered_rounds, g_minone_rounds;

/* Quiescent checks of the accounting port, then drain it and close it. */
static void finish_acct(void)
{
	struct slot *sl = &sh->slots[ACCT];
	struct iocp_stats st, st2;
	struct drain_result dr = { 0 };
	uint64_t slack = atomic_load(&sh->slack), posted = atomic_load(&sh->posted);
	uint64_t nopkt = atomic_load(&sh->nopkt), cfgchg = atomic_load(&sh->cfgchg);
	uint64_t acct_kills = atomic_load(&sh->acct_kills);
	uint64_t n1 = 0, n2 = 0, delivered;
	uint32_t seq = atomic_load(&sh->seq);
	bool shut, peak_ok;

	if (seq > UD_MAX)
		seq = UD_MAX;
	if (!wait_idle(ACCT, &st, "end of round (accounting port)"))
		print_fdinfo(sl->fd);
	shut = st.flags & IOCP_STATS_SHUTDOWN;
	/* Concurrency: running never exceeded N unless a thread returned
	 * from DEQUEUE without packets (perhaps a child killed there, which
	 * could not say so) or N was changed. */
	peak_ok = sh->strict || (!nopkt && !cfgchg && !acct_kills &&
				 (sh->acct_flags & IOCP_CONFIG_IGNORE_BLOCKING));
	if (peak_ok) {
		g_peak_checked++;
		if (st.peak_running > st.concurrency)
			fail("accounting port: peak_running %u > concurrency %u (%s round, %llu ETIMEDOUT/EINTR returns, %llu children killed in a DEQUEUE or SET_CONFIG)",
			     st.peak_running, st.concurrency,
			     sh->strict ? "strict" : "ordinary", (unsigned long long)nopkt,
			     (unsigned long long)acct_kills);
	} else {
		g_peak_skipped++;
	}
	if (st.posted != posted)
		fail("accounting port: stats.posted %llu, successful posts %llu",
		     (unsigned long long)st.posted, (unsigned long long)posted);
	if (!shut) {
		pthread_t tid;

		if (pthread_create(&tid, NULL, drain_main, &dr)) {
			fail("pthread_create (drain)");
		} else {
			int e = pthread_timedjoin_np(tid, NULL, &(struct timespec){
				.tv_sec = time(NULL) + 60 });

			if (e) {
				fail("the drain thread did not finish");
				dump_task(getpid(), drainc->ktid);
				outf("not ok 1 fuzz");
				fflush(stdout);
				fi_restore();
				_exit(1);
			}
		}
		if (dr.drained != st.queued)
			fail("accounting port: drained %llu packets, stats.queued was %u",
			     (unsigned long long)dr.drained, st.queued);
		{
			struct iocp_dequeue_args dq = { 0 };
			int e = xioctl(sl->fd, IOCP_IOC_DEQUEUE, &dq, K_DEQUEUE);

			if (e || dq.count)
				fail("accounting port after the drain: depth query %s, depth %u",
				     errname(e), dq.count);
		}
		wait_idle(ACCT, &st2, "after the drain");
	} else {
		get_stats(sl->fd, &st2, "after shutdown");
		if (st2.queued)
			fail("accounting port shut down with %u queued", st2.queued);
	}
	g_drained += dr.drained;
	for (uint32_t i = 0; i < seq; i++) {
		unsigned char v = atomic_load_explicit(&sh->ud[i], memory_order_relaxed);

		n1 += v == 1;
		n2 += v == 2;
	}
	delivered = atomic_load(&sh->dequeued);
	if (n1 + n2 != posted)
		fail("accounting port: %llu packets marked posted, %llu successful posts",
		     (unsigned long long)(n1 + n2), (unsigned long long)posted);
	if (delivered > n2 || n2 - delivered > slack)
		fail("accounting port: %llu packets marked delivered, %llu counted (slack %llu)",
		     (unsigned long long)n2, (unsigned long long)delivered,
		     (unsigned long long)slack);
	if (st2.dequeued < n2 || st2.dequeued - n2 > slack)
		fail("accounting port: stats.dequeued %llu, %llu delivered to us (at most %llu taken by killed children)",
		     (unsigned long long)st2.dequeued, (unsigned long long)n2,
		     (unsigned long long)slack);
	if (st2.posted != posted || st2.queued)
		fail("accounting port at the end: posted %llu (want %llu) queued %u",
		     (unsigned long long)st2.posted, (unsigned long long)posted, st2.queued);
	/* Every posted packet was delivered or discarded by the shutdown. */
	if (n1 != st2.discarded + (st2.dequeued - n2))
		fail("accounting port: %llu packets never delivered; discarded %llu, taken by killed children %llu",
		     (unsigned long long)n1, (unsigned long long)st2.discarded,
		     (unsigned long long)(st2.dequeued - n2));
	if (!shut && st2.discarded)
		fail("accounting port never shut down but discarded %llu",
		     (unsigned long long)st2.discarded);
	g_acct_posted += posted;
	g_acct_discarded += st2.discarded;
	if (!g_quiet)
		outf("# round %d: %s%s%s%s N=%u, %llu posted, %llu delivered, %llu drained, %llu discarded, peak running %u%s, %llu timeouts/EINTR, slack %llu",
		     sh->round, sh->strict ? "strict" : "ordinary",
		     sh->ordered ? " ordered" : "", sh->minone ? " minone" : "",
		     sh->acct_flags ? "" : " blocking-aware", st.concurrency, (unsigned long long)posted, (unsigned long long)n2,
		     (unsigned long long)dr.drained, (unsigned long long)st2.discarded,
		     st.peak_running, peak_ok ? " (checked)" : "",
		     (unsigned long long)nopkt, (unsigned long long)slack);
	/* Close: explicitly shut down first, or implicitly. */
	if (chance(mainc, 50))
		iocp_close(sl->fd);
	else
		close(sl->fd);
	count_call(K_CLOSE, 0);
}

static void check_chaos_round_end(void)
{
	for (int s = 1; s < NPORTS; s++)
		ops_round_end(s);
	for (int s = 1; s < NPORTS; s++) {
		struct iocp_stats st;

		if (atomic_load(&sh->anomalies[s]) && !atomic_load(&sh->putbacks[s]) &&
		    !atomic_load(&sh->misposts[s]))
			fail("chaos port %d: %llu packets out of FIFO order without any put-back",
			     s, (unsigned long long)atomic_load(&sh->anomalies[s]));
		if (atomic_load(&sh->tagmis[s]) > atomic_load(&sh->misposts[s]))
			fail("chaos port %d: %llu packets of another generation of the port, %llu posted while it was being replaced",
			     s, (unsigned long long)atomic_load(&sh->tagmis[s]),
			     (unsigned long long)atomic_load(&sh->misposts[s]));
		if (!wait_idle(s, &st, "end of round (chaos port)"))
			print_fdinfo(sh->slots[s].fd);
		/* A fresh port each round: nothing queued survives into the
		 * next round's counters. */
		do_reopen(mainc, s, true);
	}
	if (atomic_load(&sh->anomalies[ACCT]) && !atomic_load(&sh->putback_acct))
		fail("accounting port: %llu packets out of FIFO order without any put-back",
		     (unsigned long long)atomic_load(&sh->anomalies[ACCT]));
}

/* The main thread during a round: posts, signals, samples. */
static void main_round(uint64_t end)
{
	struct tgt t;

	slot_tgt(&t, ACCT);
	t.gen = atomic_load(&sh->slots[ACCT].gen);
	t.gen_ok = true;
	while (now_ns() < end) {
		sleep_ns(MSEC + rn(mainc, 5 * MSEC));
		if (chance(mainc, 60)) {
			struct tgt pt = t;

			do_post(mainc, &pt, true);
		}
		if (!sh->strict && chance(mainc, 40)) {
			int i = rn(mainc, g_nthreads);

			if (ctxs[i].running) {
				pthread_kill(ctxs[i].tid, SIGUSR1);
				count_call(K_SIGNAL, 0);
				atomic_fetch_add(&sh->sigs, 1);
			}
		}
		if (chance(mainc, 20)) {
			struct iocp_stats st;

			if (get_stats(t.fd, &st, "main sample"))
				check_stats(mainc, &t, &st, true, "GET_STATS (main)");
		}
		uint64_t at = atomic_load(&sh->acct_shut_at);
		int z = 0;

		if (at && rel_ns(now_ns()) >= at && chance(mainc, 20) &&
		    atomic_compare_exchange_strong(&sh->acct_shut_ticket, &z, 1))
			do_shutdown(mainc, &t);
	}
}

static uint64_t g_round_calls;
static double g_round_join, g_round_end;

static uint64_t total_calls(void)
{
	uint64_t n = 0;

	for (int k = 0; k < K_NKINDS; k++)
		n += atomic_load(&sh->calls[k]);
	return n;
}

static void run_round(int round, uint64_t len)
{
	uint64_t c0 = total_calls(), tj, te;
	static const uint32_t concs[] = { 0, 1, 1, 2, 2, 3, 4 };
	static const uint32_t mqs[] = { 64, 256, 4096, 65536 };
	static uint32_t prev_seq;
	struct sigaction sa;
	uint32_t mq;
	int fd, n = g_nthreads;

	sh->round = round;
	ctx_round(mainc, round);
	ctx_round(drainc, round);
	sh->strict = chance(mainc, 30);
	sh->ordered = chance(mainc, 45);
	sh->minone = chance(mainc, 50);
	sh->acct_conc = concs[rn(mainc, sizeof(concs) / sizeof(concs[0]))];
	/* Strict rounds: a thread resuming after blocking elsewhere would count
	 * as running whatever N says, so blocking awareness is off. */
	sh->acct_flags = sh->strict || chance(mainc, 50) ? IOCP_CONFIG_IGNORE_BLOCKING : 0;
	mq = mqs[rn(mainc, sizeof(mqs) / sizeof(mqs[0]))];
	memset((void *)sh->ud, 0, prev_seq);
	atomic_store(&sh->seq, 0);
	/* Last round's chaos ports, which held its associations, and its
	 * private ports are gone: its keys can be forgotten. */
	{
		uint32_t nk = atomic_load(&sh->keyseq);

		memset((void *)sh->keyreg, 0, nk < KEYREG_MAX ? nk : KEYREG_MAX);
		atomic_store(&sh->keyseq, 0);
		for (int s = 0; s < NPORTS; s++)
			atomic_store(&sh->assoc_used[s], 0);
		pool_setup();
		ops_setup_round(round);
	}
	atomic_store(&sh->posted, 0);
	atomic_store(&sh->dequeued, 0);
	atomic_store(&sh->nopkt, 0);
	atomic_store(&sh->slack, 0);
	atomic_store(&sh->cfgchg, 0);
	atomic_store(&sh->acct_kills, 0);
	atomic_store(&sh->putback_acct, 0);
	for (int s = 0; s < NPORTS; s++) {
		atomic_store(&sh->putbacks[s], 0);
		atomic_store(&sh->anomalies[s], 0);
		atomic_store(&sh->tagmis[s], 0);
		atomic_store(&sh->misposts[s], 0);
	}
	atomic_store(&sh->acct_shut_ticket, 0);
	atomic_store(&sh->acct_shut_at, !sh->strict && chance(mainc, 25) ?
			  rel_ns(now_ns()) + rn(mainc, len) + 1 : 0);
	fd = open_port(sh->acct_conc, mq, sh->acct_flags);
	if (fd < 0) {
		fail("cannot open the accounting port: %s", errname(-fd));
		return;
	}
	sh->slots[ACCT].fd = fd;
	atomic_store(&sh->slots[ACCT].gen, 2u * round);
	atomic_store(&sh->slots[ACCT].shut, 0);
	atomic_store(&sh->slots[ACCT].last_queued, 0);

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;
	sa.sa_flags = round & 1 ? SA_RESTART : 0;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);

	atomic_store(&sh->stop, 0);
	for (int i = 0; i < n; i++) {
		struct tctx *c = &ctxs[i];

		ctx_round(c, round);
		c->poster = i;
		c->is_child = false;
		snprintf(c->name, sizeof(c->name), "thread %d", i);
		if (pthread_create(&c->tid, NULL, thread_main, c)) {
			fail("pthread_create: %s", errname(errno));
			continue;
		}
		c->running = true;
	}
	main_round(now_ns() + len);
	atomic_store(&sh->stop, 1);
	tj = now_ns();
	g_round_calls = total_calls() - c0;
	if (sh->strict) {
		struct tgt t;

		slot_tgt(&t, ACCT);
		t.gen = atomic_load(&sh->slots[ACCT].gen);
		t.gen_ok = true;
		do_shutdown(mainc, &t);
	}
	if (!join_all(n, 30, true)) {
		for (int s = 0; s < NPORTS; s++)
			print_fdinfo(sh->slots[s].fd);
		flush_child_msgs();
		outf("not ok 1 fuzz # a thread is stuck");
		fflush(stdout);
		fi_restore();
		_exit(1);
	}
	flush_child_msgs();
	te = now_ns();
	g_round_join = (te - tj) / 1e9;
	prev_seq = atomic_load(&sh->seq);
	if (prev_seq > UD_MAX)
		prev_seq = UD_MAX;
	finish_acct();
	check_chaos_round_end();
	flush_child_msgs();
	g_round_end = (now_ns() - te) / 1e9;
	if (!g_quiet)
		outf("#   %.2f s, %llu calls (%.0f/s); %.2f s to stop the threads, %.2f s of end-of-round checks",
		     len / 1e9, (unsigned long long)g_round_calls, g_round_calls / (len / 1e9),
		     g_round_join, g_round_end);
	g_rounds++;
	g_strict_rounds += sh->strict;
	g_ordered_rounds += sh->ordered;
	g_minone_rounds += sh->minone;
}

static void usage(const char *argv0)
{
	fprintf(stderr, "usage: %s [-s SEED] [-t SECONDS] [-n THREADS] [-q]\n", argv0);
	exit(2);
}

int main(int argc, char **argv)
{
	struct sigaction sa;
	uint64_t start, budget, total = 0;
	double secs;
	int opt, fd, round = 0;
	bool seeded = false;

	/* The image a forked child execs: exit at once. */
	if (argc == 2 && !strcmp(argv[1], "-X"))
		_exit(0);
	while ((opt = getopt(argc, argv, "s:t:n:qh")) != -1) {
		switch (opt) {
		case 's':
			g_seed = strtoull(optarg, NULL, 0);
			seeded = true;
			break;
		case 't':
			g_budget = atof(optarg);
			break;
		case 'n':
			g_nthreads = atoi(optarg);
			break;
		case 'q':
			g_quiet = true;
			break;
		default:
			usage(argv[0]);
		}
	}
	if (g_nthreads < 1 || g_nthreads > MAX_THREADS || g_budget <= 0)
		usage(argv[0]);
	if (!seeded) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		g_seed = mix64(((uint64_t)ts.tv_sec * NSEC + ts.tv_nsec) ^ (uint64_t)getpid() << 32) % 1000000000000ull;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("# seed: %" PRIu64 "\n", g_seed);
	printf("TAP version 13\n1..1\n");
	printf("# iocp_fuzz -s %" PRIu64 " -t %g -n %d\n", g_seed, g_budget, g_nthreads);
	fflush(stdout);

	page = sysconf(_SC_PAGESIZE);
	g_ncpus = sysconf(_SC_NPROCESSORS_ONLN);
	fd = open("/dev/iocp", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		printf("ok 1 fuzz # SKIP cannot open /dev/iocp: %s\n", strerror(errno));
		return 4;
	}
	{
		struct iocp_stats st;

		if (ioctl(fd, IOCP_IOC_GET_STATS, &st) == 0)
			g_lazy_exit = !(st.flags & IOCP_STATS_BLOCKING_AWARE);
	}
	close(fd);
	setup_memory();
	sh->t0 = now_ns();
	for (int i = 0; i < NCTX; i++)
		ctx_init(&ctxs[i], i);
	mainc = &ctxs[MAX_THREADS];
	drainc = &ctxs[MAX_THREADS + 1];
	mainc->poster = POSTER_MAIN;
	drainc->poster = POSTER_MAIN;
	snprintf(mainc->name, sizeof(mainc->name), "main");
	snprintf(drainc->name, sizeof(drainc->name), "drain");
	T = mainc;
	setup_weird();
	g_epfd = epoll_create1(EPOLL_CLOEXEC);
	fi_setup();
	outf("# fault injection (fail-nth): %s", g_failnth ? "yes" : g_fi_why);
	outf("# scheduler notifiers: %s", g_lazy_exit ?
	     "no (no blocking awareness; exited threads are reaped on demand)" : "yes");

	signal(SIGPIPE, SIG_IGN);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	sigaction(SIGALRM, &sa, NULL);
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_crash;
	sa.sa_flags = SA_SIGINFO | SA_RESETHAND;
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);
	sigaction(SIGABRT, &sa, NULL);
	sigaction(SIGFPE, &sa, NULL);
	sigaction(SIGILL, &sa, NULL);
	alarm((unsigned int)g_budget + 90 + (unsigned int)(g_budget / 4));

	ctx_round(mainc, 0);
	for (int s = 1; s < NPORTS; s++) {
		fd = open_port(rn(mainc, 4), IOCP_DEFAULT_MAX_QUEUED, rn(mainc, 2));
		if (fd < 0) {
			printf("not ok 1 fuzz # cannot open a port: %s\n", strerror(-fd));
			return 1;
		}
		sh->slots[s].fd = fd;
		pthread_mutex_init(&sh->slots[s].lock, NULL);
	}
	pthread_mutex_init(&sh->slots[ACCT].lock, NULL);

	start = now_ns();
	budget = (uint64_t)(g_budget * NSEC);
	for (;;) {
		uint64_t el = now_ns() - start, len;

		if (el + 300 * MSEC > budget || (round && el + 800 * MSEC > budget))
			break;
		len = 300 * MSEC + rn(mainc, 1700 * MSEC);
		if (el + len + 500 * MSEC > budget)
			len = budget - el > 800 * MSEC ? budget - el - 500 * MSEC : 300 * MSEC;
		run_round(++round, len);
	}
	secs = (now_ns() - start) / 1e9;

	for (int s = 1; s < NPORTS; s++)
		iocp_close(sh->slots[s].fd);
	fi_restore();

	for (int k = 0; k < K_NIOCTL; k++)
		total += atomic_load(&sh->calls[k]);
	outf("# %llu ioctl calls in %.1f s: %.0f calls/s (%d threads, %llu rounds: %llu strict, %llu ordered, %llu minone)",
	     (unsigned long long)total, secs, total / secs, g_nthreads,
	     (unsigned long long)g_rounds, (unsigned long long)g_strict_rounds,
	     (unsigned long long)g_ordered_rounds, (unsigned long long)g_minone_rounds);
	for (int k = 0; k < K_NIOCTL; k++) {
		char buf[1024];
		size_t n = 0;

		for (int e = 0; e < NERR; e++) {
			uint64_t v = atomic_load(&sh->errs[k][e]);

			if (v && n < sizeof(buf))
				n += snprintf(buf + n, sizeof(buf) - n, "%s%s%s %llu",
					      n ? ", " : "", e == NERR - 1 ? ">=" : "",
					      errname(e), (unsigned long long)v);
		}
		outf("#   %-13s %9llu: %s", kind_name[k],
		     (unsigned long long)atomic_load(&sh->calls[k]), n ? buf : "-");
	}
	{
		char buf[1024];
		size_t n = 0;

		for (int k = K_NIOCTL; k < K_NKINDS; k++)
			n += snprintf(buf + n, sizeof(buf) - n, "%s%s %llu", n ? ", " : "",
				      kind_name[k], (unsigned long long)atomic_load(&sh->calls[k]));
		outf("# other calls: %s", buf);
	}
	outf("# associations: %llu made, %llu readiness packets dequeued (%llu with POLLHUP), %llu private-port checks, %llu POLLFREE packets on private ports",
	     (unsigned long long)atomic_load(&sh->assoc_ok),
	     (unsigned long long)atomic_load(&sh->ready_pkts),
	     (unsigned long long)atomic_load(&sh->ready_hup),
	     (unsigned long long)atomic_load(&sh->assoc_private),
	     (unsigned long long)atomic_load(&sh->pollfree_hup));
	outf("# ops: %llu processed by SUBMIT (%llu PENDING, %llu QUEUED, %llu DONE, %llu FAILED), %llu packets (%llu ECANCELED), %llu sockets accepted; %llu checked at round ends (%llu without a packet after a child was killed); CANCEL %llu calls, %llu ops found",
	     (unsigned long long)atomic_load(&sh->op_sub),
	     (unsigned long long)atomic_load(&sh->op_pend),
	     (unsigned long long)atomic_load(&sh->op_queued),
	     (unsigned long long)atomic_load(&sh->op_done),
	     (unsigned long long)atomic_load(&sh->op_failed),
	     (unsigned long long)atomic_load(&sh->op_pkts),
	     (unsigned long long)atomic_load(&sh->op_canceled),
	     (unsigned long long)atomic_load(&sh->op_accepted),
	     (unsigned long long)atomic_load(&sh->op_checked),
	     (unsigned long long)atomic_load(&sh->op_missing_killed),
	     (unsigned long long)atomic_load(&sh->cancel_calls),
	     (unsigned long long)atomic_load(&sh->cancel_found));
	outf("# accounting ports: %llu packets posted, %llu drained at round ends, %llu discarded by shutdowns",
	     (unsigned long long)g_acct_posted, (unsigned long long)g_drained,
	     (unsigned long long)g_acct_discarded);
	outf("# peak_running <= N checked in %llu rounds, skipped in %llu (a DEQUEUE returned ETIMEDOUT/EINTR, a child was killed in a DEQUEUE or SET_CONFIG, N or the flags changed, or blocking awareness was on)",
	     (unsigned long long)g_peak_checked, (unsigned long long)g_peak_skipped);
	outf("# children forked %llu (killed %llu, stopped %llu: %llu DEQUEUEs returned EINTR without a signal handler), signals %llu, waiters woken by SHUTDOWN %llu, EFAULT deliveries %llu, fault injections %llu (%llu injected)",
	     (unsigned long long)atomic_load(&sh->forks), (unsigned long long)atomic_load(&sh->kills),
	     (unsigned long long)atomic_load(&sh->calls[K_STOP]),
	     (unsigned long long)atomic_load(&sh->stop_eintr),
	     (unsigned long long)atomic_load(&sh->sigs),
	     (unsigned long long)atomic_load(&sh->eshut_wakes),
	     (unsigned long long)atomic_load(&sh->putback_total),
	     (unsigned long long)atomic_load(&sh->injections),
	     (unsigned long long)atomic_load(&sh->injected));
	if (atomic_load(&sh->nfail)) {
		outf("# %d failures (seed %" PRIu64 ")", atomic_load(&sh->nfail), g_seed);
		outf("not ok 1 fuzz");
		return 1;
	}
	outf("ok 1 fuzz");
	return 0;
}
