// Forces an AOF flush after every 10th change to the data set (class "durability" of
// specs/redis.durability.yaml: read(c), write(c.flags), the server global).
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "redis.h"

extern const struct redisServer server __ksym;

SEC("uprobe")
int BPF_KPROBE(force_aof_on_write, client *c, int flags)
{
	if ((unsigned long long)server.dirty % 10 == 9)
		c->flags |= CLIENT_FORCE_AOF;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
