// SPDX-License-Identifier: MIT
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tcpack/http.h"
#include "tcpack/log.h"
#include "tcpack/metrics.h"
#include "tcpack/scrape.h"

/* After an error answer: writing shut down, input dropped until EOF or this long. */
#define CLOSING_MS 2000u

struct scrape_conn {
	int fd;
	uint64_t deadline_ms;		/* of the phase it is in */
	uint64_t started_ms;		/* for eviction: the oldest goes first */
	struct tcpack_http h;
	char *out;			/* an answer being sent */
	size_t out_len, out_off;
	bool close_after;		/* the answer is the last one */
	bool closing;			/* answered for good: reading until EOF */
};

struct tcpack_scrape {
	int fds[TCPACK_SCRAPE_LISTENERS];
	unsigned int n_fds;
	tcpack_scrape_render_fn render;
	void *userdata;
	struct scrape_conn conns[TCPACK_SCRAPE_CONNS];
	unsigned int n;
	uint64_t now_ms;
};

struct tcpack_scrape *tcpack_scrape_new(const int *fds, unsigned int n, tcpack_scrape_render_fn render,
					void *userdata)
{
	struct tcpack_scrape *sc = calloc(1, sizeof(*sc));

	if (!sc)
		return NULL;
	for (unsigned int i = 0; i < n && i < TCPACK_SCRAPE_LISTENERS; i++) {
		sc->fds[sc->n_fds++] = fds[i];
		(void)fcntl(fds[i], F_SETFL, fcntl(fds[i], F_GETFL) | O_NONBLOCK);
	}
	sc->render = render;
	sc->userdata = userdata;
	return sc;
}

static void conn_drop(struct tcpack_scrape *sc, unsigned int i)
{
	close(sc->conns[i].fd);
	free(sc->conns[i].out);
	sc->conns[i] = sc->conns[--sc->n];
}

void tcpack_scrape_free(struct tcpack_scrape *sc)
{
	if (!sc)
		return;
	while (sc->n)
		conn_drop(sc, 0);
	free(sc);
}

static const char *reason_phrase(int status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 431: return "Request Header Fields Too Large";
	case 501: return "Not Implemented";
	case 505: return "HTTP Version Not Supported";
	default: return "Internal Server Error";
	}
}

/* Queue the answer: head, and @body unless @head_only. Takes @body. */
static void answer(struct scrape_conn *c, int status, const char *type, char *body, size_t len,
		   bool head_only)
{
	char head[256];
	int n = snprintf(head, sizeof(head),
			 "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s%s\r\n",
			 status, reason_phrase(status), type, len,
			 status == 405 ? "Allow: GET, HEAD\r\n" : "",
			 c->close_after ? "Connection: close\r\n" : "");
	size_t total = (size_t)n + (head_only ? 0 : len);

	c->out = malloc(total);
	if (c->out) {
		memcpy(c->out, head, (size_t)n);
		if (!head_only && len)
			memcpy(c->out + n, body, len);
		c->out_len = total;
		c->out_off = 0;
	} else {
		c->close_after = true;
	}
	free(body);
}

static void answer_text(struct scrape_conn *c, int status, const char *why, bool head_only)
{
	char *body = NULL;
	int n = asprintf(&body, "%d %s%s%s\n", status, reason_phrase(status), why ? ": " : "",
			 why ? why : "");

	answer(c, status, "text/plain; charset=utf-8", n < 0 ? NULL : body, n < 0 ? 0 : (size_t)n,
	       head_only);
}

static void respond(struct tcpack_scrape *sc, struct scrape_conn *c)
{
	bool head_only = c->h.method == TCPACK_HTTP_HEAD;
	const char *path_end = strchr(c->h.target, '?');
	size_t path_len = path_end ? (size_t)(path_end - c->h.target) : strlen(c->h.target);
	char *body;
	size_t len;

	c->close_after = !c->h.keep_alive;
	if (c->h.method == TCPACK_HTTP_OTHER) {
		answer_text(c, 405, "only GET and HEAD", false);
		return;
	}
	if (path_len != strlen("/metrics") || memcmp(c->h.target, "/metrics", path_len) != 0) {
		answer_text(c, 404, "metrics are at /metrics", head_only);
		return;
	}
	body = sc->render(sc->userdata, &len);
	if (!body) {
		c->close_after = true;
		answer_text(c, 500, "out of memory", head_only);
		return;
	}
	answer(c, 200, TCPACK_METRICS_CONTENT_TYPE, body, len, head_only);
}

