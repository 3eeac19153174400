"""Where a program attaches, parsed from its ELF section name as libbpf does
(`uprobe/BINARY:FUNC[+OFF]`, `tracepoint/CATEGORY/NAME`, `kprobe/FUNC[+OFF]`, …)."""
from __future__ import annotations

from dataclasses import dataclass

from bpftime.errors import LoadError

# Section prefix -> attach kind (libbpf's section names and their aliases).
_KINDS: dict[str, str] = {
    "uprobe": "uprobe", "uprobe.s": "uprobe", "uretprobe": "uretprobe", "uretprobe.s": "uretprobe",
    "kprobe": "kprobe", "kretprobe": "kretprobe", "ksyscall": "ksyscall", "kretsyscall": "kretsyscall",
    "tracepoint": "tracepoint", "tp": "tracepoint",
    "raw_tracepoint": "raw_tracepoint", "raw_tp": "raw_tracepoint",
    "raw_tracepoint.w": "raw_tracepoint", "raw_tp.w": "raw_tracepoint",
    "tp_btf": "tp_btf", "fentry": "fentry", "fexit": "fexit", "fmod_ret": "fmod_ret",
    "fentry.s": "fentry", "fexit.s": "fexit", "fmod_ret.s": "fmod_ret", "lsm": "lsm", "lsm.s": "lsm",
    "usdt": "usdt", "xdp": "xdp", "xdp.frags": "xdp", "socket": "socket",
    "tc": "tc", "classifier": "tc", "action": "action", "perf_event": "perf_event",
    "syscall": "syscall", "iter": "iter", "iter.s": "iter", "struct_ops": "struct_ops",
    "sk_skb": "sk_skb", "sk_msg": "sk_msg", "sockops": "sockops", "sk_lookup": "sk_lookup",
    "flow_dissector": "flow_dissector", "lwt_in": "lwt_in", "lwt_out": "lwt_out",
    "lwt_xmit": "lwt_xmit", "lwt_seg6local": "lwt_seg6local", "cgroup_skb": "cgroup_skb",
    "cgroup": "cgroup", "cgroup/skb": "cgroup_skb", "cgroup/sock": "cgroup_sock",
    "cgroup/dev": "cgroup_dev", "cgroup/sysctl": "cgroup_sysctl", "sk_reuseport": "sk_reuseport",
}
_SLEEPABLE = {"uprobe.s", "uretprobe.s", "fentry.s", "fexit.s", "fmod_ret.s", "lsm.s", "iter.s"}


@dataclass(frozen=True)
class AttachPoint:
    """`kind` is one of the values of the table above, or `unknown`. `target` is the
    text after the first `/` (None if absent). Uprobes fill `binary`, `function`,
    `offset`; kprobes `function`, `offset`; tracepoints `category`, `function`
    (the event name); raw tracepoints `function`."""

    kind: str
    target: str | None = None
    binary: str | None = None
    function: str | None = None
    offset: int = 0
    category: str | None = None
    sleepable: bool = False

    def __str__(self) -> str:
        return self.kind + (f" {self.target}" if self.target else "")

    def to_json(self) -> dict:
        out: dict = {"kind": self.kind}
        for name in ("target", "binary", "function", "category"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        if self.offset:
            out["offset"] = self.offset
        if self.sleepable:
            out["sleepable"] = True
        return out


def parse_attach(section: str, where: str = "") -> AttachPoint:
    """The attach point of a program in `section`; a malformed target is a LoadError
    naming `where` (file) and the section."""
    prefix, slash, target = section.partition("/")
    if prefix == "cgroup" and slash:
        sub = target.split("/", 1)[0]
        kind = _KINDS.get(f"cgroup/{sub}", "cgroup_" + sub)
        return AttachPoint(kind, target)
    kind = _KINDS.get(prefix)
    if kind is None:
        return AttachPoint("unknown", section)
    sleepable = prefix in _SLEEPABLE
    if not slash or not target:
        return AttachPoint(kind, None, sleepable=sleepable)
    if kind in ("uprobe", "uretprobe"):
        return _uprobe(kind, target, sleepable, f"{where}section {section}")
    if kind in ("kprobe", "kretprobe"):
        func, off = _func_offset(target, f"{where}section {section}")
        if kind == "kretprobe" and off:
            raise LoadError(f"{where}section {section}: a kretprobe cannot have an offset")
        return AttachPoint(kind, target, function=func, offset=off)
    if kind == "tracepoint":
        category, sep, name = target.partition("/")
        if not sep or not category or not name:
            raise LoadError(f"{where}section {section}: expected tracepoint/CATEGORY/NAME")
        return AttachPoint(kind, target, function=name, category=category)
    if kind in ("raw_tracepoint", "tp_btf", "fentry", "fexit", "fmod_ret", "lsm", "ksyscall", "kretsyscall"):
        return AttachPoint(kind, target, function=target, sleepable=sleepable)
    return AttachPoint(kind, target, sleepable=sleepable)


def _uprobe(kind: str, target: str, sleepable: bool, where: str) -> AttachPoint:
    binary, colon, spec = target.rpartition(":")
    if not colon or not binary:
        raise LoadError(f"{where}: expected {kind}/BINARY:FUNCTION[+OFFSET]")
    if not spec:
        raise LoadError(f"{where}: no function or offset after '{binary}:'")
    if _is_number(spec):
        func, off = None, int(spec, 0)
    else:
        func, off = _func_offset(spec, where)
    if kind == "uretprobe" and off and func is not None:
        raise LoadError(f"{where}: a uretprobe cannot have an offset into the function")
    return AttachPoint(kind, target, binary=binary, function=func, offset=off, sleepable=sleepable)


def _func_offset(spec: str, where: str) -> tuple[str, int]:
    func, plus, off = spec.partition("+")
    if not func or not all(c.isalnum() or c in "_.@$" for c in func):
        raise LoadError(f"{where}: bad function name '{func}'")
    if not plus:
        return func, 0
    if not _is_number(off):
        raise LoadError(f"{where}: bad offset '{off}' (expected a number)")
    return func, int(off, 0)


def _is_number(text: str) -> bool:
    try:
        int(text, 0)
    except ValueError:
        return False
    return True
