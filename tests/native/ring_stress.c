/* Concurrency check of the runtime's ring buffer: THREADS threads of this process
 * write COUNT records each with bpf_ringbuf_output (or reserve + submit/discard on
 * every third record) while a reader elsewhere consumes them. Record: u32 producer,
 * u32 sequence, then (sequence % 40) bytes equal to the sequence's low byte; discarded
 * records are never read. Prints the number of records sent or dropped.
 * Usage: ring_stress SESSION MAP COUNT TAG. Run by tests/test_session.py. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "helpers.h"
#include "session_map.h"

#define THREADS 2

struct job {
    uint64_t map;
    uint32_t producer, count;
    long attempted; /* records sent or dropped (successful discards excluded) */
};

static uint32_t fill(uint8_t *rec, uint32_t producer, uint32_t seq)
{
    uint32_t len = 8 + seq % 40;
    *(uint32_t *)rec = producer;
    *(uint32_t *)(rec + 4) = seq;
    for (uint32_t i = 8; i < len; i++)
        rec[i] = (uint8_t)seq;
    return len;
}

static void *work(void *arg)
{
    struct job *j = arg;
    uint8_t rec[48];
    for (uint32_t seq = 0; seq < j->count; seq++) {
        uint32_t len = fill(rec, j->producer, seq);
        if (seq % 3) {
            bpftime_helper_ringbuf_output(j->map, (uintptr_t)rec, len, 0, 0);
            j->attempted++;
            continue;
        }
        uint8_t *p = (uint8_t *)(uintptr_t)bpftime_helper_ringbuf_reserve(j->map, len, 0, 0, 0);
        if (seq % 9 == 0) { /* reserved and thrown away: never seen */
            if (p)
                bpftime_helper_ringbuf_discard((uintptr_t)p, 0, 0, 0, 0);
            else
                j->attempted++; /* a failed reservation counts as a drop */
            continue;
        }
        j->attempted++;
        if (p) {
            fill(p, j->producer, seq);
            bpftime_helper_ringbuf_submit((uintptr_t)p, 0, 0, 0, 0);
        }
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: %s SESSION MAP COUNT TAG\n", argv[0]);
        return 2;
    }
    uint64_t map = session_map(argv[1], argv[2]);
    if (!map)
        return 1;
    struct job jobs[THREADS];
    pthread_t threads[THREADS];
    for (int t = 0; t < THREADS; t++) {
        jobs[t] = (struct job){map, (uint32_t)(atoi(argv[4]) * THREADS + t),
                               (uint32_t)atol(argv[3]), 0};
        if (pthread_create(&threads[t], NULL, work, &jobs[t]) != 0) {
            perror("pthread_create");
            return 1;
        }
    }
    long attempted = 0;
    for (int t = 0; t < THREADS; t++) {
        pthread_join(threads[t], NULL);
        attempted += jobs[t].attempted;
    }
    printf("%ld\n", attempted);
    return 0;
}
