/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/**
 * tcpack_escape_decode() - decode C escapes of a reply text.
 * @in: NUL-terminated text; "\\r", "\\n", "\\t", "\\0", "\\\\", "\\\"" and
 *      "\\xNN" (exactly two hex digits) are decoded, every other byte is copied.
 * @out: receives the decoded bytes (not NUL-terminated).
 * @out_max: capacity of @out.
 *
 * Return: the decoded length, -EINVAL for an unknown or truncated escape,
 * -E2BIG when the decoded text exceeds @out_max. @out may be partly written
 * on failure.
 */
ssize_t tcpack_escape_decode(const char *in, uint8_t *out, size_t out_max);

/**
 * tcpack_escape_log() - make client bytes safe for one log line.
 * @in, @len: the bytes.
 * @out: receives NUL-terminated text.
 * @out_size: capacity of @out, at least 5; TCPACK_ESCAPE_SIZE(n) fits any n
 *            input bytes.
 *
 * Printable ASCII and well-formed UTF-8 (no overlongs, surrogates or C1
 * controls) are kept; a backslash becomes "\\\\"; every other byte becomes
 * "\\xNN". Escaping stops at a whole character when @out is full, so a log
 * line can never be split or forged by client data.
 *
 * Return: the number of input bytes represented in @out.
 */
#define TCPACK_ESCAPE_SIZE(n) ((n) * 4 + 1)
size_t tcpack_escape_log(const uint8_t *in, size_t len, char *out, size_t out_size);
