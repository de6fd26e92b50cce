/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * iocp - I/O completion ports: internal interfaces.
 *
 * Locking, outermost first:
 *
 *   port->lock        spinlock, always taken with interrupts disabled: the
 *                     thread-exit irq_work takes it from hard-interrupt
 *                     context. Never nested with another port's lock.
 *   rq->lock          taken inside port->lock by wake_up_process(). The
 *                     preempt notifiers run under rq->lock and therefore never
 *                     take port->lock: they defer to irq_work.
 *   port->poll_wq     its own lock, never taken under port->lock.
 *
 * Ports are freed after an RCU grace period so that a thread can find and
 * lock the port it is associated with without holding a reference.
 */
#ifndef _IOCP_INTERNAL_H
#define _IOCP_INTERNAL_H

#include <linux/irq_work.h>
#include <linux/list.h>
#include <linux/preempt.h>
#include <linux/rcupdate.h>
#include <linux/sched.h>
#include <linux/spinlock.h>
#include <linux/types.h>
#include <linux/wait.h>
#include <linux/iocp.h>

#include "compat.h"

/**
 * struct iocp_port - a completion port, one per open of /dev/iocp
 *
 * Every field after @lock and before @poll_wq is protected by @lock.
 */
struct iocp_port {
	spinlock_t lock;		/* protects the fields below, up to poll_wq */

	/* struct iocp_packet.node, oldest first (FIFO). */
	struct list_head queue;
	/* struct iocp_waiter.node, most recent first (LIFO). */
	struct list_head waiters;
	/* struct iocp_thread.node of every associated thread. */
	struct list_head threads;

	u32 queued;		/* length of @queue */
	u32 waiting;		/* length of @waiters */
	u32 nthreads;		/* length of @threads */
	u32 running;		/* threads in @threads with ->running set */

	u32 concurrency;	/* configured value, 0: online CPUs */
	u32 max_queued;		/* bound on @queued for posts */

	u32 high_water;		/* largest @queued seen */
	u32 peak_running;	/* largest @running seen */
	u64 posted;
	u64 dequeued;
	u64 discarded;

	bool shutdown;		/* set once by IOCP_IOC_SHUTDOWN or release */

	/* Pollers of the port file; has its own lock. */
	wait_queue_head_t poll_wq;

	struct rcu_head rcu;
};

/**
 * struct iocp_packet - one queued completion
 * @node: on port->queue, or on a waiter's private list once handed off;
 *        protected by port->lock while on port->queue.
 * @c:    the completion as userspace sees it; constant once queued.
 */
struct iocp_packet {
	struct list_head node;
	struct iocp_completion c;
};

/**
 * struct iocp_thread - a thread's association with a port
 *
 * Allocated on a thread's first dequeue, freed after its exit (or once it
 * has seen its port shut down). The preempt notifier is registered on the
 * thread itself; only that thread (and the scheduler, on its switches) walks
 * or changes its notifier list.
 *
 * @pn:        preempt notifier, for exit tracking.
 * @task:      the thread; constant.
 * @port:      associated port or NULL. Written under that port's lock; read
 *             under RCU, then confirmed under the port's lock.
 * @node:      on port->threads; protected by port->lock.
 * @running:   counted in port->running; protected by port->lock.
 * @exit_work: deferred work queued by the final switch-out of the thread.
 * @rcu:       delays freeing past the irq_work and the notifier walk.
 */
struct iocp_thread {
	struct preempt_notifier pn;
	struct task_struct *task;
	struct iocp_port __rcu *port;
	struct list_head node;
	bool running;
	struct irq_work exit_work;
	struct rcu_head rcu;
};

static inline u32 iocp_port_concurrency(const struct iocp_port *port)
{
	return port->concurrency ? port->concurrency : num_online_cpus();
}

/* queue.c */
int iocp_packet_cache_init(void);
void iocp_packet_cache_exit(void);
void iocp_dispatch(struct iocp_port *port);
void iocp_queue_shutdown(struct iocp_port *port);
long iocp_post(struct iocp_port *port, void __user *argp);
long iocp_dequeue(struct iocp_port *port, void __user *argp);

/* thread.c */
int iocp_thread_init(void);
void iocp_thread_exit(void);
struct iocp_thread *iocp_thread_current(void);
void iocp_thread_put_current(void);
void iocp_thread_leave_other(struct iocp_thread *t, struct iocp_port *port);
void iocp_thread_enter(struct iocp_port *port, struct iocp_thread *t);
void iocp_thread_set_running(struct iocp_port *port, struct iocp_thread *t);
void iocp_thread_detach_all(struct iocp_port *port);

#endif /* _IOCP_INTERNAL_H */
