// A URL firewall for nginx (class "firewall" of specs/nginx.firewall.yaml): answers 403
// to "/admin..." and to paths containing "/../", counting refusals per client address.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "nginx.h"

extern u64 ngx_time(void) __ksym;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, u32);
	__type(value, u64);
} refused SEC(".maps");

SEC("uprobe")
int BPF_KPROBE(check_request, ngx_http_request_t *r)
{
	char uri[8] = {};
	u32 addr = r->client_addr;
	u64 now = ngx_time(), *seen;

	if (bpf_probe_read_user(uri, sizeof(uri), r->uri.data) != 0)
		return 0;
	if (!(uri[1] == 'a' && uri[2] == 'd' && uri[3] == 'm' && uri[4] == 'i' && uri[5] == 'n') &&
	    !(uri[1] == '.' && uri[2] == '.' && uri[3] == '/'))
		return 0;
	r->headers_out.status = 403;
	seen = bpf_map_lookup_elem(&refused, &addr);
	if (seen)
		*seen = now;
	else
		bpf_map_update_elem(&refused, &addr, &now, BPF_ANY);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
