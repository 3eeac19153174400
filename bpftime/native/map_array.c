/* array, percpu_array and prog_array maps: fixed slots after the map header. */
#include <errno.h>

#include "map.h"

uint64_t array_size(uint32_t type, uint32_t stride, uint32_t max, uint32_t ncpus)
{
    uint64_t copies = type == MAP_PERCPU_ARRAY ? ncpus : 1;
    return BPFTIME_MAP_DATA + (uint64_t)max * stride * copies;
}

/* The slot of `key`: this CPU's copy (helper) or CPU 0's, the start of all copies (user). */
void *array_lookup(struct bpftime_map *m, const void *key, int user)
{
    uint32_t i = *(const uint32_t *)key;
    if (i >= m->max_entries)
        return NULL;
    if (m->type == MAP_PERCPU_ARRAY) {
        uint64_t cpu = user ? 0 : bpftime_this_cpu(m->ncpus);
        return (char *)map_data(m) + ((uint64_t)i * m->ncpus + cpu) * m->value_stride;
    }
    if (m->type == MAP_PROG_ARRAY && !user)
        return NULL; /* programs reach prog_array only through tail calls */
    return (char *)map_data(m) + (uint64_t)i * m->value_stride;
}

int array_update(struct bpftime_map *m, const void *key, const void *value, uint64_t flags, int user)
{
    if (flags > F_EXIST)
        return -EINVAL;
    uint32_t i = *(const uint32_t *)key;
    if (i >= m->max_entries)
        return -E2BIG;
    if (flags == F_NOEXIST)
        return -EEXIST; /* every slot of an array exists */
    if (m->type == MAP_PROG_ARRAY) {
        if (!user)
            return -EINVAL;
        uint64_t entry = *(const uint64_t *)value; /* always an 8-byte address here */
        __atomic_store_n((uint64_t *)map_data(m) + i, entry, __ATOMIC_RELEASE);
        return 0;
    }
    bpftime_copy(array_lookup(m, key, user), value, user ? map_user_value_size(m) : m->value_size);
    return 0;
}

int array_next_key(struct bpftime_map *m, const void *key, void *next)
{
    uint32_t i = key ? *(const uint32_t *)key : UINT32_MAX;
    uint32_t n = i >= m->max_entries ? 0 : i + 1;
    if (n >= m->max_entries)
        return -ENOENT;
    *(uint32_t *)next = n;
    return 0;
}
