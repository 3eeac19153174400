/* The kernel's bpf_trace_printk / bpf_snprintf format subset, formatted without
 * libc (no vector registers): %d %i %u %x %X %c %s %p (%px %pK) %%, with flags
 * "-0+ #", a width, an optional precision and the l / ll length modifiers
 * (without one, numbers are 32-bit as in the kernel). %s reads its string safely. */
#ifndef BPFTIME_FORMAT_H
#define BPFTIME_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#include "api.h"

/* Formats into out (cap bytes, always NUL-terminated when cap > 0): the length the
 * whole text has (without NUL), or -EINVAL for an unsupported conversion or more
 * conversions than nargs. */
BPFTIME_HIDDEN int64_t bpftime_format(char *out, size_t cap, const char *fmt, const uint64_t *args,
                                      size_t nargs);

#endif
