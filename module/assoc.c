// SPDX-License-Identifier: GPL-2.0-only
/*
 * iocp - file associations: readiness completions for pollable files.
 *
 * An association ties an open file to a port with a key. Its wake callback
 * runs on the file's wait queues and queues the association's own packet,
 * embedded in it: a wakeup allocates nothing and cannot fail to deliver,
 * and an association has at most one packet queued, into which later
 * wakeups merge. Queue memory from associations is bounded by their number.
 *
 * A queued readiness packet carries no events yet; when a dequeue takes it,
 * it carries the events asked for with its key. The dequeuing thread
 * polls the file to fill in those that are ready (iocp_assoc_resolve()), in process
 * context, as epoll does: wakeups that do not say which events fired
 * (inotify, pidfd, signalfd) need it, and the events reported are those of
 * the moment of delivery. A packet that finds nothing requested ready is
 * dropped and the dequeue goes on waiting.
 *
 * The packet's state, under port->lock:
 *   IDLE      not queued; a matching wakeup of an armed association queues
 *             it.
 *   QUEUED    on port->queue; wakeups change nothing.
 *   INFLIGHT  handed to a dequeuing thread, which holds a reference to the
 *             file for its poll. Wakeups set @refire; when the dequeue
 *             settles the packet, it is queued again if one came.
 *
 * Lifetime: the port's list owns the association. Teardown (dissociate,
 * shutdown, release) unhooks the wait queue entries, drops the file and
 * frees the association after an RCU grace period (the global table of
 * associated files is searched under RCU), unless its packet is in flight:
 * then the dequeue that settles it frees it (@orphan).
 *
 * An association asking for no events only gives its key (and its
 * skip-on-success mode) to the ops on the file (op.c); it is not hooked
 * and the file need not be pollable.
 */

#include <linux/file.h>
#include <linux/fs.h>
#include <linux/minmax.h>
#include <linux/poll.h>
#include <linux/rhashtable.h>
#include <linux/sched/signal.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "iocp.h"

static_assert(IOCP_POLLIN == (__force u32)EPOLLIN);
static_assert(IOCP_POLLPRI == (__force u32)EPOLLPRI);
static_assert(IOCP_POLLOUT == (__force u32)EPOLLOUT);
static_assert(IOCP_POLLERR == (__force u32)EPOLLERR);
static_assert(IOCP_POLLHUP == (__force u32)EPOLLHUP);
static_assert(IOCP_POLLRDHUP == (__force u32)EPOLLRDHUP);

enum iocp_assoc_state {
	IOCP_ASSOC_IDLE,
	IOCP_ASSOC_QUEUED,
	IOCP_ASSOC_INFLIGHT,
};

/**
 * struct iocp_assoc - a file associated with a port
 * @port:       constant.
 * @file:       constant; the association holds a reference until teardown.
 * @hnode:      in iocp_assoc_table, keyed by @file.
 * @port_node:  on port->assocs; under port->assoc_mutex.
 * @nest_node:  if @nested, on port->nest_children; under iocp_nest_mutex.
 * @ws:         the wait queue entries, if @events; hooked at association.
 * @nested:     @file is a port; constant.
 * @pkt:        the readiness packet. The fields below are under port->lock.
 * @key:        returned in the packet.
 * @events:     events asked for, with IOCP_EPOLL_ALWAYS; 0 if none.
 * @uevents:    events asked for, as given.
 * @flags:      IOCP_ASSOC_*.
 * @state:      where @pkt is.
 * @armed:      a wakeup may queue @pkt (a one-shot association disarms
 *              when its packet is handed out).
 * @refire:     a wakeup came while @pkt was in flight.
 * @pollfree:   the file's wait queue went away: report EPOLLHUP.
 * @dead:       torn down; wakeups and settles do nothing.
 * @orphan:     torn down while in flight: the settle frees it.
 * @waiter:     a thread waiting for @pkt to settle, or NULL.
 * @rcu:        for freeing.
 */
struct iocp_assoc {
	struct iocp_port *port;
	struct file *file;
	struct rhash_head hnode;
	struct list_head port_node;
	struct list_head nest_node;
	struct iocp_waitset ws;
	bool nested;

