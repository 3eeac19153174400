// bpf_loop with a callback (address of a subprogram, lddw src=BPF_PSEUDO_FUNC):
// sum the squares of 1..n for the first argument n of the traced function.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

struct ctx_sum {
	u64 total;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, u64);
} result SEC(".maps");

static int add_square(u32 index, struct ctx_sum *c)
{
	u64 i = index + 1;

	c->total += i * i;
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(sum_squares, u32 n)
{
	struct ctx_sum c = { 0 };
	u32 key = 0;

	bpf_loop(n > 1000 ? 1000 : n, add_square, &c, 0);
	bpf_map_update_elem(&result, &key, &c.total, BPF_ANY);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
