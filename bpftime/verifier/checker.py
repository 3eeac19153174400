"""The walk: abstract interpretation of every path, with state pruning.

Paths are explored depth first, as the kernel does. At prune points (jump targets
and branch fall-throughs) the state is compared with the fully explored states seen
there; a subsumed state ends its path. Each checkpoint records the longest path
through it, so a pruned path still contributes a sound instruction bound: its prefix
plus the longest continuation from the state that subsumed it.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable

from bpftime.kernel_abi import BPF_F_RDONLY_PROG
from bpftime.isa import FP, STACK_SIZE, Alu, AtomicOp, Cls, Insn, Jmp, Mode, Pseudo
from bpftime.verifier import calls
from bpftime.verifier.context import Context
from bpftime.verifier.diag import Refusal, Rejected, insn_text
from bpftime.verifier.liveness import live_registers, relevant_registers
from bpftime.policy import ContextKind, Policy
from bpftime.verifier.scalar import (EQ, NE, SLE, SLT, ULE, ULT, EmptyScalar, Scalar, U32,
                                     UNKNOWN_SCALAR, alu, loaded_scalar, refine, relation, signed)
from bpftime.verifier.state import (NOT_INIT, NULLABLE, Frame, Kind, Mem, Reg,
                                    Slot, State, ZERO, checked_registers, const, fmt_reg, fmt_state,
                                    mismatch, register_differs, scalar, stack_byte, subsumes)

MAX_VAR_OFF = 1 << 29
MAX_STATES_PER_INSN = 16


@dataclass(eq=False, slots=True)
class Checkpoint:
    pc: int
    state: State | None        # None once evicted
    parent: "Checkpoint | None"
    depth: int                 # instructions executed before reaching it
    branches: int = 1          # paths through it still being explored
    max_total: int = 0         # longest complete path through it
    key: tuple = ()            # registers of the innermost frame, to rule out equality fast
    hits: int = 0
    misses: int = 0
    differs: int = -1          # the register that ruled out the last comparison, if one did

    def evict(self) -> None:
        """No longer compared with: keep only the path bookkeeping (an unbounded loop
        leaves a chain of a million checkpoints; their states would fill memory)."""
        self.state, self.key = None, ()


class Walker:
    """Verifies one program; `run()` returns the statistics or raises Rejected."""

    def __init__(self, insns: list[Insn], maps: list, policy: Policy, externs: list,
                 line_info: list | None, name: str, budget: int,
                 log: Callable[[str], None] | None, btf=None):
        self._setup(insns, list(maps), policy, externs, line_info, name, budget, log, btf)
        self.live = live_registers(insns)
        self.precise = relevant_registers(insns)
        self.prune_points = self._prune_points()

    def nested(self) -> "Walker":
        """A walker for a bpf_loop callback: same program and analyses, its own
        states, the budget that is left."""
        sub = Walker.__new__(Walker)
        sub._setup(self.insns, self.maps, self.policy, self.externs, self.line_info, self.name,
                   self.budget - self.processed, self.log, self.btf)
        sub.live, sub.precise, sub.prune_points = self.live, self.precise, self.prune_points
        return sub

    def _setup(self, insns: list[Insn], maps: list, policy: Policy, externs: list,
               line_info: list | None, name: str, budget: int,
               log: Callable[[str], None] | None, btf) -> None:
        self.insns, self.policy, self.externs = insns, policy, externs
        self.maps = maps    # a copy of the caller's: inner maps of maps of maps get appended
        self.line_info = sorted(line_info or [], key=lambda li: li.insn)
        self.line_starts = {li.insn: li for li in self.line_info}
        self.last_line: tuple = ()   # the source line -v printed last
        self.name, self.budget, self.log, self.btf = name, budget, log, btf
        self.ctx = Context(policy) if policy.context != ContextKind.MEMORY else None
        self.checkpoints: dict[int, list[Checkpoint]] = {}
        self.processed = 0
        self.longest = 0
        self.next_id = 0
        self.stack_depth: dict[int, int] = {0: 0}   # subprogram start -> bytes used
        self.call_edges: dict[int, set[tuple[int, int]]] = {}  # caller -> {(callsite, callee)}
        self.maps_used: set[int] = set()
        self.extra_cost = 0        # instructions a call runs elsewhere (bpf_loop callbacks)

    # --- set-up ----------------------------------------------------------------
    def _prune_points(self) -> set[int]:
        points = {0}  # a callback's first instruction is a FUNC target, below
        pc = 0
        while pc < len(self.insns):
            insn = self.insns[pc]
            target = insn.jump_target(pc)
            if target is not None:
                points.add(target)
                if not insn.is_call:
                    points.add(pc + 1)
            if insn.is_lddw and insn.src == Pseudo.FUNC:
                points.add(pc + 1 + insn.imm)
            pc += insn.slots
        return points

    def initial_state(self) -> State:
        regs = [NOT_INIT] * 11
        regs[FP] = Reg(Kind.STACK, ZERO, frame=0)
        if self.ctx is None:
            size = self.policy.input_size
            regs[1] = Reg(Kind.MEM, ZERO, mem=Mem("input", size, writable=True))
            regs[2] = const(size)
        else:
            regs[1] = Reg(Kind.CTX, ZERO)
        return State([Frame(regs, {}, -1, 0)])

    def inner_map(self, idx: int) -> int:
        """The index (in self.maps) of the inner map of the map of maps `idx`."""
        inner = self.maps[idx].inner
        if inner is None:
            raise Refusal(f"map {self.maps[idx].name} has no inner map definition")
        for i, m in enumerate(self.maps):
            if m is inner:
                return i
        self.maps.append(inner)
        return len(self.maps) - 1

    def new_id(self) -> int:
        self.next_id += 1
        return self.next_id

    # --- the walk ------------------------------------------------------------
    def run(self, start: int = 0, state: State | None = None) -> None:
        """Explore every path from `start` (a callback's walk starts in its frame)."""
        pending: list[tuple[int, State, Checkpoint | None, int, int]] = [
            (start, state or self.initial_state(), None, 0, -1)]
        while pending:
            pc, st, parent, depth, origin = pending.pop()
            if self.log and origin >= 0:
                self.log(f"from {origin} to {pc}: {fmt_state(st, self.maps)}")
            self._explore(pc, st, parent, depth, pending)

    def _explore(self, pc: int, st: State, parent: Checkpoint | None, depth: int,
                 pending: list) -> None:
        limit = self.policy.max_instructions
        while True:
            if pc in self.prune_points:
                try:
                    hit, key = self._lookup(pc, st)
                except Refusal as r:
                    raise self.rejected(pc, r, st) from None
                if hit is not None:
                    if self.log:
                        self.log(f"{pc}: safe (state seen before, longest continuation "
                                 f"{hit.max_total - hit.depth})")
                    self._end(parent, depth + hit.max_total - hit.depth, pc, st)
                    return
                cp = Checkpoint(pc, st.copy(), parent, depth, key=key)
                seen = self.checkpoints.setdefault(pc, [])
                seen.append(cp)
                if len(seen) > MAX_STATES_PER_INSN:
                    seen.pop(0).evict()
                parent = cp
            self.processed += 1
            depth += 1
            if pc >= len(self.insns):
                raise self.rejected(pc - 1, Refusal("execution falls off the end of the program "
                                                    "(the last instruction is not exit or a jump)"), st)
            insn = self.insns[pc]
            try:
                if self.processed > self.budget:
                    raise Refusal(f"unbounded loop or program too complex: the budget of "
                                  f"{self.budget} processed instructions is exhausted")
                if limit is not None and depth > limit:
                    raise Refusal(f"instruction bound over the class's limit: a path executes "
                                  f"more than {limit} instructions "
                                  f"(class {self.policy.class_name})")
                nxt = self.step(pc, insn, st)
            except Refusal as r:
                raise self.rejected(pc, r, st) from None
            depth += self.extra_cost
            self.extra_cost = 0
            if self.log:
                li = self.line_starts.get(pc)
                if li is not None and (li.file, li.line) != self.last_line:
                    self.last_line = (li.file, li.line)
                    self.log(f"; {li.file}:{li.line}: {li.source.strip()}")
                self.log(f"{pc}: {insn_text(insn, pc)}  ; {fmt_state(st, self.maps)}")
            if not nxt:
                self._end(parent, depth, pc, st)
                return
            if len(nxt) == 2:
                other_pc, other = nxt[1]
                if parent is not None:
                    parent.branches += 1
                pending.append((other_pc, other, parent, depth, pc))
            pc, st = nxt[0]

    def _lookup(self, pc: int, st: State) -> tuple[Checkpoint | None, tuple]:
        """A fully explored state at pc that subsumes st (or None), and st's key."""
        live, precise = [self.live[pc]], [self.precise[pc]]
        if len(st.frames) > 1:
            # an outer frame resumes after its call: r0..r5 are written before any read
            resume = [f.callsite + 1 for f in st.frames[1:]]
            live = [self.live[r] & ~0x3F for r in resume] + live
            precise = [self.precise[r] for r in resume] + precise
        key = self._key(st, live[-1], precise[-1])
        seen = self.checkpoints.get(pc, ())
        for cp in list(seen):
            if cp.branches == 0:
                # the register that differed last time usually still does: check it first
                if cp.differs < 0 or not register_differs(cp.state, st, cp.differs, precise[-1]):
                    reason = mismatch(cp.state, st, live, precise)
                    if reason is None:
                        cp.hits += 1
                        return cp, key
                    cp.differs = reason
                cp.misses += 1
                if cp.misses > 3 * cp.hits + 3:   # the kernel's heuristic: a state that
                    seen.remove(cp)               # keeps missing is not worth keeping
                    cp.evict()
            elif cp.key == key and subsumes(cp.state, st, live, precise, exact=True):
                raise Refusal(f"infinite loop detected: the state at instruction {pc} repeats "
                              f"with nothing changed (unbounded loop)")
        return None, key

    @staticmethod
    def _key(st: State, live: int, precise: int) -> tuple:
        regs = st.cur.regs
        key = []
        for i, prec in checked_registers(live, precise):
            r = regs[i]
            if prec or r.kind is not Kind.SCALAR:
                v = r.val
                key.append((r.kind, v.umin, v.umax, v.smin, v.smax))
            else:
                key.append(r.kind)
        return tuple(key)

    def _end(self, parent: Checkpoint | None, total: int, pc: int, st: State) -> None:
        limit = self.policy.max_instructions
        if limit is not None and total > limit:
            raise self.rejected(pc, Refusal(
                f"instruction bound over the class's limit: a path executes {total} "
                f"instructions, the limit of class {self.policy.class_name} is {limit}"), st)
        self.longest = max(self.longest, total)
        if parent is not None and parent.max_total < total:
            parent.max_total = total
        # a checkpoint whose last path ended is final: hand its longest path up
        cp = parent
        while cp is not None:
            cp.branches -= 1
            if cp.branches:
                break
            up = cp.parent
            if up is not None and up.max_total < cp.max_total:
                up.max_total = cp.max_total
            cp = up

    def rejected(self, pc: int | None, r: Refusal, st: State | None) -> Rejected:
        pc = r.pc if r.pc is not None else pc
        text = insn_text(self.insns[pc], pc) if pc is not None else ""
        return Rejected(self.name, pc, text, r.rule,
                        fmt_state(st, self.maps) if st is not None else "",
                        self.source_line(pc) if pc is not None else None)

    def source_line(self, pc: int) -> str | None:
        best = None
        for li in self.line_info:
            if li.insn > pc:
                break
            best = li
        if best is None:
            return None
        return f"{best.file}:{best.line}: {best.source.strip()}"

    # --- registers ---------------------------------------------------------------
    def read(self, st: State, regno: int) -> Reg:
        r = st.cur.regs[regno]
        if r.kind == Kind.NOT_INIT:
            raise Refusal(f"R{regno} !read_ok: read of uninitialized register R{regno}")
        if r.kind == Kind.RELEASED:
            raise Refusal(f"R{regno} was released: use of a ringbuf record after submit/discard "
                          f"(or of freed host memory)")
        return r

    def write(self, st: State, regno: int, r: Reg) -> None:
        if regno == FP:
            raise Refusal("frame pointer R10 is read-only")
        st.cur.regs[regno] = r

    # --- one instruction -----------------------------------------------------------
    def step(self, pc: int, insn: Insn, st: State) -> list[tuple[int, State]]:
        cls = insn.cls
        if cls in (Cls.ALU, Cls.ALU64):
            self.alu(insn, st)
        elif cls == Cls.LD:
            self.ld(pc, insn, st)
            return [(pc + 2, st)]
        elif cls == Cls.LDX:
            ptr = self.read(st, insn.src)
            val = self.access(st, ptr, insn.src, insn.off, insn.size, False, None, pc,
                              sign=insn.mode == Mode.MEMSX)
            self.write(st, insn.dst, val)
        elif cls == Cls.ST:
            ptr = self.read(st, insn.dst)
            self.access(st, ptr, insn.dst, insn.off, insn.size, True, const(insn.imm), pc)
        elif cls == Cls.STX:
            if insn.mode == Mode.ATOMIC:
                self.atomic(pc, insn, st)
            else:
                ptr = self.read(st, insn.dst)
                val = self.read(st, insn.src)
                self.access(st, ptr, insn.dst, insn.off, insn.size, True, val, pc,
                            val_regno=insn.src)
        else:
            return self.jmp(pc, insn, st)
        return [(pc + 1, st)]

    def ld(self, pc: int, insn: Insn, st: State) -> None:
        if not insn.is_lddw:
            raise Refusal("legacy packet access (ld_abs/ld_ind) is not supported")
        src = insn.src
        if src == Pseudo.IMM64:
            self.write(st, insn.dst, const(insn.imm64))
        elif src in (Pseudo.MAP_IDX, Pseudo.MAP_IDX_VALUE):
            if not 0 <= insn.imm < len(self.maps):
                raise Refusal(f"map index {insn.imm} out of range ({len(self.maps)} maps)")
            self.maps_used.add(insn.imm)
            if src == Pseudo.MAP_IDX:
                self.write(st, insn.dst, Reg(Kind.MAP_PTR, ZERO, idx=insn.imm, origin=pc))
            else:
                vs = self.maps[insn.imm].value_size
                if not 0 <= insn.imm_hi <= vs:
                    raise Refusal(f"global data offset {insn.imm_hi} outside map "
                                  f"{self.maps[insn.imm].name} of {vs} bytes")
                self.write(st, insn.dst, Reg(Kind.MAP_VALUE, Scalar.const(insn.imm_hi),
                                             idx=insn.imm, origin=pc))
        elif src == Pseudo.BTF_ID:
            self.write(st, insn.dst, calls.host_variable(self, insn.imm, pc))
        elif src == Pseudo.FUNC:
            self.write(st, insn.dst, Reg(Kind.FUNC, ZERO, idx=pc + 1 + insn.imm, origin=pc))
        else:
            raise Refusal(f"unresolved lddw pseudo source {src} (map fds are not accepted: "
                          f"load the object through bpftime.elf)")

    # --- ALU ---------------------------------------------------------------------------
    def alu(self, insn: Insn, st: State) -> None:
        op, width = insn.op, 64 if insn.cls == Cls.ALU64 else 32
        d = insn.dst
        if op == Alu.END:
            val = self._scalar_of(self.read(st, d), d, "byte swap")
            swap = insn.cls == Cls.ALU64 or insn.uses_reg
            self.write(st, d, scalar(alu(Alu.END, val, Scalar.const(insn.imm), 64, swap=swap)))
            return
        if insn.uses_reg:
            src = self.read(st, insn.src)
        else:
            src = const(insn.imm if width == 64 else insn.imm & U32)
        if op == Alu.MOV:
            if width == 64 and not insn.off:
                if src.is_scalar and not src.val.is_const and not src.id:
                    # link the copies: a branch on one narrows both (as the kernel does)
                    src = replace(src, id=self.new_id())
                    st.cur.regs[insn.src] = src
                self.write(st, d, src)
                return
            val = self._scalar_of(src, insn.src, "32-bit or sign-extending move")
            self.write(st, d, scalar(alu(Alu.MOV, UNKNOWN_SCALAR, val, width, insn.off)))
            return
        dst = self.read(st, d)
        if op == Alu.NEG:
            val = self._scalar_of(dst, d, "negation")
            self.write(st, d, scalar(alu(Alu.NEG, val, ZERO, width)))
            return
        if dst.is_scalar and src.is_scalar:
            self.write(st, d, scalar(alu(op, dst.val, src.val, width, insn.off)))
            return
        self.write(st, d, self.ptr_arith(insn, dst, src, width))

    def _scalar_of(self, r: Reg, regno: int, what: str) -> Scalar:
        """The value of a register used as a number: a pointer's address is unknown,
        and using it so is a leak unless the class allows leaks."""
        if r.is_scalar:
            return r.val
        if not self.policy.allow_pointer_leak:
            raise Refusal(f"R{regno} pointer leak: {what} of pointer R{regno} "
                          f"({fmt_reg(r, self.maps)}) would expose an address")
        return UNKNOWN_SCALAR

    def ptr_arith(self, insn: Insn, dst: Reg, src: Reg, width: int) -> Reg:
        op, d, s = insn.op, insn.dst, insn.src
        pregno, ptr, other = (d, dst, src) if dst.is_ptr else (s, src, dst)
        if op == Alu.SUB and dst.is_ptr and src.is_ptr:
            if (dst.kind, dst.idx, dst.frame, dst.mem) == (src.kind, src.idx, src.frame, src.mem):
                return scalar(alu(Alu.SUB, dst.val, src.val, 64))
            raise Refusal(f"subtraction of pointers into different regions (R{d}, R{s})")
        if self.policy.allow_pointer_leak and (op not in (Alu.ADD, Alu.SUB) or width == 32):
            return scalar()
        if width == 32:
            raise Refusal(f"32-bit arithmetic on pointer R{pregno} prohibited")
        if op not in (Alu.ADD, Alu.SUB):
            name = Alu(op).name.lower()
            raise Refusal(f"R{pregno} pointer arithmetic with {name} operator prohibited")
        if dst.is_ptr and src.is_ptr:
            raise Refusal(f"R{d} pointer += pointer prohibited")
        if op == Alu.SUB and not dst.is_ptr:
            raise Refusal(f"R{d} scalar -= pointer prohibited")
        if ptr.kind in NULLABLE:
            raise Refusal(f"R{pregno} pointer arithmetic on {fmt_reg(ptr, self.maps)} "
                          f"prohibited: null-check it first (null-able pointer)")
        if ptr.kind in (Kind.MAP_PTR, Kind.PACKET_END, Kind.PACKET_META, Kind.FUNC):
            raise Refusal(f"R{pregno} pointer arithmetic on {fmt_reg(ptr, self.maps)} prohibited")
        v = other.val
        if v.smin < -MAX_VAR_OFF or v.smax > MAX_VAR_OFF:
            raise Refusal(f"math between {fmt_reg(ptr, self.maps)} pointer and register with "
                          f"unbounded value ({fmt_reg(other, self.maps)}) is not allowed")
        off = alu(op, ptr.val, v, 64)
        if off.smin < -MAX_VAR_OFF or off.smax > MAX_VAR_OFF:
            raise Refusal(f"R{pregno} pointer offset out of range ({off})")
        return replace(ptr, val=off)

    # --- memory ----------------------------------------------------------------------
    def access(self, st: State, ptr: Reg, regno: int, off: int, size: int, write: bool,
               value: Reg | None, pc: int, sign: bool = False, val_regno: int | None = None) -> Reg:
        """Check a load or store of `size` bytes at ptr+off; a load's result register."""
        kind = ptr.kind
        what = "write" if write else "read"
        if write and value is not None and value.is_ptr and kind != Kind.STACK \
                and not self.policy.allow_pointer_leak:
            raise Refusal(f"pointer leak: R{val_regno} ({fmt_reg(value, self.maps)}) stored "
                          f"into {fmt_reg(ptr, self.maps)}")
        if kind == Kind.STACK:
            return self.stack_access(st, ptr, off, size, write, value, sign, val_regno)
        if kind in NULLABLE:
            raise Refusal(f"R{regno} invalid mem access '{fmt_reg(ptr, self.maps)}': "
                          f"null check missing (may be null)")
        lo, hi = ptr.val.smin + off, ptr.val.smax + off + size
        if kind == Kind.CTX:
            if not ptr.val.is_const:
                raise Refusal(f"R{regno} variable-offset context access prohibited")
            if write:
                raise Refusal(f"R{regno} context is read-only: write to ctx off={lo} size={size}")
            got = self.ctx.load(lo, size, pc)
            if isinstance(got, str):
                raise Refusal(f"R{regno} {got} (out-of-bounds context access)")
            if sign and got.is_scalar:
                return scalar(loaded_scalar(size, True))
            return got
        if kind == Kind.MAP_VALUE:
            m = self.maps[ptr.idx]
            if lo < 0 or hi > m.value_size:
                raise Refusal(f"R{regno} invalid {what} of map value (out of bounds): "
                              f"value_size={m.value_size} off={lo} size={size}"
                              + (f" (offset up to {hi - size})" if hi - size != lo else ""))
            if write and (getattr(m, "flags", 0) & BPF_F_RDONLY_PROG
                          or getattr(m, "section", "").startswith(".rodata")):
                raise Refusal(f"R{regno} write into read-only map {m.name}")
        elif kind == Kind.MEM:
            mem = ptr.mem
            if lo < 0 or hi > mem.size:
                raise Refusal(f"R{regno} invalid {what} of {mem.name} (out of bounds): off={lo} "
                              f"size={size}, the region has {mem.size} bytes")
            if write and not mem.may_write(lo, hi):
                raise Refusal(f"R{regno} write through read-only grant: {mem.name} "
                              f"is not writable at off={lo} size={size}")
        elif kind == Kind.PACKET:
            if lo < 0 or hi > ptr.rng:
                raise Refusal(f"R{regno} invalid access to packet (out of bounds): off={lo} "
                              f"size={size}, proven range {ptr.rng}; check against data_end first")
        else:
            raise Refusal(f"R{regno} invalid mem access '{fmt_reg(ptr, self.maps)}'")
        return scalar(loaded_scalar(size, sign))

    def stack_access(self, st: State, ptr: Reg, off: int, size: int, write: bool,
                     value: Reg | None, sign: bool, val_regno: int | None) -> Reg:
        fr = st.frames[ptr.frame]
        lo, hi = ptr.val.smin + off, ptr.val.smax + off + size
        what = "write" if write else "read"
        if lo < -STACK_SIZE or hi > 0:
            raise Refusal(f"invalid {what} of stack off={lo} size={size} (out of bounds of "
                          f"the {STACK_SIZE}-byte frame)")
        self.stack_depth[fr.subprog] = max(self.stack_depth.get(fr.subprog, 0), -lo)
        stack = fr.stack
        if not ptr.val.is_const:
            for a in range(lo, hi):
                k, slot, bit = stack_byte(stack, a)
                if write:
                    if slot.spill is not None:
                        stack[k] = Slot(slot.init)
                    continue
                if not slot.init >> bit & 1:
                    raise Refusal(f"invalid variable-offset read from stack off={lo}..{hi - size} "
                                  f"size={size}: uninitialized stack byte at {a}")
                if slot.spill is not None and not slot.spill.is_scalar:
                    raise Refusal(f"variable-offset read of a spilled pointer at fp{a}")
            return scalar(loaded_scalar(size, sign))
        a = lo
        k, slot, idx = stack_byte(stack, a)   # idx: byte of the slot where the access starts
        one_slot = idx + size <= 8
        if write:
            if size == 8 and idx == 0:
                stack[k] = Slot(0xFF, value)
                return value
            if value is not None and value.is_ptr:
                raise Refusal(f"partial spill of pointer R{val_regno} to the stack "
                              f"(size {size}) prohibited")
            for b in range(a, a + size):
                kb, slot, bit = stack_byte(stack, b)
                keep = slot.spill is not None and not slot.off <= bit < slot.off + slot.size
                stack[kb] = Slot(slot.init | 1 << bit, slot.spill, slot.off, slot.size) if keep \
                    else Slot(slot.init | 1 << bit)
            if value is not None and one_slot:   # a narrow spill keeps the scalar's value
                narrow = alu(Alu.END, value.val, Scalar.const(8 * size), 64)
                stack[k] = Slot(stack[k].init, scalar(narrow), idx, size)
            return value
        sp = slot.spill
        if sp is not None and one_slot and slot.off <= idx and idx + size <= slot.off + slot.size:
            if (slot.off, slot.size) == (idx, size):
                if not sp.is_scalar or not sign:
                    return sp
                if sp.val.umax < 1 << (8 * size - 1):
                    return sp
            if not sp.is_scalar:
                raise Refusal(f"partial read of spilled pointer at fp{a} size={size}")
            if sp.val.is_const:
                v = (sp.val.value >> 8 * (idx - slot.off)) & ((1 << (8 * size)) - 1)
                return const(signed(v, 8 * size) if sign else v)
            return scalar(loaded_scalar(size, sign))
        for b in range(a, a + size):
            _, sb, bit = stack_byte(stack, b)
            if not sb.init >> bit & 1:
                raise Refusal(f"invalid read from stack off={a} size={size}: "
                              f"uninitialized stack byte at fp{b}")
            if sb.spill is not None and not sb.spill.is_scalar:
                raise Refusal(f"partial read of spilled pointer at fp{b}")
        return scalar(loaded_scalar(size, sign))

    def atomic(self, pc: int, insn: Insn, st: State) -> None:
        ptr = self.read(st, insn.dst)
        val = self.read(st, insn.src)
        self._scalar_of(val, insn.src, "atomic operation")
        if ptr.kind not in (Kind.STACK, Kind.MAP_VALUE, Kind.MEM):
            raise Refusal(f"R{insn.dst} atomic operation on {fmt_reg(ptr, self.maps)} prohibited")
        if insn.imm == AtomicOp.CMPXCHG:
            self._scalar_of(self.read(st, 0), 0, "compare-and-exchange")
        old = self.access(st, ptr, insn.dst, insn.off, insn.size, False, None, pc)
        self.access(st, ptr, insn.dst, insn.off, insn.size, True, scalar(), pc)
        # a fetch loads the old value, as a fill would (the kernel knows a spilled constant)
        result = old if old.is_scalar else scalar(loaded_scalar(insn.size, False))
        if insn.imm == AtomicOp.CMPXCHG:
            self.write(st, 0, result)
        elif insn.imm & AtomicOp.FETCH:
            self.write(st, insn.src, result)

    # --- jumps ---------------------------------------------------------------------
    def jmp(self, pc: int, insn: Insn, st: State) -> list[tuple[int, State]]:
        op = insn.op
        if op == Jmp.JA:
            return [(insn.jump_target(pc), st)]
        if op == Jmp.CALL:
            return calls.call(self, pc, insn, st)
        if op == Jmp.EXIT:
            return calls.exit_(self, pc, st)
        a = self.read(st, insn.dst)
        b = self.read(st, insn.src) if insn.uses_reg else const(
            insn.imm if insn.cls == Cls.JMP else insn.imm & U32)
        target = insn.jump_target(pc)
        outcomes = []
        for taken, dest in ((False, pc + 1), (True, target)):
            branch = self.branch(insn, st, a, b, taken)
            if branch is not None:
                outcomes.append((dest, branch))
        if len(outcomes) == 2 and outcomes[0][1] is outcomes[1][1]:
            outcomes[1] = (outcomes[1][0], st.copy())   # each path owns its state
        return outcomes

    def branch(self, insn: Insn, st: State, a: Reg, b: Reg, taken: bool) -> State | None:
        """The state on one edge of a conditional jump, or None if it can't happen.
        The result may be `st` itself (when nothing is refined) or a refined copy."""
        rel, swap = relation(insn.op, taken)
        lhs, rhs = (b, a) if swap else (a, b)
        lreg, rreg = (insn.src, insn.dst) if swap else (insn.dst, insn.src if insn.uses_reg else None)
        if a.is_scalar and b.is_scalar:
            is32 = insn.cls == Cls.JMP32
            return self._scalar_branch(st, rel, lhs, rhs, lreg, rreg, is32)
        if insn.cls == Cls.JMP32:
            return st   # a 32-bit view of a pointer proves nothing about it
        ptr, other = (a, b) if a.is_ptr else (b, a)
        if other.is_scalar and other.val.is_const and other.val.value == 0 and rel in (EQ, NE):
            is_null = rel == EQ
            if ptr.kind in NULLABLE:
                out = st.copy()
                self._null_split(out, ptr, is_null)
                return out
            return None if is_null else st   # a valid pointer is never null
        if rel in (ULT, ULE) and lhs.kind == Kind.PACKET and rhs.kind == Kind.PACKET_END:
            out = st.copy()
            rng = lhs.val.smin
            out.replace_where(lambda r: r.kind == Kind.PACKET and r.rng < rng,
                              lambda r: replace(r, rng=rng))
            return out
        return st

    def _null_split(self, st: State, ptr: Reg, is_null: bool) -> None:
        rid = ptr.id
        same = lambda r: r.id == rid and r.kind in NULLABLE  # noqa: E731
        if is_null:
            st.replace_where(same, lambda r: const(0))
            st.refs.pop(rid, None)
        else:
            st.replace_where(same, lambda r: replace(r, kind=NULLABLE[r.kind]))

    def _scalar_branch(self, st: State, rel: int, lhs: Reg, rhs: Reg, lreg: int | None,
                       rreg: int | None, is32: bool) -> State | None:
        lv, rv = lhs.val, rhs.val
        if is32:
            signed_rel = rel in (SLT, SLE)
            lv = lv.sext32() if signed_rel else lv.sub32()
            rv = rv.sext32() if signed_rel else rv.sub32()
        try:
            nl, nr = refine(rel, lv, rv)
        except EmptyScalar:
            return None
        out = st
        for regno, old, view, new in ((lreg, lhs, lv, nl), (rreg, rhs, rv, nr)):
            if regno is None or new == old.val:
                continue
            if is32 and view is not old.val:
                continue  # the register is wider than the compared 32 bits
            if out is st:
                out = st.copy()
            if old.id:
                link = old.id
                out.replace_where(lambda r: r.is_scalar and r.id == link,
                                  lambda r: replace(r, val=new))
            else:
                out.cur.regs[regno] = scalar(new)
        return out