	struct iocp_packet pkt;
	u64 key;
	__poll_t events;
	u32 uevents;
	u32 flags;
	enum iocp_assoc_state state;
	bool armed;
	bool refire;
	bool pollfree;
	bool dead;
	bool orphan;
	struct task_struct *waiter;

	struct rcu_head rcu;
};

static struct kmem_cache *iocp_assoc_cachep;

/* Every associated file, to keep it to one port. */
static struct rhashtable iocp_assoc_table;

static const struct rhashtable_params iocp_assoc_params = {
	.key_len		= sizeof(struct file *),
	.key_offset		= offsetof(struct iocp_assoc, file),
	.head_offset		= offsetof(struct iocp_assoc, hnode),
	.automatic_shrinking	= true,
};

/* Protects the graph of ports associated with ports. */
static DEFINE_MUTEX(iocp_nest_mutex);

static __poll_t iocp_events_to_poll(u32 events)
{
	return events ? (__force __poll_t)events | IOCP_EPOLL_ALWAYS : 0;
}

static struct iocp_assoc *iocp_assoc_of(struct iocp_packet *pkt)
{
	return container_of(pkt, struct iocp_assoc, pkt);
}

static void iocp_assoc_free_rcu(struct rcu_head *rcu)
{
	kmem_cache_free(iocp_assoc_cachep,
			container_of(rcu, struct iocp_assoc, rcu));
}

static void iocp_assoc_queue(struct iocp_assoc *a)
{
	lockdep_assert_held(&a->port->lock);

	a->pkt.c.key = a->key;
	a->pkt.c.events = 0;
	a->state = IOCP_ASSOC_QUEUED;
	iocp_queue_packet(a->port, &a->pkt);
}

static void iocp_assoc_unqueue(struct iocp_assoc *a)
{
	struct iocp_port *port = a->port;

	lockdep_assert_held(&port->lock);

	iocp_unqueue_packet(port, &a->pkt);
	a->state = IOCP_ASSOC_IDLE;
}

/*
 * A wakeup with events @mask, 0 meaning unknown. Queues the packet and
 * releases a waiter if it should; true if the packet was queued.
 */
static bool iocp_assoc_fire(struct iocp_assoc *a, __poll_t mask)
{
	struct iocp_port *port = a->port;

	lockdep_assert_held(&port->lock);

	if (a->dead || port->shutdown || !a->events)
		return false;
	if (mask && !(iocp_poll_normalize(mask) & a->events))
		return false;
	if (a->state == IOCP_ASSOC_INFLIGHT)
		a->refire = true;
	if (a->state != IOCP_ASSOC_IDLE || !a->armed)
		return false;
	iocp_assoc_queue(a);
	iocp_dispatch(port);
	return true;
}

/* Wait queue callback: atomic context, under the wait queue's lock. */
static void iocp_assoc_wake(struct iocp_waitset *ws, __poll_t mask)
{
	struct iocp_assoc *a = container_of(ws, struct iocp_assoc, ws);
	struct iocp_port *port = a->port;
	unsigned long flags;
	bool queued;

	spin_lock_irqsave(&port->lock, flags);
	if (mask & POLLFREE)
		WRITE_ONCE(a->pollfree, true);
	queued = iocp_assoc_fire(a, mask);
	spin_unlock_irqrestore(&port->lock, flags);
	/*
	 * The port's pollers are woken from irq_work: this runs under the
	 * lock of another wait queue, maybe another port's.
	 */
	if (queued && wq_has_sleeper(&port->poll_wq))
		irq_work_queue(&port->poll_work);
}

/* The file polled ready with @mask (0: not ready): queue a packet. */
static void iocp_assoc_ready(struct iocp_assoc *a, __poll_t mask)
{
	struct iocp_port *port = a->port;
	bool queued = false;

	if (!mask)
		return;
	spin_lock_irq(&port->lock);
	queued = iocp_assoc_fire(a, mask);
	spin_unlock_irq(&port->lock);
	if (queued)
		iocp_wake_pollers(port);
}

