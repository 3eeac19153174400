/* Maps in the session region. A map's handle is the address of its struct
 * bpftime_map in this process's mapping; everything a map owns follows its header
 * and is reached by offsets from the header, so the map works in any process.
 *
 * Fixed layout other stages rely on (the JIT inlines array lookups and tail calls):
 *   offset 0  u32 type, 4 u32 key_size, 8 u32 value_size, 12 u32 max_entries,
 *   16 u32 map_flags, 20 u32 ncpus, 24 u32 value_stride (value_size rounded to 8);
 *   data of array / percpu_array / prog_array maps at BPFTIME_MAP_DATA (256):
 *   array: value i at handle + 256 + i * value_stride;
 *   percpu_array: copy of CPU c of value i at handle + 256 + (i * ncpus + c) * value_stride;
 *   prog_array: u64 entry address of slot i at handle + 256 + 8 * i (0 = empty). */
#ifndef BPFTIME_MAP_H
#define BPFTIME_MAP_H

#include <stdint.h>

#include "api.h"
#include "session.h"

#define BPFTIME_MAP_DATA 256

enum {
    MAP_HASH = 1, MAP_ARRAY = 2, MAP_PROG_ARRAY = 3, MAP_PERF_EVENT_ARRAY = 4,
    MAP_PERCPU_HASH = 5, MAP_PERCPU_ARRAY = 6, MAP_STACK_TRACE = 7, MAP_LRU_HASH = 9,
    MAP_LPM_TRIE = 11, MAP_QUEUE = 22, MAP_STACK = 23, MAP_RINGBUF = 27, MAP_BLOOM_FILTER = 30,
};

enum { F_ANY = 0, F_NOEXIST = 1, F_EXIST = 2 };

/* A ring of records in the kernel's ring buffer layout: a consumer page (u64
 * consumer_pos), a producer page (u64 producer_pos), then the data area. The data
 * area is 2 * (mask + 1) bytes so that a record near the end stays contiguous. */
struct bpftime_ring {
    uint64_t mask;     /* data size - 1 (a power of two) */
    uint64_t dropped;  /* records that did not fit */
    uint64_t pages;    /* offset of the consumer page from this struct */
    uint32_t lock;     /* producers */
    uint32_t pad;
};
#define RING_PAGE 4096
#define RB_BUSY (1u << 31)
#define RB_DISCARD (1u << 30)
#define RB_HDR 8

struct hash_state {
    uint32_t nbuckets;  /* power of two */
    uint32_t elem_size;
    uint64_t buckets;   /* offset from the map header: u32 lock, u32 head per bucket */
    uint64_t elems;     /* offset from the map header */
    uint32_t free_lock;
    uint32_t free_head; /* element index + 1, 0 = empty */
    uint32_t lru_lock;
    uint32_t lru_head;  /* most recently used (index + 1) */
    uint32_t lru_tail;  /* least recently used */
};

struct queue_state {
    uint32_t head, tail, size; /* size = max_entries + 1 slots */
};

struct stack_trace_state {
    uint32_t nbuckets; /* power of two */
    uint32_t bucket_size;
};

struct bloom_state {
    uint32_t nr_hashes;
    uint32_t pad;
    uint64_t bit_mask; /* number of bits - 1 */
};

struct bpftime_map {
    uint32_t type;
    uint32_t key_size;
    uint32_t value_size;
    uint32_t max_entries;
    uint32_t map_flags;
    uint32_t ncpus;
    uint32_t value_stride;
    uint32_t lock; /* whole-map lock of types that need one */
    uint64_t size; /* bytes of this map, header included */
    uint64_t map_extra;
    char name[BPFTIME_NAME_LEN];
    union {
        struct hash_state hash;
        struct queue_state queue;
        struct stack_trace_state st;
        struct bloom_state bloom;
        struct bpftime_ring ring;
    } u;
};
_Static_assert(sizeof(struct bpftime_map) <= BPFTIME_MAP_DATA, "map header too large");

static inline void *map_data(const struct bpftime_map *m) { return bpftime_at(m, BPFTIME_MAP_DATA); }

/* Bytes of a value as the system calls copy it: all CPUs' copies of a per-CPU map,
 * the 8-byte entry address of a prog_array slot, else value_size. */
static inline uint64_t map_user_value_size(const struct bpftime_map *m)
{
    if (m->type == MAP_PERCPU_ARRAY || m->type == MAP_PERCPU_HASH)
        return (uint64_t)m->value_stride * m->ncpus;
    return m->type == MAP_PROG_ARRAY ? 8 : m->value_size;
}

