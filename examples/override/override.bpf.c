// Makes demo_check() in the demo host return FORCED (default 1, "granted")
// without running its body: the bpftime form of error injection.
#include <linux/bpf.h>
#include <linux/ptrace.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#ifndef FORCED
#define FORCED 1
#endif

SEC("uprobe/demo:demo_check")
int force_check(struct pt_regs *ctx)
{
	bpf_override_return(ctx, FORCED);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
