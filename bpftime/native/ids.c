/* Per-thread caches of the thread and process ids (ids.h). */
#define _GNU_SOURCE
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "ids.h"

__thread struct bpftime_ids bpftime_ids_tls __attribute__((tls_model("initial-exec"), visibility("hidden")));

static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
static int atfork_registered;

static void forget_ids(void)
{
    bpftime_ids_tls.tid = 0;
    bpftime_ids_tls.pid = 0;
}

static void register_atfork(void)
{
    atfork_registered = pthread_atfork(NULL, NULL, forget_ids) == 0;
}

struct bpftime_ids bpftime_ids_fill(void)
{
    struct bpftime_ids ids = {(uint32_t)syscall(SYS_gettid), (uint32_t)getpid()};
    if (pthread_once(&atfork_once, register_atfork) == 0 && atfork_registered)
        bpftime_ids_tls = ids;
    return ids;
}
