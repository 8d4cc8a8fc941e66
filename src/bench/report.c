// SPDX-License-Identifier: MIT
#include <inttypes.h>

#include "report.h"

#define MIB (1024.0 * 1024.0)

static const char *const error_names[BENCH_ERR_KINDS] = {
	[BENCH_ERR_CONNECT] = "connect",
	[BENCH_ERR_MISMATCH] = "mismatch",
	[BENCH_ERR_CLOSED] = "closed",
	[BENCH_ERR_TIMEOUT] = "timeout",
	[BENCH_ERR_IO] = "io",
};

const char *bench_report_unit(enum bench_mode mode)
{
	switch (mode) {
	case BENCH_ONESHOT:	return "connection";
	case BENCH_DISCARD:	return "message";
	default:		return "request";
	}
}

static double per_second(const struct bench_summary *s, double v)
{
	return s->seconds > 0 ? v / s->seconds : 0.0;
}

static double cpu_us_per_request(const struct bench_summary *s)
{
	return s->requests ? s->cpu_s * 1e6 / (double)s->requests : 0.0;
}

static bool has_latency(const struct bench_summary *s)
{
	return s->opts->mode != BENCH_DISCARD;
}

/* Latency for people: µs below 10 ms, ms above. */
static void print_latency(FILE *f, const char *label, uint64_t ns)
{
	if (ns < 10000000)
		fprintf(f, "  %s %.1f µs", label, (double)ns / 1e3);
	else
		fprintf(f, "  %s %.2f ms", label, (double)ns / 1e6);
}

void bench_report_text(FILE *f, const struct bench_summary *s)
{
	const struct bench_opts *o = s->opts;
	double rate = per_second(s, (double)s->requests);

	fprintf(f, "tcpack-bench: %s mode, %s client, %s, %u connection%s, %u thread%s",
		bench_mode_name(o->mode), bench_client_name(o->client), o->target, o->connections,
		o->connections == 1 ? "" : "s", o->threads, o->threads == 1 ? "" : "s");
	if (o->mode != BENCH_ONESHOT)
		fprintf(f, ", pipeline %u", o->pipeline);
	fprintf(f, ", %u-byte messages", o->size);
	if (o->rate > 0)
		fprintf(f, ", open loop at %.0f/s", o->rate);
	fprintf(f, "\n");
	fprintf(f, "  %-22s %.2f s", "measured", s->seconds);
	if (o->warmup > 0)
		fprintf(f, " (after %.2f s warmup)", o->warmup);
	if (s->interrupted)
		fprintf(f, " (interrupted)");
	fprintf(f, "\n");
	fprintf(f, "  %-22s %" PRIu64 "\n", o->mode == BENCH_ONESHOT ? "connections" :
		o->mode == BENCH_DISCARD ? "messages" : "requests", s->requests);
	fprintf(f, "  %-22s %.0f %s/s, %.2f MiB/s sent\n", "throughput", rate,
		o->mode == BENCH_ONESHOT ? "conn" : o->mode == BENCH_DISCARD ? "msg" : "req",
		per_second(s, (double)s->bytes) / MIB);
	if (has_latency(s) && s->hist.count) {
		fprintf(f, "  %-21s", "latency");
		print_latency(f, "p50", bench_hist_percentile(&s->hist, 50.0));
		print_latency(f, "p90", bench_hist_percentile(&s->hist, 90.0));
		print_latency(f, "p99", bench_hist_percentile(&s->hist, 99.0));
		print_latency(f, "p99.9", bench_hist_percentile(&s->hist, 99.9));
		print_latency(f, "max", s->hist.max);
		fprintf(f, "\n");
	}
	if (o->rate > 0)
		fprintf(f, "  %-22s %" PRIu64 "%s\n", "unsent (rate missed)", s->unsent,
			s->unsent ? " (the target rate was not reached)" : "");
	fprintf(f, "  %-22s %" PRIu64, "errors", s->errors_total);
	if (s->errors_total) {
		const char *sep = " (";

		for (int k = 0; k < BENCH_ERR_KINDS; k++) {
			if (!s->errors[k])
				continue;
			fprintf(f, "%s%s %" PRIu64, sep, error_names[k], s->errors[k]);
			sep = ", ";
		}
		fprintf(f, ")");
		if (s->errors_not_shown)
			fprintf(f, ", %" PRIu64 " not shown", s->errors_not_shown);
	}
	fprintf(f, "\n");
	fprintf(f, "  client CPU µs/request  %.2f (user %.2f s, sys %.2f s%s)\n",
		cpu_us_per_request(s), s->cpu_user_s, s->cpu_sys_s,
		o->mode == BENCH_ONESHOT ? "; a request is a connection" :
		o->mode == BENCH_DISCARD ? "; a request is a message" : "");
}

static void json_latency(FILE *f, const char *key, uint64_t ns, bool last)
{
	fprintf(f, "\"%s\":%.3f%s", key, (double)ns / 1e3, last ? "" : ",");
}

void bench_report_json(FILE *f, const struct bench_summary *s)
{
	const struct bench_opts *o = s->opts;

	fprintf(f, "{\"mode\":\"%s\",\"client\":\"%s\",\"target\":\"%s\",\"connections\":%u,"
		"\"threads\":%u,\"pipeline\":%u,\"size\":%u,", bench_mode_name(o->mode),
		bench_client_name(o->client), o->target, o->connections, o->threads, o->pipeline,
		o->size);
	if (o->rate > 0)
		fprintf(f, "\"rate\":%.3f,", o->rate);
	else
		fprintf(f, "\"rate\":null,");
	fprintf(f, "\"warmup_s\":%.3f,\"duration_s\":%.6f,\"interrupted\":%s,", o->warmup, s->seconds,
		s->interrupted ? "true" : "false");
	fprintf(f, "\"unit\":\"%s\",\"requests\":%" PRIu64 ",\"bytes\":%" PRIu64 ","
		"\"throughput\":%.3f,\"mib_per_s\":%.3f,", bench_report_unit(o->mode), s->requests,
		s->bytes, per_second(s, (double)s->requests), per_second(s, (double)s->bytes) / MIB);
	if (has_latency(s) && s->hist.count) {
		fprintf(f, "\"latency_us\":{");
		json_latency(f, "p50", bench_hist_percentile(&s->hist, 50.0), false);
		json_latency(f, "p90", bench_hist_percentile(&s->hist, 90.0), false);
		json_latency(f, "p99", bench_hist_percentile(&s->hist, 99.0), false);
		json_latency(f, "p99_9", bench_hist_percentile(&s->hist, 99.9), false);
		json_latency(f, "max", s->hist.max, false);
		json_latency(f, "mean", s->hist.sum / s->hist.count, true);
		fprintf(f, "},");
	} else {
		fprintf(f, "\"latency_us\":null,");
	}
	fprintf(f, "\"errors\":%" PRIu64 ",\"errors_by_kind\":{", s->errors_total);
	for (int k = 0; k < BENCH_ERR_KINDS; k++)
		fprintf(f, "\"%s\":%" PRIu64 "%s", error_names[k], s->errors[k],
			k + 1 < BENCH_ERR_KINDS ? "," : "");
	fprintf(f, "},\"unsent\":%" PRIu64 ",\"connections_opened\":%" PRIu64 ","
		"\"client_cpu_s\":%.6f,\"client_cpu_user_s\":%.6f,\"client_cpu_sys_s\":%.6f,"
		"\"client_cpu_us_per_request\":%.3f}\n", s->unsent, s->connects, s->cpu_s,
		s->cpu_user_s, s->cpu_sys_s, cpu_us_per_request(s));
}
