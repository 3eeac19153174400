/* Record rings in the kernel's ring buffer layout, shared by ringbuf maps, the rings
 * of perf_event_array maps and the session's trace_printk ring. Producers (any
 * thread of any process) serialise on the ring's spinlock to reserve; a record is
 * published by clearing its BUSY bit; one consumer at a time reads. */
#include <errno.h>

#include "lock.h"
#include "map.h"
#include "runtime.h"

#define PERF_RING_DATA 65536u
#define PERF_RING_DESC 64u

struct record {
    uint32_t len;   /* | RB_BUSY while being written, | RB_DISCARD if discarded */
    uint32_t pgoff; /* pages from the consumer page to this header (the kernel counts
                     * from its struct bpf_ringbuf; neither side needs it to read) */
};

static uint64_t *consumer_pos(struct bpftime_ring *r) { return bpftime_at(r, r->pages); }
static uint64_t *producer_pos(struct bpftime_ring *r) { return bpftime_at(r, r->pages + RING_PAGE); }
static char *ring_data(struct bpftime_ring *r) { return bpftime_at(r, r->pages + 2 * RING_PAGE); }

uint64_t ring_size(uint64_t data_size) { return 2 * RING_PAGE + 2 * data_size; }

/* Bytes per ring of a perf_event_array: descriptor, pages, data. */
static uint64_t perf_ring_stride(void) { return PERF_RING_DESC + ring_size(PERF_RING_DATA); }

void ring_init(struct bpftime_ring *r, void *pages, uint64_t data_size)
{
    r->mask = data_size - 1;
    r->pages = (uint64_t)((char *)pages - (char *)r);
}

void *ring_reserve(struct bpftime_ring *r, uint64_t size)
{
    if (size > r->mask + 1 - RB_HDR || size >= RB_DISCARD)
        goto drop;
    uint64_t len = bpftime_align8(size + RB_HDR);
    bpftime_lock(&r->lock);
    uint64_t cons = __atomic_load_n(consumer_pos(r), __ATOMIC_ACQUIRE);
    uint64_t prod = *producer_pos(r);
    if (prod + len - cons > r->mask + 1) {
        bpftime_unlock(&r->lock);
        goto drop;
    }
    struct record *h = (struct record *)(ring_data(r) + (prod & r->mask));
    h->pgoff = (uint32_t)(((char *)h - (char *)consumer_pos(r)) / RING_PAGE);
    __atomic_store_n(&h->len, (uint32_t)size | RB_BUSY, __ATOMIC_RELAXED);
    __atomic_store_n(producer_pos(r), prod + len, __ATOMIC_RELEASE);
    bpftime_unlock(&r->lock);
    return h + 1;
drop:
    __atomic_fetch_add(&r->dropped, 1, __ATOMIC_RELAXED);
    return NULL;
}

void ring_commit(void *sample, int discard)
{
    struct record *h = (struct record *)sample - 1;
    uint32_t len = __atomic_load_n(&h->len, __ATOMIC_RELAXED) & ~RB_BUSY;
    __atomic_store_n(&h->len, len | (discard ? RB_DISCARD : 0), __ATOMIC_RELEASE);
}

int ring_output(struct bpftime_ring *r, const void *data, uint64_t size)
{
    void *p = ring_reserve(r, size);
    if (!p)
        return -EAGAIN;
    bpftime_copy(p, data, size);
    ring_commit(p, 0);
    return 0;
}

uint64_t ring_query(struct bpftime_ring *r, uint64_t flags)
{
    uint64_t cons = __atomic_load_n(consumer_pos(r), __ATOMIC_ACQUIRE);
    uint64_t prod = __atomic_load_n(producer_pos(r), __ATOMIC_ACQUIRE);
    switch (flags) {
    case 0: return prod - cons;   /* BPF_RB_AVAIL_DATA */
    case 1: return r->mask + 1;   /* BPF_RB_RING_SIZE */
    case 2: return cons;          /* BPF_RB_CONS_POS */
    case 3: return prod;          /* BPF_RB_PROD_POS */
    }
    return 0;
}

uint64_t perf_size(uint32_t nrings)
{
    return BPFTIME_MAP_DATA + (uint64_t)nrings * perf_ring_stride();
}

/* One ring per entry (max_entries is the CPU count when the object gave 0). */
void perf_init(struct bpftime_map *m)
{
    for (uint32_t i = 0; i < m->max_entries; i++) {
        struct bpftime_ring *r = perf_ring(m, i);
        ring_init(r, (char *)r + PERF_RING_DESC, PERF_RING_DATA);
    }
}

struct bpftime_ring *perf_ring(struct bpftime_map *m, uint32_t index)
{
    return (struct bpftime_ring *)((char *)map_data(m) + (uint64_t)index * perf_ring_stride());
}

static struct bpftime_ring *ring_of(struct bpftime_map *m, uint32_t index)
{
    if (m->type == MAP_RINGBUF)
        return &m->u.ring;
    if (m->type == MAP_PERF_EVENT_ARRAY && index < m->max_entries)
        return perf_ring(m, index);
    return NULL;
}

/* Takes the next record of ring `index` (perf_event_array: per CPU; ringbuf: 0) into
 * buf: 1 with *len set, 0 if none is ready, -ENOSPC if cap is too small (*len = the
 * size needed; the record stays), -EINVAL for a map without rings. Discarded records
 * are skipped. One consumer at a time. */
BPFTIME_API int bpftime_ring_read(void *map, uint32_t index, void *buf, uint32_t cap, uint32_t *len)
{
    struct bpftime_ring *r = ring_of(map, index);
    if (!r)
        return -EINVAL;
    for (;;) {
        uint64_t cons = *consumer_pos(r);
        uint64_t prod = __atomic_load_n(producer_pos(r), __ATOMIC_ACQUIRE);
        if (cons >= prod)
            return 0;
        struct record *h = (struct record *)(ring_data(r) + (cons & r->mask));
        uint32_t hl = __atomic_load_n(&h->len, __ATOMIC_ACQUIRE);
        if (hl & RB_BUSY)
            return 0;
        uint32_t n = hl & ~(RB_BUSY | RB_DISCARD);
        if (!(hl & RB_DISCARD)) {
            *len = n;
            if (n > cap)
                return -ENOSPC;
            bpftime_copy(buf, h + 1, n);
        }
        __atomic_store_n(consumer_pos(r), cons + bpftime_align8(n + RB_HDR), __ATOMIC_RELEASE);
        if (!(hl & RB_DISCARD))
            return 1;
    }
}

/* Records dropped by ring `index` because they did not fit. */
BPFTIME_API uint64_t bpftime_ring_dropped(void *map, uint32_t index)
{
    struct bpftime_ring *r = ring_of(map, index);
    return r ? __atomic_load_n(&r->dropped, __ATOMIC_RELAXED) : 0;
}
