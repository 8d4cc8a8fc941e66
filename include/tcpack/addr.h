/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Socket addresses as text, both ways: what `listen` accepts and what
 * every log line shows. Pure: no I/O, no logging.
 */

#include <sys/socket.h>

/* A listening address: the sockaddr and its length, ready for bind(2). */
struct tcpack_addr {
	struct sockaddr_storage addr;
	socklen_t len;
};

/* Bytes tcpack_addr_format() needs, its NUL included. */
#define TCPACK_ADDR_STRLEN 64

/**
 * tcpack_addr_parse() - parse "A.B.C.D:PORT" or "[IPV6]:PORT", PORT in
 * decimal digits, at most 65535.
 * Return: 0 or -EINVAL; @ret untouched on failure.
 */
int tcpack_addr_parse(const char *s, struct tcpack_addr *ret);

/**
 * tcpack_addr_format() - "A.B.C.D:PORT", "[IPV6]:PORT", "unix:PATH" or
 * "unknown" (@sa NULL or another family) into @buf, which holds at least
 * TCPACK_ADDR_STRLEN bytes. Return: @buf.
 */
char *tcpack_addr_format(const struct sockaddr *sa, char *buf);
