// Refuses demo_host requests whose path checksum is odd (class "rewriter" of
// specs/demo.observer.yaml: write(r.status), write(r.peer.port), the checksum function).
// With it, demo_host N T prints status = 200 * ok + 403 * refused.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "demo.h"

extern u64 checksum(struct request *r, u64 n) __ksym;

SEC("uprobe")
int BPF_KPROBE(rewrite_status, struct request *r)
{
	if (checksum(r, 4) & 1) {
		r->status = 403;
		r->peer.port = 9090;
	}
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
