/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The supervisor: starts the worker threads (one engine each), and is the
 * one that talks to systemd and handles signals — READY/STATUS/STOPPING/
 * WATCHDOG/RELOADING, SIGTERM/SIGINT drain, SIGHUP reload — so workers
 * never block on anything but their own loop.
 */

#include "tcpack/config.h"
#include "tcpack/listen.h"

/*
 * Reads the configuration anew for SIGHUP: fills @ret (as
 * tcpack_config_from_args() does) or returns a negative errno with @err set.
 */
typedef int (*tcpack_reload_fn)(struct tcpack_config *ret, char *err, void *userdata);

/**
 * tcpack_server_run() - serve @listeners with @cfg until stopped.
 * SIGTERM, SIGINT and SIGHUP must be blocked in the calling thread (the
 * workers inherit the mask).
 *
 * Return: 0 after a clean stop; -ENOSYS/-EPERM when io_uring was required
 * and refused; another negative errno when a worker could not start or its
 * engine failed (@err says which and why).
 */
int tcpack_server_run(const struct tcpack_config *cfg, const struct tcpack_listeners *listeners,
		      tcpack_reload_fn reload, void *userdata, char *err);

/** tcpack_server_cpu_count() - CPUs this process may run on (sched_getaffinity). */
unsigned int tcpack_server_cpu_count(void);
