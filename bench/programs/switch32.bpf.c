/* A 32-way switch on each of the packet's first 512 bytes. */
#include "bench.h"

SEC("xdp")
int switch32(struct xdp_md *ctx)
{
    PACKET(ctx, data, 512);
    __u32 h = 0x811c9dc5;
    for (int i = 0; i < 512; i++) {
        __u32 b = data[i];
        switch (b & 31) {
        case 0: h += b; break;
        case 1: h ^= b << 3; break;
        case 2: h -= b * 7; break;
        case 3: h = h * 31 + b; break;
        case 4: h ^= h >> 5; break;
        case 5: h += 0x9e3779b9; break;
        case 6: h = (h << 7) | (h >> 25); break;
        case 7: h ^= 0xdeadbeef; break;
        case 8: h += b << 16; break;
        case 9: h -= h >> 3; break;
        case 10: h *= 3; break;
        case 11: h ^= b * 0x01010101; break;
        case 12: h += i; break;
        case 13: h ^= i << 8; break;
        case 14: h = h * 5 + 1; break;
        case 15: h -= 0x12345; break;
        case 16: h ^= h << 13; break;
        case 17: h += h >> 11; break;
        case 18: h = ~h; break;
        case 19: h ^= b + i; break;
        case 20: h += b * b; break;
        case 21: h -= i * 3; break;
        case 22: h ^= 0x55555555; break;
        case 23: h = (h >> 3) | (h << 29); break;
        case 24: h += 17; break;
        case 25: h ^= b << 24; break;
        case 26: h *= 0x01000193; break;
        case 27: h -= b; break;
        case 28: h ^= h >> 16; break;
        case 29: h += i * i; break;
        case 30: h |= b; break;
        default: h &= ~b; break;
        }
    }
    return h;
}

char LICENSE[] SEC("license") = "GPL";
