// SPDX-License-Identifier: GPL-2.0-only
/*
 * iocp - performing one attempt of an op.
 *
 * An attempt runs in process context with the submitter's address space:
 * in the submitting thread itself at submit, or in a kernel worker that
 * borrows the submitter's mm and credentials (op.c). On a file that can
 * be polled an attempt never blocks: -EAGAIN means "not ready, wait for a
 * wakeup". On other files (regular files) the worker's attempt blocks as
 * read(2) and write(2) would.
 */

#include <linux/file.h>
#include <linux/fs.h>
#include <linux/net.h>
#include <linux/poll.h>
#include <linux/slab.h>
#include <linux/socket.h>
#include <linux/uaccess.h>
#include <linux/uio.h>
#include <net/sock.h>

#include "iocp.h"
#include "op.h"

/* The most ancillary data a SENDMSG may carry. */
#define IOCP_MAX_CONTROL	1024

static int iocp_io_buffer(struct iocp_req *req, int dir, struct iov_iter *iter)
{
	void __user *buf = u64_to_user_ptr(req->op.addr);
	size_t len = min_t(size_t, req->op.len, MAX_RW_COUNT);

	if (!access_ok(buf, len))
		return -EFAULT;
	iov_iter_ubuf(iter, dir, buf, len);
	return 0;
}

/*
 * READ and WRITE on a socket, as read(2) and write(2) but never blocking
 * and never raising SIGPIPE: sock_read_iter() did not take IOCB_NOWAIT on
 * every supported kernel.
 */
static ssize_t iocp_io_sock_rw(struct socket *sock, bool write,
			       struct iov_iter *iter)
{
	struct msghdr msg = { .msg_iter = *iter };

	if (!write)
		return sock_recvmsg(sock, &msg, MSG_DONTWAIT);
	msg.msg_flags = MSG_DONTWAIT | MSG_NOSIGNAL;
	if (sock->type == SOCK_SEQPACKET)
		msg.msg_flags |= MSG_EOR;
	return sock_sendmsg(sock, &msg);
}

static ssize_t iocp_io_rw(struct iocp_req *req, bool nowait)
{
	struct iovec fast[UIO_FASTIOV], *iov = fast;
	bool write = iocp_op_writes(req->op.opcode);
	bool vec = req->op.opcode == IOCP_OP_READV ||
		   req->op.opcode == IOCP_OP_WRITEV;
	int dir = write ? ITER_SOURCE : ITER_DEST;
	struct file *file = req->file;
	bool current_pos = req->op.offset == IOCP_OFFSET_CURRENT;
	struct iov_iter iter;
	struct kiocb kiocb;
	ssize_t ret;

	if (vec)
		ret = import_iovec(dir, u64_to_user_ptr(req->op.addr),
				   req->op.len, UIO_FASTIOV, &iov, &iter);
	else
		ret = iocp_io_buffer(req, dir, &iter);
	if (ret < 0)
		return ret;

	if (sock_from_file(file)) {
		ret = iocp_io_sock_rw(sock_from_file(file), write, &iter);
		goto out;
	}

	init_sync_kiocb(&kiocb, file);
	if (nowait)
		kiocb.ki_flags |= IOCB_NOWAIT;
	if (current_pos && (file->f_mode & FMODE_ATOMIC_POS))
		mutex_lock(&file->f_pos_lock);
	kiocb.ki_pos = current_pos ? file->f_pos : req->op.offset;
	if (file->f_mode & FMODE_STREAM)
		kiocb.ki_pos = 0;

	if (write)
		ret = iocp_iocb_iter_write(file, &kiocb, &iter);
	else
		ret = vfs_iocb_iter_read(file, &kiocb, &iter);
	/* A read or write does not report -EAGAIN half done. */
	if (ret > 0 && current_pos && !(file->f_mode & FMODE_STREAM))
		file->f_pos = kiocb.ki_pos;
	if (current_pos && (file->f_mode & FMODE_ATOMIC_POS))
		mutex_unlock(&file->f_pos_lock);
out:
	if (iov != fast)
		kfree(iov);
	return ret;
}

static ssize_t iocp_io_sock(struct iocp_req *req)
{
	struct socket *sock = sock_from_file(req->file);
	bool send = req->op.opcode == IOCP_OP_SEND;
	struct msghdr msg = {};
	ssize_t ret;

	ret = iocp_io_buffer(req, send ? ITER_SOURCE : ITER_DEST, &msg.msg_iter);
	if (ret)
		return ret;
	msg.msg_flags = req->op.op_flags | MSG_DONTWAIT;
	if (send) {
		msg.msg_flags |= MSG_NOSIGNAL;
		return sock_sendmsg(sock, &msg);
	}
	return sock_recvmsg(sock, &msg, msg.msg_flags);
}

