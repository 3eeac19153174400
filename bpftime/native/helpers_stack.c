/* get_stack and get_stackid: the host's user stack, walked through the frame-pointer
 * chain from the hit's registers (invocation.h) with fault-free reads. Without
 * registers (a program run directly) the stack is the caller of the helper alone. */
#include <errno.h>

#include "helpers.h"
#include "invocation.h"
#include "map.h"
#include "safemem.h"

#define BPF_F_SKIP_FIELD_MASK 0xffull
#define BPF_F_USER_STACK (1ull << 8)
#define BPF_F_FAST_STACK_CMP (1ull << 9)
#define BPF_F_REUSE_STACKID (1ull << 10)
#define MAX_DEPTH 127
#define MAX_FRAME (1u << 20)  /* a frame larger than this ends the walk */
#define MAX_STACK (64u << 20) /* bp this far above sp is not on the stack */

struct trace {
    uint64_t *ips;
    uint32_t n, max, seen, skip;
};

static void push(struct trace *t, uint64_t ip)
{
    if (t->seen++ >= t->skip && t->n < t->max)
        t->ips[t->n++] = ip;
}

/* Fills ips with at most `max` return addresses, after skipping `skip`: the count.
 * At a function's entry (ip == func_ip) its frame does not exist yet, so the return
 * address to its caller is read from the top of the stack, as recent kernels do. */
static uint32_t walk(uint64_t *ips, uint32_t max, uint32_t skip, uint64_t caller)
{
    const struct bpftime_invocation *inv = bpftime_invocation_current();
    const uint8_t *regs = inv->regs;
    struct trace t = {ips, 0, max, 0, skip};
    if (!regs) {
        push(&t, caller);
        return t.n;
    }
    uint64_t ip = *(const uint64_t *)(regs + PT_REGS_IP);
    uint64_t bp = *(const uint64_t *)(regs + PT_REGS_BP);
    uint64_t sp = *(const uint64_t *)(regs + PT_REGS_SP);
    push(&t, ip);
    if (ip == inv->func_ip) {
        uint64_t ret;
        if (bpftime_safe_read(&ret, (const void *)(uintptr_t)sp, 8) != 0 || !ret)
            return t.n;
        push(&t, ret);
    }
    while (t.n < t.max) {
        uint64_t frame[2]; /* saved bp, return address */
        if (bp < sp || bp - sp > MAX_STACK || (bp & 7) ||
            bpftime_safe_read(frame, (const void *)(uintptr_t)bp, sizeof frame) != 0 || !frame[1])
            break;
        push(&t, frame[1]);
        if (frame[0] <= bp || frame[0] - bp > MAX_FRAME)
            break;
        sp = bp;
        bp = frame[0];
    }
    return t.n;
}

/* get_stackid(ctx, map, flags) */
HELPER(get_stackid)
{
    struct bpftime_map *m = (struct bpftime_map *)(uintptr_t)r2;
    uint64_t ips[MAX_DEPTH];
    if (m->type != MAP_STACK_TRACE ||
        (r3 & ~(BPF_F_SKIP_FIELD_MASK | BPF_F_USER_STACK | BPF_F_FAST_STACK_CMP | BPF_F_REUSE_STACKID)))
        return ERR(EINVAL);
    uint32_t n = walk(ips, m->value_size / 8, (uint32_t)(r3 & BPF_F_SKIP_FIELD_MASK),
                      (uintptr_t)__builtin_return_address(0));
    return (uint64_t)stack_trace_store(m, ips, n, r3);
}

/* get_stack(ctx, buf, size, flags): bytes written; the rest of buf is zeroed */
HELPER(get_stack)
{
    uint64_t *buf = (uint64_t *)(uintptr_t)r2;
    if ((r4 & ~(BPF_F_SKIP_FIELD_MASK | BPF_F_USER_STACK)) || r3 % 8) {
        bpftime_zero(buf, r3);
        return ERR(EINVAL);
    }
    uint32_t max = r3 / 8 > MAX_DEPTH ? MAX_DEPTH : (uint32_t)(r3 / 8);
    uint32_t n = walk(buf, max, (uint32_t)(r4 & BPF_F_SKIP_FIELD_MASK),
                      (uintptr_t)__builtin_return_address(0));
    bpftime_zero(buf + n, r3 - (uint64_t)n * 8);
    return (uint64_t)n * 8;
}
