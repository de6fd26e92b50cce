// SPDX-License-Identifier: LGPL-2.1-or-later OR MIT
/*
 * iocp echo client: the load and the check for examples/echo-server.c.
 *
 * Opens -c connections to 127.0.0.1:PORT, sends a pseudo-random stream of
 * -s bytes on each (a different stream per connection), half-closes it
 * (shutdown(SHUT_WR)), and checks that every byte comes back, in order,
 * and then the end of the stream. Plain non-blocking sockets and poll(2),
 * with the connections spread over -t threads; no iocp here.
 *
 * At most -w bytes per connection are sent and not yet echoed back: with
 * no such bound, a thousand connections fill the socket buffers, and in a
 * small machine TCP runs out of memory (tcp_mem) and resets the server's
 * closed sockets that still have data to send.
 *
 *   iocp_echo-client [-p PORT] [-c CONNS] [-s SIZE[K|M|G]] [-t THREADS]
 *                    [-w WINDOW[K|M]]
 *
 * Prints the connections, bytes, seconds, and "echo: OK", or the first
 * mismatch. Exit status 0 only if every byte came back.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
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

#define CHUNK		65536
#define MAX_THREADS	64
#define CONNECT_RETRY_S	10	/* keep retrying refused connects this long */
#define STALL_S		60	/* no progress this long: give up */

struct cconn {
	int fd;
	bool connected, wr_shut, eof;
	uint64_t seed;
	uint64_t sent, recvd;
};

struct thread {
	pthread_t tid;
	unsigned int first, count;	/* its connections */
	uint64_t bytes;			/* echoed back to it, verified */
	bool failed;
};

static unsigned int tcp_port = 7777, nconns = 1000, nthreads = 4;
static uint64_t size = 1 << 20;
static uint64_t window = 32 << 10;
static struct sockaddr_in server;
static double deadline_connect;

static atomic_bool failed;
static pthread_mutex_t report_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned int done_conns;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The first failure is reported; later ones only stop the run. */
static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void fail(const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&report_lock);
	if (!atomic_exchange(&failed, true)) {
		va_start(ap, fmt);
		printf("echo: ");
		vprintf(fmt, ap);
		printf("\n");
		va_end(ap);
	}
	pthread_mutex_unlock(&report_lock);
}

/* Word @i of the stream of @seed (splitmix64): random access. */
static uint64_t stream_word(uint64_t seed, uint64_t i)
{
	uint64_t z = seed + (i + 1) * 0x9e3779b97f4a7c15ULL;

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Bytes [@off, @off + @len) of the stream of @seed. */
static void stream_fill(uint64_t seed, uint64_t off, unsigned char *buf,
			size_t len)
{
	uint64_t w = stream_word(seed, off / 8);

	for (size_t i = 0; i < len; i++, off++) {
		if (i && off % 8 == 0)
			w = stream_word(seed, off / 8);
		buf[i] = (unsigned char)(w >> (off % 8 * 8));
	}
}

static int conn_open(struct cconn *c)
{
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return -errno;
	c->connected = false;
	if (connect(c->fd, (struct sockaddr *)&server, sizeof(server)) == 0)
		c->connected = true;
	else if (errno != EINPROGRESS)
		return -errno;
	return 0;
}

/* A refused connect before the server listens: try again for a while. */
static bool conn_retry(struct cconn *c, int err)
{
	if (err != -ECONNREFUSED || now_s() > deadline_connect)
		return false;
	close(c->fd);
	usleep(20000);
	return conn_open(c) == 0;
}

static void conn_send(struct cconn *c, unsigned char *buf)
{
	uint64_t room = window - (c->sent - c->recvd);
	size_t len = size - c->sent < CHUNK ? size - c->sent : CHUNK;
	ssize_t n;

	if (len > room)
		len = room;

	if (len) {
		stream_fill(c->seed, c->sent, buf, len);
		n = send(c->fd, buf, len, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno != EAGAIN && errno != EINTR)
				fail("send on connection %llu after %llu bytes: %s",
				     (unsigned long long)c->seed,
				     (unsigned long long)c->sent, strerror(errno));
			return;
		}
		c->sent += n;
	}
	if (c->sent == size && !c->wr_shut) {
		if (shutdown(c->fd, SHUT_WR) < 0)
			fail("shutdown: %s", strerror(errno));
		c->wr_shut = true;
	}
}

