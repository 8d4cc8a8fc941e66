// SPDX-License-Identifier: MIT
/*
 * Line framing. TCP delivers bytes in arbitrary pieces, so the framer must
 * give the same messages however the input is cut; the reference framer
 * below works on the whole input at once and is the oracle for every cut.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <setjmp.h>
#include <cmocka.h>

#include "tcpack/line.h"

#define BYTES(s) (const uint8_t *)(s), sizeof(s) - 1
#define MAX_MSGS 32

struct framing {
	size_t n_msgs;
	size_t msg_len[MAX_MSGS];
	size_t msg_end[MAX_MSGS];	/* input offset just past the '\n' */
	bool too_long;
	size_t err_at;			/* offset of the byte that proved it */
};

/*
 * The obvious framer: a line's content is everything before '\n', less one
 * '\r' right before it. A line is known too long at the first byte that
 * makes its content exceed max + 1, or reach max + 1 with a byte that is
 * not '\r' (a trailing '\r' could still be part of "\r\n").
 */
static void reference_frame(const uint8_t *in, size_t len, size_t max, struct framing *f)
{
	size_t start = 0;

	memset(f, 0, sizeof(*f));
	for (size_t i = 0; i < len; i++) {
		size_t so_far = i - start + 1;

		if (in[i] == '\n') {
			size_t m = i - start;

			if (m > 0 && in[i - 1] == '\r')
				m--;
			assert_true(m <= max);
			assert_true(f->n_msgs < MAX_MSGS);
			f->msg_len[f->n_msgs] = m;
			f->msg_end[f->n_msgs++] = i + 1;
			start = i + 1;
		} else if (so_far > max + 1 || (so_far == max + 1 && in[i] != '\r')) {
			f->too_long = true;
			f->err_at = i;
			return;
		}
	}
}

/*
 * Feed @in in pieces ending at @cuts (ascending, the last one == len),
 * calling tcpack_line_feed() on each remainder until it asks for more.
 */
static void feed_in_pieces(const uint8_t *in, size_t len, size_t max, const size_t *cuts,
			   size_t n_cuts, struct framing *f)
{
	struct tcpack_line l = { 0 };
	size_t off = 0;

	memset(f, 0, sizeof(*f));
	for (size_t c = 0; c < n_cuts; c++) {
		size_t end = cuts[c];

		for (;;) {
			size_t msg_len = (size_t)-1;
			ssize_t r = tcpack_line_feed(&l, in + off, end - off, max, &msg_len);

			if (r == -EAGAIN) {
				off = end;
				break;
			}
			if (r == -EMSGSIZE) {
				f->too_long = true;
				/* Reported by the call whose bytes proved it. */
				f->err_at = off;
				return;
			}
			assert_true(r > 0);
			assert_true((size_t)r <= end - off);
			assert_int_equal(in[off + (size_t)r - 1], '\n');
			assert_int_equal(tcpack_line_pending(&l), 0);
			assert_true(f->n_msgs < MAX_MSGS);
			f->msg_len[f->n_msgs] = msg_len;
			off += (size_t)r;
			f->msg_end[f->n_msgs++] = off;
		}
	}
}

static void assert_same_framing(const struct framing *want, const struct framing *got,
				const size_t *cuts, size_t n_cuts)
{
	assert_int_equal(got->n_msgs, want->n_msgs);
	for (size_t i = 0; i < want->n_msgs; i++) {
		assert_int_equal(got->msg_len[i], want->msg_len[i]);
		assert_int_equal(got->msg_end[i], want->msg_end[i]);
	}
	assert_int_equal(got->too_long, want->too_long);
	if (!want->too_long)
		return;
	/*
	 * "As soon as known": the failing call's bytes hold the byte that
	 * proved the line too long; got->err_at is where that call started.
	 */
	assert_true(got->err_at <= want->err_at);
	for (size_t c = 0; c < n_cuts; c++) {
		if (cuts[c] > got->err_at) {
			assert_true(want->err_at < cuts[c]);
			break;
		}
	}
}

static const struct {
	const char *s;
	size_t len;
} inputs[] = {
#define IN(s) { s, sizeof(s) - 1 }
	IN(""),
	IN("\n"),
	IN("\r\n"),
	IN("a\n"),
	IN("abc"),
	IN("\r"),
	IN("abc\r\n"),
	IN("a\rb\n"),
	IN("\r\r\n"),
	IN("\n\n\n"),
	IN("\r\n\r\n"),
	IN("ab\ncd\r\nef\n"),
	IN("a\0\0b\n\0\n"),
	IN("x\r\ry\n"),
	IN("abcd\r\n"),
	IN("abcd\rx\n"),
	IN("abcde\n"),
	IN("abcd\r\r\n"),
	IN("12345678\r\n1\n"),
	IN("\xff\r\x00\n\r\r\r\n"),
	IN("aaaa\nbbbbb\n"),
	IN("\r\r\r\r\r\n"),
#undef IN
};

