// SPDX-License-Identifier: GPL-2.0
/*
 * W5: a TCP echo server over loopback, one per backend, against the same
 * client: requests per second and server CPU time per request.
 *
 * The client (the same code for every backend) runs ECHO_CLIENTS threads,
 * each with its own epoll set over its share of the connections. Every
 * connection has one request in flight: the client sends a message of the
 * configured size, waits until the whole echo is back, and sends again.
 * Connections are made and accepted before the measurement, by the main
 * thread, so the servers below only echo: accepting is not measured.
 *
 * Every server runs ECHO_THREADS threads (twice the CPUs, as thread pools
 * do) and takes up to ECHO_EVENTS events per wait:
 *
 *   iocp           the Windows design: a RECV op per connection; its
 *                  completion submits a SEND, whose completion submits the
 *                  next RECV. Both with skip-on-success
 *                  (FILE_SKIP_COMPLETION_PORT_ON_SUCCESS), so an op done at
 *                  submit goes on without a packet. Concurrency 0 (one
 *                  running thread per CPU).
 *   epoll          the usual Linux design: the connections are split among
 *                  the threads, each with its own epoll set
 *                  (level-triggered): one recv() and one send() per event.
 *                  (EPOLLEXCLUSIVE belongs on a listening socket, to share
 *                  accepts, and accepts are not measured here.)
 *   epoll-oneshot  a thread pool on one epoll set: EPOLLONESHOT, one recv()
 *                  and send(), then EPOLL_CTL_MOD to re-arm.
 *   io_uring       a ring per thread, the connections split among them;
 *                  IORING_OP_RECV, then IORING_OP_SEND, then RECV again.
 *   condvar        what userspace IOCP emulations do: a poller thread on
 *                  an EPOLLONESHOT epoll set queues ready connections under
 *                  a mutex and condition variable; the pool threads recv(),
 *                  send() and re-arm.
 *
 * Server CPU time is all the CPU time the guest used during the
 * measurement (from the idle time in /proc/stat: kernel threads, softirqs
 * and interrupts included, wherever the backend does its work) minus the
 * client threads' own (their thread CPU clocks). On loopback each side's
 * send also delivers the data to the other side, in the sender's context,
 * so each side pays for the delivery of what it sends. Context switches
 * per request count every CPU's (the ctxt line of /proc/stat): client,
 * server and kernel threads alike.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <liburing.h>
#include <iocp.h>

#include "bench.h"

#define ECHO_MSG_MAX	4096
#define ECHO_CONNS_MAX	1000
#define ECHO_THREADS_MAX 16
#define ECHO_CLIENTS	2
#define ECHO_EVENTS	16
#define STOP_TAG	UINT64_MAX

enum { ST_RECV, ST_SEND };

/* A server-side connection. @state, @len and @sent: iocp and io_uring. */
struct econn {
	int fd;
	int state;
	unsigned int len, sent;
	char buf[ECHO_MSG_MAX];
};

struct eserver;

struct ebackend {
	const char *name;
	/* Set up, with s->conns[] accepted, before the threads start. */
	void (*init)(struct eserver *s);
	void *(*thread)(void *arg);
	/* Make every thread return; called once, then the threads are joined. */
	void (*stop)(struct eserver *s);
	void (*fini)(struct eserver *s);
};

struct ethread {
	struct eserver *s;
	int idx;
	pthread_t tid;
};

struct eserver {
	const struct ebackend *be;
	int nthreads;
	struct ethread th[ECHO_THREADS_MAX];
	int nconns;
	struct econn *conns;
	int port;				/* iocp */
	int ep[ECHO_THREADS_MAX];		/* epoll: each thread's; others: [0] */
	bool shared;				/* one epoll set for the threads */
	int stopfd[ECHO_THREADS_MAX];		/* epoll*, io_uring, condvar */
	struct io_uring ring[ECHO_THREADS_MAX];	/* io_uring */
	pthread_mutex_t mu;			/* condvar: the queue */
	pthread_cond_t cv;
	struct econn **q;
	unsigned int head, tail;
	bool cstop;
	pthread_t poller;
};

