// SPDX-License-Identifier: MIT
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "tcpack/addr.h"
#include "tcpack/listen.h"
#include "tcpack/log.h"

static void set_nodelay(int fd)
{
	int one = 1;

	/* Accepted sockets inherit it: no setsockopt per connection. */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static int from_systemd(struct tcpack_listeners *l, int n, char *err)
{
	if (n > TCPACK_LISTEN_FDS_MAX) {
		snprintf(err, TCPACK_ERR_MAX, "systemd passed %d sockets, at most %d are supported",
			 n, TCPACK_LISTEN_FDS_MAX);
		return -E2BIG;
	}
	for (int i = 0; i < n; i++) {
		int fd = SD_LISTEN_FDS_START + i;
		int r = sd_is_socket(fd, AF_UNSPEC, SOCK_STREAM, 1);

		if (r <= 0) {
			snprintf(err, TCPACK_ERR_MAX,
				 "systemd passed fd %d, which is not a listening stream socket%s%s",
				 fd, r < 0 ? ": " : "", r < 0 ? strerror(-r) : "");
			return r < 0 ? r : -ENOTSOCK;
		}
		set_nodelay(fd);
		l->fds[l->n++] = fd;
	}
	l->from_systemd = true;
	return 0;
}

static int bind_one(const struct tcpack_addr *a, char *err)
{
	char addr[TCPACK_ADDR_STRLEN];
	int one = 1, fd, r;

	fd = socket(a->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		r = -errno;
		goto fail;
	}
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    (a->addr.ss_family == AF_INET6 &&
	     setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0) ||
	    bind(fd, (const struct sockaddr *)&a->addr, a->len) < 0 ||
	    listen(fd, SOMAXCONN) < 0) {
		r = -errno;
		goto fail;
	}
	set_nodelay(fd);
	return fd;
fail:
	snprintf(err, TCPACK_ERR_MAX, "cannot listen on %s: %s",
		 tcpack_addr_format((const struct sockaddr *)&a->addr, addr), strerror(-r));
	if (fd >= 0)
		close(fd);
	return r;
}

int tcpack_listen_open(struct tcpack_listeners *l, const struct tcpack_config *c, char *err)
{
	int n, r;

	*l = (struct tcpack_listeners){ 0 };
	n = sd_listen_fds(1);
	if (n < 0) {
		snprintf(err, TCPACK_ERR_MAX, "reading sockets passed by systemd: %s", strerror(-n));
		return n;
	}
	if (n > 0) {
		r = from_systemd(l, n, err);
		if (r < 0)
			tcpack_listen_close(l);
		return r;
	}
	for (unsigned int i = 0; i < c->n_listen; i++) {
		r = bind_one(&c->listen[i], err);
		if (r < 0) {
			tcpack_listen_close(l);
			return r;
		}
		l->fds[l->n++] = r;
	}
	return 0;
}

void tcpack_listen_close(struct tcpack_listeners *l)
{
	for (unsigned int i = 0; i < l->n; i++)
		if (l->fds[i] >= 0)
			close(l->fds[i]);
	l->n = 0;
}
