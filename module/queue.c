// SPDX-License-Identifier: GPL-2.0-only
/*
 * iocp - the completion queue and its waiters.
 *
 * Packets are FIFO, waiters LIFO. A release hands packets to the chosen
 * waiter under the port lock and counts it running, so that no later
 * arrival can take them and a shutdown right after the release cannot lose
 * them: the woken waiter owns them and returns them.
 *
 * Posted packets are allocated by the post and freed once delivered.
 * Readiness packets belong to their association (assoc.c): the dequeue
 * fills in their events and then settles them with the association. Op
 * packets belong to their op (op.c), freed once delivered.
 */

#include <linux/hrtimer.h>
#include <linux/ktime.h>
#include <linux/minmax.h>
#include <linux/poll.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "iocp.h"

static struct kmem_cache *iocp_packet_cachep;

/**
 * struct iocp_waiter - a thread blocked in IOCP_IOC_DEQUEUE, on its stack
 * @node:     on port->waiters until released or gone; under port->lock.
 * @task:     the waiting thread.
 * @thread:   its association state.
 * @packets:  packets handed over by the release; under port->lock until
 *            @released is set, then owned by the waiter.
 * @min:      the fewest packets the waiter accepts.
 * @max:      the most packets the waiter accepts.
 * @count:    how many packets were handed over.
 * @nready:   how many of them are readiness packets.
 * @nops:     how many of them are op packets.
 * @released: packets were handed over; under port->lock.
 * @polling:  sleeps in IOCP_SCHED_POLL_NS slices; under port->lock.
 */
struct iocp_waiter {
	struct list_head node;
	struct task_struct *task;
	struct iocp_thread *thread;
	struct list_head packets;
	u32 min;
	u32 max;
	u32 count;
	u32 nready;
	u32 nops;
	bool released;
	bool polling;
};

/* Free a list of posted packets. */
static void iocp_packets_free(struct list_head *list)
{
	struct iocp_packet *pkt, *tmp;

	list_for_each_entry_safe(pkt, tmp, list, node)
		kmem_cache_free(iocp_packet_cachep, pkt);
	INIT_LIST_HEAD(list);
}

static void iocp_note_queued(struct iocp_port *port)
{
	lockdep_assert_held(&port->lock);

	if (port->queued > port->high_water)
		port->high_water = port->queued;
}

/* Queue @pkt at the tail; the caller dispatches. */
void iocp_queue_packet(struct iocp_port *port, struct iocp_packet *pkt)
{
	lockdep_assert_held(&port->lock);

	list_add_tail(&pkt->node, &port->queue);
	port->queued++;
	if (pkt->kind != IOCP_PACKET_POSTED)
		port->owned_queued++;
	iocp_note_queued(port);
}

/* Take a queued packet of an association or op off the queue. */
void iocp_unqueue_packet(struct iocp_port *port, struct iocp_packet *pkt)
{
	lockdep_assert_held(&port->lock);

	list_del(&pkt->node);
	port->queued--;
	port->owned_queued--;
}

/* Hand the oldest packets to @w, count it running and wake it. */
static void iocp_release_waiter(struct iocp_port *port, struct iocp_waiter *w)
{
	struct iocp_packet *pkt;
	u32 n = min(port->queued, w->max);
	u32 i;

	lockdep_assert_held(&port->lock);

	for (i = 0; i < n; i++) {
		pkt = list_first_entry(&port->queue, struct iocp_packet, node);
		list_move_tail(&pkt->node, &w->packets);
		if (pkt->kind == IOCP_PACKET_POSTED)
			continue;
		port->owned_queued--;
		if (pkt->kind == IOCP_PACKET_READY) {
			iocp_assoc_handover(port, pkt);
			w->nready++;
		} else {
			w->nops++;
		}
	}
	port->queued -= n;
	port->dequeued += n;
	w->count = n;

	list_del(&w->node);
	port->waiting--;
	iocp_thread_release(port, w->thread);
	w->released = true;
	wake_up_process(w->task);
}

/*
 * Where exits are not reported (IOCP_SCHED_POLL_NS), a port at its limit
 * with packets waiting looks for threads that exited unnoticed, and keeps
 * its most recent waiter polling for them.
 */
static bool iocp_reap_exited(struct iocp_port *port, u32 concurrency)
{
	struct iocp_waiter *w;

	if (!IOCP_SCHED_POLL_NS)
		return false;
	if (iocp_sched_reap(port) && port->running < concurrency)
		return true;
	w = list_first_entry_or_null(&port->waiters, struct iocp_waiter, node);
	if (w && !w->polling)
		wake_up_process(w->task);
	return false;
}

/*
 * Release waiters, most recent first, while packets are queued and fewer
 * than the concurrency value of the associated threads run.
 */
