/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * iocp - differences between the supported kernels, in one place.
 */
#ifndef _IOCP_COMPAT_H
#define _IOCP_COMPAT_H

#include <linux/version.h>

#ifndef CONFIG_PREEMPT_NOTIFIERS
#error "iocp needs CONFIG_PREEMPT_NOTIFIERS (selected by CONFIG_KVM)"
#endif

#endif /* _IOCP_COMPAT_H */
