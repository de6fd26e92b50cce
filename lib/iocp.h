/* SPDX-License-Identifier: LGPL-2.1-or-later OR MIT */
/*
 * libiocp: a thin C library over the /dev/iocp ioctls.
 *
 * Return convention (as liburing): every function returns a non-negative
 * value on success and a negative errno value on failure. errno is not
 * used, so the calls are safe to use from any thread without saving it.
 */
#ifndef LIBIOCP_H
#define LIBIOCP_H

#include <stdint.h>
#include <linux/iocp.h>

#ifdef __cplusplus
extern "C" {
#endif

#define IOCP_DEVICE_PATH "/dev/iocp"

/* Open a new port with concurrency value @concurrency (0: online CPUs). */
int iocp_create(unsigned int concurrency);

/* Shut the port down (waking every waiter with -ESHUTDOWN), then close it. */
int iocp_close(int port);

/* Shut the port down without closing the file descriptor. */
int iocp_shutdown(int port);

int iocp_get_config(int port, struct iocp_config *config);
int iocp_set_config(int port, const struct iocp_config *config);

/* Read-modify-write of the concurrency value alone. */
int iocp_set_concurrency(int port, unsigned int concurrency);

/* Queue one packet. */
int iocp_post(int port, uint64_t key, uint64_t user_data, int64_t result);

/* Queue @count packets, all or none. Their flags and events must be zero. */
int iocp_post_many(int port, const struct iocp_completion *entries,
		   unsigned int count);

/*
 * Dequeue one packet, waiting up to @timeout_ns nanoseconds (0 polls,
 * IOCP_INFINITE waits for ever). Returns 1, or -ETIMEDOUT, -EINTR,
 * -ESHUTDOWN, ...
 */
int iocp_get(int port, struct iocp_completion *entry, uint64_t timeout_ns);

/*
 * Dequeue between @min and @max packets at once. Returns how many were
 * written to @entries, or a negative errno with nothing removed.
 */
int iocp_get_many(int port, struct iocp_completion *entries, unsigned int min,
		  unsigned int max, uint64_t timeout_ns);

/*
 * The calling thread stops being associated with the port (it no longer
 * counts as running there). -ENOENT if it was not associated with it.
 */
int iocp_disassociate(int port);

/* The number of packets queued now (nothing is removed). */
int iocp_depth(int port);

int iocp_get_stats(int port, struct iocp_stats *stats);

/* The result field of a completion, as the signed value it carries. */
static inline int64_t iocp_result(const struct iocp_completion *entry)
{
	return (int64_t)entry->result;
}

#ifdef __cplusplus
}
#endif

#endif /* LIBIOCP_H */
