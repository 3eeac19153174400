// reason: null check missing
// A map lookup used without checking for NULL.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, u32);
	__type(value, u64);
} counts SEC(".maps");

SEC("uprobe")
int count(void *ctx)
{
	u32 key = bpf_get_current_pid_tgid() >> 32;
	u64 *v = bpf_map_lookup_elem(&counts, &key);

	*v += 1;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
