// SPDX-License-Identifier: MIT
/*
 * Logging. The sink is chosen once: the journal's native protocol when
 * $JOURNAL_STREAM names our stderr (so fields survive), plain lines on
 * stderr otherwise. Client-triggered events are rate limited per second.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define SD_JOURNAL_SUPPRESS_LOCATION 1
#include <systemd/sd-journal.h>

#include "tcpack/addr.h"
#include "tcpack/log.h"

static struct {
	_Atomic int max_level;		/* set by the supervisor, read by workers */
	_Atomic unsigned int rate_limit;
	bool journal;
	bool probed;
	/* rate limit window; touched by every worker, hence atomics */
	_Atomic uint64_t window;	/* CLOCK_MONOTONIC_COARSE seconds */
	_Atomic unsigned int in_window;
	_Atomic unsigned long long suppressed;
	_Atomic uint64_t suppressed_total;	/* never reset: the metric */
} L = { .max_level = LOG_INFO };

static const char *const level_names[] = {
	[LOG_EMERG] = "emerg", [LOG_ALERT] = "alert", [LOG_CRIT] = "crit", [LOG_ERR] = "err",
	[LOG_WARNING] = "warning", [LOG_NOTICE] = "notice", [LOG_INFO] = "info",
	[LOG_DEBUG] = "debug",
};

int tcpack_log_parse_level(const char *s)
{
	if (strcmp(s, "error") == 0)
		return LOG_ERR;
	if (strcmp(s, "warn") == 0)
		return LOG_WARNING;
	for (int i = LOG_ERR; i <= LOG_DEBUG; i++)
		if (strcmp(s, level_names[i]) == 0)
			return i;
	if (s[0] >= '3' && s[0] <= '7' && s[1] == '\0')
		return s[0] - '0';
	return -EINVAL;
}

const char *tcpack_log_level_name(int level)
{
	return level >= 0 && level <= LOG_DEBUG ? level_names[level] : "?";
}

/* True when $JOURNAL_STREAM ("DEV:INODE") is the file on fd 2. */
static bool stderr_is_journal(void)
{
	const char *e = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (!e || sscanf(e, "%llu:%llu", &dev, &ino) != 2)
		return false;
	if (fstat(STDERR_FILENO, &st) < 0)
		return false;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void tcpack_log_setup(int max_level, unsigned int rate_limit)
{
	L.max_level = max_level;
	L.rate_limit = rate_limit;
	if (!L.probed) {
		L.journal = stderr_is_journal();
		L.probed = true;
	}
}

bool tcpack_log_enabled(int level)
{
	return level <= L.max_level;
}

static uint64_t now_sec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec;
}

static void emit(int level, const struct tcpack_log_fields *f, const char *msg)
{
	char addr[TCPACK_ADDR_STRLEN];

	if (!L.journal) {
		/* One line, whatever the message holds: client data is escaped already. */
		fprintf(stderr, "%s\n", msg);
		return;
	}

	char b_msg[32 + 2048], b_pri[32], b_addr[2][32 + TCPACK_ADDR_STRLEN], b_port[2][32],
	     b_bytes[48], b_mode[32];
	struct iovec iov[10];
	int n = 0;

#define FIELD(buf, ...) do { \
		int len_ = snprintf(buf, sizeof(buf), __VA_ARGS__); \
		iov[n].iov_base = buf; \
		iov[n].iov_len = (size_t)len_ < sizeof(buf) ? (size_t)len_ : sizeof(buf) - 1; \
		n++; \
	} while (0)

	FIELD(b_msg, "MESSAGE=%s", msg);
	FIELD(b_pri, "PRIORITY=%d", level);
	for (int k = 0; f && k < 2; k++) {
		const struct sockaddr *sa = k == 0 ? f->remote : f->via;
		const char *name = k == 0 ? "REMOTE" : "BALANCER";
		char *port;

		if (!sa)
			continue;
		tcpack_addr_format(sa, addr);
		port = strrchr(addr, ':');
		if (port && sa->sa_family != AF_UNIX) {
			*port++ = '\0';
			if (addr[0] == '[') {	/* the bare IPv6 address */
				memmove(addr, addr + 1, strlen(addr));
				addr[strlen(addr) - 1] = '\0';
			}
			FIELD(b_addr[k], "%s_ADDR=%s", name, addr);
			FIELD(b_port[k], "%s_PORT=%s", name, port);
		} else {
			FIELD(b_addr[k], "%s_ADDR=%s", name, addr);
		}
	}
	if (f && f->bytes >= 0)
		FIELD(b_bytes, "BYTES=%lld", f->bytes);
	if (f && f->mode)
		FIELD(b_mode, "TCPACK_MODE=%s", f->mode);
#undef FIELD
	if (f && f->data) {
		/* Large and client-controlled: sent by reference, not copied again. */
		static __thread char b_data[16 + 4 * 65536 + 1];
		int len = snprintf(b_data, sizeof(b_data), "TCPACK_DATA=%s", f->data);

		iov[n].iov_base = b_data;
		iov[n].iov_len = (size_t)len < sizeof(b_data) ? (size_t)len : sizeof(b_data) - 1;
		n++;
	}
	if (sd_journal_sendv(iov, n) < 0)
		fprintf(stderr, "%s\n", msg);
}

__attribute__((format(printf, 3, 0)))
static void vlog(int level, const struct tcpack_log_fields *f, const char *fmt, va_list ap)
{
	char msg[2048];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	emit(level, f, msg);
}

void tcpack_logf(int level, const char *fmt, ...)
{
	va_list ap;

	if (!tcpack_log_enabled(level))
		return;
	va_start(ap, fmt);
	vlog(level, NULL, fmt, ap);
	va_end(ap);
}

static void report_suppressed(void)
{
	unsigned long long n = atomic_exchange(&L.suppressed, 0);

	if (n)
		tcpack_logf(LOG_WARNING, "log rate limit (%u/s) reached: suppressed %llu messages",
			    L.rate_limit, n);
}

void tcpack_log_flush_suppressed(void)
{
	if (atomic_load(&L.suppressed) && atomic_load(&L.window) != now_sec())
		report_suppressed();
}

/* Admit one client event under the per-second limit. */
static bool admit(void)
{
	uint64_t now, window;

	if (!L.rate_limit)
		return true;
	now = now_sec();
	window = atomic_load(&L.window);
	if (window != now && atomic_compare_exchange_strong(&L.window, &window, now)) {
		atomic_store(&L.in_window, 0);
		report_suppressed();
	}
	if (atomic_fetch_add(&L.in_window, 1) < L.rate_limit)
		return true;
	atomic_fetch_add(&L.suppressed, 1);
	atomic_fetch_add_explicit(&L.suppressed_total, 1, memory_order_relaxed);
	return false;
}

uint64_t tcpack_log_suppressed_total(void)
{
	return atomic_load_explicit(&L.suppressed_total, memory_order_relaxed);
}

void tcpack_log_event(int level, const struct tcpack_log_fields *f, const char *fmt, ...)
{
	va_list ap;

	if (!tcpack_log_enabled(level) || !admit())
		return;
	va_start(ap, fmt);
	vlog(level, f, fmt, ap);
	va_end(ap);
}
