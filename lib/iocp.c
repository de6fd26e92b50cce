// SPDX-License-Identifier: LGPL-2.1-or-later OR MIT
/*
 * libiocp: a thin C library over the /dev/iocp ioctls.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>

#include "iocp.h"

#define IOCP_API __attribute__((visibility("default")))

static int iocp_ioctl(int port, unsigned long cmd, void *arg)
{
	return ioctl(port, cmd, arg) < 0 ? -errno : 0;
}

IOCP_API int iocp_create(unsigned int concurrency)
{
	int port, ret;

	port = open(IOCP_DEVICE_PATH, O_RDWR | O_CLOEXEC);
	if (port < 0)
		return -errno;
	if (concurrency) {
		ret = iocp_set_concurrency(port, concurrency);
		if (ret < 0) {
			close(port);
			return ret;
		}
	}
	return port;
}

IOCP_API int iocp_shutdown(int port)
{
	return iocp_ioctl(port, IOCP_IOC_SHUTDOWN, NULL);
}

IOCP_API int iocp_close(int port)
{
	int ret = iocp_shutdown(port);

	if (close(port) < 0 && !ret)
		ret = -errno;
	return ret;
}

IOCP_API int iocp_get_config(int port, struct iocp_config *config)
{
	return iocp_ioctl(port, IOCP_IOC_GET_CONFIG, config);
}

IOCP_API int iocp_set_config(int port, const struct iocp_config *config)
{
	return iocp_ioctl(port, IOCP_IOC_SET_CONFIG, (void *)config);
}

IOCP_API int iocp_set_concurrency(int port, unsigned int concurrency)
{
	struct iocp_config config;
	int ret;

	ret = iocp_get_config(port, &config);
	if (ret < 0)
		return ret;
	config.concurrency = concurrency;
	return iocp_set_config(port, &config);
}

IOCP_API int iocp_post_many(int port, const struct iocp_completion *entries,
			    unsigned int count)
{
	struct iocp_post_args args = {
		.entries = (uintptr_t)entries,
		.count = count,
	};

	return iocp_ioctl(port, IOCP_IOC_POST, &args);
}

IOCP_API int iocp_post(int port, uint64_t key, uint64_t user_data,
		       int64_t result)
{
	struct iocp_completion entry = {
		.key = key,
		.user_data = user_data,
		.result = (uint64_t)result,
	};

	return iocp_post_many(port, &entry, 1);
}

IOCP_API int iocp_get_many(int port, struct iocp_completion *entries,
			   unsigned int min, unsigned int max,
			   uint64_t timeout_ns)
{
	struct iocp_dequeue_args args = {
		.entries = (uintptr_t)entries,
		.timeout_ns = timeout_ns,
		.max = max,
		.min = min,
	};
	int ret;

	ret = iocp_ioctl(port, IOCP_IOC_DEQUEUE, &args);
	return ret < 0 ? ret : (int)args.count;
}

IOCP_API int iocp_get(int port, struct iocp_completion *entry,
		      uint64_t timeout_ns)
{
	return iocp_get_many(port, entry, 1, 1, timeout_ns);
}

IOCP_API int iocp_disassociate(int port)
{
	return iocp_ioctl(port, IOCP_IOC_DISASSOCIATE, NULL);
}

static int iocp_assoc_ioctl(int port, unsigned long cmd, int fd, uint64_t key,
			    uint32_t events, uint32_t flags)
{
	struct iocp_assoc_args args = {
		.key = key,
		.fd = (uint32_t)fd,
		.events = events,
		.flags = flags,
	};

	return iocp_ioctl(port, cmd, &args);
}

IOCP_API int iocp_associate(int port, int fd, uint64_t key, uint32_t events,
			    uint32_t flags)
{
	return iocp_assoc_ioctl(port, IOCP_IOC_ASSOCIATE, fd, key, events,
				flags);
}

IOCP_API int iocp_modify(int port, int fd, uint64_t key, uint32_t events,
			 uint32_t flags)
{
	return iocp_assoc_ioctl(port, IOCP_IOC_MODIFY, fd, key, events, flags);
}

IOCP_API int iocp_dissociate(int port, int fd)
{
	return iocp_assoc_ioctl(port, IOCP_IOC_DISSOCIATE, fd, 0, 0, 0);
}

IOCP_API int iocp_close_fd(int port, int fd)
{
	int ret = iocp_dissociate(port, fd);

	if (ret == -ENOENT)
		ret = 0;
	if (close(fd) < 0 && !ret)
		ret = -errno;
	return ret;
}

IOCP_API int iocp_depth(int port)
{
	return iocp_get_many(port, NULL, 0, 0, 0);
}

IOCP_API int iocp_get_stats(int port, struct iocp_stats *stats)
{
	return iocp_ioctl(port, IOCP_IOC_GET_STATS, stats);
}

/* ---- Overlapped I/O: ops (IOCP_IOC_SUBMIT, IOCP_IOC_CANCEL) ------------ */

IOCP_API int iocp_submit(int port, struct iocp_op *ops, unsigned int count)
{
	struct iocp_submit_args args = { 0 };
	unsigned int n;
	int ret;

	if (!count)
		return -EINVAL;
	while (count) {
		n = count < IOCP_MAX_BATCH ? count : IOCP_MAX_BATCH;
		args.ops = (uintptr_t)ops;
		args.count = n;
		ret = iocp_ioctl(port, IOCP_IOC_SUBMIT, &args);
		if (ret < 0)
			return ret;
		ops += n;
		count -= n;
	}
	return 0;
}

IOCP_API int iocp_submit_one(int port, struct iocp_op *op)
{
	int ret = iocp_submit(port, op, 1);

	return ret < 0 ? ret : (int)op->status;
}

IOCP_API int iocp_cancel(int port, int fd, uint64_t user_data,
			 unsigned int flags)
{
	struct iocp_cancel_args args = {
		.user_data = user_data,
		.fd = (flags & IOCP_CANCEL_FD) ? (uint32_t)fd : 0,
		.flags = flags,
	};
	int ret;

	ret = iocp_ioctl(port, IOCP_IOC_CANCEL, &args);
	return ret < 0 ? ret : (int)args.count;
}

/* ---- end of ops ---------------------------------------------------------- */
