"""Calls and returns: helpers (kernel prototypes), host functions and variables
(EIM grants), bpf-to-bpf calls and frames, and the exit rules."""
from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from bpftime.helper_protos import PROTOS, Arg, Ret
from bpftime.isa import CallKind, FP, Insn, MAX_CALL_FRAMES, STACK_SIZE
from bpftime.kernel_abi import BPF_F_RDONLY_PROG, BPF_MAX_LOOPS, MapType, helper_id, helper_name
from bpftime.verifier.diag import Refusal
from bpftime.policy import HostFunction, ValueKind
from bpftime.verifier.scalar import Scalar, U64, loaded_scalar
from bpftime.verifier.state import (NOT_INIT, NULLABLE, Frame, Kind, Mem, Reg, Slot, State, ZERO,
                                    fmt_reg, scalar, stack_byte)

if TYPE_CHECKING:
    from bpftime.verifier.checker import Walker

MAX_MEM_SIZE = 1 << 29

MAPS_OF_MAPS = {MapType.ARRAY_OF_MAPS, MapType.HASH_OF_MAPS}
# Map types each map helper accepts (None: any map type but the special ones).
_SPECIAL_MAPS = {MapType.RINGBUF, MapType.USER_RINGBUF, MapType.PERF_EVENT_ARRAY,
                 MapType.PROG_ARRAY, MapType.STACK_TRACE, MapType.QUEUE, MapType.STACK}
_MAP_TYPES: dict[str, set[MapType] | None] = {
    "map_lookup_elem": None, "map_update_elem": None, "map_delete_elem": None,
    "map_lookup_percpu_elem": {MapType.PERCPU_ARRAY, MapType.PERCPU_HASH, MapType.LRU_PERCPU_HASH},
    "map_push_elem": {MapType.QUEUE, MapType.STACK}, "map_pop_elem": {MapType.QUEUE, MapType.STACK},
    "map_peek_elem": {MapType.QUEUE, MapType.STACK},
    "ringbuf_output": {MapType.RINGBUF}, "ringbuf_reserve": {MapType.RINGBUF},
    "ringbuf_query": {MapType.RINGBUF}, "perf_event_output": {MapType.PERF_EVENT_ARRAY},
    "get_stackid": {MapType.STACK_TRACE}, "tail_call": {MapType.PROG_ARRAY},
}


def call(w: "Walker", pc: int, insn: Insn, st: State) -> list[tuple[int, State]]:
    if insn.uses_reg:  # callx: the register must hold a known helper id
        r = w.read(st, insn.dst)
        if not (r.is_scalar and r.val.is_const):
            raise Refusal(f"R{insn.dst} indirect call through a value not known at "
                          f"verification time ({fmt_reg(r, w.maps)})")
        helper(w, pc, r.val.value, st)
    elif insn.src == CallKind.LOCAL:
        return [(local_call(w, pc, insn.jump_target(pc), st), st)]
    elif insn.src == CallKind.KFUNC:
        host_call(w, pc, insn.imm, st)
    else:
        helper(w, pc, insn.imm, st)
    return [(pc + 1, st)]


# --- bpf-to-bpf ---------------------------------------------------------------------
def local_call(w: "Walker", pc: int, target: int, st: State) -> int:
    if any(f.subprog == target for f in st.frames):
        raise Refusal(f"recursive call to the function at instruction {target}: "
                      f"infinite recursion is not allowed")
    if len(st.frames) >= MAX_CALL_FRAMES:
        raise Refusal(f"the call stack of {len(st.frames) + 1} frames is too deep "
                      f"(at most {MAX_CALL_FRAMES})")
    caller = st.cur
    regs = [NOT_INIT] * 11
    regs[1:6] = caller.regs[1:6]
    regs[FP] = Reg(Kind.STACK, ZERO, frame=len(st.frames))
    st.frames.append(Frame(regs, {}, pc, target))
    w.call_edges.setdefault(caller.subprog, set()).add((pc, target))
    w.stack_depth.setdefault(target, 0)
    return target


