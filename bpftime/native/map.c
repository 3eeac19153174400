/* Map creation in a session and the type-independent operations (system-call
 * semantics for Python and the CLI; helpers.c has the program's side). */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <string.h>

#include "map.h"

#define MAX_VALUE (1u << 20)
#define MAX_PERCPU_VALUE 32768u
#define MAX_KEY 512u
#define MAX_STACK_DEPTH 127u

uint32_t bpftime_this_cpu(uint32_t ncpus)
{
    int cpu = sched_getcpu();
    return cpu < 0 ? 0 : (uint32_t)cpu % ncpus;
}

static int is_pow2(uint64_t n) { return n && !(n & (n - 1)); }

/* Why the runtime cannot create this map, or NULL if it can. */
BPFTIME_API const char *bpftime_map_check(uint32_t type, uint32_t key_size, uint32_t value_size,
                                          uint32_t max_entries)
{
    if (max_entries == 0 && type != MAP_PERF_EVENT_ARRAY)
        return "max_entries is 0";
    switch (type) {
    case MAP_ARRAY:
    case MAP_PERCPU_ARRAY:
        if (key_size != 4)
            return "key size must be 4";
        break;
    case MAP_PROG_ARRAY:
        if (key_size != 4 || (value_size != 4 && value_size != 8))
            return "key size and value size must be 4 (or an 8-byte value)";
        return NULL;
    case MAP_PERF_EVENT_ARRAY:
        if (key_size != 4 || value_size != 4)
            return "key size and value size must be 4";
        if (max_entries > 4096)
            return "max_entries is larger than 4096";
        return NULL;
    case MAP_HASH:
    case MAP_PERCPU_HASH:
    case MAP_LRU_HASH:
        if (key_size == 0)
            return "key size is 0";
        if (key_size > MAX_KEY)
            return "key size is larger than 512";
        break;
    case MAP_QUEUE:
    case MAP_STACK:
    case MAP_BLOOM_FILTER:
        if (key_size != 0)
            return "key size must be 0";
        break;
    case MAP_RINGBUF:
        if (key_size || value_size)
            return "key size and value size must be 0";
        if (!is_pow2(max_entries) || max_entries % RING_PAGE)
            return "max_entries must be a power of 2 and a multiple of 4096";
        if (max_entries > (1u << 30))
            return "max_entries is larger than 1 GiB";
        return NULL;
    case MAP_STACK_TRACE:
        if (key_size != 4)
            return "key size must be 4";
        if (value_size == 0 || value_size % 8 || value_size / 8 > MAX_STACK_DEPTH)
            return "value size must be a multiple of 8, at most 127 * 8";
        if (max_entries > (1u << 24))
            return "max_entries is larger than 2^24";
        return NULL;
    case MAP_LPM_TRIE:
        if (key_size < 5 || key_size > 4 + 256)
            return "key size must be 4 + 1..256 bytes of data";
        break;
    default:
        return "map type not supported by the runtime";
    }
    if (value_size == 0)
        return "value size is 0";
    if (value_size > MAX_VALUE)
        return "value size is larger than 1 MiB";
    if ((type == MAP_PERCPU_ARRAY || type == MAP_PERCPU_HASH) && value_size > MAX_PERCPU_VALUE)
        return "per-CPU value size is larger than 32 KiB";
    if (max_entries > (1u << 28))
        return "max_entries is larger than 2^28";
    return NULL;
}

static uint64_t map_bytes(uint32_t type, uint32_t key_size, uint32_t stride, uint32_t max,
                          uint32_t ncpus, uint64_t extra)
{
    switch (type) {
    case MAP_ARRAY:
    case MAP_PERCPU_ARRAY:
    case MAP_PROG_ARRAY:
        return array_size(type, stride, max, ncpus);
    case MAP_HASH:
    case MAP_LRU_HASH:
        return hash_size(key_size, stride, max, ncpus, 0);
    case MAP_PERCPU_HASH:
        return hash_size(key_size, stride, max, ncpus, 1);
    case MAP_QUEUE:
    case MAP_STACK:
        return queue_size(stride, max);
    case MAP_BLOOM_FILTER:
        return bloom_size(max, extra);
    case MAP_RINGBUF:
        return BPFTIME_MAP_DATA + ring_size(max);
    case MAP_PERF_EVENT_ARRAY:
        return perf_size(max);
    case MAP_STACK_TRACE:
        return stack_trace_size(stride, max);
    case MAP_LPM_TRIE:
        return lpm_size(key_size, stride, max);
    }
    return 0;
}

