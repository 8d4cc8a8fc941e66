// SPDX-License-Identifier: MIT
/*
 * tcpack_escape_decode() decodes what an operator writes; tcpack_escape_log()
 * guards log lines against what a client sends. The second one is a
 * security boundary: no client byte may end or fake a log line.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <setjmp.h>
#include <cmocka.h>

#include "tcpack/escape.h"

#define BYTES(s) (const uint8_t *)(s), sizeof(s) - 1

/* ---- tcpack_escape_decode ---- */

static void assert_unescapes_to(const char *in, const void *want, size_t want_len)
{
	uint8_t out[64];

	assert_int_equal(tcpack_escape_decode(in, out, sizeof(out)), want_len);
	assert_memory_equal(out, want, want_len);
}

static void test_unescape_each_escape(void **state)
{
	assert_unescapes_to("\\r", "\r", 1);
	assert_unescapes_to("\\n", "\n", 1);
	assert_unescapes_to("\\t", "\t", 1);
	assert_unescapes_to("\\0", "\0", 1);
	assert_unescapes_to("\\\\", "\\", 1);
	assert_unescapes_to("\\\"", "\"", 1);
	assert_unescapes_to("OK\\r\\n", "OK\r\n", 4);
	assert_unescapes_to("a\\0b", "a\0b", 3);
	assert_unescapes_to("\\\\n", "\\n", 2);
	assert_unescapes_to("", "", 0);
}

static void test_unescape_hex_both_cases(void **state)
{
	assert_unescapes_to("\\x41\\x4a\\x4A", "AJJ", 3);
	assert_unescapes_to("\\xff\\xFF\\xaB\\x00\\x7f", "\xff\xff\xab\0\x7f", 5);
	/* Exactly two digits: a third one is a plain character. */
	assert_unescapes_to("\\x414", "A4", 2);
}

static void test_unescape_passes_utf8_through(void **state)
{
	static const char reply[] = "服务器已收到数据";

	assert_int_equal(sizeof(reply) - 1, 24);
	assert_unescapes_to(reply, reply, 24);
	assert_unescapes_to("é\\n", "é\n", 3);
}

static void test_unescape_rejects_bad_escapes(void **state)
{
	static const char *const bad[] = {
		"\\q", "\\a", "\\X41", "\\N", "\\x4", "ab\\x", "\\xZZ", "\\xZ1", "\\x1Z",
		"\\x 1", "abc\\", "\\",
	};
	uint8_t out[64];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		print_message("input: %s\n", bad[i]);
		assert_int_equal(tcpack_escape_decode(bad[i], out, sizeof(out)), -EINVAL);
	}
}

static void test_unescape_capacity_boundary(void **state)
{
	uint8_t out[8];

	memset(out, 0xa5, sizeof(out));
	assert_int_equal(tcpack_escape_decode("abcd", out, 4), 4);
	assert_memory_equal(out, "abcd", 4);
	assert_int_equal(tcpack_escape_decode("\\x41\\x42\\r\\n", out, 4), 4);
	assert_memory_equal(out, "AB\r\n", 4);

	/* One decoded byte too many, and nothing written past out_max. */
	memset(out, 0xa5, sizeof(out));
	assert_int_equal(tcpack_escape_decode("abcde", out, 4), -E2BIG);
	assert_int_equal(tcpack_escape_decode("abcd\\n", out, 4), -E2BIG);
	assert_int_equal(tcpack_escape_decode("\\x41\\x42\\x43\\x44\\x45", out, 4), -E2BIG);
	for (size_t i = 4; i < sizeof(out); i++)
		assert_int_equal(out[i], 0xa5);

	/* Multi-byte characters count as their bytes. */
	assert_int_equal(tcpack_escape_decode("éé", out, 4), 4);
	assert_int_equal(tcpack_escape_decode("ééa", out, 4), -E2BIG);

	assert_int_equal(tcpack_escape_decode("", out, 0), 0);
	assert_int_equal(tcpack_escape_decode("a", out, 0), -E2BIG);
}

/* ---- tcpack_escape_log ---- */