void iocp_dispatch(struct iocp_port *port)
{
	u32 concurrency = iocp_port_concurrency(port);
	struct iocp_waiter *w, *tmp;

	lockdep_assert_held(&port->lock);

	list_for_each_entry_safe(w, tmp, &port->waiters, node) {
		if (!port->queued)
			break;
		if (port->running >= concurrency &&
		    !iocp_reap_exited(port, concurrency))
			break;
		if (w->min <= port->queued)
			iocp_release_waiter(port, w);
	}
}

/*
 * Sleep until woken or @expires (NULL: no deadline); true if the deadline
 * passed. A polling waiter wakes up at least every IOCP_SCHED_POLL_NS.
 */
static bool iocp_sleep(struct iocp_waiter *w, ktime_t *expires)
{
	ktime_t poll;

	if (w->polling) {
		poll = ktime_add_ns(ktime_get(), IOCP_SCHED_POLL_NS);
		if (!expires || ktime_before(poll, *expires)) {
			schedule_hrtimeout_range(&poll, current->timer_slack_ns,
						 HRTIMER_MODE_ABS);
			return false;
		}
	}
	return !schedule_hrtimeout_range(expires, current->timer_slack_ns,
					 HRTIMER_MODE_ABS);
}

/*
 * Shutdown: queued packets are dropped and counted, and every waiter is
 * woken to see it. Waiters take themselves off the list when they run;
 * released ones are no longer on it and keep their packets. Op packets
 * move to @ops, for the caller to free.
 */
void iocp_queue_shutdown(struct iocp_port *port, struct list_head *ops)
{
	struct iocp_packet *pkt, *tmp;
	struct iocp_waiter *w;

	lockdep_assert_held(&port->lock);

	port->discarded += port->queued;
	port->queued = 0;
	port->owned_queued = 0;
	list_for_each_entry_safe(pkt, tmp, &port->queue, node) {
		list_del(&pkt->node);
		switch (pkt->kind) {
		case IOCP_PACKET_READY:
			iocp_assoc_discard(port, pkt);
			break;
		case IOCP_PACKET_OP:
			port->nops--;
			list_add_tail(&pkt->node, ops);
			break;
		default:
			kmem_cache_free(iocp_packet_cachep, pkt);
		}
	}
	list_for_each_entry(w, &port->waiters, node)
		wake_up_process(w->task);
}

void iocp_wake_pollers(struct iocp_port *port)
{
	wake_up_poll(&port->poll_wq, EPOLLIN | EPOLLRDNORM);
}

long iocp_post(struct iocp_port *port, void __user *argp)
{
	struct iocp_completion __user *uentries;
	struct iocp_post_args args;
	struct iocp_packet *pkt;
	LIST_HEAD(batch);
	long ret;
	u32 i;

	if (copy_from_user(&args, argp, sizeof(args)))
		return -EFAULT;
	if (args.flags || !args.count || args.count > IOCP_MAX_BATCH)
		return -EINVAL;
	/* Cheap early refusals; they are checked again under the lock. */
	if (READ_ONCE(port->shutdown))
		return -ESHUTDOWN;
	if (READ_ONCE(port->queued) - READ_ONCE(port->owned_queued) +
	    args.count > READ_ONCE(port->max_queued))
		return -EAGAIN;

	uentries = u64_to_user_ptr(args.entries);
	for (i = 0; i < args.count; i++) {
		pkt = kmem_cache_alloc(iocp_packet_cachep, GFP_KERNEL);
		if (!pkt) {
			ret = -ENOMEM;
			goto out_free;
		}
		pkt->kind = IOCP_PACKET_POSTED;
		list_add_tail(&pkt->node, &batch);
		if (copy_from_user(&pkt->c, &uentries[i], sizeof(pkt->c))) {
			ret = -EFAULT;
			goto out_free;
		}
		if (pkt->c.flags || pkt->c.events) {
			ret = -EINVAL;
			goto out_free;
		}
		pkt->c.flags = IOCP_CF_POSTED;
	}

	spin_lock_irq(&port->lock);
	if (port->shutdown) {
		ret = -ESHUTDOWN;
	} else if (port->queued - port->owned_queued + args.count >
		   port->max_queued) {
		ret = -EAGAIN;
	} else {
		list_splice_tail_init(&batch, &port->queue);
		port->queued += args.count;
		port->posted += args.count;
		iocp_note_queued(port);
		iocp_dispatch(port);
		ret = 0;
	}
	spin_unlock_irq(&port->lock);
	if (!ret) {
		iocp_wake_pollers(port);
		return 0;
	}
out_free:
	iocp_packets_free(&batch);
	return ret;
}