/* Hook the association on the file's wait queues and poll it once. */
static int iocp_assoc_hook(struct iocp_assoc *a)
{
	__poll_t mask;

	if (!a->events)
		return 0;
	mask = iocp_waitset_hook(&a->ws, a->file, iocp_assoc_wake);
	if (a->ws.error)
		return a->ws.error;
	iocp_assoc_ready(a, mask);
	return 0;
}

/*
 * Wait until the association's packet is not in flight: a dequeue that
 * holds it has copied it out (or given it back). A fatal signal ends the
 * wait early.
 */
static void iocp_assoc_wait_settled(struct iocp_assoc *a)
{
	struct iocp_port *port = a->port;

	for (;;) {
		spin_lock_irq(&port->lock);
		if (a->state != IOCP_ASSOC_INFLIGHT ||
		    fatal_signal_pending(current)) {
			a->waiter = NULL;
			spin_unlock_irq(&port->lock);
			break;
		}
		a->waiter = current;
		set_current_state(TASK_KILLABLE);
		spin_unlock_irq(&port->lock);
		schedule();
	}
	__set_current_state(TASK_RUNNING);
}

/*
 * End an association: no packet of it is queued or delivered after this
 * returns (if @wait: unless the caller got a fatal signal), and the file
 * reference is dropped.
 */
static void iocp_assoc_teardown(struct iocp_assoc *a, bool wait)
{
	struct iocp_port *port = a->port;
	bool inflight;

	lockdep_assert_held(&port->assoc_mutex);

	spin_lock_irq(&port->lock);
	a->dead = true;
	if (a->state == IOCP_ASSOC_QUEUED)
		iocp_assoc_unqueue(a);
	port->nassoc--;
	spin_unlock_irq(&port->lock);

	iocp_waitset_unhook(&a->ws);
	rhashtable_remove_fast(&iocp_assoc_table, &a->hnode, iocp_assoc_params);
	list_del(&a->port_node);
	if (a->nested) {
		struct iocp_port *inner = a->file->private_data;

		mutex_lock(&iocp_nest_mutex);
		list_del(&a->nest_node);
		inner->nest_parent = NULL;
		mutex_unlock(&iocp_nest_mutex);
	}
	fput(a->file);

	if (wait)
		iocp_assoc_wait_settled(a);
	spin_lock_irq(&port->lock);
	inflight = a->state == IOCP_ASSOC_INFLIGHT;
	a->orphan = inflight;
	spin_unlock_irq(&port->lock);
	if (!inflight)
		call_rcu(&a->rcu, iocp_assoc_free_rcu);
}

/* The height of the tree of ports below @port, itself included. */
static unsigned int iocp_nest_height(struct iocp_port *port,
				     unsigned int depth)
{
	struct iocp_assoc *a;
	unsigned int h = 0;

	lockdep_assert_held(&iocp_nest_mutex);

	/* Associations never build a deeper tree. */
	if (WARN_ON_ONCE(depth > IOCP_MAX_NEST))
		return IOCP_MAX_NEST + 1;
	list_for_each_entry(a, &port->nest_children, nest_node)
		h = max(h, iocp_nest_height(a->file->private_data, depth + 1));
	return h + 1;
}

/*
 * Associating port @inner with @port: a file has at most one port, so the
 * ports form a forest. Refuse a cycle (@inner is @port or above it) and a
 * chain of more than IOCP_MAX_NEST ports.
 */
static int iocp_nest_check(struct iocp_port *port, struct iocp_port *inner)
{
	unsigned int above = 0;
	struct iocp_port *p;

	lockdep_assert_held(&iocp_nest_mutex);

	for (p = port; p; p = p->nest_parent) {
		if (p == inner)
			return -ELOOP;
		above++;
	}
	if (above + iocp_nest_height(inner, 1) > IOCP_MAX_NEST)
		return -ELOOP;
	return 0;
}

