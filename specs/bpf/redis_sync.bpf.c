// When call() returns, flushes the AOF buffer once it holds more than 64 bytes
// (class "syncAfterWrite" of specs/redis.durability.yaml: the server global, flushAof, io).
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "redis.h"

extern const struct redisServer server __ksym;
extern void flushAppendOnlyFile(int force) __ksym;

SEC("uretprobe")
int sync_after_write(struct pt_regs *ctx)
{
	if (server.aof_buf_len > 64)
		flushAppendOnlyFile(1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
