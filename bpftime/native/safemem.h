/* Reading and writing memory of this process that may not be mapped: the kernel
 * does the access (process_vm_readv/writev on ourselves), so a bad address is an
 * error code, never a crash. */
#ifndef BPFTIME_SAFEMEM_H
#define BPFTIME_SAFEMEM_H

#include <stddef.h>
#include <stdint.h>

#include "api.h"

/* 0, or -EFAULT if any byte is unreadable (dst is then zeroed). */
BPFTIME_HIDDEN int64_t bpftime_safe_read(void *dst, const void *src, size_t n);
/* Copies a NUL-terminated string of at most n bytes (NUL included, always written
 * when n > 0): its length with the NUL, or -EFAULT (dst[0] = 0). */
BPFTIME_HIDDEN int64_t bpftime_safe_read_str(char *dst, const char *src, size_t n);
/* 0, or -EFAULT if any byte is not writable. */
BPFTIME_HIDDEN int64_t bpftime_safe_write(void *dst, const void *src, size_t n);

#endif