def exit_(w: "Walker", pc: int, st: State) -> list[tuple[int, State]]:
    r0 = st.cur.regs[0]
    if r0.kind == Kind.NOT_INIT and len(st.frames) == 1:
        raise Refusal("R0 !read_ok: exit with an uninitialized return value")
    if st.cur.loop_max >= 0:   # end of one bpf_loop iteration
        if not (r0.is_scalar and r0.val.umax <= 1):  # also refuses an uninitialized R0
            raise Refusal(f"bpf_loop callback must return 0 or 1, R0={fmt_reg(r0, w.maps)}")
        if st.refs:
            raise Refusal(f"unreleased reference: the ringbuf record reserved at instruction "
                          f"{held(st)} is neither submitted nor discarded when the callback returns")
        return []
    if len(st.frames) > 1:
        callee = st.frames.pop()
        if r0.kind == Kind.STACK and r0.frame == len(st.frames):
            raise Refusal("returning a pointer to the callee's own stack frame")
        regs = st.cur.regs
        regs[0] = r0   # a void function leaves it uninitialized: the caller can't read it
        for i in range(1, 6):
            regs[i] = NOT_INIT
        return [(callee.callsite + 1, st)]
    w.read(st, 0)
    if r0.is_ptr and not w.policy.allow_pointer_leak:
        raise Refusal(f"pointer leak: R0 ({fmt_reg(r0, w.maps)}) returned "
                      f"(class {w.policy.class_name} does not allow leaking pointers)")
    if st.refs:
        raise Refusal(f"unreleased reference: the ringbuf record reserved at instruction "
                      f"{held(st)} is neither submitted nor discarded on this path")
    return []


def held(st: State) -> int:
    """The instruction that reserved the first reference still held."""
    return next(iter(st.refs.values()))


def max_stack(w: "Walker") -> tuple[int, list[int]]:
    """The deepest combined stack over the call graph and its call sites."""
    best: tuple[int, list[int]] = (0, [])

    def visit(sub: int, total: int, chain: list[int]) -> None:
        nonlocal best
        total += (w.stack_depth.get(sub, 0) + 7) // 8 * 8
        if total > best[0]:
            best = (total, chain)
        for site, callee in w.call_edges.get(sub, ()):
            visit(callee, total, chain + [site])

    visit(0, 0, [])
    return best


