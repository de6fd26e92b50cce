// SPDX-License-Identifier: GPL-2.0-only
/*
 * iocp - I/O completion ports: the /dev/iocp device and port lifetime.
 *
 * Each open of /dev/iocp creates a port, owned by that open file. The port
 * lives until the file is released; IOCP_IOC_SHUTDOWN ends its use earlier,
 * which is how a thread can wake others blocked in the port (they hold
 * references to the file, so close(2) alone does not reach them).
 */

#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/poll.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uaccess.h>

#include "iocp.h"

#define IOCP_NAME	"iocp"

static const struct file_operations iocp_fops;

bool iocp_file_is_port(struct file *file)
{
	return file->f_op == &iocp_fops;
}

void iocp_port_get(struct iocp_port *port)
{
	refcount_inc(&port->refs);
}

void iocp_port_put(struct iocp_port *port)
{
	if (!refcount_dec_and_test(&port->refs))
		return;
	/* No wake callback is left to queue it. */
	irq_work_sync(&port->poll_work);
	kfree_rcu(port, rcu);
}

static void iocp_poll_work(struct irq_work *work)
{
	iocp_wake_pollers(container_of(work, struct iocp_port, poll_work));
}

static int iocp_open(struct inode *inode, struct file *file)
{
	struct iocp_port *port;

	port = kzalloc(sizeof(*port), GFP_KERNEL_ACCOUNT);
	if (!port)
		return -ENOMEM;
	spin_lock_init(&port->lock);
	INIT_LIST_HEAD(&port->queue);
	INIT_LIST_HEAD(&port->waiters);
	INIT_LIST_HEAD(&port->threads);
	port->max_queued = IOCP_DEFAULT_MAX_QUEUED;
	init_waitqueue_head(&port->poll_wq);
	init_irq_work(&port->poll_work, iocp_poll_work);
	refcount_set(&port->refs, 1);
	iocp_assoc_port_init(port);
	iocp_ops_port_init(port);

	file->private_data = port;
	return stream_open(inode, file);
}

/*
 * End the port's use: wake every waiter, drop queued packets, disassociate
 * every thread, dissociate every file, cancel every op and wait until none
 * runs. Waiters already handed packets keep them. A second call returns
 * once the first is done with the files and ops.
 */
static void iocp_port_shutdown(struct iocp_port *port)
{
	struct iocp_packet *pkt, *tmp;
	LIST_HEAD(ops);
	bool first;

	spin_lock_irq(&port->lock);
	first = !port->shutdown;
	if (first) {
		port->shutdown = true;
		iocp_queue_shutdown(port, &ops);
		iocp_thread_detach_all(port);
	}
	spin_unlock_irq(&port->lock);

	list_for_each_entry_safe(pkt, tmp, &ops, node)
		iocp_req_free(pkt);
	if (first)
		wake_up_poll(&port->poll_wq, EPOLLHUP);
	iocp_assoc_shutdown(port);
	iocp_ops_shutdown(port);
}

static int iocp_release(struct inode *inode, struct file *file)
{
	struct iocp_port *port = file->private_data;

	iocp_port_shutdown(port);
	/* No waiter is left: each held a reference to this file. */
	WARN_ON_ONCE(!list_empty(&port->waiters));
	iocp_port_put(port);
	return 0;
}

/* The exit of a process that holds the port cancels the ops it submitted. */
static int iocp_flush(struct file *file, fl_owner_t id)
{
	iocp_ops_flush(file->private_data);
	return 0;
}

/* A consistent snapshot of the port's configuration and statistics. */
static void iocp_port_read(struct iocp_port *port, struct iocp_config *config,
			   struct iocp_stats *stats)
{
	memset(config, 0, sizeof(*config));
	memset(stats, 0, sizeof(*stats));

	spin_lock_irq(&port->lock);
	/* Where exits are polled, count only live threads. */
	if (IOCP_SCHED_POLL_NS && iocp_sched_reap(port))
		iocp_dispatch(port);
	config->concurrency = port->concurrency;
	config->max_queued = port->max_queued;
	config->flags = port->flags;
	config->max_assoc = port->max_assoc;
	config->max_ops = port->max_ops;

