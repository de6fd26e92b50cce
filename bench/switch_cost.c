// SPDX-License-Identifier: GPL-2.0
/*
 * switch_cost: what blocking awareness adds to the context switches of a
 * thread associated with a completion port.
 *
 * Two threads ping-pong one byte through two pipes for a fixed number of
 * round trips, in three variants:
 *
 *   plain     neither thread is associated with a port;
 *   aware     both are associated with one port (each posted a packet and
 *             took it with a DEQUEUE of timeout 0, so both count as
 *             running; concurrency 1024, so no release ever happens): every
 *             block and every wake goes through the module's preempt
 *             notifiers and their irq_work;
 *   ignore    the same, on a port with IOCP_CONFIG_IGNORE_BLOCKING.
 *
 * The variants are interleaved over several rounds (the starting variant
 * rotates), with fresh threads and a fresh port for every run. Printed:
 * the median, min and max ns per round trip of each, the context switches
 * per round trip (from getrusage of both threads), and for the associated
 * variants the difference to "plain" (of the medians, and the median of
 * the differences within each round), per round trip and per context
 * switch, and the ratio (of the medians, and of the minima).
 *
 * Two placements: "same" pins both threads to one CPU (every hand-off is a
 * direct switch from one thread to the other); "cross" pins them to two
 * CPUs (every hand-off is a remote wakeup, and each CPU idles in between).
 *
 * Usage: switch_cost [round_trips [rounds [same|cross|both]]]
 *        (defaults 20000, 7, both)
 *
 * Build: gcc -O2 -static -I uapi -I lib bench/switch_cost.c \
 *            build/lib/libiocp.a -lpthread
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/resource.h>

#include <linux/iocp.h>
#include "iocp.h"

enum { PLAIN, AWARE, IGNORE, NVARIANTS };

static const char *const variant_names[NVARIANTS] = {
	"plain", "aware", "ignore",
};

#define MAX_ROUNDS 64

struct run {
	int variant;
	int port;		/* -1 for PLAIN */
	int cpu[2];
	long trips;
	int ping[2], pong[2];
	pthread_barrier_t start, end;
	/* Results. */
	uint64_t ns;
	long switches[2];	/* voluntary + involuntary, per thread */
	int err;
	struct iocp_stats stats;	/* seen by thread 0 after the loop */
};

struct side {
	struct run *r;
	int idx;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set))
		perror("sched_setaffinity");
}

static long switches_now(void)
{
	struct rusage ru;

	getrusage(RUSAGE_THREAD, &ru);
	return ru.ru_nvcsw + ru.ru_nivcsw;
}

static void *side_fn(void *arg)
{
	struct side *sd = arg;
	struct run *r = sd->r;
	struct iocp_completion e;
	uint64_t t0 = 0;
	long i, sw0;
	char c = 'x';
	int ret;

	pin(r->cpu[sd->idx]);
	if (r->port >= 0) {
		/* Associate: take a packet of our own; we count as running. */
		ret = iocp_post(r->port, 1, sd->idx, 0);
		if (!ret)
			ret = iocp_get(r->port, &e, 0);
		if (ret != 1) {
			fprintf(stderr, "associating: %s\n", strerror(-ret));
			r->err = 1;
		}
	}
	pthread_barrier_wait(&r->start);
	sw0 = switches_now();
	if (sd->idx == 0) {
		t0 = now_ns();
		for (i = 0; i < r->trips; i++) {
			if (write(r->ping[1], &c, 1) != 1 ||
			    read(r->pong[0], &c, 1) != 1) {
				r->err = 1;
				break;
			}
		}
		r->ns = now_ns() - t0;
	} else {
		for (i = 0; i < r->trips; i++) {
			if (read(r->ping[0], &c, 1) != 1 ||
			    write(r->pong[1], &c, 1) != 1) {
				r->err = 1;
				break;
			}
		}
	}
	r->switches[sd->idx] = switches_now() - sw0;
	pthread_barrier_wait(&r->end);
	/* Both are still associated here. */
	if (sd->idx == 0 && r->port >= 0 && iocp_get_stats(r->port, &r->stats))
		r->err = 1;
	pthread_barrier_wait(&r->start);
	return NULL;
}