# --- helpers ---------------------------------------------------------------------------
def helper(w: "Walker", pc: int, hid: int, st: State) -> None:
    proto = PROTOS.get(hid)
    if proto is None:
        raise Refusal(f"call to unknown or unsupported helper {helper_name(hid)} (id {hid})")
    name = helper_name(hid)
    if hid not in w.policy.helpers:
        raise Refusal(f"helper {name} is not granted to class {w.policy.class_name}")
    if hid == helper_id("override_return") and not w.policy.allow_return:
        raise Refusal(f"{name} needs the `return` grant, which class "
                      f"{w.policy.class_name} does not have")
    if proto.name == "tail_call":
        if w.policy.max_instructions is not None:
            raise Refusal(f"{name}: class {w.policy.class_name} has an instruction limit, which "
                          f"can't be proven across tail calls")
        if st.refs:
            raise Refusal(f"{name} would leak the ringbuf record reserved at instruction {held(st)}")
    regs = st.cur.regs
    map_reg: Reg | None = None
    alloc_size = 0
    callback = -1
    args = proto.args
    for i, kind in enumerate(args):
        regno = i + 1
        r = regs[regno]
        if r.kind == Kind.NOT_INIT:
            raise Refusal(f"R{regno} !read_ok: argument {regno} of {name} is uninitialized")
        if r.kind == Kind.RELEASED:
            raise Refusal(f"R{regno} was released: ringbuf record used after submit/discard "
                          f"(argument {regno} of {name})")
        wrong = f"R{regno} type={fmt_reg(r, w.maps)}: helper argument of the wrong kind, " \
                f"{name} expects {kind.value} for argument {regno}"
        if kind == Arg.ANYTHING:
            continue
        if kind == Arg.CONST_MAP_PTR:
            if r.kind != Kind.MAP_PTR:
                raise Refusal(wrong)
            allowed = _MAP_TYPES.get(proto.name, None)
            mtype = w.maps[r.idx].type
            if (allowed is None and mtype in _SPECIAL_MAPS) or (allowed and mtype not in allowed):
                raise Refusal(f"R{regno} map {w.maps[r.idx].name} of type {mtype} cannot be "
                              f"used with {name}")
            map_reg = r
        elif kind in (Arg.MAP_KEY, Arg.MAP_VALUE, Arg.UNINIT_MAP_VALUE):
            m = w.maps[map_reg.idx]
            size = m.key_size if kind == Arg.MAP_KEY else m.value_size
            mem_arg(w, st, regno, r, size, write=kind == Arg.UNINIT_MAP_VALUE, what=wrong)
        elif kind in (Arg.MEM, Arg.UNINIT_MEM, Arg.MEM_OR_NULL):
            size_reg = regs[regno + 1]
            zero_ok = args[i + 1] == Arg.CONST_SIZE_OR_ZERO
            size = size_arg(w, regno + 1, size_reg, zero_ok, name)
            if kind == Arg.MEM_OR_NULL and r.is_scalar and r.val.is_const and r.val.value == 0:
                continue
            if size or r.is_ptr:
                mem_arg(w, st, regno, r, size, write=kind == Arg.UNINIT_MEM, what=wrong)
        elif kind in (Arg.CONST_SIZE, Arg.CONST_SIZE_OR_ZERO):
            continue  # checked with the memory argument before it
        elif kind == Arg.CONST_ALLOC_SIZE:
            if not (r.is_scalar and r.val.is_const):
                raise Refusal(f"R{regno} {name} needs a constant size, got {fmt_reg(r, w.maps)}")
            alloc_size = r.val.value
        elif kind == Arg.CTX:
            if r.kind != Kind.CTX or not (r.val.is_const and r.val.value == 0):
                raise Refusal(wrong)
        elif kind == Arg.RINGBUF_RECORD:
            if r.kind == Kind.MEM_OR_NULL and r.mem is not None and r.mem.ringbuf:
                raise Refusal(f"R{regno} ringbuf record may be null: null-check it before {name}")
            if r.kind != Kind.MEM or r.mem is None or not r.mem.ringbuf or r.id not in st.refs:
                raise Refusal(wrong)
            if not (r.val.is_const and r.val.value == 0):
                raise Refusal(f"R{regno} {name} needs the record's start, not off={r.val}")
            release(st, r.id)
        elif kind == Arg.FUNC:
            if r.kind != Kind.FUNC:
                raise Refusal(wrong)
            callback = r.idx
        elif kind == Arg.PTR_OR_NULL:
            if not (r.is_ptr or (r.val.is_const and r.val.value == 0)):
                raise Refusal(wrong)
        elif kind == Arg.CONST_STR:
            const_str(w, regno, r, wrong)
    if callback >= 0:
        loop_callback(w, pc, st, callback)
    for i in range(1, 6):
        regs[i] = NOT_INIT
    ret = proto.ret
    if ret == Ret.INTEGER:
        regs[0] = scalar()
    elif ret == Ret.VOID:
        regs[0] = NOT_INIT
    elif ret == Ret.MAP_VALUE_OR_NULL and w.maps[map_reg.idx].type in MAPS_OF_MAPS:
        regs[0] = Reg(Kind.MAP_PTR_OR_NULL, ZERO, idx=w.inner_map(map_reg.idx), id=w.new_id(),
                      origin=pc)
    elif ret == Ret.MAP_VALUE_OR_NULL:
        regs[0] = Reg(Kind.MAP_VALUE_OR_NULL, ZERO, idx=map_reg.idx, id=w.new_id(), origin=pc)
    elif ret == Ret.RINGBUF_MEM_OR_NULL:
        rid = w.new_id()
        st.refs[rid] = pc
        mem = Mem("ringbuf record", alloc_size, writable=True, ringbuf=True)
        regs[0] = Reg(Kind.MEM_OR_NULL, ZERO, mem=mem, id=rid, origin=pc)