	stats->posted = port->posted;
	stats->dequeued = port->dequeued;
	stats->discarded = port->discarded;
	stats->queued = port->queued;
	stats->running = port->running;
	stats->waiting = port->waiting;
	stats->threads = port->nthreads;
	stats->high_water = port->high_water;
	stats->peak_running = port->peak_running;
	stats->concurrency = iocp_port_concurrency(port);
	stats->blocked = port->blocked;
	stats->associations = port->nassoc;
	stats->ops = port->nops;
	stats->flags = IOCP_STATS_EXIT_TRACKING;
	if (iocp_port_blocking_aware(port))
		stats->flags |= IOCP_STATS_BLOCKING_AWARE;
	if (port->shutdown)
		stats->flags |= IOCP_STATS_SHUTDOWN;
	spin_unlock_irq(&port->lock);
}

static long iocp_get_config(struct iocp_port *port, void __user *argp)
{
	struct iocp_config config;
	struct iocp_stats stats;

	iocp_port_read(port, &config, &stats);
	return copy_to_user(argp, &config, sizeof(config)) ? -EFAULT : 0;
}

static long iocp_set_config(struct iocp_port *port, void __user *argp)
{
	struct iocp_config config;
	long ret = 0;

	if (copy_from_user(&config, argp, sizeof(config)))
		return -EFAULT;
	if ((config.flags & ~IOCP_CONFIG_IGNORE_BLOCKING) ||
	    memchr_inv(config.reserved, 0, sizeof(config.reserved)))
		return -EINVAL;
	if (!config.max_queued || config.max_queued > IOCP_MAX_QUEUED_LIMIT)
		return -EINVAL;
	if (config.max_assoc > IOCP_MAX_ASSOC_LIMIT)
		return -EINVAL;
	if (!config.max_assoc)
		config.max_assoc = IOCP_DEFAULT_MAX_ASSOC;
	if (config.max_ops > IOCP_MAX_OPS_LIMIT)
		return -EINVAL;
	if (!config.max_ops)
		config.max_ops = IOCP_DEFAULT_MAX_OPS;

	spin_lock_irq(&port->lock);
	if (port->shutdown) {
		ret = -ESHUTDOWN;
	} else {
		port->concurrency = config.concurrency;
		port->max_queued = config.max_queued;
		port->max_assoc = config.max_assoc;
		port->max_ops = config.max_ops;
		if (port->flags != config.flags) {
			port->flags = config.flags;
			iocp_thread_sync_all(port);
		}
		/* A larger concurrency value may release waiters. */
		iocp_dispatch(port);
	}
	spin_unlock_irq(&port->lock);
	return ret;
}

static long iocp_get_stats(struct iocp_port *port, void __user *argp)
{
	struct iocp_config config;
	struct iocp_stats stats;

	iocp_port_read(port, &config, &stats);
	return copy_to_user(argp, &stats, sizeof(stats)) ? -EFAULT : 0;
}

static long iocp_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct iocp_port *port = file->private_data;
	void __user *argp = (void __user *)arg;

	switch (cmd) {
	case IOCP_IOC_SET_CONFIG:
		return iocp_set_config(port, argp);
	case IOCP_IOC_GET_CONFIG:
		return iocp_get_config(port, argp);
	case IOCP_IOC_POST:
		return iocp_post(port, argp);
	case IOCP_IOC_DEQUEUE:
		return iocp_dequeue(port, argp);
	case IOCP_IOC_GET_STATS:
		return iocp_get_stats(port, argp);
	case IOCP_IOC_SHUTDOWN:
		iocp_port_shutdown(port);
		return 0;
	case IOCP_IOC_DISASSOCIATE:
		return iocp_thread_disassociate(port);
	case IOCP_IOC_ASSOCIATE:
		return iocp_assoc_add(port, argp);
	case IOCP_IOC_MODIFY:
		return iocp_assoc_modify(port, argp);
	case IOCP_IOC_DISSOCIATE:
		return iocp_assoc_del(port, argp);
	case IOCP_IOC_SUBMIT:
		return iocp_submit(port, argp);
	case IOCP_IOC_CANCEL:
		return iocp_cancel(port, argp);
	default:
		return -ENOTTY;
	}
}

