/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The metrics listener: HTTP/1.1 on a listening socket, served from the
 * supervisor's poll loop (never by the workers): GET or HEAD /metrics is
 * answered with the exposition the caller renders, any other target 404,
 * any other method 405, a malformed request its 4xx/5xx and a close.
 * Keep-alive is honoured and pipelined requests are answered in order, one
 * at a time. Bounded: at most TCPACK_SCRAPE_CONNS connections (a new one
 * evicts the oldest), a request head of TCPACK_HTTP_HEAD_MAX bytes that
 * must complete within TCPACK_SCRAPE_REQUEST_MS of its first byte, and
 * TCPACK_SCRAPE_IDLE_MS between requests.
 */

#include <poll.h>
#include <stddef.h>
#include <stdint.h>

#define TCPACK_SCRAPE_CONNS 16u
#define TCPACK_SCRAPE_LISTENERS 4u
#define TCPACK_SCRAPE_REQUEST_MS 10000u
#define TCPACK_SCRAPE_IDLE_MS 60000u

struct tcpack_scrape;

/* The body of a 200 answer: a malloc'd text the scrape frees, or NULL (500). */
typedef char *(*tcpack_scrape_render_fn)(void *userdata, size_t *ret_len);

/**
 * tcpack_scrape_new() - serve the @n listening sockets @fds (at most
 * TCPACK_SCRAPE_LISTENERS, made non-blocking here). NULL: no memory.
 */
struct tcpack_scrape *tcpack_scrape_new(const int *fds, unsigned int n, tcpack_scrape_render_fn render,
					void *userdata);

/** tcpack_scrape_free() - close every connection (not the listener). NULL is fine. */
void tcpack_scrape_free(struct tcpack_scrape *sc);

/**
 * tcpack_scrape_pollfds() - what to poll: at most TCPACK_SCRAPE_LISTENERS +
 * TCPACK_SCRAPE_CONNS entries into @pfd.
 */
unsigned int tcpack_scrape_pollfds(struct tcpack_scrape *sc, struct pollfd *pfd);

/**
 * tcpack_scrape_handle() - after poll(): act on the @n entries
 * tcpack_scrape_pollfds() filled (their revents), and on deadlines at @now_ms.
 */
void tcpack_scrape_handle(struct tcpack_scrape *sc, const struct pollfd *pfd, unsigned int n,
			  uint64_t now_ms);