static void assert_escapes_to(const uint8_t *in, size_t len, const char *want)
{
	char out[TCPACK_ESCAPE_SIZE(128)];

	assert_true(len <= 128);
	assert_int_equal(tcpack_escape_log(in, len, out, TCPACK_ESCAPE_SIZE(len)), len);
	assert_string_equal(out, want);
}

static void test_escape_keeps_printable_ascii(void **state)
{
	uint8_t in[95];
	char want[96];
	size_t n = 0;

	for (int b = 0x20; b < 0x7f; b++) {
		if (b == '\\')
			continue;
		in[n] = (uint8_t)b;
		want[n++] = (char)b;
	}
	want[n] = '\0';
	assert_int_equal(n, 94);
	assert_escapes_to(in, n, want);
	assert_escapes_to(BYTES(""), "");
}

static void test_escape_doubles_backslash(void **state)
{
	assert_escapes_to(BYTES("\\"), "\\\\");
	assert_escapes_to(BYTES("a\\x41"), "a\\\\x41");
}

static void test_escape_control_bytes_as_lowercase_hex(void **state)
{
	assert_escapes_to(BYTES("\0"), "\\x00");
	assert_escapes_to(BYTES("\n"), "\\x0a");
	assert_escapes_to(BYTES("\r"), "\\x0d");
	assert_escapes_to(BYTES("\t"), "\\x09");
	assert_escapes_to(BYTES("\x1b[31m"), "\\x1b[31m");
	assert_escapes_to(BYTES("\x1f"), "\\x1f");
	assert_escapes_to(BYTES("\x7f"), "\\x7f");
	assert_escapes_to(BYTES("\xff"), "\\xff");
	assert_escapes_to(BYTES("\xfe\xfd"), "\\xfe\\xfd");
	assert_escapes_to(BYTES("\x80"), "\\x80");
	assert_escapes_to(BYTES("a\nb"), "a\\x0ab");
}

static void test_escape_output_never_holds_a_control_byte(void **state)
{
	uint8_t in[256];
	char out[TCPACK_ESCAPE_SIZE(256)];

	for (int i = 0; i < 256; i++)
		in[i] = (uint8_t)i;
	assert_int_equal(tcpack_escape_log(in, sizeof(in), out, sizeof(out)), sizeof(in));
	for (const char *p = out; *p; p++) {
		unsigned char c = (unsigned char)*p;

		assert_false(c < 0x20 || c == 0x7f);
	}
	/* A lone byte >= 0x80 is never valid UTF-8, so nothing above 0x7e survives. */
	for (const char *p = out; *p; p++)
		assert_true((unsigned char)*p < 0x7f);
}

static void test_escape_keeps_valid_utf8(void **state)
{
	assert_escapes_to(BYTES("\xc2\xa0"), "\xc2\xa0");		/* U+00A0, first after C1 */
	assert_escapes_to(BYTES("é"), "é");				/* 2 bytes */
	assert_escapes_to(BYTES("\xdf\xbf"), "\xdf\xbf");		/* U+07FF */
	assert_escapes_to(BYTES("\xe0\xa0\x80"), "\xe0\xa0\x80");	/* U+0800 */
	assert_escapes_to(BYTES("服务器已收到数据"), "服务器已收到数据");
	assert_escapes_to(BYTES("\xef\xbf\xbd"), "\xef\xbf\xbd");	/* U+FFFD */
	assert_escapes_to(BYTES("\xf0\x9f\x98\x80"), "\xf0\x9f\x98\x80");	/* U+1F600 */
	assert_escapes_to(BYTES("\xf4\x8f\xbf\xbf"), "\xf4\x8f\xbf\xbf");	/* U+10FFFF */
	assert_escapes_to(BYTES("a\xe2\x80\xa7z"), "a\xe2\x80\xa7z");	/* U+2027 */
}

static void test_escape_rejects_overlong_forms(void **state)
{
	assert_escapes_to(BYTES("\xc0\x80"), "\\xc0\\x80");
	assert_escapes_to(BYTES("\xc1\xbf"), "\\xc1\\xbf");
	assert_escapes_to(BYTES("\xc0\xaf"), "\\xc0\\xaf");		/* overlong '/' */
	assert_escapes_to(BYTES("\xe0\x80\x80"), "\\xe0\\x80\\x80");
	assert_escapes_to(BYTES("\xe0\x9f\xbf"), "\\xe0\\x9f\\xbf");
	assert_escapes_to(BYTES("\xf0\x8f\xbf\xbf"), "\\xf0\\x8f\\xbf\\xbf");
}