static const size_t maxes[] = { 0, 1, 2, 3, 4, 5, 8, 64 };

/* Run @check on every input with every max. */
static void for_each_case(void (*check)(const uint8_t *in, size_t len, size_t max))
{
	for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
		for (size_t m = 0; m < sizeof(maxes) / sizeof(maxes[0]); m++) {
			print_message("input %zu, max %zu\n", i, maxes[m]);
			check((const uint8_t *)inputs[i].s, inputs[i].len, maxes[m]);
		}
	}
}

static void check_whole(const uint8_t *in, size_t len, size_t max)
{
	struct framing want, got;
	size_t cut = len;

	reference_frame(in, len, max, &want);
	feed_in_pieces(in, len, max, &cut, 1, &got);
	assert_same_framing(&want, &got, &cut, 1);
}

static void check_every_split(const uint8_t *in, size_t len, size_t max)
{
	struct framing want, got;

	reference_frame(in, len, max, &want);
	/* Two pieces, the first possibly empty ... */
	for (size_t a = 0; a <= len; a++) {
		size_t cuts[] = { a, len };

		feed_in_pieces(in, len, max, cuts, 2, &got);
		assert_same_framing(&want, &got, cuts, 2);
	}
	/* ... and three. */
	for (size_t a = 0; a <= len; a++) {
		for (size_t b = a; b <= len; b++) {
			size_t cuts[] = { a, b, len };

			feed_in_pieces(in, len, max, cuts, 3, &got);
			assert_same_framing(&want, &got, cuts, 3);
		}
	}
}

static void check_bytewise(const uint8_t *in, size_t len, size_t max)
{
	struct framing want, got;
	size_t cuts[32];

	assert_true(len < 32);
	for (size_t i = 0; i < len; i++)
		cuts[i] = i + 1;
	reference_frame(in, len, max, &want);
	feed_in_pieces(in, len, max, cuts, len, &got);
	assert_same_framing(&want, &got, cuts, len);
}

static void test_line_whole_input_matches_reference(void **state)
{
	for_each_case(check_whole);
}

static void test_line_split_at_every_boundary_matches_reference(void **state)
{
	for_each_case(check_every_split);
}

static void test_line_one_byte_at_a_time_matches_reference(void **state)
{
	for_each_case(check_bytewise);
}

static void test_line_simple(void **state)
{
	struct tcpack_line l = { 0 };
	size_t msg_len = 0;

	assert_int_equal(tcpack_line_feed(&l, BYTES("hello\n"), 1024, &msg_len), 6);
	assert_int_equal(msg_len, 5);
	assert_int_equal(tcpack_line_pending(&l), 0);
}

static void test_line_crlf_ending_excluded_from_length(void **state)
{
	struct tcpack_line l = { 0 };
	size_t msg_len = 0;

	assert_int_equal(tcpack_line_feed(&l, BYTES("hello\r\n"), 1024, &msg_len), 7);
	assert_int_equal(msg_len, 5);
	assert_int_equal(tcpack_line_pending(&l), 0);
}

static void test_line_empty(void **state)
{
	struct tcpack_line l = { 0 };
	size_t msg_len = 99;

	assert_int_equal(tcpack_line_feed(&l, BYTES("\n"), 1024, &msg_len), 1);
	assert_int_equal(msg_len, 0);
	msg_len = 99;
	assert_int_equal(tcpack_line_feed(&l, BYTES("\r\n"), 1024, &msg_len), 2);
	assert_int_equal(msg_len, 0);
	/* max 0 allows exactly the empty line. */
	assert_int_equal(tcpack_line_feed(&l, BYTES("\r\n"), 0, &msg_len), 2);
	assert_int_equal(msg_len, 0);
}

static void test_line_several_in_one_buffer(void **state)
{
	static const uint8_t buf[] = "a\nbb\r\n\ncccc\ndd";
	static const size_t want_len[] = { 1, 2, 0, 4 };
	static const ssize_t want_used[] = { 2, 4, 1, 5 };
	struct tcpack_line l = { 0 };
	size_t off = 0, len = sizeof(buf) - 1;

	for (size_t i = 0; i < 4; i++) {
		size_t msg_len = 0;

		assert_int_equal(tcpack_line_feed(&l, buf + off, len - off, 1024, &msg_len),
				 want_used[i]);
		assert_int_equal(msg_len, want_len[i]);
		off += (size_t)want_used[i];
	}
	assert_int_equal(tcpack_line_feed(&l, buf + off, len - off, 1024, &(size_t){ 0 }),
			 -EAGAIN);
	assert_int_equal(tcpack_line_pending(&l), 2);
}

