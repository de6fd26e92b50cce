// SPDX-License-Identifier: LGPL-2.1-or-later OR MIT
/*
 * iocp demo: a pool of worker threads serving one completion port.
 *
 * The port has a concurrency value of 2 and six workers wait on it. The
 * port releases at most two of them at a time, the one that waited last
 * first, and a worker that comes back for more takes a queued item without
 * sleeping: the same two workers usually process every item while the
 * other four sleep. iocp_close() then wakes them all with -ESHUTDOWN.
 *
 * Needs /dev/iocp (the iocp module).
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <iocp.h>

#define CONCURRENCY	2
#define WORKERS		6
#define ITEMS		24
#define CLASSES		3
#define WORK_NS		2000000		/* 2 ms of simulated work per item */

static int port;
static atomic_uint done;		/* items processed */
static atomic_uint max_seen;		/* largest running count a worker saw */
static unsigned int items_of[WORKERS];	/* each worker writes its own slot */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

/* Burn CPU rather than sleep: the worker really is running meanwhile. */
static void work(void)
{
	uint64_t end = now_ns() + WORK_NS;

	while (now_ns() < end)
		;
}

static void note_running(unsigned int running)
{
	unsigned int seen = atomic_load(&max_seen);

	while (running > seen &&
	       !atomic_compare_exchange_weak(&max_seen, &seen, running))
		;
}

static void *worker(void *arg)
{
	unsigned int id = (uintptr_t)arg;
	struct iocp_completion c;
	struct iocp_stats stats;
	int ret;

	for (;;) {
		ret = iocp_get(port, &c, IOCP_INFINITE);
		if (ret == -EINTR)
			continue;
		if (ret < 0)
			break;

		/* This thread now counts as running: the count includes it. */
		ret = iocp_get_stats(port, &stats);
		if (ret < 0)
			break;
		note_running(stats.running);
		printf("worker %u got item %llu (key %llu) running=%u\n", id,
		       (unsigned long long)c.user_data,
		       (unsigned long long)c.key, stats.running);

		work();
		items_of[id]++;
		atomic_fetch_add(&done, 1);
	}
	if (ret != -ESHUTDOWN)
		fprintf(stderr, "worker %u: %s\n", id, strerror(-ret));
	return NULL;
}

/*
 * Poll until @items items are processed and at least @waiting workers are
 * blocked in iocp_get(), then leave a snapshot in @stats. Gives up after
 * about 10 s.
 */
static bool wait_until(unsigned int items, unsigned int waiting,
		       struct iocp_stats *stats)
{
	for (int ms = 0; ms < 10000; ms++) {
		if (atomic_load(&done) >= items &&
		    iocp_get_stats(port, stats) == 0 && stats->waiting >= waiting)
			return true;
		usleep(1000);
	}
	return false;
}

int main(void)
{
	pthread_t tid[WORKERS];
	struct iocp_config config;
	struct iocp_stats stats;
	unsigned int i;
	int ret, ok = 1;

	setvbuf(stdout, NULL, _IOLBF, 0);

	port = iocp_create(CONCURRENCY);
	if (port < 0) {
		fprintf(stderr, "iocp_create: %s\n", strerror(-port));
		return 1;
	}
	/*
	 * The workers print as they work. With blocking awareness a worker
	 * that blocks on the console lets another one run, as it should, and
	 * running may then exceed the concurrency value for a moment. The
	 * demo shows the plain limit, so it counts blocked workers as running.
	 */
	ret = iocp_get_config(port, &config);
	if (!ret) {
		config.flags |= IOCP_CONFIG_IGNORE_BLOCKING;
		ret = iocp_set_config(port, &config);
	}
	if (ret) {
		fprintf(stderr, "iocp_set_config: %s\n", strerror(-ret));
		return 1;
	}

	for (i = 0; i < WORKERS; i++)
		pthread_create(&tid[i], NULL, worker, (void *)(uintptr_t)i);

	/* Let every worker block first, so that the port chooses who runs. */
	if (!wait_until(0, WORKERS, &stats))
		fprintf(stderr, "only %u of %u workers waiting\n",
			stats.waiting, WORKERS);

	for (i = 0; i < ITEMS; i++) {
		/* key: the item's class; user_data: the item itself. */
		ret = iocp_post(port, i % CLASSES, i, 0);
		if (ret < 0) {
			fprintf(stderr, "iocp_post: %s\n", strerror(-ret));
			ok = 0;
			break;
		}
	}

	if (!wait_until(i, 0, &stats)) {
		fprintf(stderr, "only %u of %u items processed\n",
			atomic_load(&done), i);
		ok = 0;
	}

	/* Shut down and close: the workers wake with -ESHUTDOWN and return. */
	iocp_close(port);
	for (i = 0; i < WORKERS; i++)
		pthread_join(tid[i], NULL);

	printf("\nsummary: %llu items posted, %llu dequeued, %u workers, concurrency %u\n",
	       (unsigned long long)stats.posted,
	       (unsigned long long)stats.dequeued, WORKERS, stats.concurrency);
	for (i = 0; i < WORKERS; i++)
		printf("  worker %u: %u items\n", i, items_of[i]);
	printf("peak running: %u (stats.peak_running), %u (observed)\n",
	       stats.peak_running, atomic_load(&max_seen));

	if (stats.peak_running > CONCURRENCY ||
	    atomic_load(&max_seen) > CONCURRENCY) {
		printf("FAIL: running exceeded %u\n", CONCURRENCY);
		ok = 0;
	} else {
		printf("running never exceeded %u\n", CONCURRENCY);
	}
	return ok ? 0 : 1;
}