static long iocp_report_depth(struct iocp_port *port,
			      struct iocp_dequeue_args __user *uargs)
{
	u32 depth;
	bool shutdown;

	spin_lock_irq(&port->lock);
	depth = port->queued;
	shutdown = port->shutdown;
	spin_unlock_irq(&port->lock);
	if (shutdown)
		return -ESHUTDOWN;
	return put_user(depth, &uargs->count) ? -EFAULT : 0;
}

/*
 * Before the copy, in this thread: fill in the events of the readiness
 * packets handed to @w (those that find nothing ready move to @spurious)
 * and the descriptors of accepted sockets. Returns how many moved.
 */
static u32 iocp_resolve(struct iocp_waiter *w, struct list_head *spurious)
{
	struct iocp_packet *pkt, *tmp;
	u32 n = 0;

	list_for_each_entry_safe(pkt, tmp, &w->packets, node) {
		if (pkt->kind == IOCP_PACKET_OP) {
			iocp_req_prepare(pkt);
		} else if (pkt->kind == IOCP_PACKET_READY &&
			   !iocp_assoc_resolve(pkt)) {
			list_move_tail(&pkt->node, spurious);
			w->count--;
			n++;
		}
	}
	return n;
}

/*
 * Settle the readiness packets on @list with their associations and move
 * the op packets to @ops, to be freed; posted packets stay. True if a
 * readiness packet was queued again.
 */
static bool iocp_settle(struct iocp_port *port, struct list_head *list,
			enum iocp_settle how, struct list_head *ops)
{
	struct iocp_packet *pkt, *tmp;
	bool again = false;

	lockdep_assert_held(&port->lock);

	list_for_each_entry_safe(pkt, tmp, list, node) {
		if (pkt->kind == IOCP_PACKET_READY) {
			list_del(&pkt->node);
			again |= iocp_assoc_settle(port, pkt, how);
		} else if (pkt->kind == IOCP_PACKET_OP) {
			list_move_tail(&pkt->node, ops);
			port->nops--;
		}
	}
	return again;
}

/*
 * The copy of @w's packets failed, or they are too few. They go back to the
 * head of the queue in their order, unless the port was shut down meanwhile, in which case they
 * are counted as discarded (op packets move to @ops, to be freed);
 * readiness packets of an association that ended meanwhile are dropped.
 */
static void iocp_return(struct iocp_port *port, struct iocp_waiter *w,
			struct list_head *ops)
{
	struct iocp_packet *pkt, *tmp;
	LIST_HEAD(keep);

	lockdep_assert_held(&port->lock);

	port->dequeued -= w->count;
	if (port->shutdown) {
		port->discarded += w->count;
		iocp_settle(port, &w->packets, IOCP_SETTLE_RETURNED, ops);
		return;
	}
	list_for_each_entry_safe(pkt, tmp, &w->packets, node) {
		list_del(&pkt->node);
		if (pkt->kind == IOCP_PACKET_READY &&
		    !iocp_assoc_settle(port, pkt, IOCP_SETTLE_RETURNED)) {
			w->count--;
			continue;
		}
		if (pkt->kind != IOCP_PACKET_POSTED)
			port->owned_queued++;
		list_add_tail(&pkt->node, &keep);
	}
	list_splice(&keep, &port->queue);
	port->queued += w->count;
	iocp_note_queued(port);
}

/*
 * Copy the handed-over packets out. Returns -EFAULT if that failed (see
 * iocp_return()), -EAGAIN if spurious readiness packets left fewer than
 * the waiter's minimum (the others went back to the head of the queue and
 * the caller waits again), 0 otherwise.
 */
static long iocp_deliver(struct iocp_port *port, struct iocp_waiter *w,
			 struct iocp_dequeue_args __user *uargs, u64 entries)
{
	struct iocp_completion __user *uentries = u64_to_user_ptr(entries);
	bool owned = w->nready || w->nops;
	struct iocp_packet *pkt, *tmp;
	bool fault = false, again = false, giveback;
	LIST_HEAD(spurious);
	LIST_HEAD(ops);
	u32 nspurious = 0;
	u32 n = 0;

	if (owned)
		nspurious = iocp_resolve(w, &spurious);

	/* Spurious packets left fewer than asked for: give the rest back. */
	giveback = w->count < w->min;
	if (!giveback) {
		list_for_each_entry(pkt, &w->packets, node) {
			if (copy_to_user(&uentries[n], &pkt->c,
					 sizeof(pkt->c))) {
				fault = true;
				break;
			}
			n++;
		}
		if (!fault && put_user(n, &uargs->count))
			fault = true;
	}
	if (!fault && !owned) {
		iocp_packets_free(&w->packets);
		return 0;
	}
	if (w->nops) {
		list_for_each_entry(pkt, &w->packets, node)
			if (pkt->kind == IOCP_PACKET_OP)
				iocp_req_delivered(pkt, !fault && !giveback);
	}