static void test_line_resumes_across_calls(void **state)
{
	struct tcpack_line l = { 0 };
	size_t msg_len = 0;

	assert_int_equal(tcpack_line_feed(&l, BYTES("hel"), 1024, &msg_len), -EAGAIN);
	assert_int_equal(tcpack_line_pending(&l), 3);
	assert_int_equal(tcpack_line_feed(&l, BYTES(""), 1024, &msg_len), -EAGAIN);
	assert_int_equal(tcpack_line_pending(&l), 3);
	assert_int_equal(tcpack_line_feed(&l, BYTES("lo\r"), 1024, &msg_len), -EAGAIN);
	/* The '\r' is held as content until the next byte decides. */
	assert_int_equal(tcpack_line_pending(&l), 6);
	assert_int_equal(tcpack_line_feed(&l, BYTES("\nnext"), 1024, &msg_len), 1);
	assert_int_equal(msg_len, 5);
	assert_int_equal(tcpack_line_pending(&l), 0);
}

static void test_line_binary_bytes_and_bare_cr_are_content(void **state)
{
	struct tcpack_line l = { 0 };
	size_t msg_len = 0;

	assert_int_equal(tcpack_line_feed(&l, BYTES("a\0b\rc\xff\n"), 1024, &msg_len), 7);
	assert_int_equal(msg_len, 6);

	/* A '\r' that ended one call but not the line. */
	assert_int_equal(tcpack_line_feed(&l, BYTES("ab\r"), 1024, &msg_len), -EAGAIN);
	assert_int_equal(tcpack_line_feed(&l, BYTES("c\n"), 1024, &msg_len), 2);
	assert_int_equal(msg_len, 4);

	/* Only the last '\r' belongs to the ending. */
	assert_int_equal(tcpack_line_feed(&l, BYTES("\r\r\n"), 1024, &msg_len), 3);
	assert_int_equal(msg_len, 1);
}

static void feed_bytewise(struct tcpack_line *l, const uint8_t *buf, size_t len, size_t max,
			  ssize_t *ret_last, size_t *ret_at, size_t *ret_msg_len)
{
	for (size_t i = 0; i < len; i++) {
		ssize_t r = tcpack_line_feed(l, buf + i, 1, max, ret_msg_len);

		if (r != -EAGAIN || i == len - 1) {
			*ret_last = r;
			*ret_at = i;
			return;
		}
	}
}

#define MAX 8

static void test_line_exactly_max_is_allowed(void **state)
{
	struct tcpack_line l = { 0 };
	size_t msg_len = 0, at = 0;
	ssize_t r = 0;

	assert_int_equal(tcpack_line_feed(&l, BYTES("12345678\r\n"), MAX, &msg_len), 10);
	assert_int_equal(msg_len, MAX);
	assert_int_equal(tcpack_line_feed(&l, BYTES("12345678\n"), MAX, &msg_len), 9);
	assert_int_equal(msg_len, MAX);

	feed_bytewise(&l, BYTES("12345678\r\n"), MAX, &r, &at, &msg_len);
	assert_int_equal(r, 1);
	assert_int_equal(at, 9);
	assert_int_equal(msg_len, MAX);
	feed_bytewise(&l, BYTES("12345678\n"), MAX, &r, &at, &msg_len);
	assert_int_equal(r, 1);
	assert_int_equal(at, 8);
	assert_int_equal(msg_len, MAX);
}

