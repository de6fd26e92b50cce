// SPDX-License-Identifier: GPL-2.0-only
/*
 * iocp - thread association and concurrency tracking.
 *
 * A thread becomes associated with a port on its first dequeue and stays so
 * until it exits, dequeues from another port, asks to leave
 * (IOCP_IOC_DISASSOCIATE), or the port is shut down. Outside a dequeue it
 * counts as running, unless it blocked elsewhere: then it counts as
 * blocked until it runs again, and a waiter may be released in its place
 * (blocking awareness). A thread that runs again counts as running at once,
 * even if that makes more than the concurrency value run.
 *
 * What the scheduler says about a thread (it blocked, it runs again, it
 * exited) comes from sched.c, which applies it here under the port's lock.
 * The thread's state outlives the port: a shutdown only detaches it.
 */

#include <linux/rcupdate.h>
#include <linux/sched.h>

#include "iocp.h"

/* Leave the counts @t is in; it stays associated. */
static void iocp_thread_uncount(struct iocp_port *port, struct iocp_thread *t)
{
	lockdep_assert_held(&port->lock);

	if (t->state == IOCP_THREAD_RELEASED || t->state == IOCP_THREAD_RUNNING)
		port->running--;
	else if (t->state == IOCP_THREAD_BLOCKED)
		port->blocked--;
	WRITE_ONCE(t->state, IOCP_THREAD_WAITING);
}

static void iocp_thread_count_running(struct iocp_port *port,
				      struct iocp_thread *t,
				      enum iocp_thread_state state)
{
	lockdep_assert_held(&port->lock);

	WRITE_ONCE(t->state, state);
	port->running++;
	if (port->running > port->peak_running)
		port->peak_running = port->running;
}

void iocp_thread_unlink(struct iocp_port *port, struct iocp_thread *t)
{
	lockdep_assert_held(&port->lock);

	iocp_thread_uncount(port, t);
	list_del_init(&t->node);
	port->nthreads--;
	RCU_INIT_POINTER(t->port, NULL);
}

/*
 * Apply the scheduler's last word about @t: a running thread that blocked
 * stops counting and may let a waiter go; a blocked one that runs again
 * counts as running, whatever the concurrency value says.
 */
static void iocp_thread_sync(struct iocp_port *port, struct iocp_thread *t)
{
	bool blocked = READ_ONCE(t->sched_blocked) &&
		       iocp_port_blocking_aware(port);

	lockdep_assert_held(&port->lock);

	if (t->state == IOCP_THREAD_RUNNING && blocked) {
		port->running--;
		port->blocked++;
		WRITE_ONCE(t->state, IOCP_THREAD_BLOCKED);
		iocp_dispatch(port);
	} else if (t->state == IOCP_THREAD_BLOCKED && !blocked) {
		port->blocked--;
		iocp_thread_count_running(port, t, IOCP_THREAD_RUNNING);
	}
}

/*
 * Run @fn on @t under the lock of its port, if it has one. The port cannot
 * be freed under us: ports are freed after a grace period. If @t left the
 * port meanwhile (a shutdown, or the thread moving on), there is nothing to
 * do: leaving settled its counts.
 */
static void iocp_thread_locked(struct iocp_thread *t,
			       void (*fn)(struct iocp_port *port,
					  struct iocp_thread *t))
{
	struct iocp_port *port;
	unsigned long flags;

	rcu_read_lock();
	port = rcu_dereference(t->port);
	if (port) {
		spin_lock_irqsave(&port->lock, flags);
		if (rcu_access_pointer(t->port) == port)
			fn(port, t);
		spin_unlock_irqrestore(&port->lock, flags);
	}
	rcu_read_unlock();
}

/* Drop @t from its port and let a waiter take its slot. */
static void iocp_thread_leave(struct iocp_port *port, struct iocp_thread *t)
{
	iocp_thread_unlink(port, t);
	iocp_dispatch(port);
}

/* The scheduler's word about @t changed: apply it. */
void iocp_thread_apply(struct iocp_thread *t)
{
	iocp_thread_locked(t, iocp_thread_sync);
}

