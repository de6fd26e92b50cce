// SPDX-License-Identifier: LGPL-2.1-or-later OR MIT
/*
 * Win32 layer: the little of threads that a thread pool needs.
 * CreateThread, waiting for threads, Sleep, GetSystemInfo.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>

#include "w32.h"

/* ---- threads ------------------------------------------------------------- */

struct w32_thread {
	pthread_t thread;
	LPTHREAD_START_ROUTINE start;
	LPVOID arg;
	pid_t tid;
	bool done;
	DWORD exit_code;
	int refs;		/* threads_lock: the handle, the thread */
};

static pthread_mutex_t threads_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t threads_cond;	/* on CLOCK_MONOTONIC */
static pthread_once_t threads_once = PTHREAD_ONCE_INIT;

static void w32_threads_init(void)
{
	pthread_condattr_t attr;

	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&threads_cond, &attr);
	pthread_condattr_destroy(&attr);
}
static struct w32_thread **threads;	/* threads_lock */
static size_t threads_size;		/* threads_lock */

/* Called with threads_lock held. */
static struct w32_thread *w32_thread_of(HANDLE h)
{
	uint64_t v = (uint64_t)(uintptr_t)h;

	if (v < W32_THREAD_BASE || v - W32_THREAD_BASE >= threads_size)
		return NULL;
	return threads[v - W32_THREAD_BASE];
}

static void w32_thread_put(struct w32_thread *t)
{
	if (--t->refs == 0)
		free(t);
}

/* The thread ended: by returning, or by pthread_exit() or cancellation. */
static void w32_thread_end(void *arg)
{
	struct w32_thread *t = arg;

	pthread_mutex_lock(&threads_lock);
	t->done = true;
	pthread_cond_broadcast(&threads_cond);
	w32_thread_put(t);
	pthread_mutex_unlock(&threads_lock);
}

static void *w32_thread_main(void *arg)
{
	struct w32_thread *t = arg;

	pthread_mutex_lock(&threads_lock);
	t->tid = (pid_t)syscall(SYS_gettid);
	pthread_cond_broadcast(&threads_cond);
	pthread_mutex_unlock(&threads_lock);

	pthread_cleanup_push(w32_thread_end, t);
	t->exit_code = t->start(t->arg);
	pthread_cleanup_pop(1);
	return NULL;
}

#define W32_STACK_SIZE_PARAM_IS_A_RESERVATION 0x10000

W32_API HANDLE WINAPI CreateThread(LPSECURITY_ATTRIBUTES lpThreadAttributes,
				   SIZE_T dwStackSize,
				   LPTHREAD_START_ROUTINE lpStartAddress,
				   LPVOID lpParameter, DWORD dwCreationFlags,
				   LPDWORD lpThreadId)
{
	struct w32_thread *t;
	pthread_attr_t attr;
	size_t slot;
	int ret;

	(void)lpThreadAttributes;
	if (!lpStartAddress ||
	    (dwCreationFlags & ~W32_STACK_SIZE_PARAM_IS_A_RESERVATION)) {
		SetLastError(ERROR_INVALID_PARAMETER);
		return NULL;
	}
	pthread_once(&threads_once, w32_threads_init);
	t = calloc(1, sizeof(*t));
	if (!t) {
		SetLastError(ERROR_NOT_ENOUGH_MEMORY);
		return NULL;
	}
	t->start = lpStartAddress;
	t->arg = lpParameter;
	t->refs = 2;

	pthread_mutex_lock(&threads_lock);
	for (slot = 0; slot < threads_size && threads[slot]; slot++)
		;
	if (slot == threads_size) {
		size_t size = threads_size ? threads_size * 2 : 16;
		struct w32_thread **n = realloc(threads, size * sizeof(*n));

		if (!n) {
			pthread_mutex_unlock(&threads_lock);
			free(t);
			SetLastError(ERROR_NOT_ENOUGH_MEMORY);
			return NULL;
		}
		memset(n + threads_size, 0, (size - threads_size) * sizeof(*n));
		threads = n;
		threads_size = size;
	}
	threads[slot] = t;

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (dwStackSize)
		pthread_attr_setstacksize(&attr, dwStackSize < (SIZE_T)PTHREAD_STACK_MIN ?
					  (SIZE_T)PTHREAD_STACK_MIN : dwStackSize);
	ret = pthread_create(&t->thread, &attr, w32_thread_main, t);
	pthread_attr_destroy(&attr);
	if (ret) {
		threads[slot] = NULL;
		pthread_mutex_unlock(&threads_lock);
		free(t);
		w32_fail(ret);
		return NULL;
	}
	while (!t->tid)
		pthread_cond_wait(&threads_cond, &threads_lock);
	if (lpThreadId)
		*lpThreadId = (DWORD)t->tid;
	pthread_mutex_unlock(&threads_lock);
	return (HANDLE)(uintptr_t)(W32_THREAD_BASE + slot);
}

