// SPDX-License-Identifier: LGPL-2.1-or-later OR MIT
/*
 * iocp echo server: overlapped ACCEPT, RECV and SEND ops served by a pool
 * of worker threads on one completion port, in the style of a Windows
 * IOCP server (AcceptEx, WSARecv, WSASend, GetQueuedCompletionStatus).
 *
 * Every connection has a context, struct conn, whose address is the
 * user_data of its ops; a connection has one op in flight at a time, so
 * its state says which op a packet completes. The workers loop dequeuing
 * packets:
 *
 *   ACCEPT done  post a new ACCEPT (with a new context) and a RECV on the
 *                new socket
 *   RECV n > 0   SEND the n bytes (a short SEND: SEND the rest)
 *   SEND done    post the next RECV
 *   RECV 0       end of stream: close the socket, free the context
 *
 * The server listens on 127.0.0.1:PORT and serves until SIGINT or SIGTERM,
 * or until -n connections have been closed. Then it shuts the port down
 * (which cancels the pending ACCEPTs and waits until the kernel is done
 * with every buffer), joins the workers, frees what is left and prints
 * figures. Exit status 0 if nothing failed.
 *
 *   iocp_echo-server [-p PORT] [-t THREADS] [-n CONNS] [-a ACCEPTS]
 *                    [-b BUFSIZE] [-s] [-q]
 *
 * -s submits RECV and SEND with skip-on-success: an op that completes at
 * submit queues no packet and the worker goes on with its result at once.
 *
 * Needs /dev/iocp (the iocp module).
 */
#include <errno.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <iocp.h>

#define MAX_WORKERS	64

enum conn_state { ST_ACCEPT, ST_RECV, ST_SEND };

/* Per connection (Windows: the per-handle and per-I/O data in one). */
struct conn {
	struct conn *prev, *next;	/* in the list of live contexts */
	enum conn_state state;		/* which op is in flight */
	int fd;
	struct sockaddr_in peer;	/* ACCEPT's peer address */
	socklen_t peerlen;
	unsigned int len;		/* bytes received, being echoed */
	unsigned int sent;		/* of which sent */
	uint64_t bytes;			/* echoed on this connection */
	char buf[];
};

static int port = -1;
static int lfd = -1;
static unsigned int bufsize = 16384;
static unsigned int target;		/* -n: stop after so many closed */
static bool skip;			/* -s */
static bool quiet;			/* -q */
static pthread_t main_thread;

static atomic_bool stopping;
static atomic_ulong accepted, closed, echoed, recvs, sends, short_sends,
		    inline_done, errors, cancelled;
static unsigned long packets_of[MAX_WORKERS];

static pthread_mutex_t list_lock = PTHREAD_MUTEX_INITIALIZER;
static struct conn *live;		/* live contexts */
static unsigned long nlive, peak_live;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Counts every error; prints the first ten. */
static void error(const char *what, int64_t err)
{
	unsigned long n = atomic_fetch_add(&errors, 1);

	if (n < 10)
		fprintf(stderr, "echo-server: %s: %s%s\n", what,
			strerror((int)-err),
			n == 9 ? " (further errors not shown)" : "");
}

static struct conn *conn_new(void)
{
	struct conn *c = calloc(1, sizeof(*c) + bufsize);

	if (!c)
		return NULL;
	c->fd = -1;
	pthread_mutex_lock(&list_lock);
	c->next = live;
	if (live)
		live->prev = c;
	live = c;
	if (++nlive > peak_live)
		peak_live = nlive;
	pthread_mutex_unlock(&list_lock);
	return c;
}

static void conn_free(struct conn *c)
{
	pthread_mutex_lock(&list_lock);
	if (c->prev)
		c->prev->next = c->next;
	else
		live = c->next;
	if (c->next)
		c->next->prev = c->prev;
	nlive--;
	pthread_mutex_unlock(&list_lock);
	if (c->fd >= 0)
		close(c->fd);
	free(c);
}

/* The connection is over: close it; the -n'th one stops the server. */
static void conn_close(struct conn *c)
{
	conn_free(c);
	if (atomic_fetch_add(&closed, 1) + 1 == target)
		pthread_kill(main_thread, SIGUSR1);
}

static void prep_accept(struct conn *c, struct iocp_op *op)
{
	c->state = ST_ACCEPT;
	c->peerlen = sizeof(c->peer);
	iocp_prep_accept(op, lfd, (struct sockaddr *)&c->peer, &c->peerlen,
			 SOCK_CLOEXEC, (uintptr_t)c);
}

static void prep_recv(struct conn *c, struct iocp_op *op)
{
	c->state = ST_RECV;
	iocp_prep_recv(op, c->fd, c->buf, bufsize, 0, (uintptr_t)c);
	atomic_fetch_add(&recvs, 1);
	if (skip)
		iocp_op_skip_on_success(op);
}

