// SPDX-License-Identifier: GPL-2.0-only
/*
 * iocp - what the scheduler says about associated threads, through preempt
 * notifiers.
 *
 * A thread registers a notifier on itself on its first dequeue. A
 * switch-out of a thread that is no longer runnable is a block, one of a
 * runnable thread a preemption; a switch-in after a block means it runs
 * again; the final switch-out has state TASK_DEAD. The notifiers run with
 * the runqueue lock held and interrupts off, so they only record what
 * happened and queue an irq_work, which applies it under the port's lock
 * (thread.c) and may release a waiter there.
 *
 * A registered notifier points into this module, so each iocp_thread holds
 * a module reference until the thread exits or unregisters itself.
 */

#include <linux/bitops.h>
#include <linux/module.h>
#include <linux/rcupdate.h>
#include <linux/sched.h>
#include <linux/slab.h>

#include "iocp.h"

static struct preempt_ops iocp_preempt_ops;

static struct iocp_thread *hook_to_thread(struct iocp_sched_hook *hook)
{
	return container_of(hook, struct iocp_thread, hook);
}

/*
 * Hard-interrupt context. More than one instance may run at once (queued
 * again from another CPU while one runs); each applies the latest state,
 * and only one retires a dead thread.
 */
static void iocp_sched_work(struct irq_work *work)
{
	struct iocp_thread *t = hook_to_thread(container_of(work,
					struct iocp_sched_hook, work));

	if (!READ_ONCE(t->hook.dead)) {
		iocp_thread_apply(t);
		return;
	}
	if (test_and_set_bit(0, &t->hook.gone))
		return;
	iocp_thread_retire(t);
	/*
	 * The grace period covers the irq_work core, which touches @work after
	 * we return, any other instance still running, and the module text we
	 * run in: unloading a module waits for a grace period before freeing.
	 */
	kfree_rcu(t, rcu);
	module_put(THIS_MODULE);
}

static void iocp_sched_in(struct preempt_notifier *pn, int cpu)
{
	struct iocp_thread *t = hook_to_thread(container_of(pn,
					struct iocp_sched_hook, pn));

	if (READ_ONCE(t->sched_blocked)) {
		WRITE_ONCE(t->sched_blocked, false);
		irq_work_queue(&t->hook.work);
	}
}

/* Runqueue lock held, interrupts off: no wakeups, no port lock here. */
static void iocp_sched_out(struct preempt_notifier *pn,
			   struct task_struct *next)
{
	struct iocp_thread *t = hook_to_thread(container_of(pn,
					struct iocp_sched_hook, pn));
	enum iocp_thread_state state;

	if (READ_ONCE(t->task->__state) == TASK_DEAD) {
		WRITE_ONCE(t->hook.dead, true);
		irq_work_queue(&t->hook.work);
		return;
	}
	/*
	 * Sleeping inside a dequeue is not blocking: the thread does not count
	 * then. A release may turn WAITING into RELEASED under us, but only the
	 * thread itself makes it RUNNING, so this test is exact.
	 */
	state = READ_ONCE(t->state);
	if ((state == IOCP_THREAD_RUNNING || state == IOCP_THREAD_BLOCKED) &&
	    iocp_task_blocked(t->task)) {
		WRITE_ONCE(t->sched_blocked, true);
		irq_work_queue(&t->hook.work);
	}
}

static struct preempt_ops iocp_preempt_ops = {
	.sched_in = iocp_sched_in,
	.sched_out = iocp_sched_out,
};

/* Only the current thread changes its notifier list, so no lock is needed. */
struct iocp_thread *iocp_sched_find(void)
{
	struct preempt_notifier *pn;

	hlist_for_each_entry(pn, &current->preempt_notifiers, link) {
		if (pn->ops == &iocp_preempt_ops)
			return hook_to_thread(container_of(pn,
					struct iocp_sched_hook, pn));
	}
	return NULL;
}

struct iocp_thread *iocp_sched_attach(void)
{
	struct iocp_thread *t;

	t = kzalloc(sizeof(*t), GFP_KERNEL_ACCOUNT);
	if (!t)
		return ERR_PTR(-ENOMEM);
	t->task = current;
	INIT_LIST_HEAD(&t->node);
	t->state = IOCP_THREAD_WAITING;
	t->hook.work = IRQ_WORK_INIT_HARD(iocp_sched_work);
	preempt_notifier_init(&t->hook.pn, &iocp_preempt_ops);

	__module_get(THIS_MODULE);
	preempt_disable();
	preempt_notifier_register(&t->hook.pn);
	preempt_enable();
	return t;
}

void iocp_sched_detach(struct iocp_thread *t)
{
	preempt_disable();
	preempt_notifier_unregister(&t->hook.pn);
	preempt_enable();
	/* Its work may still be queued from an earlier switch. */
	irq_work_sync(&t->hook.work);
	kfree(t);
	module_put(THIS_MODULE);
}

/* Exits are seen as they happen. */
bool iocp_sched_reap(struct iocp_port *port)
{
	return false;
}

int iocp_sched_init(void)
{
	preempt_notifier_inc();
	return 0;
}

void iocp_sched_exit(void)
{
	/* Every iocp_thread holds a module reference: none is left. */
	preempt_notifier_dec();
}
