// Counts requests of tests/hosts/demo_host by status (class "observer" of
// specs/demo.observer.yaml: read(r), the demo_counter global, map helpers).
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "demo.h"

extern const volatile long long demo_counter __ksym;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, u32);
	__type(value, u64);
} per_status SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, u64);
} last_counter SEC(".maps");

SEC("uprobe")
int BPF_KPROBE(count_requests, struct request *r)
{
	u32 status = r->status;	/* a direct load from host memory (read(r)) */
	u64 none = 0, *n = bpf_map_lookup_elem(&per_status, &status);
	u32 zero = 0;
	u64 counter = demo_counter;

	if (!n) {	/* first of this status: threads racing here all create 0, then add */
		bpf_map_update_elem(&per_status, &status, &none, BPF_NOEXIST);
		n = bpf_map_lookup_elem(&per_status, &status);
	}
	if (n)
		__sync_fetch_and_add(n, 1);
	bpf_map_update_elem(&last_counter, &zero, &counter, BPF_ANY);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
