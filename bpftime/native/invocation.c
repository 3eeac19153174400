/* The per-thread invocation record and a way to run a program with it set. */
#include "invocation.h"
#include "runtime.h"

__thread struct bpftime_invocation bpftime_invocation_tls
    __attribute__((tls_model("initial-exec"), visibility("hidden")));

struct bpftime_invocation *bpftime_invocation(void)
{
    return &bpftime_invocation_tls;
}

typedef uint64_t (*bpftime_entry)(void *ctx);

/* Runs the program at `entry` on `ctx` with this thread's invocation record set to
 * (session, func_ip, regs), restoring the previous record afterwards (programs may
 * run from within helpers of other programs). Returns the program's r0; when the
 * program called bpf_override_return, *override gets its value and 1 is stored in
 * *override_set (both may be NULL). */
BPFTIME_API uint64_t bpftime_invoke(void *entry, void *ctx, void *session, uint64_t func_ip,
                                    void *regs, int32_t *override_set, uint64_t *override)
{
    struct bpftime_invocation *inv = bpftime_invocation_current();
    struct bpftime_invocation saved = *inv;
    inv->session = session;
    inv->func_ip = func_ip;
    inv->regs = regs;
    inv->override_set = 0;
    inv->override_value = 0;
    uint64_t r0 = ((bpftime_entry)entry)(ctx);
    if (override_set)
        *override_set = inv->override_set;
    if (override && inv->override_set)
        *override = inv->override_value;
    saved.prandom_state = inv->prandom_state;
    *inv = saved;
    return r0;
}