/* Report RECVMSG's name, control length and flags in the user's msghdr. */
static int iocp_io_msg_out(struct user_msghdr __user *uhdr,
			   const struct user_msghdr *umsg, struct msghdr *msg)
{
	int namelen = 0;

	if (umsg->msg_name && umsg->msg_namelen > 0) {
		namelen = min(msg->msg_namelen, umsg->msg_namelen);
		if (copy_to_user(umsg->msg_name, msg->msg_name, namelen))
			return -EFAULT;
	}
	if (put_user(umsg->msg_name ? msg->msg_namelen : 0,
		     &uhdr->msg_namelen) ||
	    put_user(umsg->msg_controllen - msg->msg_controllen,
		     &uhdr->msg_controllen) ||
	    put_user(msg->msg_flags, &uhdr->msg_flags))
		return -EFAULT;
	return 0;
}

static ssize_t iocp_io_msg(struct iocp_req *req)
{
	struct user_msghdr __user *uhdr = u64_to_user_ptr(req->op.addr);
	struct socket *sock = sock_from_file(req->file);
	bool send = req->op.opcode == IOCP_OP_SENDMSG;
	struct iovec fast[UIO_FASTIOV], *iov = fast;
	struct sockaddr_storage addr;
	struct user_msghdr umsg;
	struct msghdr msg = {};
	void *control = NULL;
	unsigned int flags;
	ssize_t ret;

	if (copy_from_user(&umsg, uhdr, sizeof(umsg)))
		return -EFAULT;
	if (umsg.msg_namelen < 0 || umsg.msg_namelen > sizeof(addr))
		return -EINVAL;

	ret = import_iovec(send ? ITER_SOURCE : ITER_DEST, umsg.msg_iov,
			   umsg.msg_iovlen, UIO_FASTIOV, &iov, &msg.msg_iter);
	if (ret < 0)
		return ret;

	flags = req->op.op_flags | MSG_DONTWAIT;
	msg.msg_name = &addr;
	if (send) {
		if (umsg.msg_name && umsg.msg_namelen) {
			ret = -EFAULT;
			if (copy_from_user(&addr, umsg.msg_name,
					   umsg.msg_namelen))
				goto out;
			msg.msg_namelen = umsg.msg_namelen;
		} else {
			msg.msg_name = NULL;
		}
		if (umsg.msg_controllen) {
			ret = -ENOBUFS;
			if (umsg.msg_controllen > IOCP_MAX_CONTROL)
				goto out;
			control = memdup_user(umsg.msg_control,
					      umsg.msg_controllen);
			if (IS_ERR(control)) {
				ret = PTR_ERR(control);
				control = NULL;
				goto out;
			}
			msg.msg_control = control;
			msg.msg_controllen = umsg.msg_controllen;
		}
		msg.msg_flags = flags | MSG_NOSIGNAL;
		ret = sock_sendmsg(sock, &msg);
	} else {
		msg.msg_control_is_user = true;
		msg.msg_control_user = umsg.msg_control;
		msg.msg_controllen = umsg.msg_controllen;
		/* Out: only what the protocol reports, as recvmsg(2). */
		msg.msg_flags = 0;
		ret = sock_recvmsg(sock, &msg, flags);
		if (ret >= 0 && iocp_io_msg_out(uhdr, &umsg, &msg))
			ret = -EFAULT;
	}
out:
	kfree(control);
	if (iov != fast)
		kfree(iov);
	return ret;
}

/* Report an accepted connection's peer address as accept(2) does. */
static int iocp_io_accept_addr(struct iocp_req *req, struct socket *newsock)
{
	int __user *ulen = u64_to_user_ptr(req->op.addr2);
	struct sockaddr_storage addr;
	int len, have;

	if (!req->op.addr)
		return 0;
	len = newsock->ops->getname(newsock, (struct sockaddr *)&addr, 2);
	if (len < 0)
		return -ECONNABORTED;
	if (get_user(have, ulen))
		return -EFAULT;
	if (have < 0)
		return -EINVAL;
	if (copy_to_user(u64_to_user_ptr(req->op.addr), &addr, min(len, have)) ||
	    put_user(len, ulen))
		return -EFAULT;
	return 0;
}

static ssize_t iocp_io_accept(struct iocp_req *req)
{
	struct socket *sock = sock_from_file(req->file);
	struct socket *newsock;
	struct file *newfile;
	int ret;

	ret = kernel_accept(sock, &newsock, O_NONBLOCK);
	if (ret)
		return ret;
	ret = iocp_io_accept_addr(req, newsock);
	if (ret) {
		sock_release(newsock);
		return ret;
	}
	newfile = sock_alloc_file(newsock, req->op.op_flags & O_NONBLOCK, NULL);
	if (IS_ERR(newfile))
		return PTR_ERR(newfile);
	req->newfile = newfile;
	return 0;
}

static ssize_t iocp_io_connect(struct iocp_req *req)
{
	struct socket *sock = sock_from_file(req->file);
	struct poll_table_struct pt = { ._key = EPOLLERR };
	int ret;

	if (req->in_progress && (vfs_poll(req->file, &pt) & EPOLLERR))
		return sock_error(sock->sk);
	ret = kernel_connect(sock, (struct sockaddr *)&req->addr,
			     req->op.len, O_NONBLOCK);
	if (ret == -EINPROGRESS || ret == -EALREADY) {
		req->in_progress = true;
		return -EAGAIN;
	}
	/* The earlier attempt's outcome; see io_connect() in io_uring. */
	if (req->in_progress && (ret == -EISCONN || ret == -EBADFD))
		ret = sock_error(sock->sk);
	return ret;
}