static void prep_send(struct conn *c, struct iocp_op *op)
{
	c->state = ST_SEND;
	iocp_prep_send(op, c->fd, c->buf + c->sent, c->len - c->sent, 0,
		       (uintptr_t)c);
	atomic_fetch_add(&sends, 1);
	if (skip)
		iocp_op_skip_on_success(op);
}

/*
 * Post an ACCEPT with a new context. Its packet (ACCEPT is never
 * submitted with skip-on-success here) brings the new socket.
 */
static int post_accept(void)
{
	struct conn *c = conn_new();
	struct iocp_op op;
	int st;

	if (!c)
		return -ENOMEM;
	prep_accept(c, &op);
	st = iocp_submit_one(port, &op);
	if (st == IOCP_OP_FAILED)
		st = (int)iocp_op_result(&op);
	if (st < 0) {
		conn_free(c);
		return st;
	}
	return 0;
}

/* An op that cannot go on because the server is stopping. */
static bool stop_error(int64_t res)
{
	return (res == -ECANCELED || res == -ESHUTDOWN) &&
	       atomic_load(&stopping);
}

/*
 * The op in flight on @c completed with @res: post the next one. With
 * skip-on-success, the next op may complete at once (IOCP_OP_DONE, no
 * packet): go on with its result in the loop.
 */
static void conn_complete(struct conn *c, int64_t res)
{
	struct iocp_op op;
	int st;

	for (;;) {
		switch (c->state) {
		case ST_ACCEPT:
			if (res < 0) {
				if (stop_error(res)) {
					conn_free(c);
					return;
				}
				/* e.g. -ECONNABORTED, -EMFILE: accept again. */
				if (res != -ECONNABORTED)
					error("accept", res);
				prep_accept(c, &op);
				break;
			}
			c->fd = (int)res;
			atomic_fetch_add(&accepted, 1);
			res = post_accept();
			if (res < 0 && !stop_error(res))
				error("post accept", res);
			prep_recv(c, &op);
			break;
		case ST_RECV:
			if (res <= 0) {
				if (res < 0 && !stop_error(res))
					error("recv", res);
				if (res == -ECANCELED)
					atomic_fetch_add(&cancelled, 1);
				conn_close(c);
				return;
			}
			c->len = (unsigned int)res;
			c->sent = 0;
			prep_send(c, &op);
			break;
		case ST_SEND:
			if (res <= 0) {
				if (!stop_error(res))
					error("send", res ? res : -EIO);
				if (res == -ECANCELED)
					atomic_fetch_add(&cancelled, 1);
				conn_close(c);
				return;
			}
			c->sent += (unsigned int)res;
			c->bytes += (uint64_t)res;
			atomic_fetch_add(&echoed, (unsigned long)res);
			if (c->sent < c->len) {
				atomic_fetch_add(&short_sends, 1);
				prep_send(c, &op);
			} else {
				prep_recv(c, &op);
			}
			break;
		}
		st = iocp_submit_one(port, &op);
		if (st == IOCP_OP_PENDING || st == IOCP_OP_QUEUED)
			return;		/* a packet will come */
		if (st == IOCP_OP_DONE)
			atomic_fetch_add(&inline_done, 1);
		/* DONE: the result; FAILED: -errno; or the ioctl's -errno. */
		res = st < 0 ? st : iocp_op_result(&op);
	}
}

static void *worker(void *arg)
{
	unsigned int id = (uintptr_t)arg;
	struct iocp_completion pkt;
	int ret;

	for (;;) {
		ret = iocp_get(port, &pkt, IOCP_INFINITE);
		if (ret == -EINTR)
			continue;
		if (ret < 0)
			break;
		packets_of[id]++;
		if (!(pkt.flags & IOCP_CF_OP)) {
			fprintf(stderr, "echo-server: unexpected packet flags %#x\n",
				pkt.flags);
			atomic_fetch_add(&errors, 1);
			continue;
		}
		conn_complete((struct conn *)(uintptr_t)pkt.user_data,
			      iocp_result(&pkt));
	}
	if (ret != -ESHUTDOWN)
		error("iocp_get", ret);
	return NULL;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: iocp_echo-server [-p PORT] [-t THREADS] [-n CONNS] [-a ACCEPTS]\n"
		"                        [-b BUFSIZE] [-s] [-q]\n"
		"  -p  TCP port on 127.0.0.1 (default 7777)\n"
		"  -t  worker threads (default 4)\n"
		"  -n  stop after CONNS connections have been closed (default: on a signal)\n"
		"  -a  ACCEPT ops kept in flight (default 16)\n"
		"  -b  receive buffer per connection (default 16384)\n"
		"  -s  RECV and SEND with skip-on-success\n"
		"  -q  quiet: only the summary\n");
	exit(2);
}

