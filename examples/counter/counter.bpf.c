// Counts the calls of demo_target() in the demo host (examples/host/demo.c).
#include <linux/bpf.h>
#include <linux/ptrace.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} hits SEC(".maps");

SEC("uprobe/demo:demo_target")
int BPF_KPROBE(count_target, long x)
{
	__u32 key = 0;
	__u64 *value = bpf_map_lookup_elem(&hits, &key);

	__u64 before = 0;

	if (value)
		before = __sync_fetch_and_add(value, 1);
	if (x == 0)
		bpf_printk("demo_target(%ld) in thread %u, hit %llu", x,
			   (__u32)bpf_get_current_pid_tgid(), before + 1);
	return 0;
}

/* Does nothing: with --prog nothing --attach nothing=uprobe:demo:demo_target it
 * measures what the hook alone costs (bench/uprobe_overhead.py). Its section names
 * no entry, so a plain `bpftime load` of this object leaves it out. */
SEC("uprobe")
int nothing(struct pt_regs *ctx)
{
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
