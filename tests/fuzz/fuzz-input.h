/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Taking a fuzzer's input apart: parameters and choices are read from the
 * front of the data as it goes, and running out of data reads zeroes, so
 * every input, however short, is a valid program for the target.
 *
 * FUZZ_ASSERT() stays on in every build type: a broken invariant must crash
 * the fuzzer (and so be saved as a crash), not be compiled away by NDEBUG.
 */

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define FUZZ_ASSERT(cond) do { \
		if (!(cond)) { \
			fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, __LINE__, #cond); \
			abort(); \
		} \
	} while (0)

struct fuzz_input {
	const uint8_t *data;
	size_t len;
};

static inline size_t fuzz_left(const struct fuzz_input *in)
{
	return in->len;
}

static inline uint8_t fuzz_u8(struct fuzz_input *in)
{
	uint8_t b;

	if (!in->len)
		return 0;
	b = in->data[0];
	in->data++;
	in->len--;
	return b;
}

static inline uint16_t fuzz_u16(struct fuzz_input *in)
{
	uint16_t lo = fuzz_u8(in);

	return (uint16_t)(lo | fuzz_u8(in) << 8);
}

/*
 * Up to @want bytes from the front, copied into a buffer of exactly their
 * size so that AddressSanitizer sees any read past the end.
 * @ret_len: how many there were. Free the result.
 */
static inline uint8_t *fuzz_bytes(struct fuzz_input *in, size_t want, size_t *ret_len)
{
	size_t n = want < in->len ? want : in->len;
	uint8_t *p = malloc(n ? n : 1);

	FUZZ_ASSERT(p);
	for (size_t i = 0; i < n; i++)
		p[i] = in->data[i];
	in->data += n;
	in->len -= n;
	*ret_len = n;
	return p;
}
