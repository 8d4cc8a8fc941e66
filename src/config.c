// SPDX-License-Identifier: MIT
/*
 * Configuration: one table of keys serves the config file and the command
 * line, so both accept exactly the same keys and values and report errors
 * the same way.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tcpack-build.h"
#include "tcpack/addr.h"
#include "tcpack/config.h"
#include "tcpack/escape.h"
#include "tcpack/log.h"

#define DEFAULT_REPLY		"服务器已收到数据"
#define DEFAULT_ERROR_REPLY	"ERR line too long\r\n"

static const char *const mode_names[] = {
	[TCPACK_MODE_ONESHOT] = "oneshot",
	[TCPACK_MODE_LINE] = "line",
	[TCPACK_MODE_ECHO] = "echo",
	[TCPACK_MODE_DISCARD] = "discard",
};

static const char *const admin_state_names[] = {
	[TCPACK_ADMIN_READY] = "ready",
	[TCPACK_ADMIN_DRAIN] = "drain",
	[TCPACK_ADMIN_MAINT] = "maint",
};

const char *tcpack_config_admin_state_name(enum tcpack_admin_state state)
{
	if ((unsigned int)state >= sizeof(admin_state_names) / sizeof(admin_state_names[0]))
		return "?";
	return admin_state_names[state];
}

const char *tcpack_config_mode_name(enum tcpack_mode mode)
{
	if ((unsigned int)mode >= sizeof(mode_names) / sizeof(mode_names[0]))
		return "?";
	return mode_names[mode];
}

__attribute__((format(printf, 2, 3)))
static int fail(char *err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, TCPACK_ERR_MAX, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* An unsigned decimal number with an optional suffix from @units. */
struct unit {
	const char *suffix;
	uint64_t factor;
};

static const struct unit size_units[] = {
	{ "", 1 }, { "B", 1 }, { "K", 1024 }, { "KiB", 1024 },
	{ "M", 1024 * 1024 }, { "MiB", 1024 * 1024 }, { NULL, 0 },
};

static const struct unit plain_units[] = { { "", 1 }, { NULL, 0 } };

static const struct unit time_units[] = {	/* to milliseconds; bare = seconds */
	{ "", 1000 }, { "ms", 1 }, { "s", 1000 }, { "sec", 1000 },
	{ "m", 60000 }, { "min", 60000 }, { "h", 3600000 }, { NULL, 0 },
};