static void conn_recv(struct cconn *c, unsigned char *buf,
		      unsigned char *want, struct thread *t)
{
	ssize_t n = recv(c->fd, buf, CHUNK, 0);

	if (n < 0) {
		if (errno != EAGAIN && errno != EINTR)
			fail("recv on connection %llu after %llu bytes: %s",
			     (unsigned long long)c->seed,
			     (unsigned long long)c->recvd, strerror(errno));
		return;
	}
	if (n == 0) {
		c->eof = true;
		if (c->recvd != size)
			fail("connection %llu: end of stream after %llu of %llu bytes",
			     (unsigned long long)c->seed,
			     (unsigned long long)c->recvd,
			     (unsigned long long)size);
		return;
	}
	if (c->recvd + n > size) {
		fail("connection %llu: %llu bytes echoed, %llu were sent",
		     (unsigned long long)c->seed,
		     (unsigned long long)(c->recvd + n),
		     (unsigned long long)size);
		return;
	}
	stream_fill(c->seed, c->recvd, want, n);
	if (memcmp(buf, want, n)) {
		ssize_t i = 0;

		while (buf[i] == want[i])
			i++;
		fail("MISMATCH on connection %llu at byte %llu: expected 0x%02x, got 0x%02x",
		     (unsigned long long)c->seed,
		     (unsigned long long)(c->recvd + i), want[i], buf[i]);
		return;
	}
	c->recvd += n;
	t->bytes += n;
}

static void *client_thread(void *arg)
{
	struct thread *t = arg;
	struct cconn *conns = calloc(t->count, sizeof(*conns));
	struct pollfd *pfd = calloc(t->count, sizeof(*pfd));
	unsigned int *idx = calloc(t->count, sizeof(*idx));
	unsigned char *sbuf = malloc(CHUNK), *rbuf = malloc(CHUNK),
		      *want = malloc(CHUNK);
	unsigned int i, n, open_conns = 0;
	double last = now_s();
	int ret;

	if (!conns || !pfd || !idx || !sbuf || !rbuf || !want) {
		fail("out of memory");
		return NULL;
	}
	for (i = 0; i < t->count; i++) {
		conns[i].seed = t->first + i;
		ret = conn_open(&conns[i]);
		if (ret < 0) {
			fail("connect: %s", strerror(-ret));
			goto out;
		}
		open_conns++;
	}

	while (open_conns && !atomic_load(&failed)) {
		for (i = n = 0; i < t->count; i++) {
			struct cconn *c = &conns[i];

			if (c->eof)
				continue;
			pfd[n].fd = c->fd;
			pfd[n].events = !c->connected ? POLLOUT :
				c->wr_shut || c->sent - c->recvd >= window ?
				POLLIN : POLLIN | POLLOUT;
			pfd[n].revents = 0;
			idx[n++] = i;
		}
		ret = poll(pfd, n, 1000);
		if (ret < 0 && errno != EINTR) {
			fail("poll: %s", strerror(errno));
			break;
		}
		if (ret <= 0) {
			if (now_s() - last > STALL_S) {
				fail("no progress for %d s on %u open connections",
				     STALL_S, open_conns);
				break;
			}
			continue;
		}
		last = now_s();
		for (i = 0; i < n; i++) {
			struct cconn *c = &conns[idx[i]];
			short ev = pfd[i].revents;

			if (!ev)
				continue;
			if (!c->connected) {
				int err = 0;
				socklen_t len = sizeof(err);

				getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
				if (err && !conn_retry(c, -err)) {
					fail("connect: %s", strerror(err));
					break;
				}
				if (!err)
					c->connected = true;
				continue;
			}
			if (ev & (POLLIN | POLLERR | POLLHUP))
				conn_recv(c, rbuf, want, t);
			if (!c->eof && (ev & POLLOUT))
				conn_send(c, sbuf);
			if (c->eof) {
				close(c->fd);
				c->fd = -1;
				open_conns--;
			}
		}
	}
	if (!open_conns) {
		pthread_mutex_lock(&report_lock);
		done_conns += t->count;
		pthread_mutex_unlock(&report_lock);
	}
out:
	for (i = 0; i < t->count; i++)
		if (conns[i].fd >= 0 && !conns[i].eof)
			close(conns[i].fd);
	free(conns);
	free(pfd);
	free(idx);
	free(sbuf);
	free(rbuf);
	free(want);
	return NULL;
}

