// SPDX-License-Identifier: MIT
/*
 * The config parser: tcpack_config_load_file() on fuzzed file contents and
 * tcpack_config_set() on fuzzed keys and values.
 *
 * Input: the first byte picks the target. Even: the rest is a config file,
 * written to a memfd and read through /proc/self/fd (no file left behind,
 * nothing in the parser changed). Odd: the rest is a list of key/value
 * settings: a byte naming one of the real keys (or, past them, a fuzzed key
 * string ending at a NUL), then a value ending at a NUL.
 *
 * After every call: success leaves a configuration within every limit the
 * README states; failure returns one of the documented errors with a
 * message inside its buffer and leaves the configuration untouched.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>
#include <netinet/in.h>

#include "fuzz-input.h"
#include "tcpack/config.h"
#include "tcpack/escape.h"
#include "tcpack/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const key_names[] = {
	"mode", "reply", "error-reply", "max-message", "listen", "log-level", "log-data-max",
	"log-rate-limit", "max-connections", "idle-timeout", "message-timeout",
	"shutdown-timeout", "max-pending", "buffer-count", "buffer-size", "threads", "engine",
	"agent-listen", "metrics-listen", "admin-state", "drain-grace", "check-log-interval",
};
#define N_KEY_NAMES (sizeof(key_names) / sizeof(key_names[0]))

static void check_valid(const struct tcpack_config *c)
{
	FUZZ_ASSERT(c->mode >= TCPACK_MODE_ONESHOT && c->mode <= TCPACK_MODE_DISCARD);
	FUZZ_ASSERT(c->reply_len <= TCPACK_REPLY_MAX);
	FUZZ_ASSERT(c->error_reply_len <= TCPACK_REPLY_MAX);
	FUZZ_ASSERT(c->max_message >= 1 && c->max_message <= TCPACK_MESSAGE_MAX);
	FUZZ_ASSERT(c->n_listen >= 1 && c->n_listen <= TCPACK_LISTEN_MAX);
	for (unsigned int i = 0; i < c->n_listen; i++) {
		const struct tcpack_addr *a = &c->listen[i];

		FUZZ_ASSERT((a->addr.ss_family == AF_INET && a->len == sizeof(struct sockaddr_in)) ||
			    (a->addr.ss_family == AF_INET6 && a->len == sizeof(struct sockaddr_in6)));
		FUZZ_ASSERT(c->listen_proxy[i] >= TCPACK_PROXY_OFF && c->listen_proxy[i] <= TCPACK_PROXY_ANY);
	}
	for (int k = 0; k < 2; k++) {
		const struct tcpack_addr *a = k ? &c->metrics_listen : &c->agent_listen;

		FUZZ_ASSERT(a->len == 0 ||
			    (a->addr.ss_family == AF_INET && a->len == sizeof(struct sockaddr_in)) ||
			    (a->addr.ss_family == AF_INET6 && a->len == sizeof(struct sockaddr_in6)));
	}
	FUZZ_ASSERT(c->admin_state >= TCPACK_ADMIN_READY && c->admin_state <= TCPACK_ADMIN_MAINT);
	FUZZ_ASSERT(c->drain_grace_ms <= 3600000);
	FUZZ_ASSERT(c->check_log_interval_ms <= 86400000);
	FUZZ_ASSERT(c->log_level >= LOG_ERR && c->log_level <= LOG_DEBUG);
	FUZZ_ASSERT(c->log_data_max <= 65536);
	FUZZ_ASSERT(c->log_rate_limit <= 1000000);
	FUZZ_ASSERT(c->max_connections >= 1 && c->max_connections <= 1000000);
	FUZZ_ASSERT(c->idle_timeout_ms <= 86400000);
	FUZZ_ASSERT(c->message_timeout_ms <= 86400000);
	FUZZ_ASSERT(c->shutdown_timeout_ms <= 3600000);
	FUZZ_ASSERT(c->max_pending >= 4096 && c->max_pending <= (1u << 30));
	FUZZ_ASSERT(c->buffer_count >= 16 && c->buffer_count <= 32768);
	FUZZ_ASSERT((c->buffer_count & (c->buffer_count - 1)) == 0);
	FUZZ_ASSERT(c->buffer_size >= 512 && c->buffer_size <= (1u << 20));
	FUZZ_ASSERT(c->threads <= TCPACK_THREADS_MAX);
	FUZZ_ASSERT(c->engine >= TCPACK_ENGINE_CHOICE_AUTO && c->engine <= TCPACK_ENGINE_CHOICE_EPOLL);
}

static void check_error_text(const char *err)
{
	size_t n = strnlen(err, TCPACK_ERR_MAX);

	FUZZ_ASSERT(n > 0 && n < TCPACK_ERR_MAX);
}

/* A NUL-terminated string from the front of @in, up to its next NUL. */
static char *take_string(struct fuzz_input *in)
{
	size_t n = 0;
	char *s;

	while (n < in->len && in->data[n])
		n++;
	s = malloc(n + 1);
	FUZZ_ASSERT(s);
	memcpy(s, in->data, n);
	s[n] = '\0';
	in->data += n;
	in->len -= n;
	fuzz_u8(in);		/* the NUL, if any */
	return s;
}