	spin_lock_irq(&port->lock);
	port->dequeued -= nspurious;
	again = iocp_settle(port, &spurious, IOCP_SETTLE_SPURIOUS, &ops);
	if (fault || giveback) {
		iocp_return(port, w, &ops);
		again = true;
	} else {
		again |= iocp_settle(port, &w->packets, IOCP_SETTLE_DELIVERED,
				     &ops);
	}
	if (again)
		iocp_dispatch(port);
	spin_unlock_irq(&port->lock);

	/* What is left on the list are posted packets that are done with. */
	iocp_packets_free(&w->packets);
	list_for_each_entry_safe(pkt, tmp, &ops, node)
		iocp_req_free(pkt);
	if (again)
		iocp_wake_pollers(port);
	if (fault)
		return -EFAULT;
	return giveback ? -EAGAIN : 0;
}

/*
 * Wait on @port as @thread until packets are handed to @w, the deadline
 * @expires (NULL: none) passes, a signal comes or the port is shut down.
 */
static long iocp_wait(struct iocp_port *port, struct iocp_waiter *w,
		      struct iocp_thread *thread, ktime_t *expires,
		      bool nonblock)
{
	bool timed_out = false;
	long ret = 0;

	w->task = current;
	w->thread = thread;
	INIT_LIST_HEAD(&w->packets);
	w->count = 0;
	w->nready = 0;
	w->nops = 0;
	w->released = false;
	w->polling = false;

	spin_lock_irq(&port->lock);
	if (port->shutdown) {
		spin_unlock_irq(&port->lock);
		return -ESHUTDOWN;
	}
	iocp_thread_enter(port, thread);
	list_add(&w->node, &port->waiters);
	port->waiting++;
	iocp_dispatch(port);

	for (;;) {
		set_current_state(TASK_INTERRUPTIBLE);
		if (w->released)
			break;
		if (port->shutdown) {
			ret = -ESHUTDOWN;
			break;
		}
		if (signal_pending(current)) {
			ret = -EINTR;
			break;
		}
		if (timed_out || nonblock) {
			ret = -ETIMEDOUT;
			break;
		}
		w->polling = IOCP_SCHED_POLL_NS && port->queued;
		spin_unlock_irq(&port->lock);
		timed_out = iocp_sleep(w, expires);
		spin_lock_irq(&port->lock);
		if (w->polling)
			iocp_dispatch(port);
	}
	__set_current_state(TASK_RUNNING);

	if (!w->released) {
		list_del(&w->node);
		port->waiting--;
	}
	iocp_thread_resume(port, thread);
	spin_unlock_irq(&port->lock);
	return ret;
}

long iocp_dequeue(struct iocp_port *port, void __user *argp)
{
	struct iocp_dequeue_args __user *uargs = argp;
	struct iocp_dequeue_args args;
	struct iocp_thread *thread;
	struct iocp_waiter w;
	ktime_t expires, *expiresp = NULL;
	long ret;

	if (copy_from_user(&args, uargs, sizeof(args)))
		return -EFAULT;
	if (args.flags || args.max > IOCP_MAX_BATCH || args.min > args.max)
		return -EINVAL;
	if (!args.max)
		return iocp_report_depth(port, uargs);
	if (READ_ONCE(port->shutdown)) {
		iocp_thread_put_current();
		return -ESHUTDOWN;
	}

	if (args.timeout_ns != IOCP_INFINITE) {
		expires = ktime_add_safe(ktime_get(),
					 min_t(u64, args.timeout_ns, KTIME_MAX));
		expiresp = &expires;
	}

	thread = iocp_thread_current();
	if (IS_ERR(thread))
		return PTR_ERR(thread);
	iocp_thread_leave_other(thread, port);

	w.min = max(args.min, 1U);
	w.max = args.max;
	/* Spurious readiness packets alone: wait on, to the same deadline. */
	do {
		ret = iocp_wait(port, &w, thread, expiresp, !args.timeout_ns);
		if (w.released)
			ret = iocp_deliver(port, &w, uargs, args.entries);
	} while (ret == -EAGAIN);

	if (ret == -ESHUTDOWN)
		iocp_thread_put_current();
	return ret;
}

int iocp_packet_cache_init(void)
{
	iocp_packet_cachep = KMEM_CACHE(iocp_packet, SLAB_ACCOUNT);
	return iocp_packet_cachep ? 0 : -ENOMEM;
}

void iocp_packet_cache_exit(void)
{
	kmem_cache_destroy(iocp_packet_cachep);
}
