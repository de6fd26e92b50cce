/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * I/O completion ports: userspace ABI of /dev/iocp.
 *
 * Opening /dev/iocp creates a port. A port is a FIFO queue of completion
 * packets served by a LIFO stack of waiting threads; at most "concurrency"
 * associated threads are released to run at once. See
 * Documentation/userspace-api/iocp.rst.
 *
 * Every structure uses only __u32 and __u64, 64-bit fields first, pointers
 * carried as __u64. Reserved fields and unknown flags must be zero.
 */
#ifndef _UAPI_LINUX_IOCP_H
#define _UAPI_LINUX_IOCP_H

#include <linux/types.h>
#include <linux/ioctl.h>

/* Misc device minor, for autoloading through "char-major-10-245". */
#define IOCP_MINOR			245

/* Timeout value that never expires. */
#define IOCP_INFINITE			(~(__u64)0)

/* Largest number of entries one POST or DEQUEUE call may carry. */
#define IOCP_MAX_BATCH			1024

/* Bounds on iocp_config.max_queued. */
#define IOCP_DEFAULT_MAX_QUEUED		65536
#define IOCP_MAX_QUEUED_LIMIT		0x100000

/* Bounds on iocp_config.max_assoc. */
#define IOCP_DEFAULT_MAX_ASSOC		65536
#define IOCP_MAX_ASSOC_LIMIT		0x100000

/*
 * The most ports in a chain of ports associated with one another: a port
 * whose file is associated with a port whose file is associated with ...
 */
#define IOCP_MAX_NEST			4

/*
 * A completion packet, as posted and as dequeued.
 *
 * @key:       the association's key, or the poster's key.
 * @user_data: opaque value of the submitter (Windows: the OVERLAPPED).
 * @result:    a signed 64-bit value carried as __u64: bytes transferred or a
 *             negative errno for I/O; any value for posted packets.
 * @flags:     IOCP_CF_*; set by the kernel, must be zero when posting.
 * @events:    poll events of a readiness packet; zero otherwise, and must be
 *             zero when posting.
 */
struct iocp_completion {
	__u64 key;
	__u64 user_data;
	__u64 result;
	__u32 flags;
	__u32 events;
};

/* The packet was queued by IOCP_IOC_POST. */
#define IOCP_CF_POSTED			0x1
/* A readiness packet of an associated file: @events says what fired. */
#define IOCP_CF_READINESS		0x2

/*
 * Port configuration, read with IOCP_IOC_GET_CONFIG and written whole with
 * IOCP_IOC_SET_CONFIG.
 *
 * @concurrency: the most associated threads released to run at once;
 *               0 means the number of online CPUs, evaluated at each release.
 * @max_queued:  the most posted packets queued at once, 1 to
 *               IOCP_MAX_QUEUED_LIMIT; a post beyond it fails with EAGAIN.
 * @flags:       IOCP_CONFIG_*; unknown flags are rejected.
 * @max_assoc:   the most files associated at once, up to
 *               IOCP_MAX_ASSOC_LIMIT; 0 sets IOCP_DEFAULT_MAX_ASSOC. An
 *               association beyond it fails with ENOSPC.
 * @reserved:    must be zero.
 */
struct iocp_config {
	__u32 concurrency;
	__u32 max_queued;
	__u32 flags;
	__u32 max_assoc;
	__u32 reserved[4];
};

/*
 * A thread that blocks outside IOCP_IOC_DEQUEUE keeps counting as running,
 * so no other thread is released in its place (blocking awareness off).
 */
#define IOCP_CONFIG_IGNORE_BLOCKING	0x1

/*
 * IOCP_IOC_POST: queue @count packets, all or none.
 *
 * @entries: pointer to an array of @count struct iocp_completion.
 * @count:   1 to IOCP_MAX_BATCH.
 * @flags:   none are defined yet, must be zero.
 */
struct iocp_post_args {
	__u64 entries;
	__u32 count;
	__u32 flags;
};

/*
 * IOCP_IOC_DEQUEUE: wait for and remove between @min and @max packets.
 *
 * @entries:    pointer to an array of @max struct iocp_completion.
 * @timeout_ns: relative timeout in nanoseconds on CLOCK_MONOTONIC; 0 polls,
 *              IOCP_INFINITE waits for ever.
 * @max:        0 to IOCP_MAX_BATCH; 0 removes nothing and reports the queue
 *              depth in @count.
 * @min:        the fewest packets to take at once, 0 (meaning 1) to @max.
 * @flags:      none are defined yet, must be zero.
 * @count:      out: the number of entries written (or the depth if @max is 0).
 */
struct iocp_dequeue_args {
	__u64 entries;
	__u64 timeout_ns;
	__u32 max;
	__u32 min;
	__u32 flags;
	__u32 count;
};

