// Two programs in one section sharing a subprogram, and global data holding a
// pointer to other global data (an R_BPF_64_ABS64 relocation in .data).
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

u32 counter_a = 1;
u32 *which = &counter_a;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, u32);
	__type(value, u64);
} hits SEC(".maps");

static __noinline int bump(u32 key)
{
	u64 *v = bpf_map_lookup_elem(&hits, &key);

	if (v)
		*v += 1;
	return 0;
}

SEC("xdp")
int first(struct xdp_md *ctx)
{
	bump(0);
	return XDP_PASS;
}

SEC("xdp")
int second(struct xdp_md *ctx)
{
	counter_a++;
	bump(1);
	return XDP_DROP;
}

char LICENSE[] SEC("license") = "GPL";
