// SPDX-License-Identifier: GPL-2.0-only
/*
 * iocp - overlapped I/O: ops the kernel performs and completes through the
 * port.
 *
 * Execution model. An op is tried at once, in the submitting thread, if
 * that cannot block (a pollable file, or a file that supports IOCB_NOWAIT).
 * If it is not done then, it waits on its channel, the (port, file) pair,
 * which is hooked on the file's wait queues. A wakeup queues the op's work
 * on the iocp workqueue; the worker borrows the submitter's address space
 * (kthread_use_mm()) and credentials and tries again. On a file that
 * cannot be polled (a regular file) the worker's attempt blocks as read(2)
 * would: a slow disk stalls that worker only, never a dequeuing thread, and
 * never the packets of other files.
 *
 * Ops of one direction on one file complete in submission order: only the
 * head of a channel's IN or OUT queue is tried, and when it completes the
 * next one is tried at once. POLL ops are independent.
 *
 * Once an op is done its packet is queued (or, if it was done at submit,
 * possibly not: see iocp_req_finish()). The packet is the op's own: the op
 * is freed when its packet is delivered or discarded.
 *
 * Cancel and shutdown take an op off its channel if it waits or is queued,
 * and mark it otherwise: an attempt that is running completes with its own
 * result, or with -ECANCELED if it would have waited. Shutdown then waits
 * until no op of the port runs: after that the kernel touches no buffer of
 * the port's ops again.
 *
 * Locking: port->lock, then chan->lock (taken by wakeups, so with
 * interrupts disabled), then the workqueue's. port->chan_lock guards the
 * port's table of channels and their reference counts.
 */

#include <linux/cred.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/hash.h>
#include <linux/kthread.h>
#include <linux/pid.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "iocp.h"
#include "op.h"

/**
 * struct iocp_chan - the ops of one port on one file
 * @hnode:    in port->chans; under port->chan_lock.
 * @port:     constant; the channel holds a reference.
 * @file:     constant; the channel holds a reference.
 * @refs:     ops on the channel; under port->chan_lock.
 * @lock:     protects @reqs and the state of the ops on them.
 * @reqs:     the ops, per enum iocp_req_dir, oldest first.
 * @pollable: @file can be polled; constant.
 * @ws:       hooked on @file's wait queues if @pollable.
 */
struct iocp_chan {
	struct hlist_node hnode;
	struct iocp_port *port;
	struct file *file;
	unsigned int refs;
	spinlock_t lock;	/* protects @reqs, their ops' state */
	struct list_head reqs[IOCP_NR_DIRS];
	bool pollable;
	struct iocp_waitset ws;
};

static struct kmem_cache *iocp_req_cachep;
static struct workqueue_struct *iocp_wq;

static void iocp_req_queue_work(struct iocp_req *req)
{
	lockdep_assert_held(&req->chan->lock);

	req->state = IOCP_REQ_QUEUED;
	queue_work(iocp_wq, &req->work);
}

/* A wakeup reached @dir: try its head (or, for POLL, every op). */
static void iocp_chan_kick(struct iocp_chan *chan, enum iocp_req_dir dir)
{
	struct iocp_req *req;

	lockdep_assert_held(&chan->lock);

	list_for_each_entry(req, &chan->reqs[dir], chan_node) {
		if (req->state == IOCP_REQ_WAITING)
			iocp_req_queue_work(req);
		else if (req->state == IOCP_REQ_RUNNING)
			req->woken = true;
		if (dir != IOCP_DIR_POLL)
			break;
	}
}

#define IOCP_EPOLL_IN	(EPOLLIN | EPOLLRDNORM | EPOLLPRI | EPOLLRDHUP | \
			 EPOLLERR | EPOLLHUP)
#define IOCP_EPOLL_OUT	(EPOLLOUT | EPOLLWRNORM | EPOLLERR | EPOLLHUP)

/* Wait queue callback: atomic context. @mask 0: unknown events. */
static void iocp_chan_wake(struct iocp_waitset *ws, __poll_t mask)
{
	struct iocp_chan *chan = container_of(ws, struct iocp_chan, ws);
	unsigned long flags;

	spin_lock_irqsave(&chan->lock, flags);
	if (!mask || (mask & IOCP_EPOLL_IN))
		iocp_chan_kick(chan, IOCP_DIR_IN);
	if (!mask || (mask & IOCP_EPOLL_OUT))
		iocp_chan_kick(chan, IOCP_DIR_OUT);
	iocp_chan_kick(chan, IOCP_DIR_POLL);
	spin_unlock_irqrestore(&chan->lock, flags);
}

