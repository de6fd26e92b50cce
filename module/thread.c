// SPDX-License-Identifier: GPL-2.0-only
/*
 * iocp - thread association and concurrency tracking.
 *
 * A thread becomes associated with a port on its first dequeue and stays so
 * until it exits, dequeues from another port, or the port is shut down.
 * While associated and outside a dequeue, it counts as running.
 *
 * Exit is seen through a preempt notifier that the thread registers on
 * itself: its final switch-out has state TASK_DEAD. That callback runs with
 * the runqueue lock held and interrupts off, so it only queues an irq_work,
 * which drops the thread from its port and releases a waiter if a slot
 * opened. The iocp_thread and the module reference it holds outlive the
 * port: port shutdown cannot unregister another thread's notifier, it only
 * detaches the thread.
 */

#include <linux/module.h>
#include <linux/rcupdate.h>
#include <linux/sched.h>
#include <linux/slab.h>

#include "iocp.h"

static struct preempt_ops iocp_preempt_ops;

static void iocp_thread_unlink(struct iocp_port *port, struct iocp_thread *t)
{
	lockdep_assert_held(&port->lock);

	if (t->running) {
		t->running = false;
		port->running--;
	}
	list_del_init(&t->node);
	port->nthreads--;
	RCU_INIT_POINTER(t->port, NULL);
}

/*
 * Drop @t from its port, if it has one, and let a waiter take its slot.
 * Called by the thread itself, or for a dead thread. The port cannot be
 * freed under us: ports are freed after a grace period. Its shutdown may
 * detach @t first; then t->port reads NULL once we hold the lock.
 */
static void iocp_thread_detach(struct iocp_thread *t)
{
	struct iocp_port *port;
	unsigned long flags;

	rcu_read_lock();
	while ((port = rcu_dereference(t->port))) {
		spin_lock_irqsave(&port->lock, flags);
		if (rcu_access_pointer(t->port) == port) {
			iocp_thread_unlink(port, t);
			iocp_dispatch(port);
		}
		spin_unlock_irqrestore(&port->lock, flags);
	}
	rcu_read_unlock();
}

/* Hard-interrupt context, after the final switch-out of an exited thread. */
static void iocp_thread_exit_work(struct irq_work *work)
{
	struct iocp_thread *t = container_of(work, struct iocp_thread, exit_work);

	iocp_thread_detach(t);
	/*
	 * The grace period also covers the irq_work core, which touches @work
	 * after we return, and the module text we run in: module unloading
	 * waits for a grace period before freeing it.
	 */
	kfree_rcu(t, rcu);
	module_put(THIS_MODULE);
}

static void iocp_sched_in(struct preempt_notifier *pn, int cpu)
{
}

/* Runqueue lock held, interrupts off: no wakeups, no port lock here. */
static void iocp_sched_out(struct preempt_notifier *pn,
			   struct task_struct *next)
{
	struct iocp_thread *t = container_of(pn, struct iocp_thread, pn);

	if (READ_ONCE(t->task->__state) == TASK_DEAD)
		irq_work_queue(&t->exit_work);
}

static struct preempt_ops iocp_preempt_ops = {
	.sched_in = iocp_sched_in,
	.sched_out = iocp_sched_out,
};

/* Only the current thread changes its notifier list, so no lock is needed. */
static struct iocp_thread *iocp_thread_find(void)
{
	struct preempt_notifier *pn;

	hlist_for_each_entry(pn, &current->preempt_notifiers, link) {
		if (pn->ops == &iocp_preempt_ops)
			return container_of(pn, struct iocp_thread, pn);
	}
	return NULL;
}

/* The calling thread's association state, created on first use. */
struct iocp_thread *iocp_thread_current(void)
{
	struct iocp_thread *t = iocp_thread_find();

	if (t)
		return t;

	t = kzalloc(sizeof(*t), GFP_KERNEL_ACCOUNT);
	if (!t)
		return ERR_PTR(-ENOMEM);
	t->task = current;
	INIT_LIST_HEAD(&t->node);
	t->exit_work = IRQ_WORK_INIT_HARD(iocp_thread_exit_work);
	preempt_notifier_init(&t->pn, &iocp_preempt_ops);

	/* The notifier points into this module until the thread exits. */
	__module_get(THIS_MODULE);
	preempt_disable();
	preempt_notifier_register(&t->pn);
	preempt_enable();
	return t;
}

/*
 * Free the calling thread's state if no port holds it any more (its port
 * was shut down), so that an idle thread does not pin the module.
 */
void iocp_thread_put_current(void)
{
	struct iocp_thread *t = iocp_thread_find();

	if (!t || rcu_access_pointer(t->port))
		return;

	preempt_disable();
	preempt_notifier_unregister(&t->pn);
	preempt_enable();
	/* Off the notifier list and off every port: nothing else can see it. */
	kfree(t);
	module_put(THIS_MODULE);
}

/* A thread that dequeues from @port leaves any other port first. */
void iocp_thread_leave_other(struct iocp_thread *t, struct iocp_port *port)
{
	bool other;

	rcu_read_lock();
	other = rcu_dereference(t->port) && rcu_access_pointer(t->port) != port;
	rcu_read_unlock();
	if (other)
		iocp_thread_detach(t);
}

/*
 * The calling thread enters a dequeue on @port: associate it, or make it
 * stop counting as running if it already was associated.
 */
void iocp_thread_enter(struct iocp_port *port, struct iocp_thread *t)
{
	lockdep_assert_held(&port->lock);

	if (rcu_access_pointer(t->port) == port) {
		if (t->running) {
			t->running = false;
			port->running--;
		}
		return;
	}
	/* iocp_thread_leave_other() ran, and only this thread associates it. */
	WARN_ON_ONCE(rcu_access_pointer(t->port));
	list_add(&t->node, &port->threads);
	port->nthreads++;
	rcu_assign_pointer(t->port, port);
}

/* @t leaves the wait, with or without packets: it runs again. */
void iocp_thread_set_running(struct iocp_port *port, struct iocp_thread *t)
{
	lockdep_assert_held(&port->lock);

	if (rcu_access_pointer(t->port) != port || t->running)
		return;
	t->running = true;
	port->running++;
	if (port->running > port->peak_running)
		port->peak_running = port->running;
}

/* Shutdown: every associated thread is disassociated. */
void iocp_thread_detach_all(struct iocp_port *port)
{
	struct iocp_thread *t, *tmp;

	lockdep_assert_held(&port->lock);

	list_for_each_entry_safe(t, tmp, &port->threads, node)
		iocp_thread_unlink(port, t);
	WARN_ON_ONCE(port->running || port->nthreads);
}

int iocp_thread_init(void)
{
	preempt_notifier_inc();
	return 0;
}

void iocp_thread_exit(void)
{
	/* Every iocp_thread holds a module reference: none is left. */
	preempt_notifier_dec();
}
