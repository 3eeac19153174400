/* The Internet checksum (RFC 1071) of a 1,500-byte packet, 16 bits at a time. */
#include "bench.h"

SEC("xdp")
int checksum(struct xdp_md *ctx)
{
    PACKET(ctx, data, PACKET_LEN);
    __u64 sum = 0;
    for (int i = 0; i < PACKET_LEN; i += 2)
        sum += (__u32)data[i] << 8 | data[i + 1];
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (__u16)~sum;
}

char LICENSE[] SEC("license") = "GPL";
