/* Map, ring buffer and perf event helpers (the program's side of map.c). */
#include <errno.h>

#include "helpers.h"
#include "map.h"

#define BPF_F_CURRENT_CPU 0xffffffffull
#define BPF_RB_WAKEUP_FLAGS 3ull /* BPF_RB_NO_WAKEUP | BPF_RB_FORCE_WAKEUP */

#define MAP(r) ((struct bpftime_map *)(uintptr_t)(r))

HELPER(map_lookup_elem)
{
    struct bpftime_map *m = MAP(r1);
    switch (m->type) {
    case MAP_ARRAY:
    case MAP_PERCPU_ARRAY:
        return (uintptr_t)array_lookup(m, PTR(r2), 0);
    case MAP_HASH:
    case MAP_PERCPU_HASH:
    case MAP_LRU_HASH:
        return (uintptr_t)hash_lookup(m, PTR(r2), 0);
    case MAP_LPM_TRIE:
        return (uintptr_t)lpm_lookup(m, PTR(r2), 0);
    }
    return 0;
}

HELPER(map_update_elem)
{
    struct bpftime_map *m = MAP(r1);
    switch (m->type) {
    case MAP_ARRAY:
    case MAP_PERCPU_ARRAY:
        return ERR(-array_update(m, PTR(r2), PTR(r3), r4, 0));
    case MAP_HASH:
    case MAP_PERCPU_HASH:
    case MAP_LRU_HASH:
        return ERR(-hash_update(m, PTR(r2), PTR(r3), r4, 0));
    case MAP_LPM_TRIE:
        return ERR(-lpm_update(m, PTR(r2), PTR(r3), r4));
    case MAP_QUEUE:
    case MAP_STACK:
        return ERR(-queue_push(m, PTR(r3), r4));
    case MAP_BLOOM_FILTER:
        return ERR(-bloom_push(m, PTR(r3), r4));
    }
    return ERR(EINVAL);
}

HELPER(map_delete_elem)
{
    struct bpftime_map *m = MAP(r1);
    switch (m->type) {
    case MAP_HASH:
    case MAP_PERCPU_HASH:
    case MAP_LRU_HASH:
        return ERR(-hash_delete(m, PTR(r2)));
    case MAP_LPM_TRIE:
        return ERR(-lpm_delete(m, PTR(r2)));
    }
    return ERR(EINVAL);
}

HELPER(map_push_elem)
{
    struct bpftime_map *m = MAP(r1);
    if (m->type == MAP_QUEUE || m->type == MAP_STACK)
        return ERR(-queue_push(m, PTR(r2), r3));
    if (m->type == MAP_BLOOM_FILTER)
        return ERR(-bloom_push(m, PTR(r2), r3));
    return ERR(EINVAL);
}

HELPER(map_pop_elem)
{
    struct bpftime_map *m = MAP(r1);
    if (m->type == MAP_QUEUE || m->type == MAP_STACK)
        return ERR(-queue_pop(m, PTR(r2), 1));
    return ERR(EINVAL);
}

HELPER(map_peek_elem)
{
    struct bpftime_map *m = MAP(r1);
    if (m->type == MAP_QUEUE || m->type == MAP_STACK)
        return ERR(-queue_pop(m, PTR(r2), 0));
    if (m->type == MAP_BLOOM_FILTER)
        return ERR(-bloom_peek(m, PTR(r2)));
    return ERR(EINVAL);
}

/* tail_call(ctx, prog_array, index): the target's entry address, 0 if none */
HELPER(tail_call)
{
    struct bpftime_map *m = MAP(r2);
    uint32_t index = (uint32_t)r3;
    if (m->type != MAP_PROG_ARRAY || index >= m->max_entries)
        return 0;
    return __atomic_load_n((uint64_t *)map_data(m) + index, __ATOMIC_ACQUIRE);
}

/* perf_event_output(ctx, map, flags, data, size) */
HELPER(perf_event_output)
{
    struct bpftime_map *m = MAP(r2);
    if (m->type != MAP_PERF_EVENT_ARRAY || (r3 >> 32))
        return ERR(EINVAL);
    uint64_t index = r3 & 0xffffffffull;
    if (index == BPF_F_CURRENT_CPU)
        index = bpftime_this_cpu(m->max_entries);
    if (index >= m->max_entries)
        return ERR(E2BIG);
    return ring_output(perf_ring(m, (uint32_t)index), PTR(r4), r5) ? ERR(ENOSPC) : 0;
}

/* ringbuf_output(map, data, size, flags) */
HELPER(ringbuf_output)
{
    struct bpftime_map *m = MAP(r1);
    if (m->type != MAP_RINGBUF || (r4 & ~BPF_RB_WAKEUP_FLAGS))
        return ERR(EINVAL);
    return ERR(-ring_output(&m->u.ring, PTR(r2), r3));
}

/* ringbuf_reserve(map, size, flags): the sample, or NULL */
HELPER(ringbuf_reserve)
{
    struct bpftime_map *m = MAP(r1);
    if (m->type != MAP_RINGBUF || r3)
        return 0;
    return (uintptr_t)ring_reserve(&m->u.ring, r2);
}

HELPER(ringbuf_submit)
{
    ring_commit(PTR(r1), 0);
    return 0;
}

HELPER(ringbuf_discard)
{
    ring_commit(PTR(r1), 1);
    return 0;
}

/* ringbuf_query(map, flags) */
HELPER(ringbuf_query)
{
    struct bpftime_map *m = MAP(r1);
    return m->type == MAP_RINGBUF ? ring_query(&m->u.ring, r2) : 0;
}
