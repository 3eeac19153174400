// BTF-defined maps in full: map-in-map with inner map definitions and initial slots,
// a prog array with an initial program, flags, struct keys and values.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

struct key {
	u32 pid;
	u16 port;
	u8 proto;
};

struct value {
	u64 bytes;
	char name[16];
	enum xdp_action verdict;
};

struct inner {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 8);
	__type(key, u32);
	__type(value, u64);
} inner_a SEC(".maps"), inner_b SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 4);
	__type(key, u32);
	__array(values, struct inner);
} outer SEC(".maps") = {
	.values = { [0] = &inner_a, [2] = &inner_b },
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 512);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct key);
	__type(value, struct value);
} flows SEC(".maps");

SEC("uprobe")
int tail_target(void *ctx)
{
	return 1;
}

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 2);
	__type(key, u32);
	__array(values, int (void *));
} jumps SEC(".maps") = {
	.values = { [1] = (void *)&tail_target },
};

SEC("uprobe")
int lookup_nested(void *ctx)
{
	u32 slot = 2, idx = 0;
	struct key k = { .pid = 1, .port = 80, .proto = 6 };
	struct value *v = bpf_map_lookup_elem(&flows, &k);
	void *in = bpf_map_lookup_elem(&outer, &slot);
	u64 *n;

	if (v)
		v->bytes += 1;
	if (!in) {
		bpf_tail_call(ctx, &jumps, 1);
		return 0;
	}
	n = bpf_map_lookup_elem(in, &idx);
	return n ? *n : 0;
}

char LICENSE[] SEC("license") = "GPL";