static struct bpftime_map *map_new(struct bpftime_session_header *s, uint32_t kind, const char *name,
                                   uint32_t type, uint32_t key_size, uint32_t value_size,
                                   uint32_t max_entries, uint32_t flags, uint64_t extra, int *err)
{
    if (bpftime_map_check(type, key_size, value_size, max_entries)) {
        *err = -EINVAL;
        return NULL;
    }
    if (type == MAP_PERF_EVENT_ARRAY && max_entries == 0)
        max_entries = s->ncpus;
    uint32_t stride = (uint32_t)bpftime_align8(value_size);
    if (type == MAP_PROG_ARRAY)
        stride = 8;
    uint64_t bytes = map_bytes(type, key_size, stride, max_entries, s->ncpus, extra);
    int64_t off = bpftime_session_add_object(s, kind, name, bytes);
    if (off < 0) {
        *err = (int)off;
        return NULL;
    }
    struct bpftime_map *m = bpftime_at(s, (uint64_t)off);
    m->type = type;
    m->key_size = key_size;
    m->value_size = value_size;
    m->max_entries = max_entries;
    m->map_flags = flags;
    m->ncpus = s->ncpus;
    m->value_stride = stride;
    m->size = bytes;
    m->map_extra = extra;
    strncpy(m->name, name, BPFTIME_NAME_LEN - 1);
    switch (type) {
    case MAP_HASH:
    case MAP_PERCPU_HASH:
    case MAP_LRU_HASH:
        hash_init(m);
        break;
    case MAP_QUEUE:
    case MAP_STACK:
        queue_init(m);
        break;
    case MAP_BLOOM_FILTER:
        bloom_init(m);
        break;
    case MAP_RINGBUF:
        ring_init(&m->u.ring, map_data(m), max_entries);
        break;
    case MAP_PERF_EVENT_ARRAY:
        perf_init(m);
        break;
    case MAP_STACK_TRACE:
        stack_trace_init(m);
        break;
    }
    *err = 0;
    return m;
}

/* Creates a map in the session: its handle, or NULL with *err = -EINVAL (see
 * bpftime_map_check for why), -EEXIST (name taken), -ENOMEM (no room), -ENOSPC. */
BPFTIME_API void *bpftime_map_create(void *session, const char *name, uint32_t type,
                                     uint32_t key_size, uint32_t value_size, uint32_t max_entries,
                                     uint32_t flags, uint64_t map_extra, int *err)
{
    return map_new(session, BPFTIME_OBJ_MAP, name, type, key_size, value_size, max_entries, flags,
                   map_extra, err);
}

/* The trace_printk ring of a session (created on first use), or NULL. */
struct bpftime_map *bpftime_trace_ring(struct bpftime_session_header *s)
{
    uint64_t off = __atomic_load_n(&s->trace_ring, __ATOMIC_ACQUIRE);
    if (off)
        return bpftime_at(s, off);
    return NULL;
}

/* Creates the session's trace_printk ring (data_size: power of 2, multiple of 4096):
 * its handle, or NULL with *err set. */
BPFTIME_API void *bpftime_session_trace_ring(void *session, uint32_t data_size, int *err)
{
    struct bpftime_session_header *s = session;
    struct bpftime_map *m = bpftime_trace_ring(s);
    if (m) {
        *err = 0;
        return m;
    }
    m = map_new(s, BPFTIME_OBJ_TRACE, "trace_printk", MAP_RINGBUF, 0, 0, data_size, 0, 0, err);
    if (m)
        __atomic_store_n(&s->trace_ring, (uint64_t)((char *)m - (char *)s), __ATOMIC_RELEASE);
    return m;
}

/* Value of `key` (all CPUs' copies for per-CPU maps) copied to `value`: 0 or -ENOENT,
 * -EINVAL for a map without lookups. */