/* One run of @variant; returns ns per round trip, or 0 on error. */
static double one_run(int variant, const int cpu[2], long trips,
		      double *switches_per_trip)
{
	struct side sides[2];
	pthread_t th[2];
	struct iocp_config cfg;
	struct run r;
	int i;

	memset(&r, 0, sizeof(r));
	r.variant = variant;
	r.port = -1;
	r.cpu[0] = cpu[0];
	r.cpu[1] = cpu[1];
	r.trips = trips;
	if (pipe(r.ping) || pipe(r.pong)) {
		perror("pipe");
		exit(1);
	}
	if (variant != PLAIN) {
		r.port = iocp_create(1024);
		if (r.port < 0) {
			fprintf(stderr, "iocp_create: %s\n", strerror(-r.port));
			exit(1);
		}
		if (variant == IGNORE) {
			if (iocp_get_config(r.port, &cfg))
				exit(1);
			cfg.flags |= IOCP_CONFIG_IGNORE_BLOCKING;
			if (iocp_set_config(r.port, &cfg)) {
				fprintf(stderr, "IOCP_CONFIG_IGNORE_BLOCKING refused\n");
				exit(1);
			}
		}
	}
	pthread_barrier_init(&r.start, NULL, 2);
	pthread_barrier_init(&r.end, NULL, 2);
	for (i = 0; i < 2; i++) {
		sides[i].r = &r;
		sides[i].idx = i;
		if (pthread_create(&th[i], NULL, side_fn, &sides[i])) {
			perror("pthread_create");
			exit(1);
		}
	}
	for (i = 0; i < 2; i++)
		pthread_join(th[i], NULL);

	if (!r.err && r.port >= 0) {
		bool aware = r.stats.flags & IOCP_STATS_BLOCKING_AWARE;

		if (r.stats.threads != 2 || aware != (variant == AWARE)) {
			fprintf(stderr, "%s: port has %u threads, flags %#x\n",
				variant_names[variant], r.stats.threads,
				r.stats.flags);
			r.err = 1;
		}
	}
	if (r.port >= 0)
		iocp_close(r.port);
	close(r.ping[0]);
	close(r.ping[1]);
	close(r.pong[0]);
	close(r.pong[1]);
	pthread_barrier_destroy(&r.start);
	pthread_barrier_destroy(&r.end);
	if (r.err) {
		fprintf(stderr, "%s: run failed\n", variant_names[variant]);
		exit(1);
	}
	*switches_per_trip = (double)(r.switches[0] + r.switches[1]) / trips;
	return (double)r.ns / trips;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(const double *v, int n)
{
	double s[MAX_ROUNDS];

	memcpy(s, v, n * sizeof(*v));
	qsort(s, n, sizeof(*s), cmp_double);
	return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

static double min_of(const double *v, int n)
{
	double m = v[0];
	int i;

	for (i = 1; i < n; i++)
		if (v[i] < m)
			m = v[i];
	return m;
}

static double max_of(const double *v, int n)
{
	double m = v[0];
	int i;

	for (i = 1; i < n; i++)
		if (v[i] > m)
			m = v[i];
	return m;
}

static void measure(const char *placement, const int cpu[2], long trips,
		    int rounds)
{
	double ns[NVARIANTS][MAX_ROUNDS], sw[NVARIANTS][MAX_ROUNDS];
	double med[NVARIANTS], swmed[NVARIANTS];
	int round, k, v;

	/* One unmeasured run of each, to warm up. */
	for (v = 0; v < NVARIANTS; v++)
		one_run(v, cpu, trips / 10 + 1, &sw[v][0]);
	for (round = 0; round < rounds; round++)
		for (k = 0; k < NVARIANTS; k++) {
			v = (round + k) % NVARIANTS;
			ns[v][round] = one_run(v, cpu, trips, &sw[v][round]);
		}

	printf("# placement %s (CPUs %d and %d), %ld round trips x %d rounds\n",
	       placement, cpu[0], cpu[1], trips, rounds);
	printf("# %-7s %12s %12s %12s %14s\n", "variant", "median ns/rt",
	       "min", "max", "switches/rt");
	for (v = 0; v < NVARIANTS; v++) {
		med[v] = median(ns[v], rounds);
		swmed[v] = median(sw[v], rounds);
		printf("  %-7s %12.0f %12.0f %12.0f %14.2f\n", variant_names[v],
		       med[v], min_of(ns[v], rounds), max_of(ns[v], rounds),
		       swmed[v]);
	}
	for (v = AWARE; v < NVARIANTS; v++) {
		double diff[MAX_ROUNDS], pd;

		/* Paired within each round: robust to a drifting host load. */
		for (round = 0; round < rounds; round++)
			diff[round] = ns[v][round] - ns[PLAIN][round];
		pd = median(diff, rounds);
		printf("  %s - plain: %+.0f ns per round trip (median of per-round differences %+.0f), %+.0f ns per context switch, ratio %.3f (of the minima %.3f)\n",
		       variant_names[v], med[v] - med[PLAIN], pd,
		       swmed[PLAIN] > 0 ? (med[v] - med[PLAIN]) / swmed[PLAIN] : 0.0,
		       med[v] / med[PLAIN],
		       min_of(ns[v], rounds) / min_of(ns[PLAIN], rounds));
	}
	fflush(stdout);
}

int main(int argc, char **argv)
{
	long trips = argc > 1 ? atol(argv[1]) : 20000;
	int rounds = argc > 2 ? atoi(argv[2]) : 7;
	const char *mode = argc > 3 ? argv[3] : "both";
	int same[2] = { 0, 0 }, cross[2] = { 0, 1 };
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	int probe;

	if (trips < 1 || rounds < 1 || rounds > MAX_ROUNDS) {
		fprintf(stderr, "usage: %s [round_trips [rounds (1-%d) [same|cross|both]]]\n",
			argv[0], MAX_ROUNDS);
		return 2;
	}
	probe = iocp_create(1);
	if (probe < 0) {
		fprintf(stderr, "%s: %s\n", IOCP_DEVICE_PATH, strerror(-probe));
		return 1;
	}
	{
		struct iocp_stats s;

		if (iocp_get_stats(probe, &s) ||
		    !(s.flags & IOCP_STATS_BLOCKING_AWARE)) {
			fprintf(stderr, "the module has no blocking awareness\n");
			return 1;
		}
	}
	iocp_close(probe);

	printf("# switch_cost: %ld online CPUs\n", ncpu);
	if (strcmp(mode, "cross"))
		measure("same", same, trips, rounds);
	if (strcmp(mode, "same")) {
		if (ncpu < 2)
			printf("# placement cross skipped: one CPU\n");
		else
			measure("cross", cross, trips, rounds);
	}
	return 0;
}