def loop_callback(w: "Walker", pc: int, st: State, target: int) -> None:
    """bpf_loop(nr, callback, ctx, flags): verify the callback on its own walk from a
    state covering any iteration, and charge nr times its longest path."""
    if st.refs:   # the callback could release it behind the caller's back
        raise Refusal(f"bpf_loop while the ringbuf record reserved at instruction {held(st)} "
                      f"is held: submit or discard it first")
    regs = st.cur.regs
    flags = regs[4]
    if not (flags.is_scalar and flags.val.is_const and flags.val.value == 0):
        raise Refusal("R4 bpf_loop flags must be 0")
    nr_max = min(regs[1].val.sub32().umax if regs[1].is_scalar else BPF_MAX_LOOPS, BPF_MAX_LOOPS)
    ctx = regs[3]
    if ctx.kind == Kind.STACK:   # earlier iterations may have written any scalar there
        fr = st.frames[ctx.frame]
        fr.stack = {k: Slot(v.init) for k, v in fr.stack.items()}
    if nr_max == 0:
        return
    if len(st.frames) >= MAX_CALL_FRAMES:
        raise Refusal(f"the call stack of {len(st.frames) + 1} frames is too deep "
                      f"(at most {MAX_CALL_FRAMES})")
    inner = st.copy()
    cb_regs = [NOT_INIT] * 11
    cb_regs[1] = scalar(Scalar.urange(0, nr_max - 1))
    cb_regs[2] = ctx
    cb_regs[FP] = Reg(Kind.STACK, ZERO, frame=len(st.frames))
    inner.frames.append(Frame(cb_regs, {}, pc, target, loop_max=nr_max))
    sub = w.nested()
    sub.run(target, inner)
    w.processed += sub.processed
    w.maps_used |= sub.maps_used
    for k, v in sub.stack_depth.items():
        w.stack_depth[k] = max(w.stack_depth.get(k, 0), v)
    for k, v in sub.call_edges.items():
        w.call_edges.setdefault(k, set()).update(v)
    w.call_edges.setdefault(st.cur.subprog, set()).add((pc, target))
    w.extra_cost += nr_max * sub.longest


def const_str(w: "Walker", regno: int, r: Reg, wrong: str) -> None:
    """The kernel's ARG_PTR_TO_CONST_STR: a constant offset into the value of a
    read-only global-data map (.rodata: BPF_F_RDONLY_PROG) with a NUL byte at or
    after it in the section's bytes."""
    if r.kind != Kind.MAP_VALUE:
        raise Refusal(wrong)
    m = w.maps[r.idx]
    if not getattr(m, "flags", 0) & BPF_F_RDONLY_PROG or getattr(m, "initial", None) is None:
        raise Refusal(f"R{regno} does not point to a readonly map ({m.name})")
    if not r.val.is_const:
        raise Refusal(f"R{regno} the string must be at a constant offset into {m.name}, "
                      f"got {fmt_reg(r, w.maps)}")
    off = r.val.value
    if not 0 <= off < m.value_size or 0 not in m.initial[off:]:
        raise Refusal(f"R{regno} the string at off={off} of {m.name} is not zero-terminated")


def size_arg(w: "Walker", regno: int, r: Reg, zero_ok: bool, name: str) -> int:
    """The largest value a size argument may have, after checking its bounds."""
    if not r.is_scalar:
        raise Refusal(f"R{regno} size argument of {name} must be a scalar, "
                      f"got {fmt_reg(r, w.maps)}")
    v = r.val
    if v.smin < 0 or v.umax > MAX_MEM_SIZE:
        raise Refusal(f"R{regno} unbounded size argument of {name} ({fmt_reg(r, w.maps)}): "
                      f"bound it with a comparison first")
    if v.umin == 0 and not zero_ok:
        raise Refusal(f"R{regno} size argument of {name} may be zero ({fmt_reg(r, w.maps)})")
    return v.umax


def mem_arg(w: "Walker", st: State, regno: int, r: Reg, size: int, write: bool, what: str) -> None:
    """Check that `size` bytes at r are readable (initialized) or writable; writes
    leave them initialized."""
    if r.kind in NULLABLE:
        raise Refusal(f"R{regno} invalid mem access '{fmt_reg(r, w.maps)}': "
                      f"null check missing (may be null)")
    if r.kind not in (Kind.STACK, Kind.MAP_VALUE, Kind.MEM, Kind.PACKET):
        raise Refusal(what)
    if size == 0:
        return
    if r.kind == Kind.STACK and write:
        lo = r.val.smin
        hi = r.val.smax + size
        if lo < -STACK_SIZE or hi > 0:
            raise Refusal(f"R{regno} invalid indirect access to stack off={lo} size={size} "
                          f"(out of bounds of the {STACK_SIZE}-byte frame)")
        fr = st.frames[r.frame]
        w.stack_depth[fr.subprog] = max(w.stack_depth.get(fr.subprog, 0), -lo)
        if r.val.is_const:
            for b in range(lo, hi):
                k, slot, bit = stack_byte(fr.stack, b)
                fr.stack[k] = Slot(slot.init | 1 << bit)
        else:
            for b in range(lo, hi):
                k, slot, _ = stack_byte(fr.stack, b)
                if slot.spill is not None:
                    fr.stack[k] = Slot(slot.init)
        return
    # one access per 8 bytes is enough to check bounds and initialization
    step = 8 if r.kind == Kind.STACK else size
    off = 0
    while off < size:
        n = min(step, size - off)
        if r.kind == Kind.STACK and n > 1:
            for b in range(n):
                w.access(st, r, regno, off + b, 1, False, None, -1)
        else:
            w.access(st, r, regno, off, n, write, scalar() if write else None, -1)
        off += n


