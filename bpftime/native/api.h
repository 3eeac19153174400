/* Shared definitions of the native runtime: export macro, region offsets, small
 * memory routines that never touch vector registers (the helper and map paths run
 * inside host threads whose vector registers nobody saved). */
#ifndef BPFTIME_API_H
#define BPFTIME_API_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#define BPFTIME_API __attribute__((visibility("default")))
#define BPFTIME_HIDDEN __attribute__((visibility("hidden")))

/* Address of the object `off` bytes from `base` (offsets are how the shared region
 * refers to itself: every process maps it at a different address). */
static inline void *bpftime_at(const void *base, uint64_t off)
{
    return (char *)base + off;
}

/* The page size (4096 if sysconf cannot tell). */
static inline uint64_t bpftime_page_size(void)
{
    long page = sysconf(_SC_PAGESIZE);
    return page > 0 ? (uint64_t)page : 4096;
}

/* `clock` in nanoseconds, 0 if it cannot be read. */
static inline uint64_t bpftime_clock_ns(clockid_t clock)
{
    struct timespec ts;
    if (clock_gettime(clock, &ts) != 0)
        return 0;
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* `n` rounded up to a whole number of pages. */
static inline uint64_t bpftime_page_round(uint64_t n)
{
    uint64_t page = bpftime_page_size();
    return (n + page - 1) & ~(page - 1);
}

static inline uint64_t bpftime_align8(uint64_t n) { return (n + 7) & ~(uint64_t)7; }

/* A u64 that may alias any other type (word-wise copies of arbitrary data). */
typedef uint64_t __attribute__((may_alias)) bpftime_word;

/* Byte copy/fill loops: -fno-tree-loop-distribute-patterns (setup.py) keeps the
 * compiler from turning them back into calls to libc's SSE/AVX memcpy/memset. */
static inline void bpftime_copy(void *dst, const void *src, size_t n)
{
    unsigned char *d = dst;
    const unsigned char *s = src;
    if ((((uintptr_t)d | (uintptr_t)s | n) & 7) == 0) {
        for (size_t i = 0; i < n; i += 8)
            *(bpftime_word *)(d + i) = *(const bpftime_word *)(s + i);
        return;
    }
    for (size_t i = 0; i < n; i++)
        d[i] = s[i];
}

static inline void bpftime_zero(void *dst, size_t n)
{
    unsigned char *d = dst;
    if ((((uintptr_t)d | n) & 7) == 0) {
        for (size_t i = 0; i < n; i += 8)
            *(bpftime_word *)(d + i) = 0;
        return;
    }
    for (size_t i = 0; i < n; i++)
        d[i] = 0;
}

static inline int bpftime_equal(const void *a, const void *b, size_t n)
{
    const unsigned char *x = a, *y = b;
    for (size_t i = 0; i < n; i++)
        if (x[i] != y[i])
            return 0;
    return 1;
}

#endif
