/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers the selftests share: time, bounded waits for other threads, and
 * the ioctl wrapper. Included after kselftest_harness.h.
 */
#ifndef IOCP_SELFTEST_UTIL_H
#define IOCP_SELFTEST_UTIL_H

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>

#define NSEC_PER_MSEC		1000000ULL
#define NSEC_PER_SEC		1000000000ULL

static inline uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
}

/* ioctl(2) returning -errno on failure. */
static inline int xioctl(int fd, unsigned long cmd, void *arg)
{
	int ret = ioctl(fd, cmd, arg);

	return ret < 0 ? -errno : ret;
}

/* pthread_timedjoin_np with a relative bound: 0 joined, ETIMEDOUT not. */
static inline int join_ms(pthread_t t, unsigned int ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	return pthread_timedjoin_np(t, NULL, &ts);
}

/* Poll an int written by another thread until it equals @want. */
static inline bool wait_int(const int *p, int want, unsigned int ms)
{
	uint64_t deadline = now_ns() + ms * NSEC_PER_MSEC;

	do {
		if (__atomic_load_n(p, __ATOMIC_SEQ_CST) == want)
			return true;
		usleep(1000);
	} while (now_ns() < deadline);
	return __atomic_load_n(p, __ATOMIC_SEQ_CST) == want;
}

#endif /* IOCP_SELFTEST_UTIL_H */