int main(int argc, char **argv)
{
	unsigned int nthreads = 4, naccepts = 16, tcp_port = 7777, i;
	pthread_t tid[MAX_WORKERS];
	struct sockaddr_in addr = { .sin_family = AF_INET };
	struct iocp_stats stats = { 0 };
	struct rlimit rl;
	sigset_t sigs;
	double t0, t1;
	int ret, sig, opt, one = 1;
	bool ok;

	while ((opt = getopt(argc, argv, "p:t:n:a:b:sq")) != -1) {
		switch (opt) {
		case 'p': tcp_port = strtoul(optarg, NULL, 0); break;
		case 't': nthreads = strtoul(optarg, NULL, 0); break;
		case 'n': target = strtoul(optarg, NULL, 0); break;
		case 'a': naccepts = strtoul(optarg, NULL, 0); break;
		case 'b': bufsize = strtoul(optarg, NULL, 0); break;
		case 's': skip = true; break;
		case 'q': quiet = true; break;
		default: usage();
		}
	}
	if (optind != argc || !nthreads || nthreads > MAX_WORKERS ||
	    !naccepts || !bufsize || tcp_port > 65535)
		usage();
	setvbuf(stdout, NULL, _IOLBF, 0);

	/* One descriptor per connection: take the hard limit. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}

	/* Signals go to the main thread only, which waits for them. */
	main_thread = pthread_self();
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);

	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0) {
		perror("echo-server: socket");
		return 1;
	}
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	addr.sin_port = htons(tcp_port);
	if (bind(lfd, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
	    listen(lfd, 4096) < 0) {
		perror("echo-server: bind/listen");
		return 1;
	}

	port = iocp_create(0);
	if (port < 0) {
		fprintf(stderr, "echo-server: iocp_create: %s\n", strerror(-port));
		return 1;
	}

	for (i = 0; i < nthreads; i++) {
		ret = pthread_create(&tid[i], NULL, worker, (void *)(uintptr_t)i);
		if (ret) {
			fprintf(stderr, "echo-server: pthread_create: %s\n",
				strerror(ret));
			return 1;
		}
	}
	for (i = 0; i < naccepts; i++) {
		ret = post_accept();
		if (ret < 0) {
			error("post accept", ret);
			return 1;
		}
	}
	t0 = now_s();
	if (!quiet)
		printf("echo-server: listening on 127.0.0.1:%u, %u workers, %u accepts in flight, %u-byte buffers%s%s\n",
		       tcp_port, nthreads, naccepts, bufsize,
		       skip ? ", skip-on-success" : "",
		       target ? "" : "; stop with SIGINT/SIGTERM");

	/* Wait for a signal, or for the -n'th connection to close. */
	do {
		ret = sigwait(&sigs, &sig);
	} while (ret == 0 && sig == SIGUSR1 &&
		 (!target || atomic_load(&closed) < target));
	t1 = now_s();
	if (!quiet)
		printf("echo-server: %s, shutting down\n",
		       sig == SIGUSR1 ? "all connections served" :
		       strsignal(sig));

	/*
	 * Shut the port down: every op is cancelled, and when it returns the
	 * kernel no longer touches any buffer. The workers wake with
	 * -ESHUTDOWN.
	 */
	atomic_store(&stopping, true);
	iocp_get_stats(port, &stats);
	ret = iocp_shutdown(port);
	if (ret < 0)
		error("iocp_shutdown", ret);
	for (i = 0; i < nthreads; i++)
		pthread_join(tid[i], NULL);

	/* What is left: the pending ACCEPTs' contexts, open connections. */
	{
		unsigned long open_conns = 0, left = 0;

		while (live) {
			left++;
			if (live->state != ST_ACCEPT)
				open_conns++;
			conn_free(live);
		}
		ret = close(port);
		close(lfd);

		printf("echo-server: %lu connections accepted, %lu closed, %lu still open at shutdown\n",
		       atomic_load(&accepted), atomic_load(&closed), open_conns);
		printf("echo-server: %lu bytes echoed in %.2f s, %lu RECVs, %lu SENDs (%lu short), %lu done at submit\n",
		       atomic_load(&echoed), t1 - t0, atomic_load(&recvs),
		       atomic_load(&sends), atomic_load(&short_sends),
		       atomic_load(&inline_done));
		printf("echo-server: port: %llu packets dequeued, peak running %u of concurrency %u, %u ops in flight at shutdown (%lu contexts freed after it), peak contexts %lu\n",
		       (unsigned long long)stats.dequeued, stats.peak_running,
		       stats.concurrency, stats.ops, left, peak_live);
		if (!quiet)
			for (i = 0; i < nthreads; i++)
				printf("  worker %u: %lu packets\n", i,
				       packets_of[i]);
	}

	ok = ret == 0 && atomic_load(&errors) == 0 &&
	     (!target || atomic_load(&closed) >= target);
	printf("echo-server: %s (%lu errors)\n", ok ? "clean exit" : "FAILED",
	       atomic_load(&errors));
	return ok ? 0 : 1;
}