static void iocp_chan_free(struct iocp_chan *chan)
{
	if (chan->pollable)
		iocp_waitset_unhook(&chan->ws);
	fput(chan->file);
	iocp_port_put(chan->port);
	kfree(chan);
}

/*
 * A new channel, hooked on the file before anyone can see it. The
 * wakeups that came before the hook are caught by the caller's first
 * attempt, made after the op is on the channel.
 */
static struct iocp_chan *iocp_chan_alloc(struct iocp_port *port,
					 struct file *file)
{
	struct iocp_chan *chan;
	int i;

	chan = kzalloc(sizeof(*chan), GFP_KERNEL_ACCOUNT);
	if (!chan)
		return NULL;
	chan->port = port;
	chan->file = get_file(file);
	iocp_port_get(port);
	spin_lock_init(&chan->lock);
	for (i = 0; i < IOCP_NR_DIRS; i++)
		INIT_LIST_HEAD(&chan->reqs[i]);
	chan->refs = 1;
	chan->pollable = file_can_poll(file);
	if (chan->pollable) {
		iocp_waitset_hook(&chan->ws, file, iocp_chan_wake);
		if (chan->ws.error) {
			iocp_chan_free(chan);
			return NULL;
		}
	}
	return chan;
}

/* The channel of (@port, @file), with a reference; NULL: no memory. */
static struct iocp_chan *iocp_chan_get(struct iocp_port *port,
				       struct file *file)
{
	unsigned long hkey = hash_ptr(file, IOCP_CHAN_HASH_BITS);
	struct iocp_chan *chan, *new = NULL;

	for (;;) {
		spin_lock(&port->chan_lock);
		hlist_for_each_entry(chan, &port->chans[hkey], hnode) {
			if (chan->file == file) {
				chan->refs++;
				spin_unlock(&port->chan_lock);
				if (new)
					iocp_chan_free(new);
				return chan;
			}
		}
		if (new) {
			hlist_add_head(&new->hnode, &port->chans[hkey]);
			spin_unlock(&port->chan_lock);
			return new;
		}
		spin_unlock(&port->chan_lock);
		new = iocp_chan_alloc(port, file);
		if (!new)
			return NULL;
	}
}

static void iocp_chan_put(struct iocp_chan *chan)
{
	struct iocp_port *port = chan->port;

	spin_lock(&port->chan_lock);
	if (--chan->refs) {
		spin_unlock(&port->chan_lock);
		return;
	}
	hlist_del(&chan->hnode);
	spin_unlock(&port->chan_lock);
	iocp_chan_free(chan);
}

/* What an op held while it ran; dropped once it is done. */
struct iocp_req_refs {
	struct iocp_chan *chan;
	struct file *file;
	struct mm_struct *mm;
	const struct cred *cred;
	struct pid *tgid;
};

static void iocp_req_take_refs(struct iocp_req *req, struct iocp_req_refs *r)
{
	r->chan = req->chan;
	r->file = req->file;
	r->mm = req->mm;
	r->cred = req->cred;
	r->tgid = req->tgid;
	req->chan = NULL;
	req->file = NULL;
	req->mm = NULL;
	req->cred = NULL;
	req->tgid = NULL;
}

static void iocp_req_drop_refs(struct iocp_req_refs *r)
{
	if (r->chan)
		iocp_chan_put(r->chan);
	if (r->file)
		fput(r->file);
	if (r->mm)
		mmdrop(r->mm);
	if (r->cred)
		put_cred(r->cred);
	put_pid(r->tgid);
}

/* Free an op whose packet is delivered, discarded or never queued. */
void iocp_req_free(struct iocp_packet *pkt)
{
	struct iocp_req *req = container_of(pkt, struct iocp_req, pkt);
	struct iocp_port *port = req->port;

	if (req->newfile)
		fput(req->newfile);
	kmem_cache_free(iocp_req_cachep, req);
	iocp_port_put(port);
}

