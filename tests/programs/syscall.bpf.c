// Syscall tracepoints with vmlinux.h-style context structs: count openat calls by
// flags on entry, record failures on exit; and a raw tracepoint.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, u32);
	__type(value, u64);
} stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 128);
	__type(key, u32);
	__type(value, char[64]);
} last_path SEC(".maps");

SEC("tracepoint/syscalls/sys_enter_openat")
int enter_openat(struct trace_event_raw_sys_enter *ctx)
{
	u32 pid = bpf_get_current_pid_tgid() >> 32, key = 0;
	char path[64] = {};
	u64 *n;

	bpf_probe_read_user_str(path, sizeof(path), (const char *)ctx->args[1]);
	bpf_map_update_elem(&last_path, &pid, path, BPF_ANY);
	n = bpf_map_lookup_elem(&stats, &key);
	if (n)
		*n += 1;
	return 0;
}

SEC("tp/syscalls/sys_exit_openat")
int exit_openat(struct trace_event_raw_sys_exit *ctx)
{
	u32 key = 1;
	u64 *n;

	if (ctx->ret >= 0)
		return 0;
	n = bpf_map_lookup_elem(&stats, &key);
	if (n)
		*n += 1;
	return 0;
}

SEC("raw_tracepoint/sched_switch")
int on_switch(void *ctx)
{
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