static void test_escape_rejects_surrogates(void **state)
{
	assert_escapes_to(BYTES("\xed\xa0\x80"), "\\xed\\xa0\\x80");	/* U+D800 */
	assert_escapes_to(BYTES("\xed\xbf\xbf"), "\\xed\\xbf\\xbf");	/* U+DFFF */
	assert_escapes_to(BYTES("\xed\x9f\xbf"), "\xed\x9f\xbf");	/* U+D7FF is fine */
}

static void test_escape_rejects_above_unicode(void **state)
{
	assert_escapes_to(BYTES("\xf4\x90\x80\x80"), "\\xf4\\x90\\x80\\x80");
	assert_escapes_to(BYTES("\xf5\x80\x80\x80"), "\\xf5\\x80\\x80\\x80");
	assert_escapes_to(BYTES("\xf8\x88\x80\x80\x80"), "\\xf8\\x88\\x80\\x80\\x80");
}

static void test_escape_rejects_c1_controls(void **state)
{
	assert_escapes_to(BYTES("\xc2\x80"), "\\xc2\\x80");
	assert_escapes_to(BYTES("\xc2\x85"), "\\xc2\\x85");	/* NEL, a line break */
	assert_escapes_to(BYTES("\xc2\x9b"), "\\xc2\\x9b");	/* CSI */
	assert_escapes_to(BYTES("\xc2\x9f"), "\\xc2\\x9f");
}

static void test_escape_rejects_line_separators(void **state)
{
	assert_escapes_to(BYTES("a\xe2\x80\xa8z"), "a\\xe2\\x80\\xa8z");	/* U+2028 */
	assert_escapes_to(BYTES("\xe2\x80\xa9"), "\\xe2\\x80\\xa9");		/* U+2029 */
}

static void test_escape_sequence_cut_by_end_of_input(void **state)
{
	assert_escapes_to(BYTES("\xe6\x9c"), "\\xe6\\x9c");
	assert_escapes_to(BYTES("ok\xf0\x9f\x98"), "ok\\xf0\\x9f\\x98");
	assert_escapes_to(BYTES("\xc3"), "\\xc3");
	/* Cut by a non-continuation byte in the middle. */
	assert_escapes_to(BYTES("\xe6" "A\xe6\x9c" "B"), "\\xe6A\\xe6\\x9cB");
	/* Same bytes but whole: kept. */
	assert_escapes_to(BYTES("\xe6\x9c\x8d"), "\xe6\x9c\x8d");
	/* Cut by len although the rest follows in memory: len is the end. */
	assert_escapes_to((const uint8_t *)"\xe6\x9c\x8d", 2, "\\xe6\\x9c");
	assert_escapes_to((const uint8_t *)"\xf0\x9f\x98\x80", 3, "\\xf0\\x9f\\x98");
	assert_escapes_to((const uint8_t *)"\xc3\xa9", 1, "\\xc3");
}

/*
 * The output width of the first character of @in: the smallest buffer that
 * makes progress, minus the NUL.
 */
static size_t first_char_width(const uint8_t *in, size_t len)
{
	char tmp[8];

	for (size_t size = 2; size <= sizeof(tmp); size++)
		if (tcpack_escape_log(in, len, tmp, size) > 0)
			return size - 1;
	fail_msg("no progress with %zu bytes of room", sizeof(tmp));
	return 0;
}

