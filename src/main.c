// SPDX-License-Identifier: MIT
/*
 * tcpack: wires configuration, logging, listening sockets and the loop
 * together. Exit status: 0 after a clean stop, 1 when serving could not
 * start or the ring failed, 2 for an invalid configuration.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <systemd/sd-daemon.h>

#include "tcpack-build.h"
#include "tcpack/addr.h"
#include "tcpack/config.h"
#include "tcpack/listen.h"
#include "tcpack/log.h"
#include "tcpack/proxy.h"
#include "tcpack/server.h"
#include "tcpack/worker.h"

/*
 * Each connection is one fd: raise the soft limit to the hard one, and say
 * so when even that cannot hold max-connections.
 */
static void raise_nofile(const struct tcpack_config *c)
{
	struct rlimit rl;
	rlim_t want = (rlim_t)c->max_connections + TCPACK_PARKED_MAX + 64;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	if (rl.rlim_cur < want && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max < want ? rl.rlim_max : want;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur < want)
		tcpack_logf(LOG_WARNING,
			    "open file limit %llu is below max-connections (%u) + %u: accepts may fail with EMFILE before the limit",
			    (unsigned long long)rl.rlim_cur, c->max_connections, TCPACK_PARKED_MAX + 64);
}

static void log_listener(int fd, const char *what, bool from_systemd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char addr[TCPACK_ADDR_STRLEN];

	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		ss.ss_family = AF_UNSPEC;
	tcpack_logf(LOG_INFO, "listening on %s%s%s", tcpack_addr_format((struct sockaddr *)&ss, addr),
		    what, from_systemd ? " (socket from systemd)" : "");
}

static void log_listeners(const struct tcpack_listeners *l, const struct tcpack_config *c)
{
	char what[64];

	for (unsigned int i = 0; i < l->n; i++) {
		what[0] = '\0';
		if (l->proxy[i] != TCPACK_PROXY_OFF)
			snprintf(what, sizeof(what), " (PROXY protocol %s)", tcpack_proxy_mode_name(l->proxy[i]));
		log_listener(l->fds[i], what, l->from_systemd);
	}
	for (unsigned int i = 0; i < l->n_agent; i++)
		log_listener(l->agent_fds[i], " (agent check)", l->from_systemd);
	for (unsigned int i = 0; i < l->n_metrics; i++)
		log_listener(l->metrics_fds[i], " (metrics)", l->from_systemd);
	if (l->from_systemd && c->listen_set_by_args)
		tcpack_logf(LOG_NOTICE, "--listen ignored: systemd passed the listening sockets");
	if (l->from_systemd && c->agent_listen.len)
		tcpack_logf(LOG_NOTICE, "agent-listen ignored: systemd passed the listening sockets (name one FileDescriptorName=%s)",
			    TCPACK_FDNAME_AGENT);
	if (l->from_systemd && c->metrics_listen.len)
		tcpack_logf(LOG_NOTICE, "metrics-listen ignored: systemd passed the listening sockets (name one FileDescriptorName=%s)",
			    TCPACK_FDNAME_METRICS);
}

struct args {
	int argc;
	char **argv;
};

/* SIGHUP: the same precedence chain as at start-up, read again. */
static int reload_config(struct tcpack_config *ret, char *err, void *userdata)
{
	const struct args *a = userdata;
	enum tcpack_cli_action action;

	return tcpack_config_from_args(ret, a->argc, a->argv, &action, err);
}

int main(int argc, char **argv)
{
	struct args args = { argc, argv };
	static struct tcpack_config cfg;
	struct tcpack_listeners listeners = { 0 };
	enum tcpack_cli_action action;
	char err[TCPACK_ERR_MAX];
	sigset_t mask;
	int r;

	r = tcpack_config_from_args(&cfg, argc, argv, &action, err);
	if (r < 0) {
		fprintf(stderr, "tcpack: %s\n", err);
		return 2;
	}
	switch (action) {
	case TCPACK_CLI_HELP:
		fputs(tcpack_config_usage(), stdout);
		return 0;
	case TCPACK_CLI_VERSION:
		printf("tcpack %s\n", TCPACK_VERSION);
		return 0;
	case TCPACK_CLI_CHECK:
		printf("configuration OK%s%s\n", cfg.config_path[0] ? ": " : " (no config file)",
		       cfg.config_path);
		return 0;
	case TCPACK_CLI_RUN:
		break;
	}

	tcpack_log_setup(cfg.log_level, cfg.log_rate_limit);
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	raise_nofile(&cfg);

	r = tcpack_listen_open(&listeners, &cfg, err);
	if (r < 0)
		goto fail;
	log_listeners(&listeners, &cfg);

	r = tcpack_server_run(&cfg, &listeners, reload_config, &args, err);
	tcpack_listen_close(&listeners);
	if (r < 0)
		goto fail;
	tcpack_logf(LOG_INFO, "stopped");
	return 0;
fail:
	tcpack_logf(LOG_ERR, "tcpack: %s", err);
	sd_notifyf(0, "STATUS=failed: %s\nERRNO=%d", err, -r);
	tcpack_listen_close(&listeners);
	return 1;
}
