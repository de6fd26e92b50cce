/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * iocp - I/O completion ports: internal interfaces.
 *
 * Locking, outermost first:
 *
 *   port->assoc_mutex serialises changes to the port's file associations
 *                     (assoc.c); may sleep.
 *   port->chan_lock   the port's table of op channels (op.c).
 *   iocp_nest_mutex   global; the graph of ports associated with ports.
 *   file wait queues  the wake callback of an association runs under the
 *                     lock of the associated file's wait queue and takes
 *                     port->lock inside it. Nothing takes a wait-queue lock
 *                     under port->lock.
 *   port->lock        spinlock, always taken with interrupts disabled: the
 *                     threads' irq_work takes it from hard-interrupt
 *                     context. Never nested with another port's lock.
 *   chan->lock        an op channel's (op.c); taken by its wakeups.
 *   rq->lock          taken inside port->lock by wake_up_process(). The
 *                     preempt notifiers run under rq->lock and therefore never
 *                     take port->lock: they defer to irq_work.
 *   port->poll_wq     its own lock, never taken under port->lock.
 *
 * A port lives while its file is open and while ops or op channels hold
 * references to it (@refs). It is freed after an RCU grace period so that a
 * thread can find and lock the port it is associated with without holding
 * a reference.
 */
#ifndef _IOCP_INTERNAL_H
#define _IOCP_INTERNAL_H

#include <linux/hashtable.h>
#include <linux/irq_work.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/poll.h>
#include <linux/rcupdate.h>
#include <linux/refcount.h>
#include <linux/sched.h>
#include <linux/spinlock.h>
#include <linux/types.h>
#include <linux/wait.h>
#include <linux/iocp.h>

#include "compat.h"

struct iocp_assoc;

/*
 * The poll events of associations and of IOCP_OP_POLL, in both spellings
 * (uapi values equal the EPOLL* ones); ERR and HUP are always reported.
 */
#define IOCP_POLL_EVENTS	(IOCP_POLLIN | IOCP_POLLPRI | IOCP_POLLOUT | \
				 IOCP_POLLERR | IOCP_POLLHUP | IOCP_POLLRDHUP)
#define IOCP_EPOLL_ALL		(EPOLLIN | EPOLLPRI | EPOLLOUT | EPOLLERR | \
				 EPOLLHUP | EPOLLRDHUP)
#define IOCP_EPOLL_ALWAYS	(EPOLLERR | EPOLLHUP)

/* A poll mask in IOCP_EPOLL_ALL terms: "normal data" counts as data. */
static inline __poll_t iocp_poll_normalize(__poll_t mask)
{
	if (mask & EPOLLRDNORM)
		mask |= EPOLLIN;
	if (mask & EPOLLWRNORM)
		mask |= EPOLLOUT;
	return mask & IOCP_EPOLL_ALL;
}

#define IOCP_CHAN_HASH_BITS	6

/**
 * struct iocp_port - a completion port, one per open of /dev/iocp
 *
 * Every field after @lock and before @assoc_mutex is protected by @lock.
 */
struct iocp_port {
	spinlock_t lock;		/* protects the fields below, up to assoc_mutex */

	/* struct iocp_packet.node, oldest first (FIFO). */
	struct list_head queue;
	/* struct iocp_waiter.node, most recent first (LIFO). */
	struct list_head waiters;
	/* struct iocp_thread.node of every associated thread. */
	struct list_head threads;

	u32 queued;		/* length of @queue */
	u32 owned_queued;	/* those owned by an association or op */
	u32 waiting;		/* length of @waiters */
	u32 nthreads;		/* length of @threads */
	u32 running;		/* threads RELEASED or RUNNING */
	u32 blocked;		/* threads in IOCP_THREAD_BLOCKED */

	u32 concurrency;	/* configured value, 0: online CPUs */
	u32 max_queued;		/* bound on posted packets queued */
	u32 flags;		/* IOCP_CONFIG_* */
	u32 max_assoc;		/* bound on @nassoc for new associations */
	u32 nassoc;		/* length of @assocs; also under @assoc_mutex */
	u32 max_ops;		/* bound on @nops for new ops */
	u32 nops;		/* ops allocated: in flight or packet undelivered */
	/* struct iocp_req.port_node of every op not done yet. */
	struct list_head reqs;

	u32 high_water;		/* largest @queued seen */
	u32 peak_running;	/* largest @running seen */
	u64 posted;
	u64 dequeued;
	u64 discarded;

	bool shutdown;		/* set once by IOCP_IOC_SHUTDOWN or release */

	/* Serialises association changes; protects @assocs. */
	struct mutex assoc_mutex;
	/* struct iocp_assoc.port_node of every associated file. */
	struct list_head assocs;

	/*
	 * Under iocp_nest_mutex: the port whose association holds this
	 * port's file, and the associations of this port whose files are
	 * ports (struct iocp_assoc.nest_node).
	 */
	struct iocp_port *nest_parent;
	struct list_head nest_children;