static void assert_truncation_is_clean(const uint8_t *in, size_t len)
{
	char full[TCPACK_ESCAPE_SIZE(64)], head[TCPACK_ESCAPE_SIZE(64)];
	char tail[TCPACK_ESCAPE_SIZE(64)], out[TCPACK_ESCAPE_SIZE(64)];
	size_t full_len;

	assert_true(len <= 64);
	assert_int_equal(tcpack_escape_log(in, len, full, sizeof(full)), len);
	full_len = strlen(full);

	for (size_t size = 5; size <= full_len + 1; size++) {
		size_t used;

		memset(out, 'Z', sizeof(out));
		used = tcpack_escape_log(in, len, out, size);

		/* NUL-terminated inside the buffer, nothing written past it. */
		assert_non_null(memchr(out, '\0', size));
		for (size_t i = size; i < sizeof(out); i++)
			assert_int_equal(out[i], 'Z');
		assert_true(used <= len);

		/*
		 * The consumed bytes sit on a character boundary: escaping
		 * them and the rest separately gives the whole escape.
		 */
		assert_int_equal(tcpack_escape_log(in, used, head, sizeof(head)), used);
		assert_string_equal(out, head);
		assert_int_equal(tcpack_escape_log(in + used, len - used, tail, sizeof(tail)),
				 len - used);
		assert_int_equal(strlen(head) + strlen(tail), full_len);
		assert_memory_equal(full, head, strlen(head));
		assert_string_equal(full + strlen(head), tail);

		/* And it stopped only because the next character did not fit. */
		if (used < len) {
			size_t next = first_char_width(in + used, len - used);

			assert_true(strlen(out) + next + 1 > size);
		} else {
			assert_string_equal(out, full);
		}
	}
}

static void test_escape_truncation_never_splits(void **state)
{
	static const struct {
		const char *s;
		size_t len;
	} inputs[] = {
#define IN(s) { s, sizeof(s) - 1 }
		IN("abcdefgh"),
		IN("a\\b\\c\\d"),
		IN("\x01\x02\x03\x04"),
		IN("服务器已收到数据"),
		IN("\xf0\x9f\x98\x80\xf0\x9f\x98\x80x"),
		IN("a\xc3\xa9\\\n\xe6\x9c\x8d\xf0\x9f\x98\x80\xffz"),
		IN("\xe6\x9c\xe6\x9c\x8d\xed\xa0\x80\xc2\x85"),
		IN("x\xe2\x80\xa8y\xf4\x90\x80\x80"),
#undef IN
	};

	for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
		print_message("input %zu\n", i);
		assert_truncation_is_clean((const uint8_t *)inputs[i].s, inputs[i].len);
	}
}

static void test_escape_truncation_examples(void **state)
{
	char out[16];

	/* Room for 4 characters and the NUL. */
	assert_int_equal(tcpack_escape_log(BYTES("abcdef"), out, 5), 4);
	assert_string_equal(out, "abcd");
	/* "\\xff" needs 4 of the 5. */
	assert_int_equal(tcpack_escape_log(BYTES("\xff\xff"), out, 5), 1);
	assert_string_equal(out, "\\xff");
	/* A 4-byte character does not fit behind one ASCII byte. */
	assert_int_equal(tcpack_escape_log(BYTES("a\xf0\x9f\x98\x80"), out, 5), 1);
	assert_string_equal(out, "a");
	/* Nor a doubled backslash in the last free byte. */
	assert_int_equal(tcpack_escape_log(BYTES("abc\\"), out, 5), 3);
	assert_string_equal(out, "abc");
	assert_int_equal(tcpack_escape_log(BYTES("ab\\"), out, 5), 3);
	assert_string_equal(out, "ab\\\\");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unescape_each_escape),
		cmocka_unit_test(test_unescape_hex_both_cases),
		cmocka_unit_test(test_unescape_passes_utf8_through),
		cmocka_unit_test(test_unescape_rejects_bad_escapes),
		cmocka_unit_test(test_unescape_capacity_boundary),
		cmocka_unit_test(test_escape_keeps_printable_ascii),
		cmocka_unit_test(test_escape_doubles_backslash),
		cmocka_unit_test(test_escape_control_bytes_as_lowercase_hex),
		cmocka_unit_test(test_escape_output_never_holds_a_control_byte),
		cmocka_unit_test(test_escape_keeps_valid_utf8),
		cmocka_unit_test(test_escape_rejects_overlong_forms),
		cmocka_unit_test(test_escape_rejects_surrogates),
		cmocka_unit_test(test_escape_rejects_above_unicode),
		cmocka_unit_test(test_escape_rejects_c1_controls),
		cmocka_unit_test(test_escape_rejects_line_separators),
		cmocka_unit_test(test_escape_sequence_cut_by_end_of_input),
		cmocka_unit_test(test_escape_truncation_never_splits),
		cmocka_unit_test(test_escape_truncation_examples),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
