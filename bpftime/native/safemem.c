/* Fault-free memory access through process_vm_readv/writev on this process. */
#define _GNU_SOURCE
#include <errno.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "ids.h"
#include "safemem.h"

#define PAGE 4096u

static int64_t transfer(void *local, const void *remote, size_t n, int write)
{
    struct iovec l = {local, n};
    struct iovec r = {(void *)remote, n};
    long got = syscall(write ? SYS_process_vm_writev : SYS_process_vm_readv, (long)bpftime_self_pid(), &l, 1L,
                       &r, 1L, 0L);
    return got == (long)n ? 0 : -EFAULT;
}

int64_t bpftime_safe_read(void *dst, const void *src, size_t n)
{
    if (n == 0)
        return 0;
    if (transfer(dst, src, n, 0) == 0)
        return 0;
    bpftime_zero(dst, n);
    return -EFAULT;
}

int64_t bpftime_safe_write(void *dst, const void *src, size_t n)
{
    if (n == 0)
        return 0;
    return transfer((void *)src, dst, n, 1);
}

int64_t bpftime_safe_read_str(char *dst, const char *src, size_t n)
{
    if (n == 0)
        return 0;
    size_t done = 0;
    while (done < n - 1) {
        /* read up to the end of src's page, so an unmapped next page does not fail
         * a string that ends before it */
        size_t chunk = PAGE - ((uintptr_t)(src + done) & (PAGE - 1));
        if (chunk > n - 1 - done)
            chunk = n - 1 - done;
        if (transfer(dst + done, src + done, chunk, 0) != 0) {
            dst[0] = 0;
            return -EFAULT;
        }
        for (size_t i = done; i < done + chunk; i++)
            if (dst[i] == 0)
                return (int64_t)i + 1;
        done += chunk;
    }
    dst[done] = 0;
    return (int64_t)done + 1;
}