/* Make @a known: to the nesting graph, the global table and the port. */
static int iocp_assoc_link(struct iocp_port *port, struct iocp_assoc *a)
{
	struct iocp_port *inner = a->nested ? a->file->private_data : NULL;
	int ret;

	lockdep_assert_held(&port->assoc_mutex);

	/* Shutdown sets this, then tears down under assoc_mutex. */
	if (READ_ONCE(port->shutdown))
		return -ESHUTDOWN;
	if (inner) {
		mutex_lock(&iocp_nest_mutex);
		ret = iocp_nest_check(port, inner);
		if (ret)
			goto out;
	}
	ret = rhashtable_lookup_insert_fast(&iocp_assoc_table, &a->hnode,
					    iocp_assoc_params);
	if (ret) {
		if (ret != -EEXIST)
			ret = -ENOMEM;
		goto out;
	}
	spin_lock_irq(&port->lock);
	if (port->nassoc >= port->max_assoc)
		ret = -ENOSPC;
	else
		port->nassoc++;
	spin_unlock_irq(&port->lock);
	if (ret) {
		rhashtable_remove_fast(&iocp_assoc_table, &a->hnode,
				       iocp_assoc_params);
		goto out;
	}
	list_add_tail(&a->port_node, &port->assocs);
	if (inner) {
		list_add_tail(&a->nest_node, &port->nest_children);
		inner->nest_parent = port;
	}
out:
	if (inner)
		mutex_unlock(&iocp_nest_mutex);
	return ret;
}

/* @file's association with @port, or NULL; under port->assoc_mutex. */
static struct iocp_assoc *iocp_assoc_find(struct iocp_port *port,
					  struct file *file)
{
	struct iocp_assoc *a;

	lockdep_assert_held(&port->assoc_mutex);

	rcu_read_lock();
	a = rhashtable_lookup(&iocp_assoc_table, &file, iocp_assoc_params);
	/* An association of this port lives while we hold its mutex. */
	if (a && a->port != port)
		a = NULL;
	rcu_read_unlock();
	return a;
}

static int iocp_assoc_args_get(struct iocp_assoc_args *args,
			       void __user *argp, bool del)
{
	if (copy_from_user(args, argp, sizeof(*args)))
		return -EFAULT;
	if (args->reserved)
		return -EINVAL;
	if (del)
		return args->events || args->flags ? -EINVAL : 0;
	if (args->flags & ~(IOCP_ASSOC_ONESHOT | IOCP_ASSOC_SKIP_ON_SUCCESS))
		return -EINVAL;
	if (args->events & ~IOCP_POLL_EVENTS)
		return -EINVAL;
	return 0;
}

/* The arguments of a MODIFY or DISSOCIATE (@del), and a reference to the file. */
static struct file *iocp_assoc_args_file(struct iocp_assoc_args *args,
					 void __user *argp, bool del)
{
	struct file *file;
	int ret;

	ret = iocp_assoc_args_get(args, argp, del);
	if (ret)
		return ERR_PTR(ret);
	file = fget(args->fd);
	return file ? file : ERR_PTR(-EBADF);
}

static void iocp_assoc_set(struct iocp_assoc *a,
			   const struct iocp_assoc_args *args)
{
	a->key = args->key;
	a->events = iocp_events_to_poll(args->events);
	a->uevents = args->events;
	a->flags = args->flags;
	a->armed = true;
	a->refire = false;
}

long iocp_assoc_add(struct iocp_port *port, void __user *argp)
{
	struct iocp_assoc_args args;
	struct iocp_assoc *a;
	struct file *file;
	long ret;

	ret = iocp_assoc_args_get(&args, argp, false);
	if (ret)
		return ret;
	file = fget(args.fd);
	if (!file)
		return -EBADF;
	ret = -EPERM;
	if (args.events && !file_can_poll(file))
		goto out_fput;
	ret = -ENOMEM;
	a = kmem_cache_zalloc(iocp_assoc_cachep, GFP_KERNEL_ACCOUNT);
	if (!a)
		goto out_fput;
	a->port = port;
	a->file = file;
	a->nested = iocp_file_is_port(file);
	INIT_LIST_HEAD(&a->nest_node);
	a->pkt.kind = IOCP_PACKET_READY;
	a->pkt.c.flags = IOCP_CF_READINESS;
	a->state = IOCP_ASSOC_IDLE;
	iocp_assoc_set(a, &args);

	mutex_lock(&port->assoc_mutex);
	ret = iocp_assoc_link(port, a);
	if (ret) {
		mutex_unlock(&port->assoc_mutex);
		kmem_cache_free(iocp_assoc_cachep, a);
		goto out_fput;
	}
	/* From here the association owns the file reference. */
	ret = iocp_assoc_hook(a);
	if (ret)
		iocp_assoc_teardown(a, false);
	mutex_unlock(&port->assoc_mutex);
	return ret;

out_fput:
	fput(file);
	return ret;
}

