// SPDX-License-Identifier: MIT
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>

#include "tcpack/addr.h"

int tcpack_addr_parse(const char *s, struct tcpack_addr *ret)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *port_s, *host_s;
	size_t host_len;
	unsigned int port;
	struct tcpack_addr a = { 0 };

	if (s[0] == '[') {
		const char *end = strchr(s, ']');

		if (!end || end[1] != ':')
			return -EINVAL;
		host_s = s + 1;
		host_len = (size_t)(end - host_s);
		port_s = end + 2;
	} else {
		const char *colon = strrchr(s, ':');

		if (!colon || strchr(s, ':') != colon)
			return -EINVAL;
		host_s = s;
		host_len = (size_t)(colon - s);
		port_s = colon + 1;
	}
	if (host_len == 0 || host_len >= sizeof(host))
		return -EINVAL;
	memcpy(host, host_s, host_len);
	host[host_len] = '\0';
	if (!*port_s)
		return -EINVAL;
	for (port = 0; *port_s; port_s++) {
		if (!isdigit((unsigned char)*port_s) || port > 65535)
			return -EINVAL;
		port = port * 10 + (unsigned int)(*port_s - '0');
	}
	if (port > 65535)
		return -EINVAL;

	if (s[0] == '[') {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&a.addr;

		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		if (inet_pton(AF_INET6, host, &in6->sin6_addr) != 1)
			return -EINVAL;
		a.len = sizeof(*in6);
	} else {
		struct sockaddr_in *in4 = (struct sockaddr_in *)&a.addr;

		in4->sin_family = AF_INET;
		in4->sin_port = htons((uint16_t)port);
		if (inet_pton(AF_INET, host, &in4->sin_addr) != 1)
			return -EINVAL;
		a.len = sizeof(*in4);
	}
	*ret = a;
	return 0;
}

char *tcpack_addr_format(const struct sockaddr *sa, char *buf)
{
	char host[INET6_ADDRSTRLEN];

	switch (sa ? sa->sa_family : AF_UNSPEC) {
	case AF_INET: {
		const struct sockaddr_in *in4 = (const struct sockaddr_in *)sa;

		inet_ntop(AF_INET, &in4->sin_addr, host, sizeof(host));
		snprintf(buf, TCPACK_ADDR_STRLEN, "%s:%u", host, ntohs(in4->sin_port));
		break;
	}
	case AF_INET6: {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;

		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		snprintf(buf, TCPACK_ADDR_STRLEN, "[%s]:%u", host, ntohs(in6->sin6_port));
		break;
	}
	case AF_UNIX:
		snprintf(buf, TCPACK_ADDR_STRLEN, "unix:%s", ((const struct sockaddr_un *)sa)->sun_path);
		break;
	default:
		snprintf(buf, TCPACK_ADDR_STRLEN, "unknown");
		break;
	}
	return buf;
}