/* The client side of a connection. */
struct cconn {
	int fd;
	unsigned int got;	/* bytes of the echo in flight so far */
	unsigned long done;	/* requests completed */
};

struct client {
	int ep;
	int n;
	struct cconn *c;
	unsigned int size;
	atomic_ulong requests;
	atomic_bool *stop;
	pthread_t tid;
} __attribute__((aligned(64)));

static void econn_send_all(struct econn *c, size_t len)
{
	size_t off = 0;
	ssize_t n;

	/*
	 * A closed loop never fills the client's receive buffer, so this
	 * sends everything at once; a short send waits for room. The
	 * clients close only after the server has stopped: any error is a
	 * bug.
	 */
	while (off < len) {
		n = send(c->fd, c->buf + off, len - off, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			die("server send: %s", n ? strerror(errno) : "0");
		off += n;
	}
}

/* One request of a readiness-based server: a recv() and its echo. */
static void econn_serve(struct econn *c)
{
	ssize_t n = recv(c->fd, c->buf, sizeof(c->buf), MSG_DONTWAIT);

	if (n > 0)
		econn_send_all(c, n);
	else if (!n || (errno != EAGAIN && errno != EINTR))
		die("server recv: %s", n ? strerror(errno) : "EOF");
}

/* --- iocp ---------------------------------------------------------------- */

static void iocp_prep(struct econn *c, struct iocp_op *op)
{
	if (c->state == ST_RECV)
		iocp_prep_recv(op, c->fd, c->buf, sizeof(c->buf), 0,
			       (uintptr_t)c);
	else
		iocp_prep_send(op, c->fd, c->buf + c->sent, c->len - c->sent,
			       MSG_NOSIGNAL, (uintptr_t)c);
	iocp_op_skip_on_success(op);
}

/*
 * The op in flight on @c completed with @res: submit the next one, and go
 * on at once while ops complete at submit (IOCP_OP_DONE, no packet).
 */
static void iocp_step(int port, struct econn *c, int64_t res)
{
	struct iocp_op op;
	int st;

	for (;;) {
		/* The port is shut down before the clients close. */
		if (res == -ESHUTDOWN || res == -ECANCELED)
			return;
		if (res <= 0)
			die("iocp %s: %s", c->state == ST_RECV ? "RECV" : "SEND",
			    res ? strerror((int)-res) : "EOF");
		if (c->state == ST_RECV) {
			c->len = res;
			c->sent = 0;
			c->state = ST_SEND;
		} else {
			c->sent += res;
			if (c->sent == c->len)
				c->state = ST_RECV;
		}
		iocp_prep(c, &op);
		st = iocp_submit_one(port, &op);
		if (st == IOCP_OP_PENDING || st == IOCP_OP_QUEUED ||
		    st == -ESHUTDOWN)
			return;
		if (st < 0)
			die("iocp_submit: %s", strerror(-st));
		/* DONE: go on with the result; FAILED: checked above. */
		res = iocp_op_result(&op);
	}
}

static void iocp_s_init(struct eserver *s)
{
	struct iocp_op op;

	s->port = iocp_create(0);
	if (s->port < 0)
		die("iocp_create: %s", strerror(-s->port));
	for (int i = 0; i < s->nconns; i++) {
		struct econn *c = &s->conns[i];
		int st;

		c->state = ST_RECV;
		iocp_prep(c, &op);
		st = iocp_submit_one(s->port, &op);
		if (st != IOCP_OP_PENDING)
			die("iocp: first RECV: status %d", st);
	}
}

static void *iocp_s_thread(void *arg)
{
	struct ethread *t = arg;
	struct iocp_completion pk[ECHO_EVENTS];
	int port = t->s->port, n;

	for (;;) {
		n = iocp_get_many(port, pk, 1, ECHO_EVENTS, IOCP_INFINITE);
		if (n == -EINTR)
			continue;
		if (n == -ESHUTDOWN)
			return NULL;
		if (n < 0)
			die("iocp_get_many: %s", strerror(-n));
		for (int i = 0; i < n; i++)
			iocp_step(port, (struct econn *)(uintptr_t)pk[i].user_data,
				  iocp_result(&pk[i]));
	}
}

/* Wakes every waiter with -ESHUTDOWN; the ops still pending are cancelled. */
static void iocp_s_stop(struct eserver *s)
{
	iocp_shutdown(s->port);
}

static void iocp_s_fini(struct eserver *s)
{
	close(s->port);
}

/* --- epoll: a set per thread, and the shared-set thread pools ------------ */

static int new_eventfd(void)
{
	int fd = eventfd(0, EFD_CLOEXEC);

	if (fd < 0)
		die("eventfd: %s", strerror(errno));
	return fd;
}

static int new_epoll(void)
{
	int ep = epoll_create1(EPOLL_CLOEXEC);

	if (ep < 0)
		die("epoll_create1: %s", strerror(errno));
	return ep;
}

static void ep_add(int ep, int fd, uint32_t events, void *ptr)
{
	struct epoll_event ev = { .events = events, .data.ptr = ptr };

	if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev))
		die("epoll_ctl ADD: %s", strerror(errno));
}

