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
#include "ids.h"

BPFTIME_HIDDEN void bpftime_lock_wait(uint32_t *word, uint32_t me);

static inline void bpftime_lock(uint32_t *word)
{
    uint32_t me = bpftime_self_tid(), free = 0;
    if (!__atomic_compare_exchange_n(word, &free, me, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
        bpftime_lock_wait(word, me);
}

static inline void bpftime_unlock(uint32_t *word)
{
    __atomic_store_n(word, 0, __ATOMIC_RELEASE);
}

#endif
