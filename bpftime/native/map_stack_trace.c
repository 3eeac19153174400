/* stack_trace maps: id = hash of the instruction pointers modulo a power-of-two
 * bucket count; each bucket holds one trace (u32 nr, u32 hash, u64 ips[]). */
#include <errno.h>

#include "lock.h"
#include "map.h"

#define BPF_F_FAST_STACK_CMP (1u << 9)
#define BPF_F_REUSE_STACKID (1u << 10)

struct trace_bucket {
    uint32_t nr; /* 0: empty */
    uint32_t hash;
    uint64_t ips[];
};

static uint32_t pow2_at_least(uint32_t n)
{
    uint32_t p = 1;
    while (p < n)
        p <<= 1;
    return p;
}

uint64_t stack_trace_size(uint32_t value_size, uint32_t max)
{
    return BPFTIME_MAP_DATA + (uint64_t)pow2_at_least(max) * (8 + value_size);
}

void stack_trace_init(struct bpftime_map *m)
{
    m->u.st.nbuckets = pow2_at_least(m->max_entries);
    m->u.st.bucket_size = 8 + m->value_size;
}

static struct trace_bucket *bucket(struct bpftime_map *m, uint32_t id)
{
    return (struct trace_bucket *)((char *)map_data(m) + (uint64_t)id * m->u.st.bucket_size);
}

/* The ips of trace `key` (value_size bytes, zero-padded), NULL if empty. */
void *stack_trace_lookup(struct bpftime_map *m, const void *key)
{
    uint32_t id = *(const uint32_t *)key;
    if (id >= m->u.st.nbuckets)
        return NULL;
    struct trace_bucket *b = bucket(m, id);
    return __atomic_load_n(&b->nr, __ATOMIC_ACQUIRE) ? b->ips : NULL;
}

int stack_trace_delete(struct bpftime_map *m, const void *key)
{
    uint32_t id = *(const uint32_t *)key;
    if (id >= m->u.st.nbuckets)
        return -ENOENT;
    struct trace_bucket *b = bucket(m, id);
    bpftime_lock(&m->lock);
    int r = b->nr ? 0 : -ENOENT;
    b->nr = 0;
    bpftime_unlock(&m->lock);
    return r;
}

int stack_trace_next_key(struct bpftime_map *m, const void *key, void *next)
{
    uint32_t id = key ? *(const uint32_t *)key + 1 : 0;
    if (key && *(const uint32_t *)key >= m->u.st.nbuckets)
        id = 0;
    for (; id < m->u.st.nbuckets; id++)
        if (__atomic_load_n(&bucket(m, id)->nr, __ATOMIC_ACQUIRE)) {
            *(uint32_t *)next = id;
            return 0;
        }
    return -ENOENT;
}

/* Stores a trace of `nr` ips: its id, or -EEXIST when its bucket holds another trace
 * and BPF_F_REUSE_STACKID is not set, -EFAULT for an empty trace. */
int64_t stack_trace_store(struct bpftime_map *m, const uint64_t *ips, uint32_t nr, uint64_t flags)
{
    uint32_t depth = m->value_size / 8;
    if (nr > depth)
        nr = depth;
    if (nr == 0)
        return -EFAULT;
    uint32_t hash = 2166136261u;
    for (uint32_t i = 0; i < nr; i++)
        for (int s = 0; s < 64; s += 8)
            hash = (hash ^ (uint8_t)(ips[i] >> s)) * 16777619u;
    uint32_t id = hash & (m->u.st.nbuckets - 1);
    struct trace_bucket *b = bucket(m, id);
    int64_t r = id;
    bpftime_lock(&m->lock);
    if (b->nr) {
        int same = b->hash == hash && b->nr == nr;
        if (same && !(flags & BPF_F_FAST_STACK_CMP))
            for (uint32_t i = 0; i < nr && same; i++)
                same = b->ips[i] == ips[i];
        if (!same && !(flags & BPF_F_REUSE_STACKID))
            r = -EEXIST;
        else if (same)
            nr = 0; /* already stored */
    }
    if (r >= 0 && nr) {
        for (uint32_t i = 0; i < depth; i++)
            b->ips[i] = i < nr ? ips[i] : 0;
        b->hash = hash;
        __atomic_store_n(&b->nr, nr, __ATOMIC_RELEASE);
    }
    bpftime_unlock(&m->lock);
    return r;
}