static void ep_rearm(int ep, struct econn *c)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLONESHOT, .data.ptr = c };

	if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev))
		die("epoll_ctl MOD: %s", strerror(errno));
}

/* Each thread has its set, its share of the connections and a stop eventfd. */
static void epoll_s_init(struct eserver *s)
{
	for (int t = 0; t < s->nthreads; t++) {
		s->ep[t] = new_epoll();
		s->stopfd[t] = new_eventfd();
		ep_add(s->ep[t], s->stopfd[t], EPOLLIN, NULL);
	}
	for (int i = 0; i < s->nconns; i++)
		ep_add(s->ep[i % s->nthreads], s->conns[i].fd, EPOLLIN,
		       &s->conns[i]);
}

/* Both epoll thread loops: NULL is the stop eventfd. */
static void *epoll_s_thread(void *arg)
{
	struct ethread *t = arg;
	struct eserver *s = t->s;
	struct epoll_event ev[ECHO_EVENTS];
	int ep = s->shared ? s->ep[0] : s->ep[t->idx], n;

	for (;;) {
		n = epoll_wait(ep, ev, ECHO_EVENTS, -1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			die("epoll_wait: %s", strerror(errno));
		for (int i = 0; i < n; i++) {
			struct econn *c = ev[i].data.ptr;

			if (!c)
				return NULL;
			econn_serve(c);
			if (s->shared)
				ep_rearm(ep, c);
		}
	}
}

static void epoll_s_stop(struct eserver *s)
{
	for (int t = 0; t < s->nthreads; t++)
		if (s->stopfd[t] >= 0 && eventfd_write(s->stopfd[t], 1))
			die("eventfd_write: %s", strerror(errno));
}

static void epoll_s_fini(struct eserver *s)
{
	for (int t = 0; t < s->nthreads; t++) {
		if (s->ep[t] >= 0)
			close(s->ep[t]);
		if (s->stopfd[t] >= 0)
			close(s->stopfd[t]);
	}
}

/*
 * One set for the pool. The stop eventfd is level-triggered and never
 * read, so it wakes every thread.
 */
static void oneshot_s_init(struct eserver *s)
{
	s->shared = true;
	s->ep[0] = new_epoll();
	s->stopfd[0] = new_eventfd();
	ep_add(s->ep[0], s->stopfd[0], EPOLLIN, NULL);
	for (int i = 0; i < s->nconns; i++)
		ep_add(s->ep[0], s->conns[i].fd, EPOLLIN | EPOLLONESHOT,
		       &s->conns[i]);
}

/* --- io_uring: a ring per thread ----------------------------------------- */

static void uring_submit(struct io_uring *r)
{
	int ret = io_uring_submit(r);

	if (ret < 0)
		die("io_uring_submit: %s", strerror(-ret));
}

static struct io_uring_sqe *uring_sqe(struct io_uring *r)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(r);

	if (!sqe) {
		uring_submit(r);
		sqe = io_uring_get_sqe(r);
		if (!sqe)
			die("io_uring: no SQE");
	}
	return sqe;
}