BPFTIME_API int bpftime_map_lookup(void *map, const void *key, void *value)
{
    struct bpftime_map *m = map;
    const void *v;
    switch (m->type) {
    case MAP_ARRAY:
    case MAP_PERCPU_ARRAY:
    case MAP_PROG_ARRAY:
        v = array_lookup(m, key, 1);
        break;
    case MAP_HASH:
    case MAP_LRU_HASH:
    case MAP_PERCPU_HASH:
        v = hash_lookup(m, key, 1);
        break;
    case MAP_STACK_TRACE:
        v = stack_trace_lookup(m, key);
        break;
    case MAP_LPM_TRIE:
        v = lpm_lookup(m, key, 0);
        break;
    case MAP_QUEUE:
    case MAP_STACK:
        return queue_pop(m, value, 0);
    case MAP_BLOOM_FILTER:
        return bloom_peek(m, value);
    default:
        return -EINVAL;
    }
    if (!v)
        return -ENOENT;
    memcpy(value, v, map_user_value_size(m));
    return 0;
}

/* Sets `key` to `value` (all CPUs' copies for per-CPU maps) under BPF_ANY /
 * BPF_NOEXIST / BPF_EXIST: 0 or -errno as the kernel's bpf(BPF_MAP_UPDATE_ELEM). */
BPFTIME_API int bpftime_map_update(void *map, const void *key, const void *value, uint64_t flags)
{
    struct bpftime_map *m = map;
    switch (m->type) {
    case MAP_ARRAY:
    case MAP_PERCPU_ARRAY:
    case MAP_PROG_ARRAY:
        return array_update(m, key, value, flags, 1);
    case MAP_HASH:
    case MAP_LRU_HASH:
    case MAP_PERCPU_HASH:
        return hash_update(m, key, value, flags, 1);
    case MAP_LPM_TRIE:
        return lpm_update(m, key, value, flags);
    case MAP_QUEUE:
    case MAP_STACK:
        return queue_push(m, value, flags);
    case MAP_BLOOM_FILTER:
        return bloom_push(m, value, flags);
    }
    return -EINVAL;
}

BPFTIME_API int bpftime_map_delete(void *map, const void *key)
{
    struct bpftime_map *m = map;
    switch (m->type) {
    case MAP_HASH:
    case MAP_LRU_HASH:
    case MAP_PERCPU_HASH:
        return hash_delete(m, key);
    case MAP_STACK_TRACE:
        return stack_trace_delete(m, key);
    case MAP_LPM_TRIE:
        return lpm_delete(m, key);
    case MAP_PROG_ARRAY: {
        uint32_t i = *(const uint32_t *)key;
        if (i >= m->max_entries)
            return -E2BIG;
        __atomic_store_n((uint64_t *)map_data(m) + i, 0, __ATOMIC_RELEASE);
        return 0;
    }
    }
    return -EINVAL;
}

/* Pops (remove=1) or peeks the next value of a queue or stack: 0 or -ENOENT. */
BPFTIME_API int bpftime_map_pop(void *map, void *value, int remove)
{
    struct bpftime_map *m = map;
    if (m->type != MAP_QUEUE && m->type != MAP_STACK)
        return -EINVAL;
    return queue_pop(m, value, remove);
}

/* Key after `key` (the first key if key is NULL or absent): 0 or -ENOENT at the end. */
BPFTIME_API int bpftime_map_next_key(void *map, const void *key, void *next)
{
    struct bpftime_map *m = map;
    switch (m->type) {
    case MAP_ARRAY:
    case MAP_PERCPU_ARRAY:
    case MAP_PROG_ARRAY:
        return array_next_key(m, key, next);
    case MAP_HASH:
    case MAP_LRU_HASH:
    case MAP_PERCPU_HASH:
        return hash_next_key(m, key, next);
    case MAP_STACK_TRACE:
        return stack_trace_next_key(m, key, next);
    case MAP_LPM_TRIE:
        return lpm_next_key(m, key, next);
    }
    return -EINVAL;
}

/* Address of `key`'s value in this process (CPU 0's copy for per-CPU maps), NULL if
 * absent. For global data this is where a program's variables live. */
BPFTIME_API void *bpftime_map_value_address(void *map, const void *key)
{
    struct bpftime_map *m = map;
    switch (m->type) {
    case MAP_ARRAY:
    case MAP_PERCPU_ARRAY:
    case MAP_PROG_ARRAY:
        return array_lookup(m, key, 1);
    case MAP_HASH:
    case MAP_LRU_HASH:
    case MAP_PERCPU_HASH:
        return hash_lookup(m, key, 1);
    }
    return NULL;
}
