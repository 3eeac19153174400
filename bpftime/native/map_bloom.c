/* bloom_filter maps: a bit array set and tested with nr_hashes seeded hashes
 * (map_extra & 0xf, 5 when 0), sized as the kernel does. No false negatives. */
#include <errno.h>

#include "map.h"

static uint32_t nr_hashes(uint64_t extra)
{
    uint32_t n = (uint32_t)(extra & 0xf);
    return n ? n : 5;
}

static uint64_t nr_bits(uint32_t max, uint64_t extra)
{
    /* max * hashes / ln(2), rounded up to a power of two (at least 64) */
    uint64_t want = (uint64_t)max * nr_hashes(extra) * 10000 / 6931 + 1;
    uint64_t bits = 64;
    while (bits < want)
        bits <<= 1;
    return bits;
}

uint64_t bloom_size(uint32_t max, uint64_t extra)
{
    return BPFTIME_MAP_DATA + nr_bits(max, extra) / 8;
}

void bloom_init(struct bpftime_map *m)
{
    m->u.bloom.nr_hashes = nr_hashes(m->map_extra);
    m->u.bloom.bit_mask = nr_bits(m->max_entries, m->map_extra) - 1;
}

static uint64_t bit_of(struct bpftime_map *m, const void *value, uint32_t seed)
{
    const unsigned char *p = value;
    uint64_t h = 1469598103934665603ull ^ ((uint64_t)seed * 0x9e3779b97f4a7c15ull);
    for (uint32_t i = 0; i < m->value_size; i++)
        h = (h ^ p[i]) * 1099511628211ull;
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 32;
    return h & m->u.bloom.bit_mask;
}

int bloom_push(struct bpftime_map *m, const void *value, uint64_t flags)
{
    if (flags != F_ANY)
        return -EINVAL;
    uint64_t *bits = map_data(m);
    for (uint32_t i = 0; i < m->u.bloom.nr_hashes; i++) {
        uint64_t b = bit_of(m, value, i);
        __atomic_fetch_or(&bits[b / 64], 1ull << (b % 64), __ATOMIC_RELAXED);
    }
    return 0;
}

/* 0 if the value may be in the set, -ENOENT if it certainly is not. */
int bloom_peek(struct bpftime_map *m, const void *value)
{
    const uint64_t *bits = map_data(m);
    for (uint32_t i = 0; i < m->u.bloom.nr_hashes; i++) {
        uint64_t b = bit_of(m, value, i);
        if (!(__atomic_load_n(&bits[b / 64], __ATOMIC_RELAXED) & (1ull << (b % 64))))
            return -ENOENT;
    }
    return 0;
}
