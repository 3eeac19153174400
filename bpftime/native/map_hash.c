/* hash, percpu_hash and lru_hash maps: preallocated elements on a freelist, chained
 * buckets each guarded by a process-shared spinlock for writers. Lookups take no lock:
 * a chain ends in a "nulls" marker naming its bucket (as the kernel's hlist_nulls), so
 * a reader that followed an element deleted and reused in another bucket notices and
 * starts again. An lru_hash also keeps its elements on a recency list and serialises
 * its operations on the map lock, so that eviction (which takes another bucket's lock)
 * cannot deadlock. */
#include <errno.h>

#include "lock.h"
#include "map.h"

#define NULLS 0x80000000u /* a chain's end: NULLS | bucket index */

struct elem {
    uint32_t next;     /* next in the bucket chain (index + 1), or NULLS | bucket */
    uint32_t hash;
    uint32_t lru_prev; /* towards the most recently used */
    uint32_t lru_next; /* towards the least recently used; the freelist link while free
                        * (never `next`: a lock-free reader may still be following it) */
    /* key, padded to 8, then the value (ncpus copies for percpu_hash) */
};

struct bucket {
    uint32_t lock;
    uint32_t head; /* index + 1, or NULLS | bucket */
};

static uint32_t pow2_at_least(uint32_t n)
{
    uint32_t p = 1;
    while (p < n)
        p <<= 1;
    return p;
}

static uint32_t elem_size(uint32_t key_size, uint32_t stride, uint32_t ncpus, int percpu)
{
    return 16 + (uint32_t)bpftime_align8(key_size) + stride * (percpu ? ncpus : 1);
}

uint64_t hash_size(uint32_t key_size, uint32_t stride, uint32_t max, uint32_t ncpus, int percpu)
{
    return BPFTIME_MAP_DATA + (uint64_t)pow2_at_least(max) * sizeof(struct bucket) +
           (uint64_t)max * elem_size(key_size, stride, ncpus, percpu);
}

static struct bucket *buckets(struct bpftime_map *m) { return bpftime_at(m, m->u.hash.buckets); }

static struct elem *elem_at(struct bpftime_map *m, uint32_t idx1)
{
    return bpftime_at(m, m->u.hash.elems + (uint64_t)(idx1 - 1) * m->u.hash.elem_size);
}

static void *elem_key(struct elem *e) { return (char *)e + 16; }

static void *elem_value(struct bpftime_map *m, struct elem *e)
{
    return (char *)e + 16 + bpftime_align8(m->key_size);
}

void hash_init(struct bpftime_map *m)
{
    struct hash_state *h = &m->u.hash;
    h->nbuckets = pow2_at_least(m->max_entries);
    h->elem_size = elem_size(m->key_size, m->value_stride, m->ncpus, m->type == MAP_PERCPU_HASH);
    h->buckets = BPFTIME_MAP_DATA;
    h->elems = BPFTIME_MAP_DATA + (uint64_t)h->nbuckets * sizeof(struct bucket);
    for (uint32_t i = 0; i < h->nbuckets; i++)
        buckets(m)[i].head = NULLS | i;
    for (uint32_t i = 1; i <= m->max_entries; i++)
        elem_at(m, i)->lru_next = i < m->max_entries ? i + 1 : 0;
    h->free_head = 1;
}

