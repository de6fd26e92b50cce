/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * iocp - differences between the supported kernels, in one place.
 */
#ifndef _IOCP_COMPAT_H
#define _IOCP_COMPAT_H

#include <linux/fs.h>
#include <linux/irq_work.h>
#include <linux/list.h>
#include <linux/preempt.h>
#include <linux/sched.h>
#include <linux/time64.h>
#include <linux/uio.h>

/*
 * Blocking awareness and prompt exit tracking need preempt notifiers
 * (CONFIG_PREEMPT_NOTIFIERS, which KVM selects). Without them Kbuild builds
 * sched_none.c instead of sched.c and defines IOCP_NO_NOTIFIERS: no
 * blocking awareness, and exits are found by polling.
 */
#ifdef IOCP_NO_NOTIFIERS
#define IOCP_SCHED_BLOCKING	false
/* How often a waiter that cannot be released looks for exited threads. */
#define IOCP_SCHED_POLL_NS	(100 * NSEC_PER_MSEC)

struct iocp_sched_hook {
	struct hlist_node hash;
};
#else
#define IOCP_SCHED_BLOCKING	true
#define IOCP_SCHED_POLL_NS	0

struct iocp_sched_hook {
	struct preempt_notifier pn;
	struct irq_work work;
	bool dead;
	unsigned long gone;
};
#endif

/*
 * Whether a task that is being switched out blocked, as opposed to being
 * preempted. 6.12's EEVDF may leave a blocked task queued with
 * se.sched_delayed set, which task_is_runnable() (new in 6.12) accounts
 * for. Kbuild defines IOCP_HAVE_TASK_IS_RUNNABLE from the kernel's headers.
 */
#ifdef IOCP_HAVE_TASK_IS_RUNNABLE
static inline bool iocp_task_blocked(struct task_struct *p)
{
	return !task_is_runnable(p);
}
#else
static inline bool iocp_task_blocked(struct task_struct *p)
{
	return !READ_ONCE(p->on_rq);
}
#endif

/*
 * vfs_iocb_iter_write() takes the superblock's write access itself since
 * the kernel that added file_write_not_started() (6.7); before, its
 * callers did. Kbuild defines IOCP_HAVE_WRITE_STARTED from the headers.
 */
#ifdef IOCP_HAVE_WRITE_STARTED
static inline ssize_t iocp_iocb_iter_write(struct file *file,
					   struct kiocb *kiocb,
					   struct iov_iter *iter)
{
	return vfs_iocb_iter_write(file, kiocb, iter);
}
#else
static inline ssize_t iocp_iocb_iter_write(struct file *file,
					   struct kiocb *kiocb,
					   struct iov_iter *iter)
{
	ssize_t ret;

	file_start_write(file);
	ret = vfs_iocb_iter_write(file, kiocb, iter);
	file_end_write(file);
	return ret;
}
#endif

#endif /* _IOCP_COMPAT_H */
