/* SPDX-License-Identifier: MIT */
#pragma once

/* The end of a run: one summary for people, or one JSON object for scripts. */

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "hist.h"
#include "opts.h"
#include "worker.h"

struct bench_summary {
	const struct bench_opts *opts;
	struct bench_hist hist;		/* merged over workers */
	uint64_t requests;		/* measured completions (oneshot: exchanges) */
	uint64_t bytes;			/* their payload bytes */
	double seconds;			/* the measuring window */
	uint64_t errors[BENCH_ERR_KINDS];
	uint64_t errors_total;
	uint64_t errors_not_shown;	/* past the detailed lines printed */
	uint64_t unsent;		/* --rate: due but never sent */
	uint64_t connects;
	double cpu_s;			/* client CPU over the window, all threads */
	double cpu_user_s, cpu_sys_s;
	bool interrupted;		/* stopped by a signal */
};

/* "request", "connection" or "message": what one completion is in @mode. */
const char *bench_report_unit(enum bench_mode mode);

void bench_report_text(FILE *f, const struct bench_summary *s);
void bench_report_json(FILE *f, const struct bench_summary *s);
