/* A process-shared spinlock: one 32-bit word in the shared region, taken with
 * __atomic operations, so threads of every process mapping the region exclude
 * each other. Spins a little, then yields the CPU (the holder may be preempted). */
#ifndef BPFTIME_LOCK_H
#define BPFTIME_LOCK_H

#include <sched.h>
#include <stdint.h>

static inline void bpftime_lock(uint32_t *word)
{
    for (unsigned spins = 0;; spins++) {
        if (!__atomic_load_n(word, __ATOMIC_RELAXED) &&
            !__atomic_exchange_n(word, 1, __ATOMIC_ACQUIRE))
            return;
        if (spins < 64)
            __builtin_ia32_pause();
        else
            sched_yield();
    }
}

static inline void bpftime_unlock(uint32_t *word)
{
    __atomic_store_n(word, 0, __ATOMIC_RELEASE);
}

#endif