static void uring_prep(struct io_uring *r, struct econn *c)
{
	struct io_uring_sqe *sqe = uring_sqe(r);

	if (c->state == ST_RECV)
		io_uring_prep_recv(sqe, c->fd, c->buf, sizeof(c->buf), 0);
	else
		io_uring_prep_send(sqe, c->fd, c->buf + c->sent,
				   c->len - c->sent, MSG_NOSIGNAL);
	io_uring_sqe_set_data(sqe, c);
}

static void uring_s_init(struct eserver *s)
{
	unsigned int per = (s->nconns + s->nthreads - 1) / s->nthreads;
	struct io_uring_sqe *sqe;
	static uint64_t sink[ECHO_THREADS_MAX];
	int ret;

	for (int t = 0; t < s->nthreads; t++) {
		/* Each connection has one op in flight, and the stop read. */
		ret = io_uring_queue_init(per + 8 < 64 ? 64 : per + 8,
					  &s->ring[t], 0);
		if (ret < 0)
			die("io_uring_queue_init: %s", strerror(-ret));
		s->stopfd[t] = new_eventfd();
		sqe = uring_sqe(&s->ring[t]);
		io_uring_prep_read(sqe, s->stopfd[t], &sink[t], sizeof(sink[t]),
				   0);
		sqe->user_data = STOP_TAG;
	}
	for (int i = 0; i < s->nconns; i++) {
		s->conns[i].state = ST_RECV;
		uring_prep(&s->ring[i % s->nthreads], &s->conns[i]);
	}
	for (int t = 0; t < s->nthreads; t++)
		uring_submit(&s->ring[t]);
}

static void *uring_s_thread(void *arg)
{
	struct ethread *t = arg;
	struct io_uring *r = &t->s->ring[t->idx];
	struct io_uring_cqe *cqe;
	unsigned int head, seen;
	bool stop = false;
	int ret;

	while (!stop) {
		ret = io_uring_submit_and_wait(r, 1);
		if (ret < 0 && ret != -EINTR)
			die("io_uring_submit_and_wait: %s", strerror(-ret));
		seen = 0;
		io_uring_for_each_cqe(r, head, cqe) {
			struct econn *c = io_uring_cqe_get_data(cqe);

			seen++;
			if (cqe->user_data == STOP_TAG) {
				stop = true;
				continue;
			}
			/* The clients close only after the rings are gone. */
			if (cqe->res <= 0)
				die("io_uring %s: %s",
				    c->state == ST_RECV ? "RECV" : "SEND",
				    cqe->res ? strerror(-cqe->res) : "EOF");
			if (c->state == ST_RECV) {
				c->len = cqe->res;
				c->sent = 0;
				c->state = ST_SEND;
			} else {
				c->sent += cqe->res;
				if (c->sent == c->len)
					c->state = ST_RECV;
			}
			uring_prep(r, c);
		}
		io_uring_cq_advance(r, seen);
	}
	return NULL;
}

static void uring_s_fini(struct eserver *s)
{
	for (int t = 0; t < s->nthreads; t++) {
		io_uring_queue_exit(&s->ring[t]);
		close(s->stopfd[t]);
	}
}

/* --- condvar: an epoll poller thread feeding a pool ---------------------- */

