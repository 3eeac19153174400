// reason: invalid write of map value (out of bounds)
// An index taken from the traced function's argument, checked against the wrong bound.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

struct slots { u64 v[8]; };

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct slots);
} table SEC(".maps");

SEC("uprobe")
int BPF_KPROBE(store, u64 idx)
{
	u32 key = 0;
	struct slots *s = bpf_map_lookup_elem(&table, &key);

	if (!s || idx > 8)	/* should be idx >= 8 */
		return 0;
	s->v[idx] = 1;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
