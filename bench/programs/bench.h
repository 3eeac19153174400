/* Shared by the compute benchmarks: every program is XDP, reads its input as the
 * packet, and returns a 32-bit result (BPF_PROG_TEST_RUN reports r0 as a u32). */
#ifndef BENCH_H
#define BENCH_H
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#define PACKET_LEN 1500

/* The packet bounds; 0 from the program when the packet is shorter than `len`. */
#define PACKET(ctx, data, len)                                              \
    unsigned char *data = (unsigned char *)(long)(ctx)->data;               \
    if (data + (len) > (unsigned char *)(long)(ctx)->data_end)              \
        return 0

#endif
