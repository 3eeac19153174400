// Streams one event per call of demo_event(id, name) through a ring buffer.
#include <linux/bpf.h>
#include <linux/ptrace.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

struct event {
	__u32 pid;
	__u32 tid;
	__s64 id;
	char name[16];
};

/* Keeps struct event in the object's BTF, so `--event-type event` can decode it. */
const struct event *unused_event __attribute__((unused));

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} events SEC(".maps");

SEC("uprobe/demo:demo_event")
int BPF_KPROBE(on_event, long id, const char *name)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);

	if (!e)
		return 0;
	e->pid = pid_tgid >> 32;
	e->tid = (__u32)pid_tgid;
	e->id = id;
	if (bpf_probe_read_user_str(e->name, sizeof(e->name), name) < 0)
		e->name[0] = 0;
	bpf_ringbuf_submit(e, 0);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