/*
 * An op is done with result @res. Under port->lock. Decides whether a
 * packet is queued; returns the status for the submitter if @at_submit.
 */
static u32 iocp_req_finish(struct iocp_port *port, struct iocp_req *req,
			   ssize_t res, bool at_submit, bool *free)
{
	bool skip = req->op.flags & IOCP_OPF_SKIP_ON_SUCCESS;
	u32 status = IOCP_OP_PENDING;

	lockdep_assert_held(&port->lock);

	*free = false;
	req->pkt.c.result = (u64)res;
	if (at_submit) {
		if (res < 0 || (skip && res >= 0)) {
			port->nops--;
			*free = true;
			return res < 0 ? IOCP_OP_FAILED : IOCP_OP_DONE;
		}
		status = IOCP_OP_QUEUED;
	}
	if (port->shutdown) {
		port->discarded++;
		port->nops--;
		*free = true;
		return status;
	}
	iocp_queue_packet(port, &req->pkt);
	iocp_dispatch(port);
	return status;
}

/*
 * After an attempt with result @res (-EAGAIN: not ready). Returns what
 * the submitter sees if @at_submit.
 */
static u32 iocp_req_after(struct iocp_req *req, ssize_t res, bool at_submit)
{
	struct iocp_port *port = req->port;
	struct iocp_chan *chan = req->chan;
	struct iocp_req_refs refs = {};
	bool free = false;
	u32 status;

	spin_lock_irq(&port->lock);
	spin_lock(&chan->lock);
	/*
	 * Cancelled while it ran: it completes through the port, even when
	 * the attempt was the one at submit (the canceller counted it).
	 */
	if (res == -EAGAIN && (req->cancel || port->shutdown)) {
		res = -ECANCELED;
		at_submit = false;
	}
	if (res == -EAGAIN) {
		if (req->woken || !chan->pollable)
			iocp_req_queue_work(req);
		else
			req->state = IOCP_REQ_WAITING;
		spin_unlock(&chan->lock);
		spin_unlock_irq(&port->lock);
		return IOCP_OP_PENDING;
	}
	req->state = IOCP_REQ_DONE;
	list_del(&req->chan_node);
	/* The next op of the direction: there may be more to take. */
	if (req->dir != IOCP_DIR_POLL && !list_empty(&chan->reqs[req->dir])) {
		struct iocp_req *next = list_first_entry(&chan->reqs[req->dir],
							 struct iocp_req,
							 chan_node);

		if (next->state == IOCP_REQ_WAITING)
			iocp_req_queue_work(next);
	}
	spin_unlock(&chan->lock);

	list_del(&req->port_node);
	if (list_empty(&port->reqs))
		wake_up_all(&port->ops_wq);
	iocp_req_take_refs(req, &refs);
	iocp_port_get(port);
	spin_unlock_irq(&port->lock);

	/*
	 * Done with the file before the packet can be seen: once it is
	 * dequeued, closing the descriptor closes the file.
	 */
	iocp_req_drop_refs(&refs);

	/* The packet may be delivered and the op freed from here on. */
	spin_lock_irq(&port->lock);
	status = iocp_req_finish(port, req, res, at_submit, &free);
	spin_unlock_irq(&port->lock);

	if (!free && status != IOCP_OP_DONE)
		iocp_wake_pollers(port);
	iocp_port_put(port);
	if (free)
		iocp_req_free(&req->pkt);
	return status;
}

static ssize_t iocp_req_issue_async(struct iocp_req *req)
{
	const struct cred *old;
	ssize_t res;

	/* The submitter's address space is gone: nothing to do I/O to. */
	if (!mmget_not_zero(req->mm))
		return -ECANCELED;
	kthread_use_mm(req->mm);
	old = override_creds(req->cred);
	res = iocp_io_issue(req, req->chan->pollable);
	revert_creds(old);
	kthread_unuse_mm(req->mm);
	mmput(req->mm);
	return res;
}

static void iocp_req_work(struct work_struct *work)
{
	struct iocp_req *req = container_of(work, struct iocp_req, work);
	struct iocp_chan *chan = req->chan;
	bool cancel;
	ssize_t res;

	spin_lock_irq(&chan->lock);
	cancel = req->cancel;
	req->state = IOCP_REQ_RUNNING;
	req->woken = false;
	spin_unlock_irq(&chan->lock);

	res = cancel ? -ECANCELED : iocp_req_issue_async(req);
	iocp_req_after(req, res, false);
}

