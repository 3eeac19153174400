/* Waiting until no other thread of the process is stopped inside a range of code
 * (patch_quiesce.c; used by patch.c between the int3 and the tail of a patch). */
#ifndef BPFTIME_HOOK_QUIESCE_H
#define BPFTIME_HOOK_QUIESCE_H

#include <stddef.h>
#include <stdint.h>

/* 0 once no other thread's pc lies in (lo, hi); -1 with a reason in err when that
 * cannot be established within 3 seconds. Call with the patch lock held. */
__attribute__((visibility("hidden"))) int bpftime_wait_outside(uint64_t lo, uint64_t hi,
                                                               char *err, size_t err_len);

#endif