/* This thread's CPU, modulo the map's copies. */
BPFTIME_HIDDEN uint32_t bpftime_this_cpu(uint32_t ncpus);

/* Per-type operations. `user` selects the system-call semantics (percpu values are
 * all CPUs' copies; an LRU lookup does not count as a use); otherwise the helper's. */
BPFTIME_HIDDEN uint64_t array_size(uint32_t type, uint32_t value_stride, uint32_t max, uint32_t ncpus);
BPFTIME_HIDDEN void *array_lookup(struct bpftime_map *m, const void *key, int user);
BPFTIME_HIDDEN int array_update(struct bpftime_map *m, const void *key, const void *value, uint64_t flags, int user);
BPFTIME_HIDDEN int array_next_key(struct bpftime_map *m, const void *key, void *next);

BPFTIME_HIDDEN uint64_t hash_size(uint32_t key_size, uint32_t value_stride, uint32_t max, uint32_t ncpus, int percpu);
BPFTIME_HIDDEN void hash_init(struct bpftime_map *m);
BPFTIME_HIDDEN void *hash_lookup(struct bpftime_map *m, const void *key, int user);
BPFTIME_HIDDEN int hash_update(struct bpftime_map *m, const void *key, const void *value, uint64_t flags, int user);
BPFTIME_HIDDEN int hash_delete(struct bpftime_map *m, const void *key);
BPFTIME_HIDDEN int hash_next_key(struct bpftime_map *m, const void *key, void *next);

BPFTIME_HIDDEN uint64_t queue_size(uint32_t value_stride, uint32_t max);
BPFTIME_HIDDEN void queue_init(struct bpftime_map *m);
BPFTIME_HIDDEN int queue_push(struct bpftime_map *m, const void *value, uint64_t flags);
BPFTIME_HIDDEN int queue_pop(struct bpftime_map *m, void *value, int remove);

BPFTIME_HIDDEN uint64_t bloom_size(uint32_t max, uint64_t map_extra);
BPFTIME_HIDDEN void bloom_init(struct bpftime_map *m);
BPFTIME_HIDDEN int bloom_push(struct bpftime_map *m, const void *value, uint64_t flags);
BPFTIME_HIDDEN int bloom_peek(struct bpftime_map *m, const void *value);

BPFTIME_HIDDEN uint64_t stack_trace_size(uint32_t value_size, uint32_t max);
BPFTIME_HIDDEN void stack_trace_init(struct bpftime_map *m);
BPFTIME_HIDDEN void *stack_trace_lookup(struct bpftime_map *m, const void *key);
BPFTIME_HIDDEN int stack_trace_delete(struct bpftime_map *m, const void *key);
BPFTIME_HIDDEN int stack_trace_next_key(struct bpftime_map *m, const void *key, void *next);
BPFTIME_HIDDEN int64_t stack_trace_store(struct bpftime_map *m, const uint64_t *ips, uint32_t nr, uint64_t flags);

BPFTIME_HIDDEN uint64_t lpm_size(uint32_t key_size, uint32_t value_stride, uint32_t max);
BPFTIME_HIDDEN void *lpm_lookup(struct bpftime_map *m, const void *key, int exact);
BPFTIME_HIDDEN int lpm_update(struct bpftime_map *m, const void *key, const void *value, uint64_t flags);
BPFTIME_HIDDEN int lpm_delete(struct bpftime_map *m, const void *key);
BPFTIME_HIDDEN int lpm_next_key(struct bpftime_map *m, const void *key, void *next);

/* Rings (ringbuf maps, perf_event_array rings, the trace ring). */
BPFTIME_HIDDEN uint64_t ring_size(uint64_t data_size);
BPFTIME_HIDDEN void ring_init(struct bpftime_ring *r, void *pages, uint64_t data_size);
BPFTIME_HIDDEN void *ring_reserve(struct bpftime_ring *r, uint64_t size);
BPFTIME_HIDDEN void ring_commit(void *sample, int discard);
BPFTIME_HIDDEN int ring_output(struct bpftime_ring *r, const void *data, uint64_t size);
BPFTIME_HIDDEN uint64_t ring_query(struct bpftime_ring *r, uint64_t flags);
BPFTIME_HIDDEN uint64_t perf_size(uint32_t nrings);
BPFTIME_HIDDEN void perf_init(struct bpftime_map *m);
BPFTIME_HIDDEN struct bpftime_ring *perf_ring(struct bpftime_map *m, uint32_t index);

BPFTIME_HIDDEN struct bpftime_map *bpftime_trace_ring(struct bpftime_session_header *s);

#endif