static uint64_t parse_size(const char *s)
{
	char *end;
	uint64_t v = strtoull(s, &end, 0);

	switch (*end) {
	case 'G': case 'g': v <<= 10; /* fall through */
	case 'M': case 'm': v <<= 10; /* fall through */
	case 'K': case 'k': v <<= 10; end++; break;
	default: break;
	}
	return *end ? 0 : v;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: iocp_echo-client [-p PORT] [-c CONNS] [-s SIZE[K|M|G]] [-t THREADS]\n"
		"                        [-w WINDOW[K|M]]\n"
		"  -p  server port on 127.0.0.1 (default 7777)\n"
		"  -c  connections (default 1000)\n"
		"  -s  bytes sent on each connection (default 1M)\n"
		"  -t  client threads (default 4)\n"
		"  -w  most bytes sent and not yet echoed, per connection (default 32K)\n");
	exit(2);
}

int main(int argc, char **argv)
{
	struct thread threads[MAX_THREADS];
	uint64_t bytes = 0;
	struct rlimit rl;
	double t0, secs;
	unsigned int i, first = 0;
	int opt;

	while ((opt = getopt(argc, argv, "p:c:s:t:w:")) != -1) {
		switch (opt) {
		case 'p': tcp_port = strtoul(optarg, NULL, 0); break;
		case 'c': nconns = strtoul(optarg, NULL, 0); break;
		case 's': size = parse_size(optarg); break;
		case 't': nthreads = strtoul(optarg, NULL, 0); break;
		case 'w': window = parse_size(optarg); break;
		default: usage();
		}
	}
	if (optind != argc || !nconns || !size || !nthreads || !window ||
	    nthreads > MAX_THREADS || tcp_port > 65535)
		usage();
	if (nthreads > nconns)
		nthreads = nconns;
	setvbuf(stdout, NULL, _IOLBF, 0);

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < nconns + 16ULL)
		fprintf(stderr, "echo-client: RLIMIT_NOFILE %llu may be too low for %u connections\n",
			(unsigned long long)rl.rlim_cur, nconns);

	server.sin_family = AF_INET;
	server.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	server.sin_port = htons(tcp_port);

	printf("echo-client: %u connections x %llu bytes to 127.0.0.1:%u, %u threads, %llu-byte window\n",
	       nconns, (unsigned long long)size, tcp_port, nthreads,
	       (unsigned long long)window);
	t0 = now_s();
	deadline_connect = t0 + CONNECT_RETRY_S;
	for (i = 0; i < nthreads; i++) {
		threads[i].first = first;
		threads[i].count = nconns / nthreads + (i < nconns % nthreads);
		threads[i].bytes = 0;
		first += threads[i].count;
		if (pthread_create(&threads[i].tid, NULL, client_thread,
				   &threads[i])) {
			fprintf(stderr, "echo-client: pthread_create failed\n");
			return 1;
		}
	}
	for (i = 0; i < nthreads; i++) {
		pthread_join(threads[i].tid, NULL);
		bytes += threads[i].bytes;
	}
	secs = now_s() - t0;

	printf("echo-client: connections %u, bytes %llu each way, seconds %.2f, %.1f MiB/s echoed\n",
	       done_conns, (unsigned long long)bytes, secs,
	       bytes / 1048576.0 / (secs > 0 ? secs : 1));
	if (!atomic_load(&failed) && done_conns == nconns &&
	    bytes == (uint64_t)nconns * size) {
		printf("echo: OK\n");
		return 0;
	}
	if (!atomic_load(&failed))
		printf("echo: FAILED: %u of %u connections, %llu of %llu bytes\n",
		       done_conns, nconns, (unsigned long long)bytes,
		       (unsigned long long)nconns * size);
	return 1;
}