	/* Shutdown waits here for @reqs to empty; own lock, taken inside @lock. */
	wait_queue_head_t ops_wq;
	/* The op channels (op.c), by file; under @chan_lock. */
	spinlock_t chan_lock;
	DECLARE_HASHTABLE(chans, IOCP_CHAN_HASH_BITS);

	/* The file's reference, and one per op and op channel. */
	refcount_t refs;

	/* Pollers of the port file; has its own lock. */
	wait_queue_head_t poll_wq;
	/* Wakes @poll_wq for wake callbacks, which run under another wait
	 * queue's lock and must not take @poll_wq's.
	 */
	struct irq_work poll_work;

	struct rcu_head rcu;
};

/*
 * enum iocp_packet_kind - who owns a packet
 * @IOCP_PACKET_POSTED: allocated by a post, freed once delivered.
 * @IOCP_PACKET_READY:  embedded in an association (assoc.c), given back to
 *                      it once delivered.
 * @IOCP_PACKET_OP:     embedded in an op (op.c), freed with it once
 *                      delivered.
 */
enum iocp_packet_kind {
	IOCP_PACKET_POSTED,
	IOCP_PACKET_READY,
	IOCP_PACKET_OP,
};

/**
 * struct iocp_packet - one queued completion
 * @node: on port->queue, or on a waiter's private list once handed off;
 *        protected by port->lock while on port->queue.
 * @c:    the completion as userspace sees it; constant once queued, but
 *        what its delivery fills in (readiness events, an accepted
 *        socket's descriptor).
 * @kind: enum iocp_packet_kind; constant.
 */
struct iocp_packet {
	struct list_head node;
	struct iocp_completion c;
	u8 kind;
};

/*
 * Entries on the wait queues of a file (waitset.c). @wake runs in atomic
 * context for each wakeup, with the events or 0 if the file did not say.
 */
struct iocp_waitset;

struct iocp_wait {
	wait_queue_entry_t wait;
	wait_queue_head_t *whead;
	struct iocp_waitset *ws;
	struct iocp_wait *next;
};

struct iocp_waitset {
	struct iocp_wait first;
	void (*wake)(struct iocp_waitset *ws, __poll_t mask);
	unsigned int n;
	int error;
};

/*
 * enum iocp_thread_state - what an associated thread counts as
 * @IOCP_THREAD_WAITING:  inside IOCP_IOC_DEQUEUE; not counted.
 * @IOCP_THREAD_RELEASED: handed packets by a release and woken, still inside
 *                        IOCP_IOC_DEQUEUE; counted in port->running.
 * @IOCP_THREAD_RUNNING:  out of IOCP_IOC_DEQUEUE; counted in port->running.
 * @IOCP_THREAD_BLOCKED:  was running and blocked elsewhere; counted in
 *                        port->blocked (blocking awareness).
 *
 * Only the thread itself enters RUNNING (leaving a dequeue, or through its
 * irq_work after it runs again), so its notifiers can trust the state.
 */
enum iocp_thread_state {
	IOCP_THREAD_WAITING,
	IOCP_THREAD_RELEASED,
	IOCP_THREAD_RUNNING,
	IOCP_THREAD_BLOCKED,
};

/**
 * struct iocp_thread - a thread's association with a port
 *
 * Allocated on a thread's first dequeue, freed after its exit, or when the
 * thread calls IOCP_IOC_DISASSOCIATE or sees ESHUTDOWN while no port holds
 * it. How the scheduler reports on the thread (@hook) is the business of
 * sched.c, or of sched_none.c on kernels without preempt notifiers.
 *
 * @task:          the thread; constant.
 * @port:          associated port or NULL. Written under that port's lock;
 *                 read under RCU, then confirmed under the port's lock.
 * @node:          on port->threads; protected by port->lock.
 * @state:         protected by port->lock; read locklessly as a hint only.
 * @sched_blocked: the scheduler's last word: switched out blocking (true)
 *                 or switched in (false). Written by the scheduler hooks,
 *                 applied under the port's lock.
 * @hook:          the scheduler hooks' own state.
 * @rcu:           delays freeing past lockless readers.
 */
struct iocp_thread {
	struct task_struct *task;
	struct iocp_port __rcu *port;
	struct list_head node;
	enum iocp_thread_state state;
	bool sched_blocked;
	struct iocp_sched_hook hook;
	struct rcu_head rcu;
};

static inline u32 iocp_port_concurrency(const struct iocp_port *port)
{
	return port->concurrency ? port->concurrency : num_online_cpus();
}

static inline bool iocp_port_blocking_aware(const struct iocp_port *port)
{
	return IOCP_SCHED_BLOCKING &&
	       !(port->flags & IOCP_CONFIG_IGNORE_BLOCKING);
}

