/* The slow path of the process-shared spinlock (lock.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <unistd.h>

#include "lock.h"

#define SPINS 64
#define YIELDS_PER_CHECK 256

/* Whether the thread `tid` is gone (not merely someone else's). */
static int thread_gone(uint32_t tid)
{
    return kill((pid_t)tid, 0) != 0 && errno == ESRCH;
}

void bpftime_lock_wait(uint32_t *word, uint32_t me)
{
    for (unsigned n = 1;; n++) {
        uint32_t holder = __atomic_load_n(word, __ATOMIC_RELAXED);
        if (!holder || (n > SPINS && n % YIELDS_PER_CHECK == 0 && thread_gone(holder))) {
            if (__atomic_compare_exchange_n(word, &holder, me, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
                return;
            continue;
        }
        if (n < SPINS)
            __builtin_ia32_pause();
        else
            sched_yield();
    }
}