/* @t exited: drop it from its port, freeing its slot. */
void iocp_thread_retire(struct iocp_thread *t)
{
	iocp_thread_locked(t, iocp_thread_leave);
}

/* The calling thread's association state, created on first use. */
struct iocp_thread *iocp_thread_current(void)
{
	struct iocp_thread *t = iocp_sched_find();

	return t ? t : iocp_sched_attach();
}

/*
 * Free the calling thread's state if no port holds it any more (its port
 * was shut down), so that an idle thread does not pin the module.
 */
void iocp_thread_put_current(void)
{
	struct iocp_thread *t = iocp_sched_find();

	if (t && !rcu_access_pointer(t->port))
		iocp_sched_detach(t);
}

/*
 * IOCP_IOC_DISASSOCIATE: the calling thread leaves @port, freeing its slot,
 * and drops its state. -ENOENT if it is not associated with @port.
 */
long iocp_thread_disassociate(struct iocp_port *port)
{
	struct iocp_thread *t = iocp_sched_find();
	bool found = false;

	if (!t)
		return -ENOENT;
	spin_lock_irq(&port->lock);
	if (rcu_access_pointer(t->port) == port) {
		iocp_thread_leave(port, t);
		found = true;
	}
	spin_unlock_irq(&port->lock);
	if (!rcu_access_pointer(t->port))
		iocp_sched_detach(t);
	return found ? 0 : -ENOENT;
}

/* A thread that dequeues from @port leaves any other port first. */
void iocp_thread_leave_other(struct iocp_thread *t, struct iocp_port *port)
{
	bool other;

	rcu_read_lock();
	other = rcu_dereference(t->port) && rcu_access_pointer(t->port) != port;
	rcu_read_unlock();
	if (other)
		iocp_thread_locked(t, iocp_thread_leave);
}

/*
 * The calling thread enters a dequeue on @port: associate it, or make it
 * stop counting if it already was associated.
 */
void iocp_thread_enter(struct iocp_port *port, struct iocp_thread *t)
{
	lockdep_assert_held(&port->lock);

	if (rcu_access_pointer(t->port) == port) {
		iocp_thread_uncount(port, t);
		return;
	}
	/* iocp_thread_leave_other() ran, and only this thread associates it. */
	WARN_ON_ONCE(rcu_access_pointer(t->port));
	t->state = IOCP_THREAD_WAITING;
	list_add(&t->node, &port->threads);
	port->nthreads++;
	rcu_assign_pointer(t->port, port);
}

/* A release hands @t packets: it counts as running from now on. */
void iocp_thread_release(struct iocp_port *port, struct iocp_thread *t)
{
	lockdep_assert_held(&port->lock);

	if (rcu_access_pointer(t->port) == port &&
	    t->state == IOCP_THREAD_WAITING)
		iocp_thread_count_running(port, t, IOCP_THREAD_RELEASED);
}

/*
 * The calling thread leaves its dequeue, with or without packets: it runs,
 * and counts as running even if that exceeds the concurrency value.
 */
void iocp_thread_resume(struct iocp_port *port, struct iocp_thread *t)
{
	lockdep_assert_held(&port->lock);

	if (rcu_access_pointer(t->port) != port)
		return;
	if (t->state == IOCP_THREAD_WAITING)
		iocp_thread_count_running(port, t, IOCP_THREAD_RUNNING);
	else if (t->state == IOCP_THREAD_RELEASED)
		WRITE_ONCE(t->state, IOCP_THREAD_RUNNING);
}

/* Shutdown: every associated thread is disassociated. */
void iocp_thread_detach_all(struct iocp_port *port)
{
	struct iocp_thread *t, *tmp;

	lockdep_assert_held(&port->lock);

	list_for_each_entry_safe(t, tmp, &port->threads, node)
		iocp_thread_unlink(port, t);
	WARN_ON_ONCE(port->running || port->blocked || port->nthreads);
}

/* Blocking awareness was switched on or off: recount every thread. */
void iocp_thread_sync_all(struct iocp_port *port)
{
	struct iocp_thread *t;

	lockdep_assert_held(&port->lock);

	list_for_each_entry(t, &port->threads, node)
		iocp_thread_sync(port, t);
}