static __poll_t iocp_poll(struct file *file, struct poll_table_struct *wait)
{
	struct iocp_port *port = file->private_data;
	__poll_t mask = 0;

	poll_wait(file, &port->poll_wq, wait);

	spin_lock_irq(&port->lock);
	if (port->queued)
		mask |= EPOLLIN | EPOLLRDNORM;
	if (port->shutdown)
		mask |= EPOLLHUP;
	spin_unlock_irq(&port->lock);
	return mask;
}

static void iocp_show_fdinfo(struct seq_file *m, struct file *file)
{
	struct iocp_port *port = file->private_data;
	struct iocp_config c;
	struct iocp_stats s;

	iocp_port_read(port, &c, &s);

	seq_printf(m, "iocp-queued:\t%u\n", s.queued);
	seq_printf(m, "iocp-running:\t%u\n", s.running);
	seq_printf(m, "iocp-blocked:\t%u\n", s.blocked);
	seq_printf(m, "iocp-waiting:\t%u\n", s.waiting);
	seq_printf(m, "iocp-threads:\t%u\n", s.threads);
	seq_printf(m, "iocp-concurrency:\t%u\n", c.concurrency);
	seq_printf(m, "iocp-effective-concurrency:\t%u\n", s.concurrency);
	seq_printf(m, "iocp-max-queued:\t%u\n", c.max_queued);
	seq_printf(m, "iocp-flags:\t%#x\n", c.flags);
	seq_printf(m, "iocp-high-water:\t%u\n", s.high_water);
	seq_printf(m, "iocp-posted:\t%llu\n", s.posted);
	seq_printf(m, "iocp-dequeued:\t%llu\n", s.dequeued);
	seq_printf(m, "iocp-discarded:\t%llu\n", s.discarded);
	seq_printf(m, "iocp-shutdown:\t%d\n", !!(s.flags & IOCP_STATS_SHUTDOWN));
	seq_printf(m, "iocp-associations:\t%u\n", s.associations);
	seq_printf(m, "iocp-max-assoc:\t%u\n", c.max_assoc);
	seq_printf(m, "iocp-ops:\t%u\n", s.ops);
	seq_printf(m, "iocp-max-ops:\t%u\n", c.max_ops);
	iocp_assoc_show_fdinfo(m, port);
}

static const struct file_operations iocp_fops = {
	.owner		= THIS_MODULE,
	.open		= iocp_open,
	.release	= iocp_release,
	.flush		= iocp_flush,
	.unlocked_ioctl	= iocp_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
	.poll		= iocp_poll,
	.show_fdinfo	= iocp_show_fdinfo,
};

static struct miscdevice iocp_misc = {
	.minor		= IOCP_MINOR,
	.name		= IOCP_NAME,
	.fops		= &iocp_fops,
	/* A port is private to its opener and accounted to its memcg. */
	.mode		= 0666,
};

static int __init iocp_init(void)
{
	int ret;

	ret = iocp_packet_cache_init();
	if (ret)
		return ret;
	ret = iocp_assoc_init();
	if (ret)
		goto err_cache;
	ret = iocp_ops_init();
	if (ret)
		goto err_assoc;
	ret = iocp_sched_init();
	if (ret)
		goto err_ops;
	ret = misc_register(&iocp_misc);
	if (ret)
		goto err_thread;
	return 0;

err_thread:
	iocp_sched_exit();
err_ops:
	iocp_ops_exit();
err_assoc:
	iocp_assoc_exit();
err_cache:
	iocp_packet_cache_exit();
	return ret;
}

static void __exit iocp_exit(void)
{
	misc_deregister(&iocp_misc);
	iocp_sched_exit();
	iocp_ops_exit();
	iocp_assoc_exit();
	iocp_packet_cache_exit();
}

module_init(iocp_init);
module_exit(iocp_exit);

MODULE_AUTHOR("The iocp developers");
MODULE_DESCRIPTION("I/O completion ports");
MODULE_LICENSE("GPL");
MODULE_ALIAS_MISCDEV(IOCP_MINOR);
MODULE_ALIAS("devname:" IOCP_NAME);
