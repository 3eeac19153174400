/* Concurrency check of the runtime's hash map: THREADS threads of this process add 1
 * to counters of a shared hash map (inserting missing keys with BPF_NOEXIST, as a
 * program would) and insert/delete keys of their own to churn the freelist.
 * Usage: hash_stress SESSION MAP ITERATIONS COUNTERS TAG. Linked against the native
 * library (headers from bpftime/native); run by tests/test_session.py from several
 * processes at once. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "helpers.h"
#include "session_map.h"

#define THREADS 2

struct job {
    uint64_t map;
    long iterations;
    uint32_t counters;
    uint32_t own_base; /* keys of this thread's churn: own_base + 0..63 */
    long failures;
};

static void *work(void *arg)
{
    struct job *j = arg;
    for (long i = 0; i < j->iterations; i++) {
        uint32_t key = (uint32_t)(i % j->counters);
        uint64_t zero = 0;
        uint64_t *v = (uint64_t *)(uintptr_t)bpftime_helper_map_lookup_elem(j->map, (uintptr_t)&key, 0, 0, 0);
        if (!v) {
            bpftime_helper_map_update_elem(j->map, (uintptr_t)&key, (uintptr_t)&zero, 1 /* NOEXIST */, 0);
            v = (uint64_t *)(uintptr_t)bpftime_helper_map_lookup_elem(j->map, (uintptr_t)&key, 0, 0, 0);
        }
        if (!v) {
            j->failures++;
            continue;
        }
        __atomic_fetch_add(v, 1, __ATOMIC_RELAXED);
        uint32_t own = j->own_base + (uint32_t)(i % 64);
        uint64_t value = i;
        if (bpftime_helper_map_update_elem(j->map, (uintptr_t)&own, (uintptr_t)&value, 0, 0) != 0 ||
            bpftime_helper_map_delete_elem(j->map, (uintptr_t)&own, 0, 0, 0) != 0)
            j->failures++;
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 6) {
        fprintf(stderr, "usage: %s SESSION MAP ITERATIONS COUNTERS TAG\n", argv[0]);
        return 2;
    }
    uint64_t map = session_map(argv[1], argv[2]);
    if (!map)
        return 1;
    struct job jobs[THREADS];
    pthread_t threads[THREADS];
    for (int t = 0; t < THREADS; t++) {
        jobs[t] = (struct job){map, atol(argv[3]), (uint32_t)atol(argv[4]),
                               (uint32_t)(1000000 + 1000 * (atol(argv[5]) * THREADS + t)), 0};
        if (pthread_create(&threads[t], NULL, work, &jobs[t]) != 0) {
            perror("pthread_create");
            return 1;
        }
    }
    long failures = 0;
    for (int t = 0; t < THREADS; t++) {
        pthread_join(threads[t], NULL);
        failures += jobs[t].failures;
    }
    printf("%ld\n", failures);
    return failures ? 1 : 0;
}
