/* Bubble sort of the packet's first 64 32-bit words with a branch-free
 * compare-exchange (the kernel's verifier would otherwise explore every swap
 * decision); returns a position-weighted sum of the sorted words. */
#include "bench.h"

#define N 64

SEC("xdp")
int bubble_sort(struct xdp_md *ctx)
{
    PACKET(ctx, data, N * 4);
    __u32 v[N];
    for (int i = 0; i < N; i++)
        v[i] = ((__u32 *)data)[i];
    for (int i = 0; i < N - 1; i++) {
        for (int j = 0; j < N - 1 - i; j++) {
            __u64 a = v[j], b = v[j + 1];
            __u64 less = (__u64)((__s64)(a - b) >> 63);   /* all ones if a < b */
            __u64 lo = b ^ ((a ^ b) & less);
            v[j] = lo;
            v[j + 1] = a ^ b ^ lo;
        }
    }
    __u32 sum = 0;
    for (int i = 0; i < N; i++)
        sum = sum * 31 + v[i];
    return sum;
}

char LICENSE[] SEC("license") = "GPL";