long iocp_assoc_modify(struct iocp_port *port, void __user *argp)
{
	struct iocp_assoc_args args;
	struct iocp_assoc *a;
	struct file *file;
	long ret = 0;

	file = iocp_assoc_args_file(&args, argp, false);
	if (IS_ERR(file))
		return PTR_ERR(file);

	mutex_lock(&port->assoc_mutex);
	a = iocp_assoc_find(port, file);
	if (READ_ONCE(port->shutdown)) {
		ret = -ESHUTDOWN;
	} else if (!a) {
		ret = -ENOENT;
	} else if (args.events && !file_can_poll(file)) {
		ret = -EPERM;
	} else {
		/* Asking for events the first time: hook now. */
		if (args.events && !a->ws.n) {
			iocp_waitset_hook(&a->ws, file, iocp_assoc_wake);
			ret = a->ws.error;
			if (ret) {
				iocp_waitset_unhook(&a->ws);
				a->ws.error = 0;
				goto out;
			}
		}
		spin_lock_irq(&port->lock);
		if (a->state == IOCP_ASSOC_QUEUED)
			iocp_assoc_unqueue(a);
		iocp_assoc_set(a, &args);
		spin_unlock_irq(&port->lock);
		/* A packet in flight has the old key: let it land first. */
		iocp_assoc_wait_settled(a);
		if (args.events)
			iocp_assoc_ready(a, vfs_poll(file, NULL));
	}
out:
	mutex_unlock(&port->assoc_mutex);
	fput(file);
	return ret;
}

long iocp_assoc_del(struct iocp_port *port, void __user *argp)
{
	struct iocp_assoc_args args;
	struct iocp_assoc *a;
	struct file *file;
	long ret = 0;

	file = iocp_assoc_args_file(&args, argp, true);
	if (IS_ERR(file))
		return PTR_ERR(file);

	mutex_lock(&port->assoc_mutex);
	a = iocp_assoc_find(port, file);
	if (a)
		iocp_assoc_teardown(a, true);
	else
		ret = -ENOENT;
	mutex_unlock(&port->assoc_mutex);
	fput(file);
	return ret;
}

/* Drop every association; the port is shut down. */
void iocp_assoc_shutdown(struct iocp_port *port)
{
	struct iocp_assoc *a, *tmp;

	mutex_lock(&port->assoc_mutex);
	list_for_each_entry_safe(a, tmp, &port->assocs, port_node) {
		iocp_assoc_teardown(a, false);
		cond_resched();
	}
	mutex_unlock(&port->assoc_mutex);
}

/* A dequeue takes the association's queued packet (iocp_release_waiter). */
void iocp_assoc_handover(struct iocp_port *port, struct iocp_packet *pkt)
{
	struct iocp_assoc *a = iocp_assoc_of(pkt);

	lockdep_assert_held(&port->lock);

	a->state = IOCP_ASSOC_INFLIGHT;
	a->refire = false;
	/* The events that go with the packet's key, for the resolve. */
	pkt->c.events = (__force u32)a->events;
	if (a->flags & IOCP_ASSOC_ONESHOT)
		a->armed = false;
	/* For iocp_assoc_resolve(): teardown may drop its own meanwhile. */
	get_file(a->file);
}

/*
 * Fill in the events of a packet in flight by polling its file, in the
 * dequeuing thread; false if nothing asked for is ready.
 */
bool iocp_assoc_resolve(struct iocp_packet *pkt)
{
	struct iocp_assoc *a = iocp_assoc_of(pkt);
	__poll_t mask;

	mask = iocp_poll_normalize(vfs_poll(a->file, NULL));
	mask &= (__force __poll_t)pkt->c.events;
	if (READ_ONCE(a->pollfree))
		mask |= EPOLLHUP;
	fput(a->file);
	pkt->c.events = (__force u32)mask;
	return mask;
}

