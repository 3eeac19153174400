/* The helpers the runtime implements, by kernel id. Each is exported as
 * uint64_t bpftime_helper_NAME(uint64_t r1, …, uint64_t r5), a System V function of
 * the eBPF argument registers. tail_call (12) is special: bpftime_helper_tail_call(ctx,
 * prog_array, index) returns the entry address of the target program (0 if the slot
 * is empty or out of range); the JIT jumps there itself after dropping its frame. */
#ifndef BPFTIME_HELPERS_H
#define BPFTIME_HELPERS_H

#include <stdint.h>

#include "api.h"

#define BPFTIME_HELPERS(X)                                                              \
    X(1, map_lookup_elem) X(2, map_update_elem) X(3, map_delete_elem) X(4, probe_read)   \
    X(5, ktime_get_ns) X(6, trace_printk) X(7, get_prandom_u32)                          \
    X(8, get_smp_processor_id) X(12, tail_call) X(14, get_current_pid_tgid) X(15, get_current_uid_gid)    \
    X(16, get_current_comm) X(25, perf_event_output) X(27, get_stackid)                  \
    X(36, probe_write_user) X(45, probe_read_str) X(58, override_return) X(67, get_stack) \
    X(87, map_push_elem) X(88, map_pop_elem) X(89, map_peek_elem) X(112, probe_read_user) \
    X(113, probe_read_kernel) X(114, probe_read_user_str) X(115, probe_read_kernel_str)  \
    X(125, ktime_get_boot_ns) X(130, ringbuf_output) X(131, ringbuf_reserve)             \
    X(132, ringbuf_submit) X(133, ringbuf_discard) X(134, ringbuf_query)                 \
    X(160, ktime_get_coarse_ns) X(165, snprintf) X(173, get_func_ip) X(181, loop)        \
    X(182, strncmp)

#define U __attribute__((unused)) uint64_t
#define HELPER(name) BPFTIME_API uint64_t bpftime_helper_##name(U r1, U r2, U r3, U r4, U r5)

#define DECLARE_HELPER(id, name) HELPER(name);
BPFTIME_HELPERS(DECLARE_HELPER)
#undef DECLARE_HELPER

/* An argument register as the pointer it holds. */
#define PTR(r) ((void *)(uintptr_t)(r))

/* A negative errno as the u64 a helper returns. */
#define ERR(e) ((uint64_t)(int64_t)-(e))

#endif
