// SPDX-License-Identifier: GPL-2.0-only
/*
 * iocp - hooking on the wait queues of a file.
 *
 * An association (assoc.c) and an op channel (op.c) learn of a file's
 * readiness the way epoll does: an entry on each wait queue the file's
 * ->poll() names, whose callback runs in atomic context under that wait
 * queue's lock.
 *
 * POLLFREE is handled as epoll and io_uring do: some files (signalfd)
 * free a wait queue before the file. The callback unhooks its entry and
 * clears @whead with release semantics, after which it touches nothing;
 * unhooking reads @whead under RCU with acquire semantics.
 */

#include <linux/poll.h>
#include <linux/rcupdate.h>
#include <linux/slab.h>

#include "iocp.h"

static int iocp_waitset_wake(struct wait_queue_entry *wait, unsigned int mode,
			     int sync, void *key)
{
	struct iocp_wait *w = container_of(wait, struct iocp_wait, wait);
	__poll_t mask = key_to_poll(key);

	w->ws->wake(w->ws, mask);
	if (mask & POLLFREE) {
		/*
		 * Unhooking may race and remove the entry again:
		 * list_del_init() keeps that harmless. After the store
		 * nothing protects @w or its set.
		 */
		list_del_init(&wait->entry);
		/* Pairs with smp_load_acquire() in iocp_waitset_unhook(). */
		smp_store_release(&w->whead, NULL);
	}
	return 0;
}

struct iocp_waitset_pt {
	poll_table pt;
	struct iocp_waitset *ws;
};

/* poll_wait() of the file; process context. */
static void iocp_waitset_queue(struct file *file, wait_queue_head_t *whead,
			       poll_table *pt)
{
	struct iocp_waitset *ws = container_of(pt, struct iocp_waitset_pt,
					       pt)->ws;
	struct iocp_wait *w = &ws->first;

	if (ws->error)
		return;
	if (ws->n) {
		w = kzalloc(sizeof(*w), GFP_KERNEL_ACCOUNT);
		if (!w) {
			ws->error = -ENOMEM;
			return;
		}
		w->next = ws->first.next;
		ws->first.next = w;
	}
	ws->n++;
	w->ws = ws;
	w->whead = whead;
	init_waitqueue_func_entry(&w->wait, iocp_waitset_wake);
	add_wait_queue(whead, &w->wait);
}

/*
 * Hook @ws on @file's wait queues, calling @wake for each wakeup from
 * now on, and poll the file. Returns the poll mask; on failure (see
 * @ws->error) the caller unhooks.
 */
__poll_t iocp_waitset_hook(struct iocp_waitset *ws, struct file *file,
			   void (*wake)(struct iocp_waitset *ws, __poll_t mask))
{
	struct iocp_waitset_pt wpt = { .ws = ws };

	ws->wake = wake;
	init_poll_funcptr(&wpt.pt, iocp_waitset_queue);
	wpt.pt._key = EPOLLIN | EPOLLPRI | EPOLLOUT | EPOLLERR | EPOLLHUP |
		      EPOLLRDHUP | EPOLLRDNORM | EPOLLWRNORM;
	return vfs_poll(file, &wpt.pt);
}

/* Unhook @ws: once this returns, no callback runs or will run. */
void iocp_waitset_unhook(struct iocp_waitset *ws)
{
	struct iocp_wait *w, *next;
	wait_queue_head_t *whead;

	for (w = &ws->first; w && ws->n; w = w->next) {
		rcu_read_lock();
		/*
		 * NULL: POLLFREE took the entry off a queue that may be
		 * gone. Else the queue's lock, held by a running callback,
		 * orders us after it.
		 */
		whead = smp_load_acquire(&w->whead);
		if (whead)
			remove_wait_queue(whead, &w->wait);
		rcu_read_unlock();
	}
	for (w = ws->first.next; w; w = next) {
		next = w->next;
		kfree(w);
	}
	ws->first.next = NULL;
	ws->n = 0;
}