def release(st: State, rid: int) -> None:
    st.refs.pop(rid, None)
    st.replace_where(lambda x: x.id == rid, lambda x: replace(x, kind=Kind.RELEASED))


# --- host functions and variables (EIM) ---------------------------------------------
def _extern(w: "Walker", index: int, what: str):
    if not 0 <= index < len(w.externs):
        raise Refusal(f"{what} index {index} out of range ({len(w.externs)} externs)")
    return w.externs[index]


def _extern_name(w: "Walker", index: int, what: str) -> str:
    e = _extern(w, index, what)
    return getattr(e, "name", e)


def host_variable(w: "Walker", index: int, pc: int) -> Reg:
    """lddw of an extern: a granted host variable, a kconfig value (read-only), or the
    address of a host function (null for a weak function the class does not grant)."""
    e = _extern(w, index, "extern")
    name = getattr(e, "name", e)
    if getattr(e, "kind", "var") == "func":
        if name in w.policy.functions:
            return Reg(Kind.MEM, ZERO, mem=Mem(f"host function {name}", 0), origin=pc)
        if getattr(e, "weak", False):
            return Reg(Kind.SCALAR, ZERO, origin=pc)
        raise Refusal(f"host function {name} is not granted to class {w.policy.class_name}")
    if getattr(e, "section", "") == ".kconfig":
        size = w.btf.size(e.type_id) if w.btf is not None and e.type_id else 8
        return Reg(Kind.MEM, ZERO, mem=Mem(f"kconfig {name}", size), origin=pc)
    var = w.policy.variables.get(name)
    if var is None:
        raise Refusal(f"host variable {name} is not granted to class {w.policy.class_name}")
    mem = Mem(f"host variable {name}", var.size, writable=var.writable)
    return Reg(Kind.MEM, ZERO, mem=mem, origin=pc)


def host_call(w: "Walker", pc: int, index: int, st: State) -> None:
    name = _extern_name(w, index, "extern function")
    fn = w.policy.functions.get(name)
    if fn is None:
        raise Refusal(f"host function {name} is not granted to class {w.policy.class_name}")
    if fn.does_io and not w.policy.allow_io:
        raise Refusal(f"host function {name} performs io, which class "
                      f"{w.policy.class_name} does not grant")
    regs = st.cur.regs
    params = {pname: (i + 1, vt) for i, (pname, vt) in enumerate(fn.params)}
    for pname, (regno, vt) in params.items():
        r = regs[regno]
        if r.kind in (Kind.NOT_INIT, Kind.RELEASED):
            w.read(st, regno)
        if vt.kind == ValueKind.INT and r.is_ptr and not w.policy.allow_pointer_leak:
            raise Refusal(f"pointer leak: R{regno} ({fmt_reg(r, w.maps)}) passed to {name} "
                          f"as integer {pname}")
        if vt.kind in (ValueKind.PTR, ValueKind.STR) and not r.is_ptr \
                and not (r.val.is_const and r.val.value == 0):
            raise Refusal(f"R{regno} argument {pname} of {name} must be a pointer, "
                          f"got {fmt_reg(r, w.maps)}")

    def value(arg: str | int) -> Scalar:
        if isinstance(arg, int):
            return Scalar.const(arg)
        regno, _ = params[arg]
        r = regs[regno]
        if not r.is_scalar:
            raise Refusal(f"R{regno} {arg} of {name} must be a number")
        return r.val

    def pointer(arg: str, c) -> tuple[int, Reg]:
        regno, _ = params[arg]
        r = regs[regno]
        if r.is_scalar:
            raise Refusal(f"R{regno} {arg} of {name} may be null, violating `{c.text}`")
        return regno, r

    post = []
    for c in fn.constraints:
        if c.kind in ("reads", "writes"):
            regno, r = pointer(c.args[0], c)
            n = value(c.args[1])
            if n.umax > MAX_MEM_SIZE:
                raise Refusal(f"R{params[c.args[1]][0]} unbounded size for `{c.text}` of {name}")
            mem_arg(w, st, regno, r, n.umax, write=c.kind == "writes",
                    what=f"R{regno} {fmt_reg(r, w.maps)} is not memory for `{c.text}` of {name}")
        elif c.kind in ("nonnull", "str"):
            regno, r = pointer(c.args[0], c)
            if r.kind in NULLABLE:
                raise Refusal(f"R{regno} {c.args[0]} of {name} may be null, violating `{c.text}`: "
                              f"null check missing")
            if c.kind == "str":
                mem_arg(w, st, regno, r, 1, write=False, what=f"R{regno} not a string for {name}")
        elif c.kind == "frees":
            regno, r = pointer(c.args[0], c)
            if not r.id:
                raise Refusal(f"R{regno} {name} frees memory the extension did not allocate "
                              f"({fmt_reg(r, w.maps)})")
            post.append(("frees", r.id))
        elif c.kind == "relation":
            if "ret" in c.args:
                post.append(("relation", c))
            elif not _proved(value(c.args[0]), c.op, value(c.args[1]),
                             any(isinstance(a, str) and params[a][1].signed for a in c.args)):
                raise Refusal(f"pre-condition `{c.text}` of {name} not proved: "
                              f"{c.args[0]}={value(c.args[0])}")
        elif c.kind == "alloc":
            post.append(("alloc", c))
    sizes = {p: value(p) for p, (_, vt) in params.items() if vt.kind == ValueKind.INT}
    args = {p: regs[regno] for p, (regno, _) in params.items()}
    for i in range(1, 6):
        regs[i] = NOT_INIT
    regs[0] = _host_result(w, fn, pc, sizes, args, post)
    for kind, item in post:
        if kind == "frees":
            release(st, item)