static int parse_unit_number(const char *s, const struct unit *units, uint64_t *ret)
{
	uint64_t v = 0;
	const char *p = s;

	if (!isdigit((unsigned char)*p))
		return -EINVAL;
	for (; isdigit((unsigned char)*p); p++) {
		if (v > (UINT64_MAX - 9) / 10)
			return -ERANGE;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	for (const struct unit *u = units; u->suffix; u++) {
		if (strcmp(p, u->suffix) != 0)
			continue;
		if (v > UINT64_MAX / u->factor)
			return -ERANGE;
		*ret = v * u->factor;
		return 0;
	}
	return -EINVAL;
}

enum key_type { T_MODE, T_TEXT, T_SIZE, T_UINT, T_TIME, T_LEVEL, T_LISTEN, T_ENGINE, T_ADDR_OFF, T_ADMIN };

struct key {
	const char *name;
	enum key_type type;
	uint64_t min, max;
	size_t offset;		/* of the member in struct tcpack_config */
	size_t len_offset;	/* T_TEXT: of its length member */
	bool pow2;		/* T_UINT: must be a power of two */
	const char *help;
};

#define OFF(m) offsetof(struct tcpack_config, m)

static const struct key keys[] = {
	{ "mode", T_MODE, 0, 0, OFF(mode), 0, false,
	  "oneshot | line | echo | discard (default oneshot)" },
	{ "reply", T_TEXT, 0, TCPACK_REPLY_MAX, OFF(reply), OFF(reply_len), false,
	  "acknowledgement text, C escapes decoded (default " DEFAULT_REPLY ")" },
	{ "error-reply", T_TEXT, 0, TCPACK_REPLY_MAX, OFF(error_reply), OFF(error_reply_len), false,
	  "sent before closing on a too long line (default ERR line too long\\r\\n)" },
	{ "max-message", T_SIZE, 1, TCPACK_MESSAGE_MAX, OFF(max_message), 0, false,
	  "longest message in bytes (default 1024)" },
	{ "listen", T_LISTEN, 0, 0, 0, 0, false,
	  "ADDR:PORT or [ADDR6]:PORT, repeatable (default 127.0.0.1:12345),\n"
	  "                           then optionally ' proxy-protocol=off|v1|v2|any';\n"
	  "                           ignored when systemd passes sockets" },
	{ "metrics-listen", T_ADDR_OFF, 0, 0, OFF(metrics_listen), 0, false,
	  "ADDR:PORT serving Prometheus metrics on GET /metrics, or off\n"
	  "                           (default off); ignored when systemd passes sockets" },
	{ "check-log-interval", T_TIME, 0, 86400000, OFF(check_log_interval_ms), 0, false,
	  "log one summary line of health checks seen this often, 0 = never\n"
	  "                           (default 60s; each one is logged at debug level)" },
	{ "agent-listen", T_ADDR_OFF, 0, 0, OFF(agent_listen), 0, false,
	  "ADDR:PORT answering HAProxy's agent check, or off (default off);\n"
	  "                           ignored when systemd passes sockets" },
	{ "admin-state", T_ADMIN, 0, 0, OFF(admin_state), 0, false,
	  "ready | drain | maint: what the agent check tells the balancer\n"
	  "                           (default ready)" },
	{ "drain-grace", T_TIME, 0, 3600000, OFF(drain_grace_ms), 0, false,
	  "with an agent listener, on SIGTERM answer drain and keep serving\n"
	  "                           this long at most before stopping (default 5s)" },
	{ "log-level", T_LEVEL, 0, 0, OFF(log_level), 0, false,
	  "err | warning | notice | info | debug (default info)" },
	{ "log-data-max", T_SIZE, 0, 65536, OFF(log_data_max), 0, false,
	  "bytes of client data quoted in a log line (default 256)" },
	{ "log-rate-limit", T_UINT, 0, 1000000, OFF(log_rate_limit), 0, false,
	  "client event log lines per second, 0 = unlimited (default 1000)" },
	{ "max-connections", T_UINT, 1, 1000000, OFF(max_connections), 0, false,
	  "connections served at once (default 10000)" },
	{ "idle-timeout", T_TIME, 0, 86400000, OFF(idle_timeout_ms), 0, false,
	  "close a connection silent this long, 0 = never (default 60s)" },
	{ "message-timeout", T_TIME, 0, 86400000, OFF(message_timeout_ms), 0, false,
	  "close a connection whose message is not complete this long after\n"
	  "                           its first byte, 0 = never (default 30s)" },
	{ "shutdown-timeout", T_TIME, 0, 3600000, OFF(shutdown_timeout_ms), 0, false,
	  "longest graceful drain on SIGTERM (default 5s)" },
	{ "max-pending", T_SIZE, 4096, 1u << 30, OFF(max_pending), 0, false,
	  "bytes owed to one client before reading from it pauses (default 256K)" },
	{ "buffer-count", T_UINT, 16, 32768, OFF(buffer_count), 0, true,
	  "provided receive buffers, a power of two (default 1024)" },
	{ "buffer-size", T_SIZE, 512, 1u << 20, OFF(buffer_size), 0, false,
	  "bytes of one receive buffer (default 4K)" },
	{ "threads", T_UINT, 0, TCPACK_THREADS_MAX, OFF(threads), 0, false,
	  "worker threads, each with its own ring; 0 = one per usable CPU (default 0)" },
	{ "engine", T_ENGINE, 0, 0, OFF(engine), 0, false,
	  "auto | uring | epoll; auto falls back to epoll when io_uring is refused\n"
	  "                           (default auto)" },
};

#define N_KEYS (sizeof(keys) / sizeof(keys[0]))

void tcpack_config_init(struct tcpack_config *c)
{
	memset(c, 0, sizeof(*c));
	c->mode = TCPACK_MODE_ONESHOT;
	c->reply_len = strlen(DEFAULT_REPLY);
	memcpy(c->reply, DEFAULT_REPLY, c->reply_len);
	c->error_reply_len = strlen(DEFAULT_ERROR_REPLY);
	memcpy(c->error_reply, DEFAULT_ERROR_REPLY, c->error_reply_len);
	c->max_message = 1024;
	c->log_level = LOG_INFO;
	c->log_data_max = 256;
	c->log_rate_limit = 1000;
	c->max_connections = 10000;
	c->idle_timeout_ms = 60000;
	c->message_timeout_ms = 30000;
	c->shutdown_timeout_ms = 5000;
	c->drain_grace_ms = 5000;
	c->check_log_interval_ms = 60000;
	c->max_pending = 256 * 1024;
	c->buffer_count = 1024;
	c->buffer_size = 4096;
	tcpack_addr_parse("127.0.0.1:12345", &c->listen[0]);
	c->n_listen = 1;
}

static const struct key *find_key(const char *name)
{
	for (size_t i = 0; i < N_KEYS; i++)
		if (strcmp(keys[i].name, name) == 0)
			return &keys[i];
	return NULL;
}

static int set_key(struct tcpack_config *c, const struct key *k, const char *value, char *err)
{
	char *base = (char *)c;
	uint64_t v;
	int r;

	switch (k->type) {
	case T_MODE:
		for (unsigned int m = 0; m < sizeof(mode_names) / sizeof(mode_names[0]); m++) {
			if (strcmp(value, mode_names[m]) == 0) {
				c->mode = (enum tcpack_mode)m;
				return 0;
			}
		}
		return fail(err, "unknown mode '%s' (expected oneshot, line, echo or discard)", value);

	case T_TEXT: {
		uint8_t tmp[TCPACK_REPLY_MAX];
		ssize_t n = tcpack_escape_decode(value, tmp, sizeof(tmp));

		if (n == -E2BIG) {
			fail(err, "text too long (at most %u bytes after decoding escapes)",
			     TCPACK_REPLY_MAX);
			return -E2BIG;
		}
		if (n < 0)
			return fail(err, "invalid escape in '%s' (known: \\r \\n \\t \\0 \\\\ \\\" \\xNN)",
				    value);
		memcpy(base + k->offset, tmp, (size_t)n);
		*(size_t *)(base + k->len_offset) = (size_t)n;
		return 0;
	}

	case T_SIZE:
	case T_UINT:
	case T_TIME:
		r = parse_unit_number(value, k->type == T_TIME ? time_units :
					     k->type == T_SIZE ? size_units : plain_units, &v);
		if (r == -EINVAL)
			return fail(err, "invalid %s '%s'%s", k->type == T_TIME ? "duration" : "number",
				    value,
				    k->type == T_TIME ? " (e.g. 30, 500ms, 10s, 2min)" :
				    k->type == T_SIZE ? " (e.g. 1024, 64K, 1M)" : "");
		if (r < 0 || v < k->min || v > k->max) {
			if (k->type == T_TIME)
				fail(err, "'%s' out of range (%" PRIu64 "ms to %" PRIu64 "ms)", value,
				     k->min, k->max);
			else
				fail(err, "'%s' out of range (%" PRIu64 " to %" PRIu64 ")", value,
				     k->min, k->max);
			return -E2BIG;
		}
		if (k->pow2 && (v & (v - 1)))
			return fail(err, "'%s' is not a power of two", value);
		if (k->type == T_TIME)
			*(uint64_t *)(base + k->offset) = v;
		else if (k->type == T_SIZE)
			*(size_t *)(base + k->offset) = (size_t)v;
		else
			*(unsigned int *)(base + k->offset) = (unsigned int)v;
		return 0;

	case T_ENGINE:
		if (strcmp(value, "auto") == 0)
			c->engine = TCPACK_ENGINE_CHOICE_AUTO;
		else if (strcmp(value, "uring") == 0 || strcmp(value, "io_uring") == 0)
			c->engine = TCPACK_ENGINE_CHOICE_URING;
		else if (strcmp(value, "epoll") == 0)
			c->engine = TCPACK_ENGINE_CHOICE_EPOLL;
		else
			return fail(err, "unknown engine '%s' (expected auto, uring or epoll)", value);
		return 0;

	case T_LEVEL:
		r = tcpack_log_parse_level(value);
		if (r < 0)
			return fail(err, "unknown log level '%s' (expected err, warning, notice, info or debug)",
				    value);
		c->log_level = r;
		return 0;

	case T_LISTEN: {
		static const char proxy_opt[] = "proxy-protocol=";
		char addr[TCPACK_ADDR_STRLEN];
		const char *blank = strchr(value, ' ');
		size_t alen = blank ? (size_t)(blank - value) : strlen(value);
		struct tcpack_addr a;
		int mode = TCPACK_PROXY_OFF;

		if (blank) {
			if (strncmp(blank + 1, proxy_opt, sizeof(proxy_opt) - 1) != 0)
				return fail(err, "unknown listen option '%s' (expected proxy-protocol=off|v1|v2|any)",
					    blank + 1);
			mode = tcpack_proxy_mode_parse(blank + sizeof(proxy_opt));
			if (mode < 0)
				return fail(err, "invalid proxy-protocol '%s' (expected off, v1, v2 or any)",
					    blank + sizeof(proxy_opt));
		}
		if (alen >= sizeof(addr))
			alen = sizeof(addr) - 1;	/* too long to be valid: fails below */
		memcpy(addr, value, alen);
		addr[alen] = '\0';
		if (tcpack_addr_parse(addr, &a) < 0)
			return fail(err, "invalid address '%s' (expected A.B.C.D:PORT or [IPV6]:PORT)",
				    addr);
		if (c->n_listen >= TCPACK_LISTEN_MAX) {
			fail(err, "more than %u listen addresses", TCPACK_LISTEN_MAX);
			return -E2BIG;
		}
		c->listen_proxy[c->n_listen] = (enum tcpack_proxy_mode)mode;
		c->listen[c->n_listen++] = a;
		return 0;
	}

	case T_ADDR_OFF: {
		struct tcpack_addr a = { 0 };

		if (strcmp(value, "off") != 0 && tcpack_addr_parse(value, &a) < 0)
			return fail(err, "invalid address '%s' (expected A.B.C.D:PORT, [IPV6]:PORT or off)",
				    value);
		*(struct tcpack_addr *)(base + k->offset) = a;
		return 0;
	}

	case T_ADMIN:
		for (unsigned int m = 0; m < sizeof(admin_state_names) / sizeof(admin_state_names[0]); m++) {
			if (strcmp(value, admin_state_names[m]) == 0) {
				c->admin_state = (enum tcpack_admin_state)m;
				return 0;
			}
		}
		return fail(err, "unknown admin-state '%s' (expected ready, drain or maint)", value);
	}
	return fail(err, "internal error");
}

int tcpack_config_set(struct tcpack_config *c, const char *key, const char *value, char *err)
{
	const struct key *k = find_key(key);

	if (!k) {
		snprintf(err, TCPACK_ERR_MAX, "unknown key");
		return -ENOENT;
	}
	return set_key(c, k, value, err);
}

static char *strip(char *s)
{
	char *end;

	while (*s == ' ' || *s == '\t')
		s++;
	end = s + strlen(s);
	while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r' || end[-1] == '\n'))
		end--;
	*end = '\0';
	return s;
}

int tcpack_config_load_file(struct tcpack_config *c, const char *path, bool must_exist, char *err)
{
	struct tcpack_config tmp = *c;
	const size_t line_max = TCPACK_REPLY_MAX * 4 + 254;	/* a reply, escaped, and its key */
	char *line = NULL;
	size_t line_cap = 0;
	ssize_t n;
	char why[TCPACK_ERR_MAX];
	unsigned int lineno = 0;
	bool file_listen = false;
	FILE *f;
	int r = 0;

	f = fopen(path, "re");
	if (!f) {
		r = -errno;
		if (r == -ENOENT && !must_exist)
			return 0;
		snprintf(err, TCPACK_ERR_MAX, "%s: cannot open: %s", path, strerror(-r));
		return r;
	}

	while ((n = getline(&line, &line_cap, f)) >= 0) {
		char *key, *value, *eq;
		size_t vlen;

		lineno++;
		if (n && line[n - 1] == '\n')
			n--;
		if ((size_t)n > line_max) {
			snprintf(err, TCPACK_ERR_MAX, "%s:%u: line too long (at most %zu bytes)", path,
				 lineno, line_max);
			r = -E2BIG;
			goto out;
		}
		if (memchr(line, '\0', (size_t)n)) {
			snprintf(err, TCPACK_ERR_MAX, "%s:%u: NUL byte in line (not a text file?)", path,
				 lineno);
			r = -EINVAL;
			goto out;
		}
		key = strip(line);
		if (*key == '\0' || *key == '#')
			continue;
		eq = strchr(key, '=');
		if (!eq) {
			snprintf(err, TCPACK_ERR_MAX, "%s:%u: expected 'key = value'", path, lineno);
			r = -EINVAL;
			goto out;
		}
		*eq = '\0';
		key = strip(key);
		value = strip(eq + 1);
		vlen = strlen(value);
		if (vlen >= 2 && value[0] == '"' && value[vlen - 1] == '"') {
			value[vlen - 1] = '\0';
			value++;
		}
		/* The file's listen lines replace the default, they do not add to it. */
		if (strcmp(key, "listen") == 0 && !file_listen) {
			tmp.n_listen = 0;
			file_listen = true;
		}
		r = tcpack_config_set(&tmp, key, value, why);
		if (r < 0) {
			snprintf(err, TCPACK_ERR_MAX, "%s:%u: %s: %s", path, lineno,
				 *key ? key : "(empty key)", why);
			goto out;
		}
	}
	if (ferror(f)) {
		r = -EIO;
		snprintf(err, TCPACK_ERR_MAX, "%s: read error", path);
		goto out;
	}
	snprintf(tmp.config_path, sizeof(tmp.config_path), "%s", path);
	*c = tmp;
out:
	free(line);
	fclose(f);
	return r;
}

static bool addr_equal(const struct tcpack_addr *a, const struct tcpack_addr *b)
{
	return a->len == b->len && memcmp(&a->addr, &b->addr, a->len) == 0;
}

unsigned int tcpack_config_keep_fixed(struct tcpack_config *next, const struct tcpack_config *cur,
				      unsigned int max_slots)
{
	unsigned int kept = 0;

	if (next->n_listen != cur->n_listen ||
	    memcmp(next->listen, cur->listen, sizeof(cur->listen[0]) * cur->n_listen) != 0 ||
	    memcmp(next->listen_proxy, cur->listen_proxy, sizeof(cur->listen_proxy[0]) * cur->n_listen) != 0 ||
	    !addr_equal(&next->agent_listen, &cur->agent_listen) ||
	    !addr_equal(&next->metrics_listen, &cur->metrics_listen)) {
		memcpy(next->listen, cur->listen, sizeof(cur->listen));
		memcpy(next->listen_proxy, cur->listen_proxy, sizeof(cur->listen_proxy));
		next->n_listen = cur->n_listen;
		next->agent_listen = cur->agent_listen;
		next->metrics_listen = cur->metrics_listen;
		tcpack_logf(LOG_NOTICE, "reload: listen/agent-listen/metrics-listen changed; it takes effect on restart");
		kept++;
	}
	if (next->buffer_count != cur->buffer_count || next->buffer_size != cur->buffer_size) {
		next->buffer_count = cur->buffer_count;
		next->buffer_size = cur->buffer_size;
		tcpack_logf(LOG_NOTICE, "reload: buffer-count/buffer-size changed; they take effect on restart");
		kept++;
	}
	if (next->threads != cur->threads || next->engine != cur->engine) {
		next->threads = cur->threads;
		next->engine = cur->engine;
		tcpack_logf(LOG_NOTICE, "reload: threads/engine changed; they take effect on restart");
		kept++;
	}
	if (next->max_connections > max_slots) {
		tcpack_logf(LOG_NOTICE, "reload: max-connections above %u takes effect on restart", max_slots);
		next->max_connections = max_slots;
		kept++;
	}
	return kept;
}

const char *tcpack_config_usage(void)
{
	static char text[8192];
	size_t n;

	if (text[0])
		return text;
	n = (size_t)snprintf(text, sizeof(text),
		"Usage: tcpack [OPTIONS]\n"
		"\n"
		"Accept TCP connections and acknowledge what clients send.\n"
		"\n"
		"  -c, --config FILE        read this config file (default %s if it exists)\n"
		"      --check-config       validate the configuration and exit\n"
		"  -h, --help               show this help and exit\n"
		"  -V, --version            show the version and exit\n"
		"\n"
		"Every config file key is also an option, --KEY VALUE or --KEY=VALUE:\n",
		TCPACK_CONFIG_PATH);
	for (size_t i = 0; i < N_KEYS && n < sizeof(text); i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n, "  %s%-22s %s\n",
				      keys[i].type == T_LISTEN ? "-l, --" :
				      keys[i].type == T_MODE ? "-m, --" : "    --",
				      keys[i].name, keys[i].help);
	if (n < sizeof(text))
		snprintf(text + n, sizeof(text) - n,
			 "\n"
			 "Command line beats config file beats defaults.\n");
	return text;
}

int tcpack_config_from_args(struct tcpack_config *c, int argc, char **argv,
			    enum tcpack_cli_action *ret_action, char *err)
{
	enum { OPT_CHECK = 0x100, OPT_KEY = 0x200 };
	struct option opts[N_KEYS + 6];
	const char *config = NULL;
	enum tcpack_cli_action action = TCPACK_CLI_RUN;
	char why[TCPACK_ERR_MAX];
	bool args_listen = false;
	int o, r;

	opts[0] = (struct option){ "config", required_argument, NULL, 'c' };
	opts[1] = (struct option){ "check-config", no_argument, NULL, OPT_CHECK };
	opts[2] = (struct option){ "help", no_argument, NULL, 'h' };
	opts[3] = (struct option){ "version", no_argument, NULL, 'V' };
	for (size_t i = 0; i < N_KEYS; i++)
		opts[4 + i] = (struct option){ keys[i].name, required_argument, NULL,
					       OPT_KEY + (int)i };
	opts[4 + N_KEYS] = (struct option){ 0 };

	tcpack_config_init(c);

	/* First pass: the options that decide what to read. */
	optind = 0;
	opterr = 0;
	while ((o = getopt_long(argc, argv, ":c:hVl:m:", opts, NULL)) != -1) {
		switch (o) {
		case 'c':
			config = optarg;
			break;
		case 'h':
			action = TCPACK_CLI_HELP;
			break;
		case 'V':
			action = TCPACK_CLI_VERSION;
			break;
		case OPT_CHECK:
			if (action == TCPACK_CLI_RUN)
				action = TCPACK_CLI_CHECK;
			break;
		case ':':
			return fail(err, "option '%s' needs a value", argv[optind - 1]);
		case '?':
			/* optopt names a short option only; long ones are in argv. */
			if (optopt && optopt < 0x80 && !strchr("chVlm", optopt))
				return fail(err, "unknown option '-%c' (see --help)", optopt);
			if (optopt)
				return fail(err, "option '%s' takes no value (see --help)",
					    argv[optind - 1]);
			return fail(err, "unknown option '%s' (see --help)", argv[optind - 1]);
		default:
			break;
		}
	}
	if (optind < argc)
		return fail(err, "unexpected argument '%s' (see --help)", argv[optind]);
	*ret_action = action;
	if (action == TCPACK_CLI_HELP || action == TCPACK_CLI_VERSION)
		return 0;

	r = tcpack_config_load_file(c, config ? config : TCPACK_CONFIG_PATH, config != NULL, err);
	if (r < 0)
		return r;

	/* Second pass: every key, over the file's values. */
	optind = 0;
	while ((o = getopt_long(argc, argv, ":c:hVl:m:", opts, NULL)) != -1) {
		const struct key *k;
		const char *name;

		if (o == 'l')
			k = find_key("listen");
		else if (o == 'm')
			k = find_key("mode");
		else if (o >= OPT_KEY)
			k = &keys[o - OPT_KEY];
		else
			continue;
		if (k->type == T_LISTEN && !args_listen) {
			c->n_listen = 0;
			args_listen = true;
		}
		r = set_key(c, k, optarg, why);
		if (r < 0) {
			name = k->name;
			snprintf(err, TCPACK_ERR_MAX, "--%s: %s", name, why);
			return r;
		}
	}
	c->listen_set_by_args = args_listen;
	return 0;
}
