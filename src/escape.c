// SPDX-License-Identifier: MIT
#include <errno.h>
#include <string.h>

#include "tcpack/escape.h"

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

ssize_t tcpack_escape_decode(const char *in, uint8_t *out, size_t out_max)
{
	size_t n = 0;

	while (*in) {
		uint8_t b;

		if (*in != '\\') {
			b = (uint8_t)*in++;
		} else {
			in++;
			switch (*in) {
			case 'r': b = '\r'; break;
			case 'n': b = '\n'; break;
			case 't': b = '\t'; break;
			case '0': b = '\0'; break;
			case '\\': b = '\\'; break;
			case '"': b = '"'; break;
			case 'x': {
				int hi = hexval(in[1]), lo = hi < 0 ? -1 : hexval(in[2]);

				if (hi < 0 || lo < 0)
					return -EINVAL;
				b = (uint8_t)(hi << 4 | lo);
				in += 2;
				break;
			}
			default:	/* unknown escape, or a lone trailing backslash */
				return -EINVAL;
			}
			in++;
		}
		if (n == out_max)
			return -E2BIG;
		out[n++] = b;
	}
	return (ssize_t)n;
}

/*
 * Length of the well-formed, printable UTF-8 sequence at @p (RFC 3629:
 * no overlongs, no surrogates, nothing above U+10FFFF), or 0.
 */
static size_t utf8_len(const uint8_t *p, size_t len)
{
	uint32_t cp;
	size_t n;

	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		n = 2, cp = p[0] & 0x1f;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		n = 3, cp = p[0] & 0x0f;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		n = 4, cp = p[0] & 0x07;
	else
		return 0;
	if (len < n)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	if (cp <= 0x9f)		/* C1 controls (U+0080..U+009F) */
		return 0;
	if (cp == 0x2028 || cp == 0x2029)	/* line and paragraph separators */
		return 0;
	return n;
}

size_t tcpack_escape_log(const uint8_t *in, size_t len, char *out, size_t out_size)
{
	static const char hex[] = "0123456789abcdef";
	size_t i = 0, o = 0;

	while (i < len) {
		uint8_t b = in[i];
		size_t n;

		if (b >= 0x20 && b < 0x7f && b != '\\') {
			if (o + 1 >= out_size)
				break;
			out[o++] = (char)b;
			i++;
		} else if (b == '\\') {
			if (o + 2 >= out_size)
				break;
			out[o++] = '\\';
			out[o++] = '\\';
			i++;
		} else if ((n = utf8_len(in + i, len - i)) > 0) {
			if (o + n >= out_size)
				break;
			memcpy(out + o, in + i, n);
			o += n;
			i += n;
		} else {
			if (o + 4 >= out_size)
				break;
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = hex[b >> 4];
			out[o++] = hex[b & 15];
			i++;
		}
	}
	if (out_size)
		out[o] = '\0';
	return i;
}
