// reason: unbounded loop
// A loop whose trip count comes from the traced function's argument, with no bound.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

SEC("uprobe")
int BPF_KPROBE(spin, u64 n)
{
	volatile u64 sum = 0;

	for (u64 i = 0; i < n; i++)
		sum += i;
	return sum & 1;
}

char LICENSE[] SEC("license") = "GPL";
