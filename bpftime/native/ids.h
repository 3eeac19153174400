/* This thread's id and its process's id, cached per thread (a syscall each time
 * would cost more than a whole hook hit). The caches are reset in the child of a
 * fork; if that reset cannot be arranged, nothing is cached. */
#ifndef BPFTIME_IDS_H
#define BPFTIME_IDS_H

#include <stdint.h>

#include "api.h"

struct bpftime_ids {
    uint32_t tid;
    uint32_t pid;
};

extern __thread struct bpftime_ids bpftime_ids_tls
    __attribute__((tls_model("initial-exec"), visibility("hidden")));

BPFTIME_HIDDEN struct bpftime_ids bpftime_ids_fill(void);

static inline uint32_t bpftime_self_tid(void)
{
    uint32_t tid = bpftime_ids_tls.tid;
    return tid ? tid : bpftime_ids_fill().tid;
}

static inline uint32_t bpftime_self_pid(void)
{
    uint32_t pid = bpftime_ids_tls.pid;
    return pid ? pid : bpftime_ids_fill().pid;
}

#endif
