// SPDX-License-Identifier: MIT
/*
 * What tcpack-bench sends and how it judges replies. The matcher is fed the
 * way the network delivers: in any split, one byte at a time included; it
 * must count complete replies exactly, never more than were asked for, and
 * point at the first wrong byte.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <setjmp.h>
#include <cmocka.h>

#include "payload.h"

#define TEXT(s) (uint8_t *)(s), sizeof(s) - 1

static uint8_t *filler_for(size_t size)
{
	uint8_t *f = malloc(BENCH_FILLER_SIZE(size));

	assert_non_null(f);
	bench_filler_init(f, BENCH_FILLER_SIZE(size));
	return f;
}

static void test_message_is_one_line_of_size(void **state)
{
	uint8_t *f = filler_for(200), buf[200];

	for (size_t size = 1; size <= sizeof(buf); size++) {
		bench_msg_fill(buf, size, 7, 12345, f);
		assert_int_equal(buf[size - 1], '\n');
		assert_null(memchr(buf, '\n', size - 1));
	}
	bench_msg_fill(buf, 20, 1, 2, f);
	/* Stamp: connection 1 in the top 24 bits, sequence 2 below. */
	assert_memory_equal(buf, "0000010000000002", 16);
	/* Filler: byte i is 'a' + (i + connection) % 26. */
	assert_memory_equal(buf + 16, "rst\n", 4);
	free(f);
}

static void test_stamps_tell_messages_apart(void **state)
{
	uint8_t *f = filler_for(64), a[64], b[64];

	bench_msg_fill(a, 64, 3, 0, f);
	bench_msg_fill(b, 64, 3, 1, f);
	assert_memory_not_equal(a, b, 64);
	bench_msg_fill(b, 64, 4, 0, f);
	assert_memory_not_equal(a, b, 64);
	free(f);
}

static void test_fixed_text_one_byte_at_a_time(void **state)
{
	struct bench_stream s = { .msg = TEXT("ACK\n") };
	const char *in = "ACK\nACK\nACK\n";
	struct bench_mismatch bad;
	ssize_t done = 0;

	for (size_t i = 0; i < strlen(in); i++) {
		ssize_t r = bench_stream_feed(&s, (const uint8_t *)in + i, 1, 3 - (uint64_t)done, &bad);

		assert_true(r >= 0);
		done += r;
	}
	assert_int_equal(done, 3);
	assert_int_equal(s.seq, 3);
	assert_int_equal(s.pos, 0);
}

static void test_fixed_text_all_at_once(void **state)
{
	struct bench_stream s = { .msg = TEXT("OK\r\n") };
	struct bench_mismatch bad;

	assert_int_equal(bench_stream_feed(&s, TEXT("OK\r\nOK\r\nOK"), 5, &bad), 2);
	assert_int_equal(s.pos, 2);
	assert_int_equal(bench_stream_feed(&s, TEXT("\r\n"), 3, &bad), 1);
}

static void test_more_replies_than_asked_for(void **state)
{
	struct bench_stream s = { .msg = TEXT("ACK\n") };
	struct bench_mismatch bad;

	assert_int_equal(bench_stream_feed(&s, TEXT("ACK\nACK\nA"), 2, &bad), -EPROTO);
	assert_int_equal(bad.done, 2);
	assert_int_equal(bad.at, 8);
	/* Nothing outstanding: the first byte is already too much. */
	s = (struct bench_stream){ .msg = TEXT("ACK\n") };
	assert_int_equal(bench_stream_feed(&s, TEXT("A"), 0, &bad), -EPROTO);
	assert_int_equal(bad.at, 0);
}

static void test_points_at_the_first_wrong_byte(void **state)
{
	struct bench_stream s = { .msg = TEXT("ACK\n") };
	struct bench_mismatch bad;

	assert_int_equal(bench_stream_feed(&s, TEXT("ACK\nAC"), 5, &bad), 1);
	assert_int_equal(bench_stream_feed(&s, TEXT("X\n"), 5, &bad), -EBADMSG);
	assert_int_equal(bad.done, 0);
	assert_int_equal(bad.seq, 1);
	assert_int_equal(bad.pos, 2);
	assert_int_equal(bad.at, 0);
}