/* The direction of an op's channel queue. */
static enum iocp_req_dir iocp_req_dir(const struct iocp_op *op)
{
	if (op->opcode == IOCP_OP_POLL)
		return IOCP_DIR_POLL;
	return iocp_op_writes(op->opcode) ? IOCP_DIR_OUT : IOCP_DIR_IN;
}

/*
 * Whether an attempt at submit cannot block: always on a pollable file
 * (ops there never block); on other files if they take IOCB_NOWAIT.
 */
static bool iocp_req_try_now(struct iocp_req *req)
{
	return req->chan->pollable || (req->file->f_mode & FMODE_NOWAIT);
}

/* A NOP completes at submit. */
static u32 iocp_submit_nop(struct iocp_port *port, struct iocp_req *req)
{
	bool free;
	u32 status;

	spin_lock_irq(&port->lock);
	status = iocp_req_finish(port, req, 0, true, &free);
	spin_unlock_irq(&port->lock);
	if (free)
		iocp_req_free(&req->pkt);
	else
		iocp_wake_pollers(port);
	return status;
}

/*
 * Start @op. Its status and, unless pending, its result are written to
 * @op; an op that fails at submit queues nothing.
 */
static void iocp_submit_one(struct iocp_port *port, struct iocp_op *op)
{
	struct iocp_req *req;
	struct iocp_chan *chan;
	bool now = false;
	ssize_t res;
	int err;

	op->result = 0;
	err = -EINVAL;
	if (op->opcode > IOCP_OP_POLL || (op->flags & ~IOCP_OPF_SKIP_ON_SUCCESS))
		goto fail;
	if (op->opcode == IOCP_OP_NOP &&
	    (op->addr || op->addr2 || op->offset || op->len || op->fd ||
	     op->op_flags))
		goto fail;

	err = -ENOMEM;
	req = kmem_cache_zalloc(iocp_req_cachep, GFP_KERNEL_ACCOUNT);
	if (!req)
		goto fail;
	req->port = port;
	req->op = *op;
	req->dir = iocp_req_dir(op);
	req->fd = -1;
	INIT_WORK(&req->work, iocp_req_work);
	req->pkt.kind = IOCP_PACKET_OP;
	req->pkt.c.user_data = op->user_data;
	req->pkt.c.flags = IOCP_CF_OP;
	iocp_port_get(port);

	if (op->opcode != IOCP_OP_NOP) {
		err = -EBADF;
		req->file = fget(op->fd);
		if (!req->file)
			goto fail_free;
		/*
		 * An op holds its file: on a port's file it could keep that
		 * port open for ever (associate the port instead).
		 */
		err = -ELOOP;
		if (iocp_file_is_port(req->file))
			goto fail_free;
		err = iocp_io_prep(req);
		if (err)
			goto fail_free;
		if (iocp_assoc_lookup(port, req->file, &req->pkt.c.key))
			req->op.flags |= IOCP_OPF_SKIP_ON_SUCCESS;
	}

	spin_lock_irq(&port->lock);
	err = port->shutdown ? -ESHUTDOWN :
	      port->nops >= port->max_ops ? -EAGAIN : 0;
	if (!err)
		port->nops++;
	spin_unlock_irq(&port->lock);
	if (err)
		goto fail_free;

	if (op->opcode == IOCP_OP_NOP) {
		op->status = iocp_submit_nop(port, req);
		return;
	}

	err = -ENOMEM;
	chan = iocp_chan_get(port, req->file);
	if (!chan)
		goto fail_unaccount;
	mmgrab(current->mm);
	req->mm = current->mm;
	req->cred = get_current_cred();
	req->tgid = get_pid(task_tgid(current));
	req->chan = chan;

	spin_lock_irq(&port->lock);
	if (port->shutdown) {
		spin_unlock_irq(&port->lock);
		err = -ESHUTDOWN;
		goto fail_chan;
	}
	spin_lock(&chan->lock);
	list_add_tail(&req->port_node, &port->reqs);
	list_add_tail(&req->chan_node, &chan->reqs[req->dir]);
	if (req->dir == IOCP_DIR_POLL ||
	    list_is_first(&req->chan_node, &chan->reqs[req->dir])) {
		now = iocp_req_try_now(req);
		if (now)
			req->state = IOCP_REQ_RUNNING;
		else
			iocp_req_queue_work(req);
	} else {
		req->state = IOCP_REQ_WAITING;
	}
	spin_unlock(&chan->lock);
	spin_unlock_irq(&port->lock);

	op->status = IOCP_OP_PENDING;
	if (!now)
		return;
	res = iocp_io_issue(req, true);
	/* Done at submit: an accepted socket goes to the submitter. */
	if (res >= 0 && req->newfile &&
	    (req->op.flags & IOCP_OPF_SKIP_ON_SUCCESS)) {
		res = get_unused_fd_flags(req->op.op_flags & O_CLOEXEC);
		if (res >= 0) {
			fd_install(res, req->newfile);
			req->newfile = NULL;
		}
	}
	if (res != -EAGAIN)
		op->result = (u64)res;
	op->status = iocp_req_after(req, res, true);
	return;

fail_chan:
	req->chan = NULL;
	iocp_chan_put(chan);
	mmdrop(req->mm);
	put_cred(req->cred);
	put_pid(req->tgid);
fail_unaccount:
	spin_lock_irq(&port->lock);
	port->nops--;
	spin_unlock_irq(&port->lock);
fail_free:
	if (req->file)
		fput(req->file);
	iocp_req_free(&req->pkt);
fail:
	op->status = IOCP_OP_FAILED;
	op->result = (u64)(s64)err;
}

