"""Kernel-style prototypes of the eBPF helpers bpftime knows, by helper id.

The verifier checks every helper call against these (argument kinds, return kind);
the interpreter checks each native helper call's arguments by them at run time
(bpftime.vm.native), and `policy.memory_policy` grants every helper listed. The
kinds mirror the kernel's
`enum bpf_arg_type` / `enum bpf_return_type`, reduced to what user space needs.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from bpftime.kernel_abi import HELPER_IDS


class Arg(str, Enum):
    ANYTHING = "anything"              # any initialized value
    CONST_MAP_PTR = "map_ptr"          # a map from lddw
    MAP_KEY = "map_key"                # readable memory of the map's key size
    MAP_VALUE = "map_value"            # readable memory of the map's value size
    UNINIT_MAP_VALUE = "uninit_map_value"  # writable memory of the value size
    MEM = "mem"                        # readable, initialized memory; size in the next arg
    UNINIT_MEM = "uninit_mem"          # writable memory the helper fills; size in the next arg
    MEM_OR_NULL = "mem_or_null"        # as MEM, or the constant 0
    CONST_SIZE = "const_size"          # size of the preceding memory argument, > 0
    CONST_SIZE_OR_ZERO = "const_size_or_zero"
    CONST_ALLOC_SIZE = "const_alloc_size"  # a known constant (ringbuf_reserve)
    CTX = "ctx"                        # the program's context pointer
    RINGBUF_RECORD = "ringbuf_record"  # a reserved ringbuf record, released by the call
    FUNC = "func"                      # address of a subprogram (callback)
    PTR_OR_NULL = "ptr_or_null"        # any pointer or 0, passed through to a callback
    CONST_STR = "const_str"            # a NUL-terminated string in read-only global data


class Ret(str, Enum):
    INTEGER = "integer"
    VOID = "void"
    MAP_VALUE_OR_NULL = "map_value_or_null"
    RINGBUF_MEM_OR_NULL = "ringbuf_mem_or_null"


@dataclass(frozen=True)
class HelperProto:
    name: str
    args: tuple[Arg, ...]
    ret: Ret = Ret.INTEGER

    @property
    def id(self) -> int:
        return HELPER_IDS[self.name]


A = Arg
_PROTOS = [
    HelperProto("map_lookup_elem", (A.CONST_MAP_PTR, A.MAP_KEY), Ret.MAP_VALUE_OR_NULL),
    HelperProto("map_update_elem", (A.CONST_MAP_PTR, A.MAP_KEY, A.MAP_VALUE, A.ANYTHING)),
    HelperProto("map_delete_elem", (A.CONST_MAP_PTR, A.MAP_KEY)),
    HelperProto("map_push_elem", (A.CONST_MAP_PTR, A.MAP_VALUE, A.ANYTHING)),
    HelperProto("map_pop_elem", (A.CONST_MAP_PTR, A.UNINIT_MAP_VALUE)),
    HelperProto("map_peek_elem", (A.CONST_MAP_PTR, A.UNINIT_MAP_VALUE)),
    HelperProto("map_lookup_percpu_elem", (A.CONST_MAP_PTR, A.MAP_KEY, A.ANYTHING),
                Ret.MAP_VALUE_OR_NULL),
    HelperProto("probe_read", (A.UNINIT_MEM, A.CONST_SIZE_OR_ZERO, A.ANYTHING)),
    HelperProto("probe_read_str", (A.UNINIT_MEM, A.CONST_SIZE_OR_ZERO, A.ANYTHING)),
    HelperProto("probe_read_user", (A.UNINIT_MEM, A.CONST_SIZE_OR_ZERO, A.ANYTHING)),
    HelperProto("probe_read_user_str", (A.UNINIT_MEM, A.CONST_SIZE_OR_ZERO, A.ANYTHING)),
    HelperProto("probe_read_kernel", (A.UNINIT_MEM, A.CONST_SIZE_OR_ZERO, A.ANYTHING)),
    HelperProto("probe_read_kernel_str", (A.UNINIT_MEM, A.CONST_SIZE_OR_ZERO, A.ANYTHING)),
    HelperProto("probe_write_user", (A.ANYTHING, A.MEM, A.CONST_SIZE)),
    HelperProto("ktime_get_ns", ()),
    HelperProto("ktime_get_boot_ns", ()),
    HelperProto("ktime_get_coarse_ns", ()),
    HelperProto("jiffies64", ()),
    # as in the kernel, r3-r5 are not checked: the format decides which are read (safely)
    HelperProto("trace_printk", (A.MEM, A.CONST_SIZE)),
    HelperProto("trace_vprintk", (A.MEM, A.CONST_SIZE, A.MEM_OR_NULL, A.CONST_SIZE_OR_ZERO)),
    HelperProto("snprintf", (A.UNINIT_MEM, A.CONST_SIZE_OR_ZERO, A.CONST_STR, A.MEM_OR_NULL,
                             A.CONST_SIZE_OR_ZERO)),
    HelperProto("get_prandom_u32", ()),
    HelperProto("get_smp_processor_id", ()),
    HelperProto("get_current_pid_tgid", ()),
    HelperProto("get_current_uid_gid", ()),
    HelperProto("get_current_comm", (A.UNINIT_MEM, A.CONST_SIZE)),
    HelperProto("get_current_task", ()),
    HelperProto("get_current_cgroup_id", ()),
    HelperProto("send_signal", (A.ANYTHING,)),
    HelperProto("perf_event_output", (A.CTX, A.CONST_MAP_PTR, A.ANYTHING, A.MEM,
                                      A.CONST_SIZE_OR_ZERO)),
    HelperProto("get_stackid", (A.CTX, A.CONST_MAP_PTR, A.ANYTHING)),
    HelperProto("get_stack", (A.CTX, A.UNINIT_MEM, A.CONST_SIZE_OR_ZERO, A.ANYTHING)),
    HelperProto("get_func_ip", (A.CTX,)),
    HelperProto("get_attach_cookie", (A.CTX,)),
    HelperProto("override_return", (A.CTX, A.ANYTHING)),
    HelperProto("ringbuf_output", (A.CONST_MAP_PTR, A.MEM, A.CONST_SIZE_OR_ZERO, A.ANYTHING)),
    HelperProto("ringbuf_reserve", (A.CONST_MAP_PTR, A.CONST_ALLOC_SIZE, A.ANYTHING),
                Ret.RINGBUF_MEM_OR_NULL),
    HelperProto("ringbuf_submit", (A.RINGBUF_RECORD, A.ANYTHING), Ret.VOID),
    HelperProto("ringbuf_discard", (A.RINGBUF_RECORD, A.ANYTHING), Ret.VOID),
    HelperProto("ringbuf_query", (A.CONST_MAP_PTR, A.ANYTHING)),
    HelperProto("loop", (A.ANYTHING, A.FUNC, A.PTR_OR_NULL, A.ANYTHING)),
    HelperProto("tail_call", (A.CTX, A.CONST_MAP_PTR, A.ANYTHING)),
    HelperProto("strncmp", (A.MEM, A.CONST_SIZE, A.CONST_STR)),
]
PROTOS: dict[int, HelperProto] = {p.id: p for p in _PROTOS}

# The helpers of a default tracing class (a bare object, like a kernel uprobe):
# no writes to the host, no signals, no `return`. In user space the probe_read
# family all read the host's own memory, so the kernel variants are plain reads too.
TRACING_HELPERS: frozenset[int] = frozenset(
    HELPER_IDS[n] for n in (
        "map_lookup_elem", "map_update_elem", "map_delete_elem", "map_push_elem",
        "map_pop_elem", "map_peek_elem", "map_lookup_percpu_elem", "probe_read_user",
        "probe_read_user_str", "probe_read", "probe_read_str", "probe_read_kernel",
        "probe_read_kernel_str", "ktime_get_ns", "ktime_get_boot_ns", "ktime_get_coarse_ns",
        "jiffies64", "trace_printk", "trace_vprintk", "snprintf", "get_prandom_u32",
        "get_smp_processor_id", "get_current_pid_tgid", "get_current_uid_gid",
        "get_current_comm", "perf_event_output", "get_stackid", "get_stack", "get_func_ip",
        "get_attach_cookie", "ringbuf_output", "ringbuf_reserve", "ringbuf_submit",
        "ringbuf_discard", "ringbuf_query", "loop", "tail_call", "strncmp",
    )
)
