// SPDX-License-Identifier: MIT
/*
 * Reply escapes in (tcpack_escape_decode) and log escaping out
 * (tcpack_escape_log), each against a reference written here from the
 * header's contract, and the two against each other: whatever
 * tcpack_escape_log() writes, tcpack_escape_decode() reads back as the bytes it
 * represents.
 *
 * Input: two bytes of output capacity for tcpack_escape_decode(), two for
 * tcpack_escape_log(), then the text (its first NUL ends it as a C string
 * for tcpack_escape_decode(); all of it is client data for tcpack_escape_log()).
 * Output buffers are allocated at exactly the capacity passed, so any write
 * past it is an AddressSanitizer report.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz-input.h"
#include "tcpack/escape.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool is_hex(char c)
{
	return c && strchr("0123456789abcdefABCDEF", c);
}

static uint8_t hex_value(char c)
{
	return (uint8_t)(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
}

/*
 * The decoder by the header: into @out (large enough for all of @s), its
 * length in @ret_len; false when an escape is unknown or cut short, with
 * @ret_len the bytes decoded before it.
 */
static bool ref_unescape(const char *s, uint8_t *out, size_t *ret_len)
{
	static const char from[] = "rnt0\\\"", to[] = "\r\n\t\0\\\"";
	size_t n = 0;
	bool ok = true;

	for (size_t i = 0; s[i]; ) {
		const char *e;

		if (s[i] != '\\') {
			out[n++] = (uint8_t)s[i++];
		} else if (s[i + 1] == 'x' && is_hex(s[i + 2]) && is_hex(s[i + 3])) {
			out[n++] = (uint8_t)(hex_value(s[i + 2]) << 4 | hex_value(s[i + 3]));
			i += 4;
		} else if (s[i + 1] && (e = strchr(from, s[i + 1]))) {
			out[n++] = (uint8_t)to[e - from];
			i += 2;
		} else {
			ok = false;
			break;
		}
	}
	*ret_len = n;
	return ok;
}

static void check_unescape(const char *s, size_t out_max)
{
	size_t len = strlen(s), want_len;
	uint8_t *want = malloc(len + 1), *out = malloc(out_max ? out_max : 1);
	bool ok;
	ssize_t r;

	FUZZ_ASSERT(want && out);
	ok = ref_unescape(s, want, &want_len);
	r = tcpack_escape_decode(s, out, out_max);
	if (want_len > out_max) {		/* ran out of room first */
		FUZZ_ASSERT(r == -E2BIG);
	} else if (!ok) {
		FUZZ_ASSERT(r == -EINVAL);
	} else {
		FUZZ_ASSERT(r >= 0 && (size_t)r == want_len);
		FUZZ_ASSERT(memcmp(out, want, want_len) == 0);
	}
	free(want);
	free(out);
}

/* Length of a well-formed UTF-8 sequence at @p (RFC 3629, table 3-7), or 0. */
static size_t ref_utf8(const uint8_t *p, size_t len)
{
	static const struct {
		uint8_t lead_lo, lead_hi, second_lo, second_hi, n;
	} forms[] = {
		{ 0xc2, 0xdf, 0x80, 0xbf, 2 },
		{ 0xe0, 0xe0, 0xa0, 0xbf, 3 }, { 0xe1, 0xec, 0x80, 0xbf, 3 },
		{ 0xed, 0xed, 0x80, 0x9f, 3 }, { 0xee, 0xef, 0x80, 0xbf, 3 },
		{ 0xf0, 0xf0, 0x90, 0xbf, 4 }, { 0xf1, 0xf3, 0x80, 0xbf, 4 },
		{ 0xf4, 0xf4, 0x80, 0x8f, 4 },
	};

	for (size_t f = 0; f < sizeof(forms) / sizeof(forms[0]); f++) {
		size_t n = forms[f].n;

		if (p[0] < forms[f].lead_lo || p[0] > forms[f].lead_hi)
			continue;
		if (len < n || p[1] < forms[f].second_lo || p[1] > forms[f].second_hi)
			return 0;
		for (size_t i = 2; i < n; i++)
			if (p[i] < 0x80 || p[i] > 0xbf)
				return 0;
		return n;
	}
	return 0;
}

/*
 * What the log shows of one character at @p, into @out (at least 5 bytes);
 * its input length in @ret_in.
 */
static size_t ref_escape_one(const uint8_t *p, size_t len, char *out, size_t *ret_in)
{
	size_t n = ref_utf8(p, len);

	*ret_in = 1;
	if (p[0] == '\\')
		return (size_t)sprintf(out, "\\\\");
	if (p[0] >= 0x20 && p[0] <= 0x7e)
		return (size_t)sprintf(out, "%c", p[0]);
	/* C1 controls (U+0080..U+009F) and U+2028, U+2029 could break a line. */
	if (n && !(p[0] == 0xc2 && p[1] <= 0x9f) &&
	    !(p[0] == 0xe2 && p[1] == 0x80 && (p[2] == 0xa8 || p[2] == 0xa9))) {
		memcpy(out, p, n);
		out[n] = '\0';
		*ret_in = n;
		return n;
	}
	return (size_t)sprintf(out, "\\x%02x", p[0]);
}

static void check_escape_log(const uint8_t *data, size_t len, size_t out_size)
{
	char *out = malloc(out_size), *want = malloc(TCPACK_ESCAPE_SIZE(len));
	size_t got, want_in = 0, want_len = 0, out_len, back_len;
	uint8_t *back;
	ssize_t r;

	FUZZ_ASSERT(out && want);
	/* Whole characters while they fit, the NUL included; stop at the first that does not. */
	want[0] = '\0';
	while (want_in < len) {
		char one[8];
		size_t in_n, out_n = ref_escape_one(data + want_in, len - want_in, one, &in_n);

		if (want_len + out_n + 1 > out_size)
			break;
		memcpy(want + want_len, one, out_n + 1);
		want_len += out_n;
		want_in += in_n;
	}

	got = tcpack_escape_log(data, len, out, out_size);
	out_len = strnlen(out, out_size);
	FUZZ_ASSERT(out_len < out_size);		/* NUL-terminated inside its buffer */
	FUZZ_ASSERT(got <= len);
	FUZZ_ASSERT(got == want_in);
	FUZZ_ASSERT(out_len == want_len && memcmp(out, want, want_len) == 0);
	if (out_size >= TCPACK_ESCAPE_SIZE(len))
		FUZZ_ASSERT(got == len);
	for (size_t i = 0; i < out_len; i++)
		FUZZ_ASSERT((uint8_t)out[i] >= 0x20 && (uint8_t)out[i] != 0x7f);

	/* The log's text decodes back to exactly the bytes it stands for. */
	back = malloc(got ? got : 1);
	FUZZ_ASSERT(back);
	r = tcpack_escape_decode(out, back, got);
	back_len = r < 0 ? 0 : (size_t)r;
	FUZZ_ASSERT(r >= 0 && back_len == got && memcmp(back, data, got) == 0);
	free(back);
	free(out);
	free(want);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_input in = { data, size };
	uint16_t unescape_max = fuzz_u16(&in), log_size = fuzz_u16(&in);
	size_t len = fuzz_left(&in);
	char *s = malloc(len + 1);

	FUZZ_ASSERT(s);
	memcpy(s, in.data, len);
	s[len] = '\0';
	check_unescape(s, unescape_max % (len + 2));
	/* The header asks for at least 5 bytes; more than the whole never matters. */
	check_escape_log(in.data, len, 5 + log_size % (TCPACK_ESCAPE_SIZE(len) + 1));
	free(s);
	return 0;
}
