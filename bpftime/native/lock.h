/* A process-shared spinlock: one 32-bit word in the shared region holding the
 * holder's thread id, so threads of every process mapping the region exclude each
 * other. A waiter spins a little, then yields the CPU (the holder may be preempted);
 * while yielding it checks now and then whether the holder's thread still exists and
 * takes the lock over from a thread that died holding it (a host killed inside a map
 * operation must not hang the CLI reading the maps afterwards). */
#ifndef BPFTIME_LOCK_H
#define BPFTIME_LOCK_H

#include <stdint.h>

#include "api.h"

extern __thread uint32_t bpftime_lock_tid
    __attribute__((tls_model("initial-exec"), visibility("hidden")));

BPFTIME_HIDDEN uint32_t bpftime_lock_tid_slow(void);
BPFTIME_HIDDEN void bpftime_lock_wait(uint32_t *word, uint32_t me);

/* This thread's id, cached (the cache is reset in the child of a fork). */
static inline uint32_t bpftime_lock_self(void)
{
    uint32_t tid = bpftime_lock_tid;
    return tid ? tid : bpftime_lock_tid_slow();
}

static inline void bpftime_lock(uint32_t *word)
{
    uint32_t me = bpftime_lock_self(), free = 0;
    if (!__atomic_compare_exchange_n(word, &free, me, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
        bpftime_lock_wait(word, me);
}

static inline void bpftime_unlock(uint32_t *word)
{
    __atomic_store_n(word, 0, __ATOMIC_RELEASE);
}

#endif
