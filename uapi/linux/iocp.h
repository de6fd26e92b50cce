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

/* Bounds on iocp_config.max_ops. */
#define IOCP_DEFAULT_MAX_OPS		65536
#define IOCP_MAX_OPS_LIMIT		0x100000

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
/* The completion of an op submitted with IOCP_IOC_SUBMIT. */
#define IOCP_CF_OP			0x4

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
 * @max_ops:     the most ops in flight at once (submitted, packet not yet
 *               dequeued), up to IOCP_MAX_OPS_LIMIT; 0 sets
 *               IOCP_DEFAULT_MAX_OPS. An op beyond it fails with EAGAIN.
 * @reserved:    must be zero.
 */
struct iocp_config {
	__u32 concurrency;
	__u32 max_queued;
	__u32 flags;
	__u32 max_assoc;
	__u32 max_ops;
	__u32 reserved[3];
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
 * @ops:          ops in flight now: submitted, and their packet not yet
 *                dequeued or discarded.
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
	__u32 ops;
	__u32 reserved;
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
 * @events:   IOCP_POLL* bits; zero asks for no readiness packets (the
 *            association then only gives its key to the ops on the file,
 *            and any file may have one); zero for IOCP_IOC_DISSOCIATE.
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
/*
 * Ops on the file that complete at submit queue no packet: the submitter
 * gets the result (Windows: FILE_SKIP_COMPLETION_PORT_ON_SUCCESS).
 */
#define IOCP_ASSOC_SKIP_ON_SUCCESS	0x2

/* Opcodes of struct iocp_op. */
#define IOCP_OP_NOP			0
#define IOCP_OP_READ			1
#define IOCP_OP_WRITE			2
#define IOCP_OP_READV			3
#define IOCP_OP_WRITEV			4
#define IOCP_OP_RECV			5
#define IOCP_OP_SEND			6
#define IOCP_OP_RECVMSG			7
#define IOCP_OP_SENDMSG			8
#define IOCP_OP_ACCEPT			9
#define IOCP_OP_CONNECT			10
#define IOCP_OP_POLL			11

/* iocp_op.offset: the file position, for files without positioned I/O. */
#define IOCP_OFFSET_CURRENT		(~(__u64)0)

/*
 * One I/O operation for IOCP_IOC_SUBMIT, which the kernel performs in the
 * submitter's address space and completes through the port.
 *
 * @user_data: returned in the op's packet (Windows: the OVERLAPPED).
 * @addr:      READ, WRITE, RECV, SEND: the buffer. READV, WRITEV: an array
 *             of @len struct iovec. RECVMSG, SENDMSG: a struct msghdr.
 *             ACCEPT: a struct sockaddr for the peer's address, or 0.
 *             CONNECT: the struct sockaddr to connect to. Else 0.
 * @addr2:     ACCEPT: a socklen_t, in: the size of @addr, out: the
 *             address's length; 0 if @addr is 0. Else 0.
 * @offset:    READ, WRITE, READV, WRITEV: the file offset, or
 *             IOCP_OFFSET_CURRENT. Else 0.
 * @result:    out, when @status is not IOCP_OP_PENDING: the result.
 * @len:       READ, WRITE, RECV, SEND: bytes. READV, WRITEV: iovecs.
 *             CONNECT: the address length. Else 0.
 * @opcode:    IOCP_OP_*.
 * @fd:        the file (NOP: ignored, must be 0).
 * @flags:     IOCP_OPF_*.
 * @op_flags:  RECV, SEND, RECVMSG, SENDMSG: MSG_* flags. ACCEPT:
 *             SOCK_CLOEXEC and SOCK_NONBLOCK for the new socket. POLL:
 *             IOCP_POLL* events. Else 0.
 * @status:    out: IOCP_OP_*.
 */
struct iocp_op {
	__u64 user_data;
	__u64 addr;
	__u64 addr2;
	__u64 offset;
	__u64 result;
	__u32 len;
	__u32 opcode;
	__u32 fd;
	__u32 flags;
	__u32 op_flags;
	__u32 status;
};

/* No packet when the op completes at submit, as IOCP_ASSOC_SKIP_ON_SUCCESS. */
#define IOCP_OPF_SKIP_ON_SUCCESS	0x1

/* iocp_op.status after IOCP_IOC_SUBMIT. */
/* Not done yet: its packet comes when it is. */
#define IOCP_OP_PENDING			1
/* Done at submit: @result holds the result, and a packet was queued. */
#define IOCP_OP_QUEUED			2
/* Done at submit: @result holds the result; no packet (skip on success). */
#define IOCP_OP_DONE			3
/* Failed at submit: @result holds the negative errno; no packet. */
#define IOCP_OP_FAILED			4

/*
 * IOCP_IOC_SUBMIT: start @count ops, in order.
 *
 * @ops:    pointer to an array of @count struct iocp_op; each op's @status
 *          and @result are written back.
 * @count:  1 to IOCP_MAX_BATCH.
 * @flags:  none are defined yet, must be zero.
 */
struct iocp_submit_args {
	__u64 ops;
	__u32 count;
	__u32 flags;
};

/*
 * IOCP_IOC_CANCEL: cancel ops that have not completed yet. Each completes
 * through the port with result -ECANCELED.
 *
 * @user_data: with IOCP_CANCEL_USER_DATA, the ops' user_data.
 * @fd:        with IOCP_CANCEL_FD, the ops' file.
 * @flags:     IOCP_CANCEL_USER_DATA and/or IOCP_CANCEL_FD (an op must match
 *             both), or IOCP_CANCEL_ALL alone.
 * @count:     out: the number of ops cancelled.
 * @reserved:  must be zero.
 */
struct iocp_cancel_args {
	__u64 user_data;
	__u32 fd;
	__u32 flags;
	__u32 count;
	__u32 reserved;
};

#define IOCP_CANCEL_USER_DATA		0x1
#define IOCP_CANCEL_FD			0x2
#define IOCP_CANCEL_ALL			0x4

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
#define IOCP_IOC_SUBMIT		_IOW(IOCP_IOC_MAGIC, 0x0a, struct iocp_submit_args)
#define IOCP_IOC_CANCEL		_IOWR(IOCP_IOC_MAGIC, 0x0b, struct iocp_cancel_args)

#endif /* _UAPI_LINUX_IOCP_H */