long iocp_submit(struct iocp_port *port, void __user *argp)
{
	struct iocp_submit_args args;
	struct iocp_op __user *uops;
	struct iocp_op op;
	u32 i;

	if (copy_from_user(&args, argp, sizeof(args)))
		return -EFAULT;
	if (args.flags || !args.count || args.count > IOCP_MAX_BATCH)
		return -EINVAL;
	uops = u64_to_user_ptr(args.ops);
	for (i = 0; i < args.count; i++) {
		if (copy_from_user(&op, &uops[i], sizeof(op)))
			return -EFAULT;
		iocp_submit_one(port, &op);
		if (put_user(op.result, &uops[i].result) ||
		    put_user(op.status, &uops[i].status))
			return -EFAULT;
		cond_resched();
	}
	return 0;
}

/*
 * Take @req off its channel if it has not started, else mark it; true if
 * it was taken off (the caller completes it). Under both locks.
 */
static bool iocp_req_cancel(struct iocp_req *req)
{
	switch (req->state) {
	case IOCP_REQ_QUEUED:
		if (!cancel_work(&req->work))
			break;
		fallthrough;
	case IOCP_REQ_WAITING:
		req->state = IOCP_REQ_RUNNING;
		return true;
	default:
		break;
	}
	req->cancel = true;
	return false;
}

/*
 * Cancel the ops of @port that @match accepts; returns how many were not
 * done yet. Those that had not started complete with -ECANCELED here.
 */
static u32 iocp_cancel_matching(struct iocp_port *port,
				bool (*match)(const struct iocp_req *req,
					      const void *arg),
				const void *arg)
{
	struct iocp_req *req, *tmp;
	LIST_HEAD(taken);
	u32 n = 0;

	spin_lock_irq(&port->lock);
	list_for_each_entry(req, &port->reqs, port_node) {
		if (!match(req, arg))
			continue;
		n++;
		spin_lock(&req->chan->lock);
		/* Taken: ours now, as if an attempt were running. */
		if (iocp_req_cancel(req))
			list_add_tail(&req->cancel_node, &taken);
		spin_unlock(&req->chan->lock);
	}
	spin_unlock_irq(&port->lock);

	list_for_each_entry_safe(req, tmp, &taken, cancel_node)
		iocp_req_after(req, -ECANCELED, false);
	return n;
}

struct iocp_cancel_match {
	u64 user_data;
	struct file *file;
	u32 flags;
};