/*
 * IOCP_IOC_GET_STATS: a snapshot of the port, taken under its lock.
 *
 * @posted:       packets ever queued by IOCP_IOC_POST.
 * @dequeued:     packets ever delivered by IOCP_IOC_DEQUEUE.
 * @discarded:    packets dropped because the port was shut down.
 * @queued:       packets queued now.
 * @running:      associated threads counted as running now.
 * @waiting:      threads waiting in IOCP_IOC_DEQUEUE now.
 * @threads:      threads associated with the port now.
 * @high_water:   the most packets ever queued at once.
 * @peak_running: the largest value @running ever had.
 * @concurrency:  the effective concurrency value (0 resolved to the CPU count).
 * @flags:        IOCP_STATS_*.
 * @blocked:      associated threads that blocked elsewhere while running and
 *                have not run again yet; they do not count in @running.
 * @associations: files associated with the port now.
 * @reserved:     zero.
 */
struct iocp_stats {
	__u64 posted;
	__u64 dequeued;
	__u64 discarded;
	__u32 queued;
	__u32 running;
	__u32 waiting;
	__u32 threads;
	__u32 high_water;
	__u32 peak_running;
	__u32 concurrency;
	__u32 flags;
	__u32 blocked;
	__u32 associations;
	__u32 reserved[2];
};

/* The port has been shut down. */
#define IOCP_STATS_SHUTDOWN		0x1
/* Thread exit is tracked: an exiting running thread frees its slot. */
#define IOCP_STATS_EXIT_TRACKING	0x2
/* Blocking awareness is in effect for this port. */
#define IOCP_STATS_BLOCKING_AWARE	0x4

/*
 * Poll events of an association and of its readiness packets; the values
 * are those of POLLIN, POLLPRI, ... IOCP_POLLERR and IOCP_POLLHUP are
 * always reported, whether asked for or not.
 */
#define IOCP_POLLIN			0x0001
#define IOCP_POLLPRI			0x0002
#define IOCP_POLLOUT			0x0004
#define IOCP_POLLERR			0x0008
#define IOCP_POLLHUP			0x0010
#define IOCP_POLLRDHUP			0x2000

/*
 * IOCP_IOC_ASSOCIATE, IOCP_IOC_MODIFY, IOCP_IOC_DISSOCIATE: associate a
 * file with the port, change its association, end it.
 *
 * The association holds a reference to the file: closing @fd does not end
 * it. IOCP_IOC_DISSOCIATE, IOCP_IOC_SHUTDOWN or the release of the port do.
 *
 * @key:      returned in every packet of the association; any value.
 * @fd:       the file, by a descriptor of the caller.
 * @events:   IOCP_POLL* bits, at least one; zero for IOCP_IOC_DISSOCIATE.
 * @flags:    IOCP_ASSOC_*; zero for IOCP_IOC_DISSOCIATE.
 * @reserved: must be zero.
 */
struct iocp_assoc_args {
	__u64 key;
	__u32 fd;
	__u32 events;
	__u32 flags;
	__u32 reserved;
};

/* One packet, then nothing until IOCP_IOC_MODIFY re-arms the association. */
#define IOCP_ASSOC_ONESHOT		0x1

#define IOCP_IOC_MAGIC			0xB9

#define IOCP_IOC_SET_CONFIG	_IOW(IOCP_IOC_MAGIC, 0x00, struct iocp_config)
#define IOCP_IOC_GET_CONFIG	_IOR(IOCP_IOC_MAGIC, 0x01, struct iocp_config)
#define IOCP_IOC_POST		_IOW(IOCP_IOC_MAGIC, 0x02, struct iocp_post_args)
#define IOCP_IOC_DEQUEUE	_IOWR(IOCP_IOC_MAGIC, 0x03, struct iocp_dequeue_args)
#define IOCP_IOC_GET_STATS	_IOR(IOCP_IOC_MAGIC, 0x04, struct iocp_stats)
#define IOCP_IOC_SHUTDOWN	_IO(IOCP_IOC_MAGIC, 0x05)
#define IOCP_IOC_DISASSOCIATE	_IO(IOCP_IOC_MAGIC, 0x06)
#define IOCP_IOC_ASSOCIATE	_IOW(IOCP_IOC_MAGIC, 0x07, struct iocp_assoc_args)
#define IOCP_IOC_MODIFY		_IOW(IOCP_IOC_MAGIC, 0x08, struct iocp_assoc_args)
#define IOCP_IOC_DISSOCIATE	_IOW(IOCP_IOC_MAGIC, 0x09, struct iocp_assoc_args)

#endif /* _UAPI_LINUX_IOCP_H */
