// Counts malloc() and free() calls of libc, per process.
#include <linux/bpf.h>
#include <linux/ptrace.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

struct counts {
	__u64 mallocs;
	__u64 frees;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, struct counts);
} calls SEC(".maps");

static struct counts *counts_of_this_process(void)
{
	__u32 pid = bpf_get_current_pid_tgid() >> 32;
	struct counts zero = {};
	struct counts *c = bpf_map_lookup_elem(&calls, &pid);

	if (c)
		return c;
	bpf_map_update_elem(&calls, &pid, &zero, BPF_NOEXIST);
	return bpf_map_lookup_elem(&calls, &pid);
}

SEC("uprobe/libc.so.6:malloc")
int count_malloc(struct pt_regs *ctx)
{
	struct counts *c = counts_of_this_process();

	if (c)
		__sync_fetch_and_add(&c->mallocs, 1);
	return 0;
}

SEC("uprobe/libc.so.6:free")
int count_free(struct pt_regs *ctx)
{
	struct counts *c = counts_of_this_process();

	if (c)
		__sync_fetch_and_add(&c->frees, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
