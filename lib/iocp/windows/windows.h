/* SPDX-License-Identifier: LGPL-2.1-or-later OR MIT */
/*
 * <windows.h> for Windows code built against <iocp/win32.h>: this directory
 * goes on the include path (pkg-config --cflags libiocp-win32).
 */
#ifndef IOCP_WINDOWS_WINDOWS_H
#define IOCP_WINDOWS_WINDOWS_H

#include <iocp/win32.h>
#include <winsock2.h>

#endif
