// Maps declared the legacy way: struct bpf_map_def in the "maps" section (the
// layout old libbpf versions and iproute2 use), on a socket filter and a kprobe.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

struct bpf_map_def {
	unsigned int type;
	unsigned int key_size;
	unsigned int value_size;
	unsigned int max_entries;
	unsigned int map_flags;
};

struct bpf_map_def SEC("maps") packets = {
	.type = BPF_MAP_TYPE_ARRAY,
	.key_size = sizeof(u32),
	.value_size = sizeof(u64),
	.max_entries = 256,
};

struct bpf_map_def SEC("maps") by_len = {
	.type = BPF_MAP_TYPE_HASH,
	.key_size = sizeof(u32),
	.value_size = sizeof(u64),
	.max_entries = 64,
	.map_flags = BPF_F_NO_PREALLOC,
};

SEC("socket")
int count_packets(struct __sk_buff *skb)
{
	u32 key = skb->protocol & 0xff, len = skb->len;
	u64 *n = bpf_map_lookup_elem(&packets, &key), one = 1;

	if (n)
		__sync_fetch_and_add(n, 1);
	if (!bpf_map_lookup_elem(&by_len, &len))
		bpf_map_update_elem(&by_len, &len, &one, BPF_ANY);
	return 0;
}

SEC("kprobe/do_sys_openat2+8")
int on_open(void *ctx)
{
	u32 key = 0;
	u64 *n = bpf_map_lookup_elem(&packets, &key);

	if (n)
		*n += 1;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
