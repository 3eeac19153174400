/* A hash-map-heavy loop: counts the packet's first 128 bytes by value in a hash
 * map (lookup, then update or insert), then sums the counts of 16 values. */
#include "bench.h"

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 256);
    __type(key, __u32);
    __type(value, __u64);
} counts SEC(".maps");

SEC("xdp")
int hash_loop(struct xdp_md *ctx)
{
    PACKET(ctx, data, 128);
    for (int i = 0; i < 128; i++) {
        __u32 key = data[i];
        __u64 *n = bpf_map_lookup_elem(&counts, &key);
        if (n) {
            __sync_fetch_and_add(n, 1);
        } else {
            __u64 one = 1;
            bpf_map_update_elem(&counts, &key, &one, BPF_NOEXIST);
        }
    }
    __u64 total = 0;
    for (__u32 key = 0; key < 16; key++) {
        __u64 *n = bpf_map_lookup_elem(&counts, &key);
        if (n)
            total += *n;
    }
    return total;
}

char LICENSE[] SEC("license") = "GPL";