def _proved(a: Scalar, op: str, b: Scalar, is_signed: bool) -> bool:
    """Whether `a op b` holds for every value of the ranges (signed or unsigned)."""
    alo, ahi, blo, bhi = (a.smin, a.smax, b.smin, b.smax) if is_signed \
        else (a.umin, a.umax, b.umin, b.umax)
    return {"<": ahi < blo, "<=": ahi <= blo, ">": alo > bhi, ">=": alo >= bhi,
            "==": alo == ahi == blo == bhi, "!=": ahi < blo or alo > bhi}[op]


def _host_result(w: "Walker", fn: HostFunction, pc: int, sizes: dict[str, Scalar],
                 args: dict[str, Reg], post: list) -> Reg:
    ret = fn.ret
    for kind, c in post:
        if kind == "alloc":
            n = c.args[0]
            size = n if isinstance(n, int) else sizes[n].umin
            mem = Mem(f"memory from {fn.symbol}", size, writable=True)
            return Reg(Kind.MEM_OR_NULL if c.nullable else Kind.MEM, ZERO, mem=mem,
                       id=w.new_id(), origin=pc)
    for kind, c in post:
        if kind == "relation" and c.op == "==" and c.args[0] == "ret" and c.args[1] in args:
            return args[c.args[1]]
    if ret.kind == ValueKind.VOID:
        return NOT_INIT
    if ret.kind in (ValueKind.PTR, ValueKind.STR):
        if ret.size:
            mem = Mem(f"result of {fn.symbol}", ret.size)
            return Reg(Kind.MEM_OR_NULL, ZERO, mem=mem, id=w.new_id(), origin=pc)
        return scalar()
    v = loaded_scalar(min(ret.size, 8), ret.signed)
    for kind, c in post:
        if kind == "relation" and c.args[0] == "ret":
            v = _assume(v, c.op, sizes[c.args[1]] if isinstance(c.args[1], str) and c.args[1] in sizes
                        else Scalar.const(c.args[1]) if isinstance(c.args[1], int) else None)
    return scalar(v)


def _assume(v: Scalar, op: str, bound: Scalar | None) -> Scalar:
    """v narrowed by the post-condition `ret op bound` (unsigned)."""
    if bound is None:
        return v
    lo, hi = v.umin, v.umax
    if op == "<":
        hi = min(hi, bound.umax - 1)
    elif op == "<=":
        hi = min(hi, bound.umax)
    elif op == ">":
        lo = max(lo, bound.umin + 1)
    elif op == ">=":
        lo = max(lo, bound.umin)
    elif op == "==" and bound.is_const:
        lo = hi = bound.value
    if lo > hi or hi > U64:
        return v
    return Scalar(lo, hi, v.smin, v.smax, v.tn).synced()
