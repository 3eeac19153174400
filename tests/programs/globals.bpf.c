// Global data in every kind of section, strings and bpf-to-bpf calls.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

struct config {
	u32 limit;
	u8 verbose;
	char tag[8];
};

const volatile struct config cfg = { .limit = 100, .verbose = 1, .tag = "demo" };  /* .rodata */
u64 hits = 7;                                       /* .data */
u64 total;                                          /* .bss */
int custom_counter SEC(".data.custom") = 42;        /* custom data section */
static const char greeting[] = "hello from bpftime";

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, u32);
	__type(value, char[32]);
} names SEC(".maps");

static __noinline u64 clamp(u64 v)
{
	return v > cfg.limit ? cfg.limit : v;
}

__noinline u64 accumulate(u64 v)
{
	total += clamp(v);
	custom_counter++;
	return total;
}

SEC("uprobe//proc/self/exe:work")
int BPF_KPROBE(on_work, u64 n)
{
	u32 key = 0;
	char *slot = bpf_map_lookup_elem(&names, &key);

	hits++;
	accumulate(n);
	if (slot)
		bpf_probe_read_kernel_str(slot, 32, "a literal string");
	if (cfg.verbose)
		bpf_printk("%s: %s %llu", cfg.tag, greeting, total);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
