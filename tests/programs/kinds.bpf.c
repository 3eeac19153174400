// Every BTF kind clang 14 emits: float, union, forward declaration, restrict,
// volatile, decl tags (on a struct member, a variable and a function) and type tags.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#define __tag(x) __attribute__((btf_decl_tag(x)))
#define __user_ptr __attribute__((btf_type_tag("user")))

struct opaque;

union number {
	u64 bits;
	double real;
};

enum level { LOW = -1, HIGH = 1 };

struct sample {
	union number n;
	float ratio;
	enum level level;
	struct opaque *handle;
	int __user_ptr *user_data;
	volatile u32 seq __tag("sequence");
	u8 bits:3, more:5;
};

struct sample last __tag("latest") = {};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct sample);
} samples SEC(".maps");

static __noinline __tag("helper") int copy(struct sample *restrict dst, const struct sample *restrict src)
{
	dst->n.bits = src->n.bits;
	dst->seq = src->seq + 1;
	return 0;
}

SEC("uprobe")
int record(void *ctx)
{
	u32 key = 0;
	struct sample *s = bpf_map_lookup_elem(&samples, &key);

	if (!s)
		return 0;
	return copy(&last, s);
}

char LICENSE[] SEC("license") = "GPL";
