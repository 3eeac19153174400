// reason: uninitialized stack
// A key struct with a hole passed to a helper: the padding is never written.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

struct key { u8 kind; u64 id; };

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, struct key);
	__type(value, u64);
} seen SEC(".maps");

SEC("uprobe")
int note(void *ctx)
{
	struct key k;
	u64 one = 1;

	k.kind = 1;
	k.id = bpf_get_current_pid_tgid();
	bpf_map_update_elem(&seen, &k, &one, BPF_ANY);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