static void *cond_s_poller(void *arg)
{
	struct eserver *s = arg;
	struct epoll_event ev[ECHO_EVENTS];
	int n;

	for (;;) {
		n = epoll_wait(s->ep[0], ev, ECHO_EVENTS, -1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			die("epoll_wait: %s", strerror(errno));
		pthread_mutex_lock(&s->mu);
		for (int i = 0; i < n; i++) {
			if (!ev[i].data.ptr) {
				s->cstop = true;
				pthread_cond_broadcast(&s->cv);
				pthread_mutex_unlock(&s->mu);
				return NULL;
			}
			/* Oneshot: a connection is queued at most once. */
			s->q[s->tail++ % s->nconns] = ev[i].data.ptr;
			pthread_cond_signal(&s->cv);
		}
		pthread_mutex_unlock(&s->mu);
	}
}

static void cond_s_init(struct eserver *s)
{
	oneshot_s_init(s);
	s->q = calloc(s->nconns, sizeof(*s->q));
	if (!s->q)
		die("out of memory");
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	if (pthread_create(&s->poller, NULL, cond_s_poller, s))
		die("pthread_create");
}

static void *cond_s_thread(void *arg)
{
	struct ethread *t = arg;
	struct eserver *s = t->s;
	struct econn *c;

	for (;;) {
		pthread_mutex_lock(&s->mu);
		while (s->head == s->tail && !s->cstop)
			pthread_cond_wait(&s->cv, &s->mu);
		if (s->head == s->tail) {
			pthread_mutex_unlock(&s->mu);
			return NULL;
		}
		c = s->q[s->head++ % s->nconns];
		pthread_mutex_unlock(&s->mu);
		econn_serve(c);
		ep_rearm(s->ep[0], c);
	}
}

static void cond_s_fini(struct eserver *s)
{
	pthread_join(s->poller, NULL);
	epoll_s_fini(s);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv);
	free(s->q);
}

static const struct ebackend ebackends[] = {
	{ "iocp", iocp_s_init, iocp_s_thread, iocp_s_stop, iocp_s_fini },
	{ "epoll", epoll_s_init, epoll_s_thread, epoll_s_stop, epoll_s_fini },
	{ "epoll-oneshot", oneshot_s_init, epoll_s_thread, epoll_s_stop,
	  epoll_s_fini },
	{ "io_uring", uring_s_init, uring_s_thread, epoll_s_stop, uring_s_fini },
	{ "condvar", cond_s_init, cond_s_thread, epoll_s_stop, cond_s_fini },
};

/* --- the client ---------------------------------------------------------- */

static void csend(struct cconn *c, const char *msg, unsigned int size)
{
	unsigned int off = 0;
	ssize_t n;

	while (off < size) {
		n = send(c->fd, msg + off, size - off, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			die("client send: %s", n ? strerror(errno) : "0");
		off += n;
	}
}

static void *client_thread(void *arg)
{
	static const char msg[ECHO_MSG_MAX];
	struct client *cl = arg;
	struct epoll_event ev[64];
	char buf[ECHO_MSG_MAX];
	ssize_t got;
	int n;

	for (int i = 0; i < cl->n; i++)
		csend(&cl->c[i], msg, cl->size);
	while (!atomic_load_explicit(cl->stop, memory_order_relaxed)) {
		n = epoll_wait(cl->ep, ev, 64, 20);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			die("client epoll_wait: %s", strerror(errno));
		for (int i = 0; i < n; i++) {
			struct cconn *c = ev[i].data.ptr;

			got = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);
			if (got < 0 && (errno == EAGAIN || errno == EINTR))
				continue;
			if (got <= 0)
				die("client recv: %s",
				    got ? strerror(errno) : "EOF");
			c->got += got;
			if (c->got > cl->size)
				die("client: %u bytes echoed for %u sent",
				    c->got, cl->size);
			if (c->got < cl->size)
				continue;
			c->got = 0;
			c->done++;
			atomic_fetch_add_explicit(&cl->requests, 1,
						  memory_order_relaxed);
			csend(c, msg, cl->size);
		}
	}
	return NULL;
}

/* --- the measurement ----------------------------------------------------- */

