// Per-process call counter: a uprobe on a function of the traced program counts
// calls per pid in a hash map.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, u32);
	__type(value, u64);
} calls SEC(".maps");

static __always_inline void count(void)
{
	u32 pid = bpf_get_current_pid_tgid() >> 32;
	u64 one = 1, *n = bpf_map_lookup_elem(&calls, &pid);

	if (n)
		__sync_fetch_and_add(n, 1);
	else
		bpf_map_update_elem(&calls, &pid, &one, BPF_NOEXIST);
}

SEC("uprobe//proc/self/exe:target_function")
int BPF_KPROBE(count_target, int arg)
{
	count();
	return 0;
}

SEC("uprobe")
int count_any(struct pt_regs *ctx)
{
	count();
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