static void test_empty_text_allows_no_byte(void **state)
{
	struct bench_stream s = { .msg = TEXT("") };
	struct bench_mismatch bad;

	assert_int_equal(bench_stream_feed(&s, TEXT("x"), 1, &bad), -EPROTO);
}

/* Echo: the expected bytes are the messages sent, stamps and all. */
static void test_echo_stream_in_odd_chunks(void **state)
{
	enum { SIZE = 37, N = 9 };
	uint8_t *f = filler_for(SIZE), sent[SIZE * N], expect[SIZE];
	struct bench_stream s = { .msg = expect, .len = SIZE, .conn_id = 5, .echo = true, .filler = f };
	struct bench_mismatch bad;
	ssize_t done = 0;
	size_t off = 0, chunk = 1;

	for (int i = 0; i < N; i++)
		bench_msg_fill(sent + i * SIZE, SIZE, 5, (uint64_t)i, f);
	while (off < sizeof(sent)) {
		size_t n = chunk < sizeof(sent) - off ? chunk : sizeof(sent) - off;
		ssize_t r = bench_stream_feed(&s, sent + off, n, N - (uint64_t)done, &bad);

		assert_true(r >= 0);
		done += r;
		off += n;
		chunk = chunk * 3 % 50 + 1;
	}
	assert_int_equal(done, N);
	free(f);
}

static void test_echo_catches_reordering_and_strangers(void **state)
{
	enum { SIZE = 32 };
	uint8_t *f = filler_for(SIZE), a[SIZE], b[SIZE], expect[SIZE];
	struct bench_stream s = { .msg = expect, .len = SIZE, .conn_id = 1, .echo = true, .filler = f };
	struct bench_mismatch bad;

	/* Message 1 arriving where message 0 belongs. */
	bench_msg_fill(a, SIZE, 1, 1, f);
	assert_int_equal(bench_stream_feed(&s, a, SIZE, 2, &bad), -EBADMSG);
	assert_int_equal(bad.seq, 0);
	assert_int_equal(bad.pos, 15);	/* the last stamp digit */
	/* Another connection's message 0. */
	s = (struct bench_stream){ .msg = expect, .len = SIZE, .conn_id = 1, .echo = true, .filler = f };
	bench_msg_fill(b, SIZE, 2, 0, f);
	assert_int_equal(bench_stream_feed(&s, b, SIZE, 2, &bad), -EBADMSG);
	free(f);
}

static void test_escape_keeps_text_and_quotes_the_rest(void **state)
{
	char out[64];

	bench_escape(TEXT("ACK\r\n"), out, sizeof(out));
	assert_string_equal(out, "ACK\\x0d\\x0a");
	bench_escape(TEXT("服务器\x01\\"), out, sizeof(out));
	assert_string_equal(out, "服务器\\x01\\\\");
	/* A lone lead byte, an overlong and a C1 control are bytes, not text. */
	bench_escape(TEXT("\xe6\x9c" "A\xc0\xaf\xc2\x85"), out, sizeof(out));
	assert_string_equal(out, "\\xe6\\x9cA\\xc0\\xaf\\xc2\\x85");
	bench_escape(TEXT("abcdefghijklmnop"), out, 12);
	assert_string_equal(out, "abcdefgh...");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_message_is_one_line_of_size),
		cmocka_unit_test(test_stamps_tell_messages_apart),
		cmocka_unit_test(test_fixed_text_one_byte_at_a_time),
		cmocka_unit_test(test_fixed_text_all_at_once),
		cmocka_unit_test(test_more_replies_than_asked_for),
		cmocka_unit_test(test_points_at_the_first_wrong_byte),
		cmocka_unit_test(test_empty_text_allows_no_byte),
		cmocka_unit_test(test_echo_stream_in_odd_chunks),
		cmocka_unit_test(test_echo_catches_reordering_and_strangers),
		cmocka_unit_test(test_escape_keeps_text_and_quotes_the_rest),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
