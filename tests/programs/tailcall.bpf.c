// bpf_tail_call through a prog_array libbpf fills from the object (.values): `entry`
// misses (slot 3 is empty) and goes on, then jumps to `first`, which jumps to
// `second`, which jumps to itself until the kernel's limit of 33 tail calls per
// invocation stops it; it returns 40 + the packet's first byte. `visits` counts each
// program's runs (slot 3: the miss went on).
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, u32);
	__type(value, u64);
} visits SEC(".maps");

int first(struct xdp_md *ctx);
int second(struct xdp_md *ctx);

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 4);
	__uint(key_size, sizeof(u32));
	__array(values, int (void *));
} jumps SEC(".maps") = { .values = { [0] = (void *)&first, [1] = (void *)&second } };

static void visit(u32 key)
{
	u64 *n = bpf_map_lookup_elem(&visits, &key);

	if (n)
		*n += 1;
}

SEC("xdp")
int second(struct xdp_md *ctx)
{
	visit(2);
	bpf_tail_call(ctx, &jumps, 1);
	unsigned char *data = (void *)(long)ctx->data;

	if (data + 1 > (unsigned char *)(long)ctx->data_end)
		return 2;
	return 40 + data[0];
}

SEC("xdp")
int first(struct xdp_md *ctx)
{
	visit(1);
	bpf_tail_call(ctx, &jumps, 1);
	return 1;
}

SEC("xdp")
int entry(struct xdp_md *ctx)
{
	visit(0);
	bpf_tail_call(ctx, &jumps, 3);
	visit(3);
	bpf_tail_call(ctx, &jumps, 0);
	return 7;
}

char LICENSE[] SEC("license") = "GPL";