static void fuzz_set(struct fuzz_input *in, struct tcpack_config *c, char *err)
{
	static struct tcpack_config before;

	while (fuzz_left(in)) {
		uint8_t pick = fuzz_u8(in);
		char *key = pick < N_KEY_NAMES ? strdup(key_names[pick]) : take_string(in);
		char *value = take_string(in);
		bool known = false;
		int r;

		FUZZ_ASSERT(key);
		for (size_t i = 0; i < N_KEY_NAMES; i++)
			known |= strcmp(key, key_names[i]) == 0;
		memcpy(&before, c, sizeof(before));
		err[0] = '\0';
		r = tcpack_config_set(c, key, value, err);
		if (r == 0) {
			check_valid(c);
			if (strcmp(key, "listen") == 0)
				FUZZ_ASSERT(c->n_listen == before.n_listen + 1);
			if (strcmp(key, "reply") == 0) {
				uint8_t want[TCPACK_REPLY_MAX];

				FUZZ_ASSERT(tcpack_escape_decode(value, want, sizeof(want)) ==
					    (ssize_t)c->reply_len);
				FUZZ_ASSERT(memcmp(want, c->reply, c->reply_len) == 0);
			}
		} else {
			FUZZ_ASSERT(r == -ENOENT || r == -EINVAL || r == -E2BIG);
			FUZZ_ASSERT((r == -ENOENT) == !known);
			FUZZ_ASSERT(memcmp(&before, c, sizeof(*c)) == 0);
			check_error_text(err);
		}
		free(key);
		free(value);
	}
}

static void fuzz_file(struct fuzz_input *in, struct tcpack_config *c, char *err)
{
	static struct tcpack_config before;
	static int fd = -1;
	static char path[64];
	int r;

	if (fd < 0) {
		fd = memfd_create("tcpack-fuzz.conf", MFD_CLOEXEC);
		FUZZ_ASSERT(fd >= 0);
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	}
	FUZZ_ASSERT(ftruncate(fd, 0) == 0);
	FUZZ_ASSERT(pwrite(fd, in->data, in->len, 0) == (ssize_t)in->len);

	memcpy(&before, c, sizeof(before));
	err[0] = '\0';
	r = tcpack_config_load_file(c, path, true, err);
	if (r == 0) {
		check_valid(c);
		FUZZ_ASSERT(strcmp(c->config_path, path) == 0);
	} else {
		FUZZ_ASSERT(r < 0);
		FUZZ_ASSERT(memcmp(&before, c, sizeof(*c)) == 0);
		check_error_text(err);
		FUZZ_ASSERT(strncmp(err, path, strlen(path)) == 0);	/* names the file */
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct tcpack_config c;
	struct fuzz_input in = { data, size };
	char *err = malloc(TCPACK_ERR_MAX);	/* exactly the documented size */

	FUZZ_ASSERT(err);
	tcpack_log_setup(LOG_ERR, 0);
	tcpack_config_init(&c);
	check_valid(&c);
	if (fuzz_u8(&in) & 1)
		fuzz_set(&in, &c, err);
	else
		fuzz_file(&in, &c, err);
	free(err);
	return 0;
}
