/* SPDX-License-Identifier: MIT */
#pragma once

#include "tcpack/config.h"

#define TCPACK_LISTEN_FDS_MAX 16
/* Sockets of one of the other roles (agent, metrics): a unit's addresses share its name. */
#define TCPACK_ROLE_FDS_MAX 4u

struct tcpack_listeners {
	int fds[TCPACK_LISTEN_FDS_MAX];		/* where clients connect */
	enum tcpack_proxy_mode proxy[TCPACK_LISTEN_FDS_MAX];	/* the header each expects */
	unsigned int n;
	bool any_proxy;				/* some listener expects a PROXY header */
	int agent_fds[TCPACK_ROLE_FDS_MAX];	/* agent-check listeners */
	unsigned int n_agent;
	int metrics_fds[TCPACK_ROLE_FDS_MAX];	/* metrics listeners */
	unsigned int n_metrics;
	bool from_systemd;
};

/*
 * The FileDescriptorName= of a socket systemd passes says what it is for:
 * "agent" answers HAProxy's agent check; "metrics" serves Prometheus
 * metrics; "proxy-v1", "proxy-v2" and
 * "proxy-any" are client listeners that expect a PROXY protocol header;
 * any other name is a plain client listener.
 */
#define TCPACK_FDNAME_AGENT "agent"
#define TCPACK_FDNAME_METRICS "metrics"
#define TCPACK_FDNAME_PROXY_PREFIX "proxy-"

/**
 * tcpack_listen_open() - the listening sockets: those systemd passed
 * (sd_listen_fds_with_names), each checked to be a listening SOCK_STREAM
 * socket and given its role by its name, or else the configured listen,
 * agent-listen and metrics-listen addresses bound here. At least one client listener is
 * required. Sets TCP_NODELAY on each, which accepted sockets inherit.
 *
 * Return: 0, or a negative errno with @err naming the fd or address.
 */
int tcpack_listen_open(struct tcpack_listeners *l, const struct tcpack_config *c, char *err);

/** tcpack_listen_close() - close every socket; safe on a zeroed struct and twice. */
void tcpack_listen_close(struct tcpack_listeners *l);
