/* The slow paths of the process-shared spinlock (lock.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "lock.h"

#define SPINS 64
#define YIELDS_PER_CHECK 256

__thread uint32_t bpftime_lock_tid __attribute__((tls_model("initial-exec"), visibility("hidden")));

static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
static int atfork_registered;

static void forget_tid(void) { bpftime_lock_tid = 0; }

static void register_atfork(void)
{
    /* Without it a forked child would lock under its parent's thread id; if the
     * registration fails, ids are simply not cached. */
    atfork_registered = pthread_atfork(NULL, NULL, forget_tid) == 0;
}

uint32_t bpftime_lock_tid_slow(void)
{
    uint32_t tid = (uint32_t)syscall(SYS_gettid);
    if (pthread_once(&atfork_once, register_atfork) == 0 && atfork_registered)
        bpftime_lock_tid = tid;
    return tid;
}

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
