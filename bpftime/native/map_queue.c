/* queue and stack maps: a circular buffer of max_entries + 1 slots under the map
 * lock, as the kernel's queue_stack_maps.c (BPF_EXIST on a full map drops the
 * oldest element). */
#include <errno.h>

#include "lock.h"
#include "map.h"

uint64_t queue_size(uint32_t stride, uint32_t max)
{
    return BPFTIME_MAP_DATA + ((uint64_t)max + 1) * stride;
}

void queue_init(struct bpftime_map *m)
{
    m->u.queue.size = m->max_entries + 1;
}

static void *slot(struct bpftime_map *m, uint32_t i)
{
    return (char *)map_data(m) + (uint64_t)i * m->value_stride;
}

int queue_push(struct bpftime_map *m, const void *value, uint64_t flags)
{
    if (flags & ~(uint64_t)F_EXIST)
        return -EINVAL;
    struct queue_state *q = &m->u.queue;
    int r = 0;
    bpftime_lock(&m->lock);
    uint32_t next = q->head + 1 >= q->size ? 0 : q->head + 1;
    if (next == q->tail) { /* full */
        if (flags & F_EXIST)
            q->tail = q->tail + 1 >= q->size ? 0 : q->tail + 1;
        else
            r = -E2BIG;
    }
    if (!r) {
        bpftime_copy(slot(m, q->head), value, m->value_size);
        q->head = next;
    }
    bpftime_unlock(&m->lock);
    return r;
}

/* Copies the next value out (queue: oldest, stack: newest); removes it if `remove`. */
int queue_pop(struct bpftime_map *m, void *value, int remove)
{
    struct queue_state *q = &m->u.queue;
    int r = 0;
    bpftime_lock(&m->lock);
    if (q->head == q->tail) {
        r = -ENOENT;
    } else if (m->type == MAP_QUEUE) {
        bpftime_copy(value, slot(m, q->tail), m->value_size);
        if (remove)
            q->tail = q->tail + 1 >= q->size ? 0 : q->tail + 1;
    } else {
        uint32_t top = q->head == 0 ? q->size - 1 : q->head - 1;
        bpftime_copy(value, slot(m, top), m->value_size);
        if (remove)
            q->head = top;
    }
    bpftime_unlock(&m->lock);
    return r;
}
