/* SPDX-License-Identifier: MIT */
#pragma once

#include "tcpack/config.h"

#define TCPACK_LISTEN_FDS_MAX 16

struct tcpack_listeners {
	int fds[TCPACK_LISTEN_FDS_MAX];
	unsigned int n;
	bool from_systemd;
};

/**
 * tcpack_listen_open() - the listening sockets: those systemd passed
 * (sd_listen_fds), each checked to be a listening SOCK_STREAM socket, or else
 * the configured addresses bound here. Sets TCP_NODELAY on each, which
 * accepted sockets inherit.
 *
 * Return: 0, or a negative errno with @err naming the fd or address.
 */
int tcpack_listen_open(struct tcpack_listeners *l, const struct tcpack_config *c, char *err);

/** tcpack_listen_close() - close every socket; safe on a zeroed struct and twice. */
void tcpack_listen_close(struct tcpack_listeners *l);
