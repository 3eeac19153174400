// Externs as EIM grants them: host functions called like kfuncs and a host variable
// read as a typed ksym, plus a weak extern function and a kconfig variable.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

extern u64 host_time(void) __ksym;
extern int host_copy(void *dst, const void *src, u64 n) __ksym;
extern void host_optional(u32 code) __ksym __weak;
extern const int host_pid __ksym;
extern unsigned int LINUX_KERNEL_VERSION __kconfig;

SEC("uprobe//proc/self/exe:handle")
int BPF_KPROBE(on_handle, void *buf)
{
	char local[8] = {};
	u64 t = host_time();

	host_copy(local, buf, sizeof(local));
	if (host_optional)
		host_optional(LINUX_KERNEL_VERSION);
	return t + host_pid;
}

char LICENSE[] SEC("license") = "GPL";
