// SPDX-License-Identifier: MIT
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
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

/* The role of a passed socket, from its FileDescriptorName=. */
static int fd_role(struct tcpack_listeners *l, int fd, const char *name, char *err)
{
	int mode = TCPACK_PROXY_OFF;

	bool agent = name && strcmp(name, TCPACK_FDNAME_AGENT) == 0;

	if (agent || (name && strcmp(name, TCPACK_FDNAME_METRICS) == 0)) {
		unsigned int *n = agent ? &l->n_agent : &l->n_metrics;

		if (*n == TCPACK_ROLE_FDS_MAX) {
			snprintf(err, TCPACK_ERR_MAX, "systemd passed more than %u sockets named '%s'",
				 TCPACK_ROLE_FDS_MAX, name);
			return -E2BIG;
		}
		(agent ? l->agent_fds : l->metrics_fds)[(*n)++] = fd;
		return 0;
	}
	if (name && strncmp(name, TCPACK_FDNAME_PROXY_PREFIX, strlen(TCPACK_FDNAME_PROXY_PREFIX)) == 0) {
		mode = tcpack_proxy_mode_parse(name + strlen(TCPACK_FDNAME_PROXY_PREFIX));
		if (mode < 0) {
			snprintf(err, TCPACK_ERR_MAX,
				 "systemd passed fd %d named '%s': expected proxy-v1, proxy-v2, proxy-any or proxy-off",
				 fd, name);
			return -EINVAL;
		}
	}
	l->proxy[l->n] = (enum tcpack_proxy_mode)mode;
	l->any_proxy |= mode != TCPACK_PROXY_OFF;
	l->fds[l->n++] = fd;
	return 0;
}

static int from_systemd(struct tcpack_listeners *l, int n, char **names, char *err)
{
	if (n > TCPACK_LISTEN_FDS_MAX) {
		snprintf(err, TCPACK_ERR_MAX, "systemd passed %d sockets, at most %d are supported",
			 n, TCPACK_LISTEN_FDS_MAX);
		return -E2BIG;
	}
	l->from_systemd = true;
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
		r = fd_role(l, fd, names ? names[i] : NULL, err);
		if (r < 0)
			return r;
	}
	if (l->n == 0) {
		snprintf(err, TCPACK_ERR_MAX, "systemd passed no socket for clients (only '%s' or '%s')",
			 TCPACK_FDNAME_AGENT, TCPACK_FDNAME_METRICS);
		return -EINVAL;
	}
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
	char **names = NULL;
	int n, r = 0;

	*l = (struct tcpack_listeners){ 0 };
	n = sd_listen_fds_with_names(1, &names);
	if (n < 0) {
		snprintf(err, TCPACK_ERR_MAX, "reading sockets passed by systemd: %s", strerror(-n));
		return n;
	}
	if (n > 0) {
		r = from_systemd(l, n, names, err);
		for (int i = 0; names && i < n; i++)
			free(names[i]);
		free(names);
		goto out;
	}
	for (unsigned int i = 0; i < c->n_listen; i++) {
		r = bind_one(&c->listen[i], err);
		if (r < 0)
			goto out;
		l->proxy[l->n] = c->listen_proxy[i];
		l->any_proxy |= c->listen_proxy[i] != TCPACK_PROXY_OFF;
		l->fds[l->n++] = r;
	}
	if (c->agent_listen.len) {
		r = bind_one(&c->agent_listen, err);
		if (r < 0)
			goto out;
		l->agent_fds[l->n_agent++] = r;
	}
	if (c->metrics_listen.len) {
		r = bind_one(&c->metrics_listen, err);
		if (r < 0)
			goto out;
		l->metrics_fds[l->n_metrics++] = r;
	}
out:
	if (r < 0)
		tcpack_listen_close(l);
	return r < 0 ? r : 0;
}

void tcpack_listen_close(struct tcpack_listeners *l)
{
	for (unsigned int i = 0; i < l->n; i++)
		if (l->fds[i] >= 0)
			close(l->fds[i]);
	l->n = 0;
	for (unsigned int i = 0; i < l->n_agent; i++)
		close(l->agent_fds[i]);
	for (unsigned int i = 0; i < l->n_metrics; i++)
		close(l->metrics_fds[i]);
	l->n_agent = l->n_metrics = 0;
}
