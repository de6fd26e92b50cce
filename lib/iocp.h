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

/*
 * Associate the open file behind @fd with the port. Each time the file
 * signals readiness for one of @events (IOCP_POLL* bits, at least one;
 * IOCP_POLLERR and IOCP_POLLHUP are reported whether asked for or not), a
 * readiness packet is queued: key @key, flags IOCP_CF_READINESS, events
 * what fired, user_data and result 0. If the file is ready already, a
 * packet is queued at once. @flags: 0 for a persistent, edge-triggered
 * association, or IOCP_ASSOC_ONESHOT for one packet, then nothing until
 * iocp_modify() re-arms it. Keys are the caller's: a pointer goes in as
 * (uint64_t)(uintptr_t)ptr.
 *
 * The association holds a reference to the file: close(@fd) does not end
 * it. End it with iocp_dissociate() or iocp_close_fd(); shutting the port
 * down or closing it ends every association. -EEXIST if the file is
 * already associated with a port, -EPERM if it cannot be polled, -ELOOP
 * if it is this port or would make a loop or too deep a chain of ports,
 * -ENOSPC at the port's max_assoc, -ESHUTDOWN, -EBADF, -EINVAL, -ENOMEM.
 */
int iocp_associate(int port, int fd, uint64_t key, uint32_t events,
		   uint32_t flags);

/*
 * Replace the key, events and flags of the association of @fd with the
 * port, and re-arm it: its queued packet, if any, is dropped, and a packet
 * with the new key is queued at once if the file is ready. Once it
 * returns, no dequeue returns the old key. -ENOENT if @fd is not
 * associated with this port.
 */
int iocp_modify(int port, int fd, uint64_t key, uint32_t events,
		uint32_t flags);

/*
 * End the association of @fd with the port: its queued packet is dropped,
 * the file reference released; once it returns, no dequeue returns its
 * key. -ENOENT if @fd is not associated with this port (also after a
 * shutdown, which ended every association). Not to be confused with
 * iocp_disassociate(), which is about the calling thread.
 */
int iocp_dissociate(int port, int fd);

/*
 * iocp_dissociate() (-ENOENT is not an error), then close(@fd): the way to
 * close a file that may be associated with the port. @fd is closed in
 * every case; the first error is returned.
 */
int iocp_close_fd(int port, int fd);

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