static bool iocp_cancel_match(const struct iocp_req *req, const void *arg)
{
	const struct iocp_cancel_match *m = arg;

	if (m->flags & IOCP_CANCEL_ALL)
		return true;
	if ((m->flags & IOCP_CANCEL_USER_DATA) &&
	    req->op.user_data != m->user_data)
		return false;
	if ((m->flags & IOCP_CANCEL_FD) && req->file != m->file)
		return false;
	return true;
}

long iocp_cancel(struct iocp_port *port, void __user *argp)
{
	struct iocp_cancel_args __user *uargs = argp;
	struct iocp_cancel_args args;
	struct iocp_cancel_match m = {};
	u32 n;

	if (copy_from_user(&args, uargs, sizeof(args)))
		return -EFAULT;
	if (args.reserved || !args.flags ||
	    (args.flags & ~(IOCP_CANCEL_USER_DATA | IOCP_CANCEL_FD |
			    IOCP_CANCEL_ALL)) ||
	    ((args.flags & IOCP_CANCEL_ALL) && args.flags != IOCP_CANCEL_ALL))
		return -EINVAL;
	m.flags = args.flags;
	m.user_data = args.user_data;
	if (args.flags & IOCP_CANCEL_FD) {
		m.file = fget(args.fd);
		if (!m.file)
			return -EBADF;
	}
	n = iocp_cancel_matching(port, iocp_cancel_match, &m);
	if (m.file)
		fput(m.file);
	if (!n)
		return -ENOENT;
	return put_user(n, &uargs->count) ? -EFAULT : 0;
}

static bool iocp_match_tgid(const struct iocp_req *req, const void *arg)
{
	return req->tgid == arg;
}

/*
 * The last file descriptor table holding the port goes away with an
 * exiting process: its ops are cancelled.
 */
void iocp_ops_flush(struct iocp_port *port)
{
	if (!(current->flags & PF_EXITING))
		return;
	iocp_cancel_matching(port, iocp_match_tgid, task_tgid(current));
}

static bool iocp_match_all(const struct iocp_req *req, const void *arg)
{
	return true;
}

/*
 * The port is shut down: cancel every op and wait until none runs. Ops
 * that complete from now on have their packets discarded.
 */
void iocp_ops_shutdown(struct iocp_port *port)
{
	iocp_cancel_matching(port, iocp_match_all, NULL);
	wait_event(port->ops_wq, list_empty_careful(&port->reqs));
}

/*
 * Delivery of an op's packet (queue.c), in the dequeuing thread: an
 * accepted socket gets a descriptor in the dequeuing process, reserved
 * before the copy and installed after it.
 */
void iocp_req_prepare(struct iocp_packet *pkt)
{
	struct iocp_req *req = container_of(pkt, struct iocp_req, pkt);
	int fd;

	if (!req->newfile)
		return;
	fd = get_unused_fd_flags(req->op.op_flags & O_CLOEXEC);
	req->fd = fd;
	pkt->c.result = (u64)(s64)fd;
}

/* The packet was copied out (@delivered) or goes back to the queue. */
void iocp_req_delivered(struct iocp_packet *pkt, bool delivered)
{
	struct iocp_req *req = container_of(pkt, struct iocp_req, pkt);

	if (req->fd < 0)
		return;
	if (delivered) {
		fd_install(req->fd, req->newfile);
		req->newfile = NULL;
	} else {
		put_unused_fd(req->fd);
		pkt->c.result = 0;
	}
	req->fd = -1;
}

void iocp_ops_port_init(struct iocp_port *port)
{
	INIT_LIST_HEAD(&port->reqs);
	init_waitqueue_head(&port->ops_wq);
	spin_lock_init(&port->chan_lock);
	hash_init(port->chans);
	port->max_ops = IOCP_DEFAULT_MAX_OPS;
}

int iocp_ops_init(void)
{
	iocp_req_cachep = KMEM_CACHE_USERCOPY(iocp_req, SLAB_ACCOUNT, addr);
	if (!iocp_req_cachep)
		return -ENOMEM;
	iocp_wq = alloc_workqueue("iocp", WQ_UNBOUND, 0);
	if (!iocp_wq) {
		kmem_cache_destroy(iocp_req_cachep);
		return -ENOMEM;
	}
	return 0;
}

void iocp_ops_exit(void)
{
	destroy_workqueue(iocp_wq);
	kmem_cache_destroy(iocp_req_cachep);
}
