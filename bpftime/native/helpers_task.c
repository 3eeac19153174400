/* Time, identity, randomness, formatting, loop and invocation-state helpers. */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "format.h"
#include "helpers.h"
#include "ids.h"
#include "invocation.h"
#include "map.h"
#include "safemem.h"

#define FORMAT_MAX 512
#define SNPRINTF_MAX_ARGS 12
#define LOOP_MAX (1u << 23)

HELPER(ktime_get_ns) { return bpftime_clock_ns(CLOCK_MONOTONIC); }
HELPER(ktime_get_boot_ns) { return bpftime_clock_ns(CLOCK_BOOTTIME); }
HELPER(ktime_get_coarse_ns) { return bpftime_clock_ns(CLOCK_MONOTONIC_COARSE); }

HELPER(get_current_pid_tgid)
{
    return ((uint64_t)bpftime_self_pid() << 32) | bpftime_self_tid();
}

HELPER(get_current_uid_gid) { return ((uint64_t)getgid() << 32) | getuid(); }

/* get_current_comm(buf, size): the thread's name, NUL-padded to size */
HELPER(get_current_comm)
{
    char *buf = PTR(r1);
    char name[16] = {0};
    if (r2 == 0)
        return ERR(EINVAL);
    if (prctl(PR_GET_NAME, name, 0, 0, 0) != 0) {
        bpftime_zero(buf, r2);
        return ERR(EINVAL);
    }
    for (uint64_t i = 0; i < r2; i++)
        buf[i] = i < sizeof name && i + 1 < r2 ? name[i] : 0;
    return 0;
}

HELPER(get_smp_processor_id)
{
    int cpu = sched_getcpu();
    return cpu < 0 ? 0 : (uint64_t)cpu;
}

/* xorshift64* with per-thread state, seeded from the thread id and the clock. */
HELPER(get_prandom_u32)
{
    struct bpftime_invocation *inv = bpftime_invocation_current();
    uint64_t x = inv->prandom_state;
    if (!x)
        x = (bpftime_clock_ns(CLOCK_MONOTONIC) ^ ((uint64_t)bpftime_self_tid() << 32)) | 1;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    inv->prandom_state = x;
    return (uint32_t)((x * 0x2545f4914f6cdd1dull) >> 32);
}

/* trace_printk(fmt, fmt_size, a1, a2, a3): the text goes to the session's trace ring
 * (one record per call), or to stderr when the thread runs no session's program. */
HELPER(trace_printk)
{
    char fmt[FORMAT_MAX], out[FORMAT_MAX];
    uint64_t args[3] = {r3, r4, r5};
    if (r2 == 0)
        return ERR(EINVAL);
    /* as the kernel: the format must end (NUL) within fmt_size bytes */
    uint64_t cap = (r2 < FORMAT_MAX - 1 ? r2 : FORMAT_MAX - 1) + 1;
    int64_t n = bpftime_safe_read_str(fmt, PTR(r1), cap);
    if (n < 0)
        return (uint64_t)n;
    if ((uint64_t)n == cap)
        return ERR(EINVAL);
    int64_t len = bpftime_format(out, sizeof out, fmt, args, 3);
    if (len < 0)
        return (uint64_t)len;
    if (len >= FORMAT_MAX)
        len = FORMAT_MAX - 1;
    struct bpftime_session_header *s = bpftime_invocation_current()->session;
    struct bpftime_map *ring = s ? bpftime_trace_ring(s) : NULL;
    if (ring) {
        ring_output(&ring->u.ring, out, (uint64_t)len);
        return (uint64_t)len;
    }
    /* on stderr each call is a line, as the kernel's trace pipe shows it */
    size_t n_out = (size_t)len;
    if (n_out == 0 || out[n_out - 1] != '\n') {
        if (n_out == FORMAT_MAX - 1)
            n_out--;
        out[n_out++] = '\n';
    }
    if (write(2, out, n_out) < 0)
        return ERR(EIO);
    return (uint64_t)len;
}

/* snprintf(str, str_size, fmt, data, data_len): length with the NUL */
HELPER(snprintf)
{
    char fmt[FORMAT_MAX];
    uint64_t args[SNPRINTF_MAX_ARGS];
    if (r5 % 8 || r5 > sizeof args || (r4 == 0 && r5))
        return ERR(EINVAL);
    if (bpftime_safe_read_str(fmt, PTR(r3), sizeof fmt) < 0)
        return ERR(EINVAL);
    bpftime_copy(args, PTR(r4), r5);
    int64_t len = bpftime_format(PTR(r1), r1 ? r2 : 0, fmt, args, r5 / 8);
    return len < 0 ? (uint64_t)len : (uint64_t)len + 1;
}

/* loop(nr, callback, ctx, flags): calls callback(i, ctx) until it returns non-zero;
 * the number of calls made. */
HELPER(loop)
{
    long (*callback)(uint64_t, void *) = PTR(r2);
    if (r4)
        return ERR(EINVAL);
    if (r1 > LOOP_MAX)
        return ERR(E2BIG);
    for (uint64_t i = 0; i < r1; i++)
        if (callback(i, PTR(r3)))
            return i + 1;
    return r1;
}

HELPER(get_func_ip) { return bpftime_invocation_current()->func_ip; }

/* override_return(regs, rc): the dispatcher returns rc without running the function */
HELPER(override_return)
{
    struct bpftime_invocation *inv = bpftime_invocation_current();
    inv->override_value = r2;
    inv->override_set = 1;
    return 0;
}