static void test_line_max_plus_one_is_rejected(void **state)
{
	struct tcpack_line l = { 0 };
	size_t msg_len = 0, at = 0;
	ssize_t r = 0;

	assert_int_equal(tcpack_line_feed(&l, BYTES("123456789\n"), MAX, &msg_len), -EMSGSIZE);
	memset(&l, 0, sizeof(l));
	assert_int_equal(tcpack_line_feed(&l, BYTES("123456789\r\n"), MAX, &msg_len), -EMSGSIZE);
	memset(&l, 0, sizeof(l));
	/* No newline yet: max + 1 content bytes are enough to know. */
	assert_int_equal(tcpack_line_feed(&l, BYTES("123456789"), MAX, &msg_len), -EMSGSIZE);
	memset(&l, 0, sizeof(l));

	/* Byte by byte: rejected at the ninth byte, not later. */
	feed_bytewise(&l, BYTES("123456789\n"), MAX, &r, &at, &msg_len);
	assert_int_equal(r, -EMSGSIZE);
	assert_int_equal(at, 8);
	memset(&l, 0, sizeof(l));
	feed_bytewise(&l, BYTES("123456789\r\n"), MAX, &r, &at, &msg_len);
	assert_int_equal(r, -EMSGSIZE);
	assert_int_equal(at, 8);
	memset(&l, 0, sizeof(l));

	/* A line that started in an earlier call counts whole. */
	assert_int_equal(tcpack_line_feed(&l, BYTES("12345"), MAX, &msg_len), -EAGAIN);
	assert_int_equal(tcpack_line_feed(&l, BYTES("6789\n"), MAX, &msg_len), -EMSGSIZE);
}

static void test_line_cr_past_max_then_other_byte_is_rejected(void **state)
{
	struct tcpack_line l = { 0 };
	size_t msg_len = 0, at = 0;
	ssize_t r = 0;

	/* A '\r' at max + 1 may still be the ending ... */
	assert_int_equal(tcpack_line_feed(&l, BYTES("12345678\r"), MAX, &msg_len), -EAGAIN);
	assert_int_equal(tcpack_line_pending(&l), MAX + 1);
	/* ... until the next byte is not '\n'. */
	assert_int_equal(tcpack_line_feed(&l, BYTES("x"), MAX, &msg_len), -EMSGSIZE);
	memset(&l, 0, sizeof(l));

	assert_int_equal(tcpack_line_feed(&l, BYTES("12345678\rx\n"), MAX, &msg_len), -EMSGSIZE);
	memset(&l, 0, sizeof(l));
	assert_int_equal(tcpack_line_feed(&l, BYTES("12345678\r\r\n"), MAX, &msg_len), -EMSGSIZE);
	memset(&l, 0, sizeof(l));

	feed_bytewise(&l, BYTES("12345678\r\r"), MAX, &r, &at, &msg_len);
	assert_int_equal(r, -EMSGSIZE);
	assert_int_equal(at, 9);
}

static void test_line_state_reusable_after_zeroing(void **state)
{
	struct tcpack_line l = { 0 };
	size_t msg_len = 0;

	assert_int_equal(tcpack_line_feed(&l, BYTES("123456789"), MAX, &msg_len), -EMSGSIZE);
	memset(&l, 0, sizeof(l));
	assert_int_equal(tcpack_line_pending(&l), 0);
	assert_int_equal(tcpack_line_feed(&l, BYTES("ok\n"), MAX, &msg_len), 3);
	assert_int_equal(msg_len, 2);
}

static void test_line_pending_counts_unfinished_bytes(void **state)
{
	struct tcpack_line l = { 0 };
	size_t msg_len = 0;

	assert_int_equal(tcpack_line_pending(&l), 0);
	for (size_t i = 1; i <= 5; i++) {
		assert_int_equal(tcpack_line_feed(&l, BYTES("z"), 1024, &msg_len), -EAGAIN);
		assert_int_equal(tcpack_line_pending(&l), i);
	}
	assert_int_equal(tcpack_line_feed(&l, BYTES("\n"), 1024, &msg_len), 1);
	assert_int_equal(msg_len, 5);
	assert_int_equal(tcpack_line_pending(&l), 0);
	/* Bytes after the '\n' are not taken in. */
	assert_int_equal(tcpack_line_feed(&l, BYTES("a\nbcd"), 1024, &msg_len), 2);
	assert_int_equal(tcpack_line_pending(&l), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_line_simple),
		cmocka_unit_test(test_line_crlf_ending_excluded_from_length),
		cmocka_unit_test(test_line_empty),
		cmocka_unit_test(test_line_several_in_one_buffer),
		cmocka_unit_test(test_line_resumes_across_calls),
		cmocka_unit_test(test_line_binary_bytes_and_bare_cr_are_content),
		cmocka_unit_test(test_line_exactly_max_is_allowed),
		cmocka_unit_test(test_line_max_plus_one_is_rejected),
		cmocka_unit_test(test_line_cr_past_max_then_other_byte_is_rejected),
		cmocka_unit_test(test_line_state_reusable_after_zeroing),
		cmocka_unit_test(test_line_pending_counts_unfinished_bytes),
		cmocka_unit_test(test_line_whole_input_matches_reference),
		cmocka_unit_test(test_line_split_at_every_boundary_matches_reference),
		cmocka_unit_test(test_line_one_byte_at_a_time_matches_reference),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
