/* lpm_trie maps: (prefixlen, data) keys matched by longest prefix. Entries are kept
 * in a preallocated table scanned under the map lock: exact semantics, O(n) cost. */
#include <errno.h>

#include "lock.h"
#include "map.h"

struct lpm_entry {
    uint32_t used;
    uint32_t pad;
    uint32_t prefixlen; /* the key: prefixlen, then data masked to prefixlen bits */
    uint8_t data[];
};

/* Bytes of an entry: used, pad, the key (8-aligned), the value. */
static uint64_t entry_size(uint32_t key_size, uint32_t stride)
{
    return 8 + bpftime_align8(key_size) + stride;
}

uint64_t lpm_size(uint32_t key_size, uint32_t stride, uint32_t max)
{
    return BPFTIME_MAP_DATA + (uint64_t)max * entry_size(key_size, stride);
}

static struct lpm_entry *entry(struct bpftime_map *m, uint32_t i)
{
    return (struct lpm_entry *)((char *)map_data(m) + i * entry_size(m->key_size, m->value_stride));
}

static void *entry_value(struct bpftime_map *m, struct lpm_entry *e)
{
    return (char *)e + 8 + bpftime_align8(m->key_size);
}

/* Whether the first `bits` bits of a and b agree. */
static int prefix_equal(const uint8_t *a, const uint8_t *b, uint32_t bits)
{
    uint32_t bytes = bits / 8;
    for (uint32_t i = 0; i < bytes; i++)
        if (a[i] != b[i])
            return 0;
    if (bits % 8) {
        uint8_t mask = (uint8_t)(0xff << (8 - bits % 8));
        if ((a[bytes] ^ b[bytes]) & mask)
            return 0;
    }
    return 1;
}

static uint32_t max_bits(struct bpftime_map *m) { return (m->key_size - 4) * 8; }

/* Index + 1 of the entry equal to key (exact) or of the longest prefix matching it. */
static uint32_t search(struct bpftime_map *m, const void *key, int exact)
{
    uint32_t plen = *(const uint32_t *)key;
    const uint8_t *data = (const uint8_t *)key + 4;
    uint32_t best = 0, best_len = 0;
    for (uint32_t i = 0; i < m->max_entries; i++) {
        struct lpm_entry *e = entry(m, i);
        if (!e->used || e->prefixlen > plen)
            continue;
        if (exact && e->prefixlen != plen)
            continue;
        if (!prefix_equal(e->data, data, e->prefixlen))
            continue;
        if (!best || e->prefixlen > best_len) {
            best = i + 1;
            best_len = e->prefixlen;
        }
    }
    return best;
}

void *lpm_lookup(struct bpftime_map *m, const void *key, int exact)
{
    if (*(const uint32_t *)key > max_bits(m))
        return NULL;
    bpftime_lock(&m->lock);
    uint32_t i = search(m, key, exact);
    bpftime_unlock(&m->lock);
    return i ? entry_value(m, entry(m, i - 1)) : NULL;
}

int lpm_update(struct bpftime_map *m, const void *key, const void *value, uint64_t flags)
{
    uint32_t plen = *(const uint32_t *)key;
    if (flags > F_EXIST || plen > max_bits(m))
        return -EINVAL;
    int r = 0;
    bpftime_lock(&m->lock);
    uint32_t i = search(m, key, 1);
    if (i && flags == F_NOEXIST)
        r = -EEXIST;
    else if (!i && flags == F_EXIST)
        r = -ENOENT;
    for (uint32_t j = 0; !r && !i && j < m->max_entries; j++)
        if (!entry(m, j)->used)
            i = j + 1;
    if (!r && !i)
        r = -ENOSPC;
    if (!r) {
        struct lpm_entry *e = entry(m, i - 1);
        const uint8_t *data = (const uint8_t *)key + 4;
        e->prefixlen = plen;
        for (uint32_t b = 0; b < m->key_size - 4; b++) {
            uint32_t keep = plen >= (b + 1) * 8 ? 8 : plen > b * 8 ? plen - b * 8 : 0;
            e->data[b] = keep ? (uint8_t)(data[b] & (0xff << (8 - keep))) : 0;
        }
        bpftime_copy(entry_value(m, e), value, m->value_size);
        e->used = 1;
    }
    bpftime_unlock(&m->lock);
    return r;
}

int lpm_delete(struct bpftime_map *m, const void *key)
{
    if (*(const uint32_t *)key > max_bits(m))
        return -EINVAL;
    bpftime_lock(&m->lock);
    uint32_t i = search(m, key, 1);
    if (i)
        entry(m, i - 1)->used = 0;
    bpftime_unlock(&m->lock);
    return i ? 0 : -ENOENT;
}

int lpm_next_key(struct bpftime_map *m, const void *key, void *next)
{
    uint32_t from = 0;
    if (key && *(const uint32_t *)key <= max_bits(m)) {
        bpftime_lock(&m->lock);
        from = search(m, key, 1);
        bpftime_unlock(&m->lock);
    }
    for (uint32_t j = from; j < m->max_entries; j++) {
        struct lpm_entry *e = entry(m, j);
        if (e->used) {
            bpftime_copy(next, &e->prefixlen, m->key_size);
            return 0;
        }
    }
    return -ENOENT;
}