W32_API BOOL WINAPI GetExitCodeThread(HANDLE hThread, LPDWORD lpExitCode)
{
	struct w32_thread *t;

	pthread_mutex_lock(&threads_lock);
	t = w32_thread_of(hThread);
	if (t && lpExitCode)
		*lpExitCode = t->done ? t->exit_code : STILL_ACTIVE;
	pthread_mutex_unlock(&threads_lock);
	if (!t)
		return w32_error(ERROR_INVALID_HANDLE);
	if (!lpExitCode)
		return w32_error(ERROR_INVALID_PARAMETER);
	return TRUE;
}

W32_API DWORD WINAPI GetCurrentThreadId(void)
{
	return (DWORD)syscall(SYS_gettid);
}

W32_API DWORD WINAPI WaitForMultipleObjects(DWORD nCount, const HANDLE *lpHandles,
					    BOOL bWaitAll, DWORD dwMilliseconds)
{
	struct timespec deadline;
	DWORD result = WAIT_FAILED;

	if (!nCount || nCount > MAXIMUM_WAIT_OBJECTS || !lpHandles) {
		SetLastError(ERROR_INVALID_PARAMETER);
		return WAIT_FAILED;
	}
	pthread_once(&threads_once, w32_threads_init);
	if (dwMilliseconds != INFINITE) {
		clock_gettime(CLOCK_MONOTONIC, &deadline);
		deadline.tv_sec += dwMilliseconds / 1000;
		deadline.tv_nsec += (long)(dwMilliseconds % 1000) * 1000000;
		if (deadline.tv_nsec >= 1000000000) {
			deadline.tv_sec++;
			deadline.tv_nsec -= 1000000000;
		}
	}
	pthread_mutex_lock(&threads_lock);
	for (;;) {
		DWORD done = 0, first = nCount;

		for (DWORD i = 0; i < nCount; i++) {
			struct w32_thread *t = w32_thread_of(lpHandles[i]);

			if (!t) {
				SetLastError(ERROR_INVALID_HANDLE);
				goto out;
			}
			if (t->done) {
				done++;
				if (first == nCount)
					first = i;
			}
		}
		if (bWaitAll ? done == nCount : done > 0) {
			result = WAIT_OBJECT_0 + (bWaitAll ? 0 : first);
			break;
		}
		if (dwMilliseconds == 0) {
			result = WAIT_TIMEOUT;
			break;
		}
		if (dwMilliseconds == INFINITE) {
			pthread_cond_wait(&threads_cond, &threads_lock);
		} else if (pthread_cond_timedwait(&threads_cond, &threads_lock,
						  &deadline) == ETIMEDOUT) {
			dwMilliseconds = 0;	/* one last look */
		}
	}
out:
	pthread_mutex_unlock(&threads_lock);
	return result;
}

W32_API DWORD WINAPI WaitForSingleObject(HANDLE hHandle, DWORD dwMilliseconds)
{
	return WaitForMultipleObjects(1, &hHandle, TRUE, dwMilliseconds);
}

W32_API void WINAPI Sleep(DWORD dwMilliseconds)
{
	struct timespec ts = {
		.tv_sec = dwMilliseconds / 1000,
		.tv_nsec = (long)(dwMilliseconds % 1000) * 1000000,
	};

	if (dwMilliseconds == INFINITE)
		for (;;)
			pause();
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

W32_API void WINAPI GetSystemInfo(LPSYSTEM_INFO lpSystemInfo)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	long page = sysconf(_SC_PAGESIZE);

	memset(lpSystemInfo, 0, sizeof(*lpSystemInfo));
#if defined(__x86_64__)
	lpSystemInfo->wProcessorArchitecture = 9;	/* AMD64 */
#elif defined(__aarch64__)
	lpSystemInfo->wProcessorArchitecture = 12;	/* ARM64 */
#endif
	lpSystemInfo->dwPageSize = page > 0 ? (DWORD)page : 4096;
	lpSystemInfo->dwAllocationGranularity = lpSystemInfo->dwPageSize;
	lpSystemInfo->dwNumberOfProcessors = cpus > 0 ? (DWORD)cpus : 1;
	lpSystemInfo->dwActiveProcessorMask =
		cpus >= 64 ? ~(DWORD_PTR)0 : ((DWORD_PTR)1 << lpSystemInfo->dwNumberOfProcessors) - 1;
}

bool w32_thread_close(HANDLE h)
{
	struct w32_thread *t;

	pthread_mutex_lock(&threads_lock);
	t = w32_thread_of(h);
	if (t) {
		threads[(uintptr_t)h - W32_THREAD_BASE] = NULL;
		w32_thread_put(t);
	}
	pthread_mutex_unlock(&threads_lock);
	return t;
}