/* main.c */
bool iocp_file_is_port(struct file *file);
void iocp_port_get(struct iocp_port *port);
void iocp_port_put(struct iocp_port *port);

/* waitset.c */
__poll_t iocp_waitset_hook(struct iocp_waitset *ws, struct file *file,
			   void (*wake)(struct iocp_waitset *ws, __poll_t mask));
void iocp_waitset_unhook(struct iocp_waitset *ws);

/* queue.c */
int iocp_packet_cache_init(void);
void iocp_packet_cache_exit(void);
void iocp_dispatch(struct iocp_port *port);
void iocp_queue_packet(struct iocp_port *port, struct iocp_packet *pkt);
void iocp_unqueue_packet(struct iocp_port *port, struct iocp_packet *pkt);
void iocp_queue_shutdown(struct iocp_port *port, struct list_head *ops);
void iocp_wake_pollers(struct iocp_port *port);
long iocp_post(struct iocp_port *port, void __user *argp);
long iocp_dequeue(struct iocp_port *port, void __user *argp);

/*
 * How a dequeue gives a readiness packet back to its association:
 * @IOCP_SETTLE_DELIVERED: copied out to userspace.
 * @IOCP_SETTLE_SPURIOUS:  nothing requested was ready; not delivered.
 * @IOCP_SETTLE_RETURNED:  the copy failed; the caller puts it back at the
 *                         head of the queue if iocp_assoc_settle() says so.
 */
enum iocp_settle {
	IOCP_SETTLE_DELIVERED,
	IOCP_SETTLE_SPURIOUS,
	IOCP_SETTLE_RETURNED,
};

/* assoc.c */
int iocp_assoc_init(void);
void iocp_assoc_exit(void);
void iocp_assoc_port_init(struct iocp_port *port);
long iocp_assoc_add(struct iocp_port *port, void __user *argp);
long iocp_assoc_modify(struct iocp_port *port, void __user *argp);
long iocp_assoc_del(struct iocp_port *port, void __user *argp);
void iocp_assoc_shutdown(struct iocp_port *port);
void iocp_assoc_show_fdinfo(struct seq_file *m, struct iocp_port *port);
void iocp_assoc_handover(struct iocp_port *port, struct iocp_packet *pkt);
bool iocp_assoc_resolve(struct iocp_packet *pkt);
bool iocp_assoc_settle(struct iocp_port *port, struct iocp_packet *pkt,
		       enum iocp_settle how);
void iocp_assoc_discard(struct iocp_port *port, struct iocp_packet *pkt);
bool iocp_assoc_lookup(struct iocp_port *port, struct file *file, u64 *key);

/* op.c */
int iocp_ops_init(void);
void iocp_ops_exit(void);
void iocp_ops_port_init(struct iocp_port *port);
long iocp_submit(struct iocp_port *port, void __user *argp);
long iocp_cancel(struct iocp_port *port, void __user *argp);
void iocp_ops_flush(struct iocp_port *port);
void iocp_ops_shutdown(struct iocp_port *port);
void iocp_req_prepare(struct iocp_packet *pkt);
void iocp_req_delivered(struct iocp_packet *pkt, bool delivered);
void iocp_req_free(struct iocp_packet *pkt);

/* thread.c */
struct iocp_thread *iocp_thread_current(void);
void iocp_thread_put_current(void);
long iocp_thread_disassociate(struct iocp_port *port);
void iocp_thread_leave_other(struct iocp_thread *t, struct iocp_port *port);
void iocp_thread_enter(struct iocp_port *port, struct iocp_thread *t);
void iocp_thread_release(struct iocp_port *port, struct iocp_thread *t);
void iocp_thread_resume(struct iocp_port *port, struct iocp_thread *t);
void iocp_thread_detach_all(struct iocp_port *port);
void iocp_thread_sync_all(struct iocp_port *port);
void iocp_thread_apply(struct iocp_thread *t);
void iocp_thread_retire(struct iocp_thread *t);
void iocp_thread_unlink(struct iocp_port *port, struct iocp_thread *t);

/*
 * sched.c (preempt notifiers) or sched_none.c: how the scheduler reports
 * on associated threads.
 *
 * iocp_sched_find()    the calling thread's state, or NULL.
 * iocp_sched_attach()  a new state for the calling thread, hooked.
 * iocp_sched_detach()  unhook and free the calling thread's state; it is on
 *                      no port.
 * iocp_sched_reap()    under port->lock, when threads run at the limit:
 *                      drop threads that exited unnoticed; true if any.
 */
int iocp_sched_init(void);
void iocp_sched_exit(void);
struct iocp_thread *iocp_sched_find(void);
struct iocp_thread *iocp_sched_attach(void);
void iocp_sched_detach(struct iocp_thread *t);
bool iocp_sched_reap(struct iocp_port *port);

#endif /* _IOCP_INTERNAL_H */
