/* SPDX-License-Identifier: LGPL-2.1-or-later OR MIT */
/*
 * <winsock2.h> for Windows code built against <iocp/win32.h>: this directory
 * goes on the include path (pkg-config --cflags libiocp-win32).
 */
#ifndef IOCP_WINDOWS_WINSOCK2_H
#define IOCP_WINDOWS_WINSOCK2_H

#include <iocp/win32.h>
#include <netdb.h>

/* MSVC's #pragma comment(lib, "ws2_32.lib") and the like: nothing to do. */
#pragma GCC diagnostic ignored "-Wunknown-pragmas"

/* setsockopt() that also takes SO_UPDATE_ACCEPT/CONNECT_CONTEXT. */
#define setsockopt(s, level, optname, optval, optlen) \
	iocp_win32_setsockopt((s), (level), (optname), (optval), (optlen))

#endif
