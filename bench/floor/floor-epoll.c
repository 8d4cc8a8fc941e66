// SPDX-License-Identifier: MIT
#define _GNU_SOURCE	/* accept4 */
/*
 * floor-epoll: the tutorial exchange (accept, one read of up to 1024 bytes,
 * send the reply, close) served as cheaply as epoll allows, as a floor to
 * measure tcpack against. Single-threaded, no limits, no timeouts, no logs.
 *
 * Per connection: accept4, one epoll_ctl (level-triggered EPOLLIN), and when
 * it is readable one recv, one send and one close (which also takes the fd
 * out of the epoll set); the reply and the FIN leave in one segment.
 * Nothing is kept per connection but the fd.
 *
 * Usage: floor-epoll [ADDR:PORT]   (IPv4, default 127.0.0.1:0)
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#define REPLY		"服务器已收到数据"	/* 24 bytes of UTF-8 */
#define MAX_EVENTS	256

static int listen_on(const char *spec)
{
	char host[64] = "127.0.0.1";
	const char *colon = spec ? strrchr(spec, ':') : NULL;
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	int fd, one = 1;

	if (spec && (!colon || (size_t)(colon - spec) >= sizeof(host)))
		return -EINVAL;
	if (spec)
		snprintf(host, sizeof(host), "%.*s", (int)(colon - spec), spec);
	sa.sin_port = htons((unsigned short)(spec ? atoi(colon + 1) : 0));
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
		return -EINVAL;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	/* Accepted sockets inherit TCP_NODELAY from the listening socket. */
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, SOMAXCONN) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) < 0)
		return -errno;
	fprintf(stderr, "listening on %s:%u\n", host, ntohs(sa.sin_port));
	return fd;
}

static int watch(int epfd, int fd)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };

	return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
}

/* Readable: the client's message, or its EOF or error; either way we are done. */
static void handle_conn(int fd)
{
	char buf[1024];
	ssize_t n = recv(fd, buf, sizeof(buf), 0);

	if (n < 0 && errno == EAGAIN)	/* spurious wake-up: still registered */
		return;
	/*
	 * 24 bytes into an empty send buffer are never short. MSG_MORE holds
	 * them until the close, whose FIN leaves in the same segment: 7
	 * segments per exchange instead of 9.
	 */
	if (n > 0)
		(void)!send(fd, REPLY, sizeof(REPLY) - 1, MSG_NOSIGNAL | MSG_DONTWAIT | MSG_MORE);
	close(fd);
}

int main(int argc, char **argv)
{
	struct epoll_event events[MAX_EVENTS];
	sigset_t sigs;
	int lfd, sfd, epfd;

	lfd = listen_on(argc > 1 ? argv[1] : NULL);
	if (lfd < 0) {
		fprintf(stderr, "floor-epoll: listen: %s\n", strerror(-lfd));
		return 1;
	}
	/* SIGINT and SIGTERM arrive as a readable signalfd: no race with the wait. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigprocmask(SIG_BLOCK, &sigs, NULL);
	sfd = signalfd(-1, &sigs, SFD_CLOEXEC);
	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (sfd < 0 || epfd < 0 || watch(epfd, lfd) < 0 || watch(epfd, sfd) < 0) {
		fprintf(stderr, "floor-epoll: setup: %s\n", strerror(errno));
		return 1;
	}

	for (;;) {
		int n = epoll_wait(epfd, events, MAX_EVENTS, -1);

		if (n < 0 && errno != EINTR) {
			fprintf(stderr, "floor-epoll: epoll_wait: %s\n", strerror(errno));
			return 1;
		}
		for (int i = 0; i < n; i++) {
			int fd = events[i].data.fd;

			if (fd == sfd)
				return 0;
			if (fd != lfd) {
				handle_conn(fd);
				continue;
			}
			/* Drain the backlog; a connection we cannot watch is closed. */
			for (;;) {
				int cfd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

				if (cfd >= 0 && watch(epfd, cfd) < 0)
					close(cfd);
				else if (cfd < 0 && errno != EINTR && errno != ECONNABORTED)
					break;	/* EAGAIN: empty; EMFILE & co: next wake-up */
			}
		}
	}
}
