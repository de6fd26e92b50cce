// SPDX-License-Identifier: GPL-2.0-only
/*
 * iocp - associated threads on kernels without preempt notifiers.
 *
 * Without notifiers nothing tells the module that a thread blocked or
 * exited. Blocking awareness is off (IOCP_STATS_BLOCKING_AWARE is never
 * reported). A thread's state is found in a hash table keyed by its task,
 * which it pins. A thread that exited while it counted as running is found
 * by looking: whenever threads run at the limit while packets and waiters
 * wait (iocp_sched_reap()), which waiters that cannot be released redo
 * every IOCP_SCHED_POLL_NS.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/hashtable.h>
#include <linux/rcupdate.h>
#include <linux/sched.h>
#include <linux/sched/task.h>
#include <linux/slab.h>
#include <linux/spinlock.h>

#include "iocp.h"

/* Taken inside port->lock, so always with interrupts disabled. */
static DEFINE_SPINLOCK(iocp_threads_lock);
static DEFINE_HASHTABLE(iocp_threads, 8);	/* under iocp_threads_lock */

static void iocp_sched_free_rcu(struct rcu_head *rcu)
{
	struct iocp_thread *t = container_of(rcu, struct iocp_thread, rcu);

	put_task_struct(t->task);
	kfree(t);
}

/*
 * Take @t out of the table and free it after a grace period. Both a port's
 * reaping and iocp_sched_attach()'s sweep may find the same exited thread:
 * the first one to take it out frees it.
 */
static void iocp_sched_forget_locked(struct iocp_thread *t)
{
	lockdep_assert_held(&iocp_threads_lock);

	if (hlist_unhashed(&t->hook.hash))
		return;
	hash_del_rcu(&t->hook.hash);
	/* The last task reference may go: not with interrupts off. */
	call_rcu(&t->rcu, iocp_sched_free_rcu);
}

static void iocp_sched_forget(struct iocp_thread *t)
{
	unsigned long flags;

	spin_lock_irqsave(&iocp_threads_lock, flags);
	iocp_sched_forget_locked(t);
	spin_unlock_irqrestore(&iocp_threads_lock, flags);
}

static bool iocp_sched_exited(const struct iocp_thread *t)
{
	return READ_ONCE(t->task->flags) & PF_EXITING;
}

struct iocp_thread *iocp_sched_find(void)
{
	struct iocp_thread *t, *found = NULL;

	/* Only the thread itself frees its entry while it lives. */
	rcu_read_lock();
	hash_for_each_possible_rcu(iocp_threads, t, hook.hash,
				   (unsigned long)current) {
		if (t->task == current) {
			found = t;
			break;
		}
	}
	rcu_read_unlock();
	return found;
}

struct iocp_thread *iocp_sched_attach(void)
{
	struct iocp_thread *t, *old;
	struct hlist_node *tmp;
	int bkt;

	t = kzalloc(sizeof(*t), GFP_KERNEL_ACCOUNT);
	if (!t)
		return ERR_PTR(-ENOMEM);
	t->task = get_task_struct(current);
	INIT_LIST_HEAD(&t->node);
	t->state = IOCP_THREAD_WAITING;

	spin_lock_irq(&iocp_threads_lock);
	/*
	 * Threads that exited after their port went away are on no port to
	 * be reaped from: drop them here, so the table stays as large as the
	 * number of live threads that used a port.
	 */
	hash_for_each_safe(iocp_threads, bkt, tmp, old, hook.hash) {
		if (iocp_sched_exited(old) && !rcu_access_pointer(old->port))
			iocp_sched_forget_locked(old);
	}
	hash_add_rcu(iocp_threads, &t->hook.hash, (unsigned long)current);
	spin_unlock_irq(&iocp_threads_lock);
	return t;
}

void iocp_sched_detach(struct iocp_thread *t)
{
	iocp_sched_forget(t);
}

/* Drop the port's threads that exited; true if any did. */
bool iocp_sched_reap(struct iocp_port *port)
{
	struct iocp_thread *t, *tmp;
	bool reaped = false;

	lockdep_assert_held(&port->lock);

	list_for_each_entry_safe(t, tmp, &port->threads, node) {
		if (!iocp_sched_exited(t))
			continue;
		iocp_thread_unlink(port, t);
		iocp_sched_forget(t);
		reaped = true;
	}
	return reaped;
}

int iocp_sched_init(void)
{
	pr_info("no preempt notifiers in this kernel: blocking awareness off, thread exits polled\n");
	return 0;
}

void iocp_sched_exit(void)
{
	struct iocp_thread *t;
	struct hlist_node *tmp;
	int bkt;

	/* No port is left, so no entry is on a port. */
	spin_lock_irq(&iocp_threads_lock);
	hash_for_each_safe(iocp_threads, bkt, tmp, t, hook.hash)
		iocp_sched_forget_locked(t);
	spin_unlock_irq(&iocp_threads_lock);
	rcu_barrier();
}
