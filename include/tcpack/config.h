/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Configuration: defaults, the config file and the command line.
 *
 * Precedence is command line > file > defaults. Every key can be given in the
 * file as "key = value" and on the command line as "--key value" or
 * "--key=value". Any invalid value is an error that names where it came from;
 * nothing falls back silently.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "tcpack/addr.h"
#include "tcpack/proxy.h"

enum tcpack_mode {
	TCPACK_MODE_ONESHOT,
	TCPACK_MODE_LINE,
	TCPACK_MODE_ECHO,
	TCPACK_MODE_DISCARD,
};

/* What the operator says of this host to a balancer's agent check. */
enum tcpack_admin_state {
	TCPACK_ADMIN_READY,	/* in rotation */
	TCPACK_ADMIN_DRAIN,	/* no new connections from the balancer; still served */
	TCPACK_ADMIN_MAINT,	/* out of rotation */
};

enum tcpack_engine_choice {
	TCPACK_ENGINE_CHOICE_AUTO,
	TCPACK_ENGINE_CHOICE_URING,
	TCPACK_ENGINE_CHOICE_EPOLL,
};

#define TCPACK_THREADS_MAX	256u
#define TCPACK_REPLY_MAX	4096u		/* decoded bytes of reply / error-reply */
#define TCPACK_MESSAGE_MAX	(1u << 20)	/* upper bound of max-message */
#define TCPACK_LISTEN_MAX	16u
#define TCPACK_ERR_MAX		512u		/* size of an error text buffer */

struct tcpack_config {
	enum tcpack_mode mode;
	uint8_t reply[TCPACK_REPLY_MAX];
	size_t reply_len;
	uint8_t error_reply[TCPACK_REPLY_MAX];
	size_t error_reply_len;
	size_t max_message;		/* bytes of one message (line: without its ending) */
	struct tcpack_addr listen[TCPACK_LISTEN_MAX];
	enum tcpack_proxy_mode listen_proxy[TCPACK_LISTEN_MAX];	/* PROXY header expected on each */
	unsigned int n_listen;
	struct tcpack_addr agent_listen;	/* agent-check listener; len 0 = none */
	struct tcpack_addr metrics_listen;	/* Prometheus metrics listener; len 0 = none */
	uint64_t check_log_interval_ms;	/* health check summary line, 0 = never */
	enum tcpack_admin_state admin_state;
	uint64_t drain_grace_ms;	/* SIGTERM with an agent listener: answer drain first */
	int log_level;			/* syslog LOG_ERR .. LOG_DEBUG */
	size_t log_data_max;		/* bytes of client data quoted in a log line */
	unsigned int log_rate_limit;	/* client-triggered log lines per second, 0 = no limit */
	unsigned int max_connections;
	uint64_t idle_timeout_ms;	/* 0 = never */
	uint64_t message_timeout_ms;	/* a message must complete within it; 0 = never */
	uint64_t shutdown_timeout_ms;
	size_t max_pending;		/* bytes owed to one client before its reads pause */
	unsigned int buffer_count;	/* provided receive buffers, a power of two */
	size_t buffer_size;		/* bytes of one provided buffer */
	unsigned int threads;		/* workers, 0 = one per CPU we may run on */
	enum tcpack_engine_choice engine;
	char config_path[4096];		/* file read, "" when none */

	/* set by tcpack_config_from_args(): --listen was given on the command line */
	bool listen_set_by_args;
};

/**
 * tcpack_config_init() - fill @c with the built-in defaults.
 */
void tcpack_config_init(struct tcpack_config *c);

/**
 * tcpack_config_set() - parse @value for @key into @c.
 * @err: receives a one-line reason on failure (TCPACK_ERR_MAX bytes).
 *
 * "listen" appends (up to TCPACK_LISTEN_MAX); every other key replaces.
 * A listen value is an address, optionally followed by one blank and
 * "proxy-protocol=off|v1|v2|any".
 *
 * Return: 0, -ENOENT for an unknown key, -EINVAL for a bad value, -E2BIG for
 * a value over its limit. @c is unchanged on failure.
 */
int tcpack_config_set(struct tcpack_config *c, const char *key, const char *value, char *err);

/**
 * tcpack_config_load_file() - read "key = value" lines from @path into @c.
 * @must_exist: false lets a missing file be skipped (returns 0).
 *
 * Blank lines and lines starting with '#' are skipped. A value may be wrapped
 * in double quotes to keep leading or trailing blanks.
 *
 * Return: 0 or a negative errno; @err then reads "PATH:LINE: KEY: reason".
 */
int tcpack_config_load_file(struct tcpack_config *c, const char *path, bool must_exist, char *err);

enum tcpack_cli_action {
	TCPACK_CLI_RUN,
	TCPACK_CLI_HELP,
	TCPACK_CLI_VERSION,
	TCPACK_CLI_CHECK,	/* --check-config: validate, print, exit */
};

/**
 * tcpack_config_from_args() - the whole precedence chain: defaults, then the
 * config file (--config, or the default path if it exists), then every other
 * command line option.
 * @ret_action: what main() should do.
 *
 * Return: 0, or a negative errno with @err set; main() exits 2 on failure.
 */
int tcpack_config_from_args(struct tcpack_config *c, int argc, char **argv,
			    enum tcpack_cli_action *ret_action, char *err);

/**
 * tcpack_config_usage() - the --help text.
 */
const char *tcpack_config_usage(void);

const char *tcpack_config_mode_name(enum tcpack_mode mode);
const char *tcpack_config_admin_state_name(enum tcpack_admin_state state);

/**
 * tcpack_config_keep_fixed() - after reading @next for a reload, put back
 * from @cur what a running server cannot change (listen and agent-listen addresses, receive
 * buffers, max-connections above @max_slots), logging a notice for each.
 *
 * Return: the number of settings kept from @cur.
 */
unsigned int tcpack_config_keep_fixed(struct tcpack_config *next, const struct tcpack_config *cur,
				      unsigned int max_slots);