static uint32_t hash_bytes(const void *key, uint32_t n)
{
    const unsigned char *p = key;
    uint32_t h = 2166136261u; /* FNV-1a, then a final avalanche */
    for (uint32_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 16777619u;
    h ^= h >> 16;
    h *= 0x7feb352du;
    h ^= h >> 15;
    return h;
}

/* Index + 1 of `key` in bucket `b` (held), 0 if absent; *link gets the pointer to it. */
static uint32_t find(struct bpftime_map *m, struct bucket *b, const void *key, uint32_t hash,
                     uint32_t **link)
{
    uint32_t *l = &b->head;
    for (uint32_t i = *l; !(i & NULLS); i = *l) {
        struct elem *e = elem_at(m, i);
        if (e->hash == hash && bpftime_equal(elem_key(e), key, m->key_size)) {
            if (link)
                *link = l;
            return i;
        }
        l = &e->next;
    }
    return 0;
}

static void lru_unlink(struct bpftime_map *m, uint32_t i)
{
    struct hash_state *h = &m->u.hash;
    struct elem *e = elem_at(m, i);
    if (e->lru_prev)
        elem_at(m, e->lru_prev)->lru_next = e->lru_next;
    else
        h->lru_head = e->lru_next;
    if (e->lru_next)
        elem_at(m, e->lru_next)->lru_prev = e->lru_prev;
    else
        h->lru_tail = e->lru_prev;
    e->lru_prev = e->lru_next = 0;
}

static void lru_push_front(struct bpftime_map *m, uint32_t i)
{
    struct hash_state *h = &m->u.hash;
    struct elem *e = elem_at(m, i);
    e->lru_prev = 0;
    e->lru_next = h->lru_head;
    if (h->lru_head)
        elem_at(m, h->lru_head)->lru_prev = i;
    else
        h->lru_tail = i;
    h->lru_head = i;
}

static void free_push(struct bpftime_map *m, uint32_t i)
{
    struct hash_state *h = &m->u.hash;
    bpftime_lock(&h->free_lock);
    elem_at(m, i)->lru_next = h->free_head;
    h->free_head = i;
    bpftime_unlock(&h->free_lock);
}

/* Takes the least recently used element out of its bucket (lru_hash, map lock held). */
static uint32_t lru_evict(struct bpftime_map *m)
{
    uint32_t victim = m->u.hash.lru_tail;
    if (!victim)
        return 0;
    struct elem *e = elem_at(m, victim);
    lru_unlink(m, victim);
    struct bucket *b = &buckets(m)[e->hash & (m->u.hash.nbuckets - 1)];
    bpftime_lock(&b->lock);
    uint32_t *link;
    if (find(m, b, elem_key(e), e->hash, &link) == victim)
        __atomic_store_n(link, e->next, __ATOMIC_RELEASE);
    bpftime_unlock(&b->lock);
    return victim;
}

static uint32_t alloc_elem(struct bpftime_map *m)
{
    struct hash_state *h = &m->u.hash;
    bpftime_lock(&h->free_lock);
    uint32_t i = h->free_head;
    if (i)
        h->free_head = elem_at(m, i)->lru_next;
    bpftime_unlock(&h->free_lock);
    if (!i && m->type == MAP_LRU_HASH)
        i = lru_evict(m);
    return i;
}

/* Writes a value into element e: every copy from a user buffer of all CPUs, or this
 * CPU's copy from a program (fresh elements get the other copies zeroed). */
static void store_value(struct bpftime_map *m, struct elem *e, const void *value, int user, int fresh)
{
    char *v = elem_value(m, e);
    if (m->type != MAP_PERCPU_HASH) {
        bpftime_copy(v, value, m->value_size);
        return;
    }
    if (user) {
        bpftime_copy(v, value, map_user_value_size(m));
        return;
    }
    uint32_t cpu = bpftime_this_cpu(m->ncpus);
    if (fresh)
        bpftime_zero(v, map_user_value_size(m));
    bpftime_copy(v + (uint64_t)cpu * m->value_stride, value, m->value_size);
}

/* Lock-free search: index + 1 of `key`, 0 if absent. */
static uint32_t find_unlocked(struct bpftime_map *m, const void *key, uint32_t hash)
{
    uint32_t bi = hash & (m->u.hash.nbuckets - 1);
    struct bucket *b = &buckets(m)[bi];
    for (;;) {
        uint32_t i = __atomic_load_n(&b->head, __ATOMIC_ACQUIRE);
        while (!(i & NULLS)) {
            struct elem *e = elem_at(m, i);
            if (__atomic_load_n(&e->hash, __ATOMIC_RELAXED) == hash &&
                bpftime_equal(elem_key(e), key, m->key_size))
                return i;
            i = __atomic_load_n(&e->next, __ATOMIC_ACQUIRE);
        }
        if ((i & ~NULLS) == bi)
            return 0;
        /* ended in another bucket's chain: an element moved under us */
    }
}

void *hash_lookup(struct bpftime_map *m, const void *key, int user)
{
    uint32_t hash = hash_bytes(key, m->key_size);
    int lru = m->type == MAP_LRU_HASH && !user;
    if (lru) /* every lru_hash change holds the map lock: the chains are stable */
        bpftime_lock(&m->lock);
    uint32_t i = find_unlocked(m, key, hash);
    if (i && lru) {
        lru_unlink(m, i);
        lru_push_front(m, i);
    }
    if (lru)
        bpftime_unlock(&m->lock);
    if (!i)
        return NULL;
    char *v = elem_value(m, elem_at(m, i));
    if (m->type == MAP_PERCPU_HASH && !user)
        v += (uint64_t)bpftime_this_cpu(m->ncpus) * m->value_stride;
    return v;
}

/* Under the bucket lock: update an existing element in place per `flags`, or report
 * that the key is absent (1). */
static int update_existing(struct bpftime_map *m, struct bucket *b, const void *key, uint32_t hash,
                           const void *value, uint64_t flags, int user)
{
    uint32_t i = find(m, b, key, hash, NULL);
    if (!i)
        return 1;
    if (flags == F_NOEXIST)
        return -EEXIST;
    store_value(m, elem_at(m, i), value, user, 0);
    if (m->type == MAP_LRU_HASH) {
        lru_unlink(m, i);
        lru_push_front(m, i);
    }
    return 0;
}

static int update_locked(struct bpftime_map *m, const void *key, const void *value, uint64_t flags, int user)
{
    uint32_t hash = hash_bytes(key, m->key_size);
    struct bucket *b = &buckets(m)[hash & (m->u.hash.nbuckets - 1)];
    bpftime_lock(&b->lock);
    int r = update_existing(m, b, key, hash, value, flags, user);
    bpftime_unlock(&b->lock);
    if (r <= 0)
        return r;
    if (flags == F_EXIST)
        return -ENOENT;
    /* Allocate without holding a bucket lock (an lru eviction takes one), then
     * look again: another thread may have inserted the key meanwhile. */
    uint32_t n = alloc_elem(m);
    if (!n)
        return -E2BIG;
    struct elem *e = elem_at(m, n);
    __atomic_store_n(&e->hash, hash, __ATOMIC_RELAXED); /* a reader may still be at e */
    bpftime_copy(elem_key(e), key, m->key_size);
    store_value(m, e, value, user, 1);
    bpftime_lock(&b->lock);
    r = update_existing(m, b, key, hash, value, flags, user);
    if (r == 1) {
        __atomic_store_n(&e->next, b->head, __ATOMIC_RELAXED);
        __atomic_store_n(&b->head, n, __ATOMIC_RELEASE);
        if (m->type == MAP_LRU_HASH)
            lru_push_front(m, n);
    }
    bpftime_unlock(&b->lock);
    if (r != 1)
        free_push(m, n);
    return r == 1 ? 0 : r;
}

int hash_update(struct bpftime_map *m, const void *key, const void *value, uint64_t flags, int user)
{
    if (flags > F_EXIST)
        return -EINVAL;
    if (m->type != MAP_LRU_HASH)
        return update_locked(m, key, value, flags, user);
    bpftime_lock(&m->lock);
    int r = update_locked(m, key, value, flags, user);
    bpftime_unlock(&m->lock);
    return r;
}

int hash_delete(struct bpftime_map *m, const void *key)
{
    uint32_t hash = hash_bytes(key, m->key_size);
    struct bucket *b = &buckets(m)[hash & (m->u.hash.nbuckets - 1)];
    int lru = m->type == MAP_LRU_HASH;
    if (lru)
        bpftime_lock(&m->lock);
    bpftime_lock(&b->lock);
    uint32_t *link;
    uint32_t i = find(m, b, key, hash, &link);
    if (i) {
        __atomic_store_n(link, elem_at(m, i)->next, __ATOMIC_RELEASE);
        if (lru)
            lru_unlink(m, i);
    }
    bpftime_unlock(&b->lock);
    if (lru)
        bpftime_unlock(&m->lock);
    if (!i)
        return -ENOENT;
    free_push(m, i);
    return 0;
}

int hash_next_key(struct bpftime_map *m, const void *key, void *next)
{
    uint32_t start = 0;
    if (key) {
        uint32_t hash = hash_bytes(key, m->key_size);
        uint32_t bi = hash & (m->u.hash.nbuckets - 1);
        struct bucket *b = &buckets(m)[bi];
        bpftime_lock(&b->lock);
        uint32_t i = find(m, b, key, hash, NULL);
        uint32_t after = i ? elem_at(m, i)->next : NULLS;
        if (!(after & NULLS))
            bpftime_copy(next, elem_key(elem_at(m, after)), m->key_size);
        bpftime_unlock(&b->lock);
        if (!(after & NULLS))
            return 0;
        if (i) /* the last of its bucket: go on with the next bucket */
            start = bi + 1;
    }
    for (uint32_t bi = start; bi < m->u.hash.nbuckets; bi++) {
        struct bucket *b = &buckets(m)[bi];
        if (__atomic_load_n(&b->head, __ATOMIC_ACQUIRE) & NULLS)
            continue;
        bpftime_lock(&b->lock);
        uint32_t i = b->head;
        if (!(i & NULLS))
            bpftime_copy(next, elem_key(elem_at(m, i)), m->key_size);
        bpftime_unlock(&b->lock);
        if (!(i & NULLS))
            return 0;
    }
    return -ENOENT;
}