/* Send what is queued. Return: false when the connection is over. */
static bool flush(struct tcpack_scrape *sc, struct scrape_conn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
		c->out_off += (size_t)n;
	}
	free(c->out);
	c->out = NULL;
	c->out_len = c->out_off = 0;
	if (c->close_after) {
		/* Read until the client's EOF, so the close cannot reset the answer away. */
		c->closing = true;
		c->deadline_ms = sc->now_ms + CLOSING_MS;
		return shutdown(c->fd, SHUT_WR) == 0;
	}
	tcpack_http_init(&c->h);
	c->deadline_ms = sc->now_ms + TCPACK_SCRAPE_IDLE_MS;
	return true;
}

/*
 * Read and parse while no answer is queued: one request at a time, a
 * pipelined one stays in the socket until the one before is answered.
 * Return: false when the connection is over.
 */
static bool receive(struct tcpack_scrape *sc, struct scrape_conn *c)
{
	uint8_t buf[2048];

	while (!c->out) {
		/* Never past the head: what follows is the next request's, peeked again. */
		ssize_t n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT | (c->closing ? 0 : MSG_PEEK));
		ssize_t r;

		if (n == 0)
			return false;
		if (n < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
		if (c->closing)
			continue;
		if (!c->h.seen)
			c->deadline_ms = sc->now_ms + TCPACK_SCRAPE_REQUEST_MS;
		r = tcpack_http_feed(&c->h, buf, (size_t)n);
		if (r == -EAGAIN) {
			(void)!recv(c->fd, buf, (size_t)n, MSG_DONTWAIT);
			continue;
		}
		if (r < 0) {
			c->close_after = true;
			(void)!recv(c->fd, buf, (size_t)n, MSG_DONTWAIT);
			tcpack_logf(LOG_DEBUG, "metrics: request refused with %d: %s", c->h.status, c->h.why);
			answer_text(c, c->h.status, c->h.why, false);
		} else {
			(void)!recv(c->fd, buf, (size_t)r, MSG_DONTWAIT);
			respond(sc, c);
		}
		if (!flush(sc, c))
			return false;
	}
	return true;
}

static void accept_all(struct tcpack_scrape *sc, int listen_fd)
{
	for (int k = 0; k < 16; k++) {
		int fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct scrape_conn *c;

		if (fd < 0)
			return;
		if (sc->n == TCPACK_SCRAPE_CONNS) {
			unsigned int oldest = 0;

			for (unsigned int i = 1; i < sc->n; i++)
				if (sc->conns[i].started_ms < sc->conns[oldest].started_ms)
					oldest = i;
			conn_drop(sc, oldest);
		}
		c = &sc->conns[sc->n++];
		*c = (struct scrape_conn){
			.fd = fd,
			.started_ms = sc->now_ms,
			.deadline_ms = sc->now_ms + TCPACK_SCRAPE_REQUEST_MS,
		};
		tcpack_http_init(&c->h);
	}
}

unsigned int tcpack_scrape_pollfds(struct tcpack_scrape *sc, struct pollfd *pfd)
{
	for (unsigned int i = 0; i < sc->n_fds; i++)
		pfd[i] = (struct pollfd){ .fd = sc->fds[i], .events = POLLIN };
	for (unsigned int i = 0; i < sc->n; i++)
		pfd[sc->n_fds + i] = (struct pollfd){ .fd = sc->conns[i].fd,
						      .events = sc->conns[i].out ? POLLOUT : POLLIN };
	return sc->n_fds + sc->n;
}

void tcpack_scrape_handle(struct tcpack_scrape *sc, const struct pollfd *pfd, unsigned int n,
			  uint64_t now_ms)
{
	const struct pollfd *cp = pfd + sc->n_fds;	/* the connections' entries */

	sc->now_ms = now_ms;
	/* From the last: conn_drop() moves the last one into the gap. */
	for (unsigned int i = n - sc->n_fds; i-- > 0;) {
		struct scrape_conn *c = &sc->conns[i];
		bool alive = true;

		if (i >= sc->n || cp[i].fd != c->fd)
			continue;
		if (cp[i].revents & POLLOUT)
			alive = flush(sc, c);
		if (alive && cp[i].revents & (POLLIN | POLLHUP | POLLERR))
			alive = receive(sc, c);
		if (alive && now_ms >= c->deadline_ms) {
			if (!c->closing && c->h.seen)
				tcpack_logf(LOG_DEBUG, "metrics: request not complete within %u ms, closing",
					    TCPACK_SCRAPE_REQUEST_MS);
			alive = false;
		}
		if (!alive)
			conn_drop(sc, i);
	}
	for (unsigned int i = 0; i < sc->n_fds && i < n; i++)
		if (pfd[i].revents & POLLIN)
			accept_all(sc, sc->fds[i]);
}
