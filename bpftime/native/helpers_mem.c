/* Memory helpers: probe reads and writes that never fault, strncmp. */
#include <errno.h>

#include "helpers.h"
#include "safemem.h"

/* probe_read*(dst, size, src) */
HELPER(probe_read) { return (uint64_t)bpftime_safe_read(PTR(r1), PTR(r3), r2); }
HELPER(probe_read_user) { return (uint64_t)bpftime_safe_read(PTR(r1), PTR(r3), r2); }
HELPER(probe_read_kernel) { return (uint64_t)bpftime_safe_read(PTR(r1), PTR(r3), r2); }
HELPER(probe_read_str) { return (uint64_t)bpftime_safe_read_str(PTR(r1), PTR(r3), r2); }
HELPER(probe_read_user_str) { return (uint64_t)bpftime_safe_read_str(PTR(r1), PTR(r3), r2); }
HELPER(probe_read_kernel_str) { return (uint64_t)bpftime_safe_read_str(PTR(r1), PTR(r3), r2); }

/* probe_write_user(dst, src, len) */
HELPER(probe_write_user) { return (uint64_t)bpftime_safe_write(PTR(r1), PTR(r2), r3); }

/* strncmp(s1, s1_sz, s2): <0, 0, >0 as strncmp(s1, s2, s1_sz) */
HELPER(strncmp)
{
    const unsigned char *a = PTR(r1), *b = PTR(r3);
    for (uint64_t i = 0; i < r2; i++) {
        if (a[i] != b[i])
            return a[i] < b[i] ? ERR(1) : 1;
        if (!a[i])
            break;
    }
    return 0;
}
