/* Naive search of a 1,500-byte packet for the 8-byte needle "bpftime!"; returns
 * its offset plus 1000 times the number of bytes that matched a needle's first byte. */
#include "bench.h"

SEC("xdp")
int string_scan(struct xdp_md *ctx)
{
    PACKET(ctx, data, PACKET_LEN);
    const char needle[8] = "bpftime!";
    __u32 starts = 0;
    for (int i = 0; i + 8 <= PACKET_LEN; i++) {
        if (data[i] != needle[0])
            continue;
        starts++;
        int j = 1;
        for (; j < 8; j++)
            if (data[i + j] != needle[j])
                break;
        if (j == 8)
            return i + 1000 * starts;
    }
    return 0xffff + 1000 * starts;
}

char LICENSE[] SEC("license") = "GPL";