static void set_int(int fd, int level, int opt, int val)
{
	if (setsockopt(fd, level, opt, &val, sizeof(val)))
		die("setsockopt(%d, %d): %s", level, opt, strerror(errno));
}

/* A connected pair over loopback: *@cfd the client's, *@sfd the server's. */
static void tcp_pair(int lfd, const struct sockaddr_in *sa, int *cfd, int *sfd)
{
	*cfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (*cfd < 0)
		die("socket: %s", strerror(errno));
	if (connect(*cfd, (const struct sockaddr *)sa, sizeof(*sa)))
		die("connect: %s", strerror(errno));
	*sfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (*sfd < 0)
		die("accept4: %s", strerror(errno));
	set_int(*cfd, IPPROTO_TCP, TCP_NODELAY, 1);
	set_int(*sfd, IPPROTO_TCP, TCP_NODELAY, 1);
}

/*
 * From /proc/stat: the CPU time the whole guest did not use, in ns (idle,
 * iowait and steal), and the context switches of every CPU so far.
 */
static void proc_stat(uint64_t *idle, uint64_t *ctxt)
{
	unsigned long long v[8], n;
	long hz = sysconf(_SC_CLK_TCK);
	FILE *f = fopen("/proc/stat", "r");
	char line[256];
	bool found = false;

	if (!f || !fgets(line, sizeof(line), f) ||
	    sscanf(line, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0],
		   &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]) != 8)
		die("/proc/stat: cannot read the cpu line");
	/* Stolen time (a hypervisor's, under KVM) was not the guest's. */
	*idle = (v[3] + v[4] + v[7]) * (1000000000ULL / hz);
	while (!found && fgets(line, sizeof(line), f))
		found = sscanf(line, "ctxt %llu", &n) == 1;
	fclose(f);
	if (!found)
		die("/proc/stat: no ctxt line");
	*ctxt = n;
}

