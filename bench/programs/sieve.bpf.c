/* Sieve of Eratosthenes below 2,048 in a stack bitmap; the packet's first byte
 * moves the upper bound so the work depends on the input. Returns the prime count. */
#include "bench.h"

#define LIMIT 2048

SEC("xdp")
int sieve(struct xdp_md *ctx)
{
    PACKET(ctx, data, 1);
    __u64 composite[LIMIT / 64] = {};
    __u32 limit = LIMIT - (data[0] & 63);
    __u32 count = 0;
    for (__u32 i = 2; i < LIMIT; i++) {
        if (i >= limit)
            break;
        if (composite[i / 64] & (1ull << (i % 64)))
            continue;
        count++;
        for (__u32 j = i * i; j < LIMIT; j += i)
            composite[j / 64] |= 1ull << (j % 64);
    }
    return count;
}

char LICENSE[] SEC("license") = "GPL";
