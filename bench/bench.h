/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the parts of iocp_bench share: the clock, output lines, the
 * measurement settings and the latency histogram. iocp_bench.c holds
 * main() and W1-W4; echo.c holds W5 (TCP echo); scale.c the scale
 * workload (cost per readiness event against the number of files).
 */
#ifndef IOCP_BENCH_H
#define IOCP_BENCH_H

#include <stdbool.h>
#include <stdint.h>

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

/* Settings (-r, -t): rounds, and the length of a measurement and its warmup. */
extern int rounds;
extern uint64_t measure_ns;
extern uint64_t warmup_ns;

void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
uint64_t now_ns(void);
void sleep_ns(uint64_t ns);

/* Is the backend called @name selected (-b), and usable here? */
bool backend_selected(const char *name);

/* Is this configuration selected (-c)? Prints a progress line if it is. */
bool selected(const char *wl, const char *cfg);

/* One measurement: "R,<wl>,<cfg>,<be>,<round>,<fmt...>". */
void result(const char *wl, const char *cfg, const char *be, int round,
	    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Log-linear histogram: 64 sub-buckets per power of two, about 1.5%. */
#define HIST_SUB	64
#define HIST_BUCKETS	(HIST_SUB + 40 * HIST_SUB)

struct hist {
	uint64_t n;
	uint32_t b[HIST_BUCKETS];
};

void hist_add(struct hist *h, uint64_t v);
void hist_merge(struct hist *to, const struct hist *from);
double hist_q(const struct hist *h, double q);

/* Raise RLIMIT_NOFILE to at least @n descriptors; false (said) if it cannot. */
bool want_fds(unsigned long n);

void w5(void);		/* echo.c */
void scale(void);	/* scale.c */

#endif