static ssize_t iocp_io_poll(struct iocp_req *req)
{
	__poll_t want = (__force __poll_t)req->op.op_flags | IOCP_EPOLL_ALWAYS;
	__poll_t mask = iocp_poll_normalize(vfs_poll(req->file, NULL)) & want;

	if (!mask)
		return -EAGAIN;
	return (__force u32)mask;
}

/*
 * One attempt of @req in the current context; @nowait: must not block.
 * Returns the op's result, or -EAGAIN if it must wait.
 */
ssize_t iocp_io_issue(struct iocp_req *req, bool nowait)
{
	ssize_t ret;

	switch (req->op.opcode) {
	case IOCP_OP_READ:
	case IOCP_OP_WRITE:
	case IOCP_OP_READV:
	case IOCP_OP_WRITEV:
		ret = iocp_io_rw(req, nowait);
		break;
	case IOCP_OP_RECV:
	case IOCP_OP_SEND:
		ret = iocp_io_sock(req);
		break;
	case IOCP_OP_RECVMSG:
	case IOCP_OP_SENDMSG:
		ret = iocp_io_msg(req);
		break;
	case IOCP_OP_ACCEPT:
		ret = iocp_io_accept(req);
		break;
	case IOCP_OP_CONNECT:
		ret = iocp_io_connect(req);
		break;
	case IOCP_OP_POLL:
		ret = iocp_io_poll(req);
		break;
	default:
		ret = 0;
		break;
	}
	/* As the system calls report an interrupted non-blocking attempt. */
	if (ret == -ERESTARTSYS || ret == -ERESTARTNOINTR ||
	    ret == -ERESTARTNOHAND || ret == -ERESTART_RESTARTBLOCK)
		ret = -EINTR;
	if (ret == -EWOULDBLOCK)
		ret = -EAGAIN;
	return ret;
}

/*
 * Whether an attempt on @file can be made without blocking: sockets are
 * read and written with MSG_DONTWAIT, other files need IOCB_NOWAIT
 * support (FMODE_NOWAIT; pipes have it since 6.4).
 */
static bool iocp_io_nowait(struct file *file)
{
	return (file->f_mode & FMODE_NOWAIT) || sock_from_file(file);
}

/* Check @op against its file at submit; 0 or a negative errno. */
int iocp_io_prep(struct iocp_req *req)
{
	const struct iocp_op *op = &req->op;
	struct file *file = req->file;
	bool sock = sock_from_file(file);

	switch (op->opcode) {
	case IOCP_OP_READ:
	case IOCP_OP_WRITE:
	case IOCP_OP_READV:
	case IOCP_OP_WRITEV:
		if (op->op_flags || op->addr2)
			return -EINVAL;
		if (op->offset != IOCP_OFFSET_CURRENT &&
		    !(file->f_mode & (iocp_op_writes(op->opcode) ?
				      FMODE_PWRITE : FMODE_PREAD)))
			return -ESPIPE;
		if (!(file->f_mode & (iocp_op_writes(op->opcode) ?
				      FMODE_WRITE : FMODE_READ)))
			return -EBADF;
		/* A pollable file is only tried without blocking. */
		if (file_can_poll(file) && !iocp_io_nowait(file))
			return -EOPNOTSUPP;
		return 0;
	case IOCP_OP_RECV:
	case IOCP_OP_SEND:
	case IOCP_OP_RECVMSG:
	case IOCP_OP_SENDMSG:
		if (op->addr2 || op->offset)
			return -EINVAL;
		if ((op->op_flags & MSG_CMSG_COMPAT) ||
		    ((op->opcode == IOCP_OP_RECVMSG ||
		      op->opcode == IOCP_OP_SENDMSG) && op->len))
			return -EINVAL;
		return sock ? 0 : -ENOTSOCK;
	case IOCP_OP_ACCEPT:
		if (op->len || op->offset ||
		    (op->op_flags & ~(O_CLOEXEC | O_NONBLOCK)) ||
		    !op->addr != !op->addr2)
			return -EINVAL;
		return sock ? 0 : -ENOTSOCK;
	case IOCP_OP_CONNECT:
		if (op->addr2 || op->offset || op->op_flags)
			return -EINVAL;
		if (!sock)
			return -ENOTSOCK;
		if (op->len < sizeof(sa_family_t) || op->len > sizeof(req->addr))
			return -EINVAL;
		if (copy_from_user(&req->addr, u64_to_user_ptr(op->addr),
				   op->len))
			return -EFAULT;
		return 0;
	case IOCP_OP_POLL:
		if (op->addr || op->addr2 || op->offset || op->len ||
		    !op->op_flags || (op->op_flags & ~IOCP_POLL_EVENTS))
			return -EINVAL;
		return file_can_poll(file) ? 0 : -EPERM;
	}
	return -EINVAL;
}
