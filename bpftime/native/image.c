/* Program images: executable copies of JIT output with their link table filled. */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "runtime.h"

/* Maps `code` read-write, writes `n_slots` 8-byte link slots at `slots_offset`, then
 * makes it read+execute. Returns the base, or NULL with errno set. */
BPFTIME_API void *bpftime_image_map(const uint8_t *code, size_t len, size_t slots_offset,
                                    const uint64_t *slot_values, size_t n_slots)
{
    if (len == 0 || !code || slots_offset > len || n_slots > (len - slots_offset) / 8 ||
        (n_slots && !slot_values)) {
        errno = EINVAL;
        return NULL;
    }
    size_t size = bpftime_page_round(len);
    void *base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED)
        return NULL;
    memcpy(base, code, len);
    memcpy((char *)base + slots_offset, slot_values, n_slots * 8);
    if (mprotect(base, size, PROT_READ | PROT_EXEC) != 0) {
        int saved = errno;
        munmap(base, size);
        errno = saved;
        return NULL;
    }
    return base;
}

/* Unmaps an image returned by bpftime_image_map (same len). 0, or -errno. */
BPFTIME_API int bpftime_image_unmap(void *base, size_t len)
{
    if (!base || len == 0)
        return -EINVAL;
    if (munmap(base, bpftime_page_round(len)) != 0)
        return -errno;
    return 0;
}