static uint64_t thread_cpu_ns(pthread_t tid)
{
	struct timespec ts;
	clockid_t cid;

	if (pthread_getcpuclockid(tid, &cid) || clock_gettime(cid, &ts))
		die("thread CPU clock: %s", strerror(errno));
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

struct snap {
	uint64_t t, idle, ctxt, client_cpu, requests;
};

static void snapshot(struct snap *sn, struct client *cl)
{
	sn->t = now_ns();
	proc_stat(&sn->idle, &sn->ctxt);
	sn->client_cpu = 0;
	sn->requests = 0;
	for (int i = 0; i < ECHO_CLIENTS; i++) {
		sn->client_cpu += thread_cpu_ns(cl[i].tid);
		sn->requests += atomic_load_explicit(&cl[i].requests,
						     memory_order_relaxed);
	}
}

static void w5_run(const struct ebackend *be, int nconns, unsigned int size,
		   int round, const char *cfg)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t salen = sizeof(sa);
	struct client cl[ECHO_CLIENTS];
	struct cconn *cc = calloc(nconns, sizeof(*cc));
	struct eserver *s = calloc(1, sizeof(*s));
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	static const struct linger rst = { 1, 0 };
	atomic_bool stop = false;
	struct snap a, b;
	double secs, server_cpu;
	uint64_t requests;
	int lfd;

	if (!cc || !s)
		die("out of memory");
	s->be = be;
	s->nconns = nconns;
	s->nthreads = ncpu * 2 > ECHO_THREADS_MAX ? ECHO_THREADS_MAX : ncpu * 2;
	s->conns = calloc(nconns, sizeof(*s->conns));
	if (!s->conns)
		die("out of memory");
	for (int t = 0; t < ECHO_THREADS_MAX; t++) {
		s->ep[t] = -1;
		s->stopfd[t] = -1;
	}

	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    listen(lfd, 64) ||
	    getsockname(lfd, (struct sockaddr *)&sa, &salen))
		die("listening socket: %s", strerror(errno));
	for (int i = 0; i < nconns; i++)
		tcp_pair(lfd, &sa, &cc[i].fd, &s->conns[i].fd);
	close(lfd);

	be->init(s);
	for (int t = 0; t < s->nthreads; t++) {
		s->th[t].s = s;
		s->th[t].idx = t;
		if (pthread_create(&s->th[t].tid, NULL, be->thread, &s->th[t]))
			die("pthread_create");
	}
	for (int i = 0; i < ECHO_CLIENTS; i++) {
		memset(&cl[i], 0, sizeof(cl[i]));
		cl[i].ep = new_epoll();
		cl[i].c = cc + (long)nconns * i / ECHO_CLIENTS;
		cl[i].n = (long)nconns * (i + 1) / ECHO_CLIENTS -
			  (long)nconns * i / ECHO_CLIENTS;
		cl[i].size = size;
		cl[i].stop = &stop;
		for (int j = 0; j < cl[i].n; j++)
			ep_add(cl[i].ep, cl[i].c[j].fd, EPOLLIN, &cl[i].c[j]);
		if (pthread_create(&cl[i].tid, NULL, client_thread, &cl[i]))
			die("pthread_create");
	}

	sleep_ns(warmup_ns);
	snapshot(&a, cl);
	sleep_ns(measure_ns);
	snapshot(&b, cl);

	atomic_store(&stop, true);
	for (int i = 0; i < ECHO_CLIENTS; i++) {
		pthread_join(cl[i].tid, NULL);
		close(cl[i].ep);
	}
	be->stop(s);
	for (int t = 0; t < s->nthreads; t++)
		pthread_join(s->th[t].tid, NULL);
	be->fini(s);
	/* A connection that never got an echo back: a completion was lost. */
	for (int i = 0; i < nconns; i++)
		if (!cc[i].done)
			die("W5 %s %s round %d: connection %d of %d never echoed",
			    be->name, cfg, round, i, nconns);
	for (int i = 0; i < nconns; i++) {
		/* A reset, not a FIN: no TIME_WAIT left behind, round after round. */
		setsockopt(cc[i].fd, SOL_SOCKET, SO_LINGER, &rst, sizeof(rst));
		close(cc[i].fd);
		close(s->conns[i].fd);
	}
	free(s->conns);
	free(s);
	free(cc);

	requests = b.requests - a.requests;
	if (!requests) {
		/* Possible with a tiny -t: say so rather than divide by 0. */
		result("W5", cfg, be->name, round, "requests_per_s=0");
		return;
	}
	secs = (b.t - a.t) / 1e9;
	server_cpu = (double)ncpu * (b.t - a.t) - (double)(b.idle - a.idle) -
		     (double)(b.client_cpu - a.client_cpu);
	result("W5", cfg, be->name, round,
	       "requests_per_s=%.0f,server_us_per_request=%.2f,"
	       "client_us_per_request=%.2f,switches_per_request=%.2f",
	       requests / secs, server_cpu / 1e3 / requests,
	       (b.client_cpu - a.client_cpu) / 1e3 / requests,
	       (double)(b.ctxt - a.ctxt) / requests);
}

void w5(void)
{
	static const unsigned int sizes[] = { 128, 4096 };
	static const int conns[] = { 1, 10, 100, ECHO_CONNS_MAX };
	char cfg[64];

	if (!want_fds(2 * ECHO_CONNS_MAX + 256))
		die("W5 needs %d descriptors", 2 * ECHO_CONNS_MAX + 256);
	for (unsigned int z = 0; z < ARRAY_SIZE(sizes); z++) {
		for (unsigned int k = 0; k < ARRAY_SIZE(conns); k++) {
			snprintf(cfg, sizeof(cfg), "conns=%d msg=%uB", conns[k],
				 sizes[z]);
			if (!selected("W5", cfg))
				continue;
			for (int r = 0; r < rounds; r++)
				for (unsigned int b = 0; b < ARRAY_SIZE(ebackends); b++)
					if (backend_selected(ebackends[b].name))
						w5_run(&ebackends[b], conns[k],
						       sizes[z], r, cfg);
		}
	}
}
