/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * iocp - ops: what op.c (their life) and io.c (their attempts) share.
 */
#ifndef _IOCP_OP_H
#define _IOCP_OP_H

#include <linux/socket.h>
#include <linux/workqueue.h>

#include "iocp.h"

/*
 * Where an op is, under its channel's lock (and, to enter or leave
 * IOCP_REQ_DONE, its port's lock too):
 * @IOCP_REQ_WAITING: waits for its turn or for readiness.
 * @IOCP_REQ_QUEUED:  its work is queued.
 * @IOCP_REQ_RUNNING: an attempt runs (in the submitter or a worker).
 * @IOCP_REQ_DONE:    completed; off every list but the queue.
 */
enum iocp_req_state {
	IOCP_REQ_WAITING,
	IOCP_REQ_QUEUED,
	IOCP_REQ_RUNNING,
	IOCP_REQ_DONE,
};

/*
 * The queues of a channel. Ops of one direction on one file complete in
 * submission order: only the head of IN or OUT is tried. POLL ops are
 * independent of one another.
 */
enum iocp_req_dir {
	IOCP_DIR_IN,
	IOCP_DIR_OUT,
	IOCP_DIR_POLL,
	IOCP_NR_DIRS,
};

struct iocp_chan;

/**
 * struct iocp_req - an op in flight
 * @port:        constant; the op holds a reference.
 * @chan:        the channel of (@port, @file) until done; NOP: NULL.
 * @file:        the file, referenced until done.
 * @mm:          the submitter's address space (mmgrab()) until done.
 * @cred:        the submitter's credentials until done.
 * @tgid:        the submitting process until done.
 * @chan_node:   on @chan->reqs[@dir]; under @chan->lock.
 * @port_node:   on port->reqs until done; under port->lock.
 * @cancel_node: on a list of ops a cancel took; private to that cancel.
 * @work:        an attempt in a worker.
 * @pkt:         the completion packet.
 * @op:          the op as submitted; @op.result and @op.status unused.
 * @newfile:     ACCEPT: the accepted socket, installed on delivery.
 * @fd:          ACCEPT: the descriptor reserved for @newfile on delivery.
 * @dir:         IOCP_DIR_*; constant.
 * @state:       enum iocp_req_state; under @chan->lock.
 * @cancel:      cancel requested while queued or running; under @chan->lock.
 * @woken:       a wakeup came while running; under @chan->lock.
 * @in_progress: CONNECT: the connection attempt was started.
 * @addr:        CONNECT: the address.
 */
struct iocp_req {
	struct iocp_port *port;
	struct iocp_chan *chan;
	struct file *file;
	struct mm_struct *mm;
	const struct cred *cred;
	struct pid *tgid;
	struct list_head chan_node;
	struct list_head port_node;
	struct list_head cancel_node;
	struct work_struct work;
	struct iocp_packet pkt;
	struct iocp_op op;
	struct file *newfile;
	int fd;
	u8 dir;
	u8 state;
	bool cancel;
	bool woken;
	bool in_progress;
	struct sockaddr_storage addr;
};

static inline bool iocp_op_writes(u32 opcode)
{
	return opcode == IOCP_OP_WRITE || opcode == IOCP_OP_WRITEV ||
	       opcode == IOCP_OP_SEND || opcode == IOCP_OP_SENDMSG ||
	       opcode == IOCP_OP_CONNECT;
}

/* io.c */
int iocp_io_prep(struct iocp_req *req);
ssize_t iocp_io_issue(struct iocp_req *req, bool nowait);

#endif /* _IOCP_OP_H */
