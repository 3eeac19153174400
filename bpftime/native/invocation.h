/* Per-thread state of the extension run in progress on this thread.
 *
 * Helpers receive only r1..r5, so whatever they need beyond their arguments comes
 * from here. Whoever runs a program (the hooks' dispatcher, bpftime_invoke for
 * `bpftime run`) fills it before calling the program's entry and restores it after:
 *   session        base of the session the program belongs to: trace_printk writes to
 *                  its trace ring (stderr when NULL). Per thread, not per process, so
 *                  two sessions in one process never collide.
 *   func_ip        address of the hooked function (bpf_get_func_ip), 0 when none
 *   regs           the hit's struct pt_regs (or NULL): get_stack/get_stackid walk the
 *                  host's frames from its ip/bp
 *   override_set / override_value
 *                  set by bpf_override_return; the dispatcher clears override_set
 *                  before the programs run and reads both after: when set it returns
 *                  override_value to the caller without running the function.
 * The record lives in initial-exec TLS (no allocation, no lazy TLS on first use). */
#ifndef BPFTIME_INVOCATION_H
#define BPFTIME_INVOCATION_H

#include <stdint.h>

#include "api.h"

struct bpftime_invocation {
    void *session;
    uint64_t func_ip;
    void *regs;
    int32_t override_set;
    int32_t pad;
    uint64_t override_value;
    uint64_t prandom_state; /* bpf_get_prandom_u32 (0: not seeded yet) */
};

extern __thread struct bpftime_invocation bpftime_invocation_tls
    __attribute__((tls_model("initial-exec"), visibility("hidden")));

static inline struct bpftime_invocation *bpftime_invocation_current(void)
{
    return &bpftime_invocation_tls;
}

/* The same record for code outside this library (generated trampolines, Python). */
BPFTIME_API struct bpftime_invocation *bpftime_invocation(void);

/* x86-64 struct pt_regs offsets (kernel layout) that the stack walk needs. */
#define PT_REGS_BP 32
#define PT_REGS_IP 128
#define PT_REGS_SP 152

#endif