/*
 * A dequeue is done with the association's packet; see enum iocp_settle.
 * Returns whether the packet is queued again (by this function, at the
 * tail) or, for IOCP_SETTLE_RETURNED, is to be put back by the caller.
 * The caller has taken the packet off its list and dispatches afterwards.
 */
bool iocp_assoc_settle(struct iocp_port *port, struct iocp_packet *pkt,
		       enum iocp_settle how)
{
	struct iocp_assoc *a = iocp_assoc_of(pkt);
	bool again;

	lockdep_assert_held(&port->lock);

	a->state = IOCP_ASSOC_IDLE;
	if (a->waiter)
		wake_up_process(a->waiter);
	if (a->orphan) {
		call_rcu(&a->rcu, iocp_assoc_free_rcu);
		return false;
	}
	if (a->dead || port->shutdown)
		return false;

	switch (how) {
	case IOCP_SETTLE_DELIVERED:
		again = a->refire && a->armed;
		break;
	case IOCP_SETTLE_SPURIOUS:
		a->armed = true;
		again = a->refire;
		break;
	case IOCP_SETTLE_RETURNED:
	default:
		/* Back at the head, with the key in effect now. */
		a->armed = true;
		a->pkt.c.key = a->key;
		a->pkt.c.events = 0;
		a->state = IOCP_ASSOC_QUEUED;
		return true;
	}
	if (again)
		iocp_assoc_queue(a);
	return again;
}

/*
 * The key of @file's association with @port, if any, in @key; returns
 * whether the association asks to skip packets on success (op.c).
 */
bool iocp_assoc_lookup(struct iocp_port *port, struct file *file, u64 *key)
{
	struct iocp_assoc *a;
	bool skip = false;

	rcu_read_lock();
	a = rhashtable_lookup(&iocp_assoc_table, &file, iocp_assoc_params);
	if (a && a->port == port) {
		spin_lock_irq(&port->lock);
		if (!a->dead) {
			*key = a->key;
			skip = a->flags & IOCP_ASSOC_SKIP_ON_SUCCESS;
		}
		spin_unlock_irq(&port->lock);
	}
	rcu_read_unlock();
	return skip;
}

/* Shutdown drops the association's queued packet (iocp_queue_shutdown). */
void iocp_assoc_discard(struct iocp_port *port, struct iocp_packet *pkt)
{
	lockdep_assert_held(&port->lock);

	iocp_assoc_of(pkt)->state = IOCP_ASSOC_IDLE;
}

void iocp_assoc_show_fdinfo(struct seq_file *m, struct iocp_port *port)
{
	struct iocp_assoc *a;
	u32 events, flags;
	u64 key;

	if (mutex_lock_killable(&port->assoc_mutex))
		return;
	list_for_each_entry(a, &port->assocs, port_node) {
		spin_lock_irq(&port->lock);
		key = a->key;
		events = a->uevents;
		flags = a->flags;
		spin_unlock_irq(&port->lock);
		seq_printf(m, "iocp-assoc:\tinode:%lu key:%#llx events:%#x flags:%#x\n",
			   file_inode(a->file)->i_ino, key, events, flags);
	}
	mutex_unlock(&port->assoc_mutex);
}

void iocp_assoc_port_init(struct iocp_port *port)
{
	mutex_init(&port->assoc_mutex);
	INIT_LIST_HEAD(&port->assocs);
	INIT_LIST_HEAD(&port->nest_children);
	port->max_assoc = IOCP_DEFAULT_MAX_ASSOC;
}

int iocp_assoc_init(void)
{
	int ret;

	iocp_assoc_cachep = KMEM_CACHE(iocp_assoc, SLAB_ACCOUNT);
	if (!iocp_assoc_cachep)
		return -ENOMEM;
	ret = rhashtable_init(&iocp_assoc_table, &iocp_assoc_params);
	if (ret)
		kmem_cache_destroy(iocp_assoc_cachep);
	return ret;
}

void iocp_assoc_exit(void)
{
	/* Every port is gone; wait for the frees they queued. */
	rcu_barrier();
	rhashtable_destroy(&iocp_assoc_table);
	kmem_cache_destroy(iocp_assoc_cachep);
}
