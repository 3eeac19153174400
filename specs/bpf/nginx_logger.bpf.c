// Writes the first bytes of each finished request's URI to nginx's access log through
// the host's ngx_write_access_log (class "logger" of specs/nginx.firewall.yaml: io).
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "nginx.h"

extern long ngx_write_access_log(void *buf, u64 len) __ksym;

SEC("uprobe")
int BPF_KPROBE(log_request, ngx_http_request_t *r, long rc)
{
	char line[32] = {};

	bpf_probe_read_user(line, 24, r->uri.data);
	line[30] = rc == 0 ? '+' : '-';
	line[31] = '\n';
	ngx_write_access_log(line, sizeof(line));
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
