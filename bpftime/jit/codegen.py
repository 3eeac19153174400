"""eBPF → x86-64: turns a self-contained program into a `ProgramImage`.

Register mapping (docs/internals.md): r0=rax r1=rdi r2=rsi r3=rdx r4=rcx r5=r8
r6=rbx r7=r13 r8=r14 r9=r15 r10=rbp; r9, r10 and r11 of x86 are scratch. Every
function (the entry and each subprogram) is a System V function of r1..r5 with its own
512-byte stack below rbp, so helpers and subprograms are plain calls.

Tail calls: the runtime's tail_call helper (id 12) returns the target image's entry
(0 if none); the current frame is dropped and the target entered at its entry +
TAIL_CALL_ENTRY_SKIP with the count so far in eax, at most MAX_TAIL_CALLS times per
invocation. The count lives in the entry function's frame; subprograms receive its
address in rax, and a callback's address (lddw func) is a stub zeroing rax so that a
native caller (bpf_loop) starts a fresh count. Programs without tail calls pay nothing.

Code is emitted in one pass. An eBPF jump uses rel8 when it surely reaches: backwards
by the exact distance, forwards when the sum of `max_size` over the instructions it
skips fits (x86.Emitter.resolve checks every rel8).

Counting (`count_instructions=True`, for `bpftime run --json`): each basic block
starts with `mov r11, [rip+COUNTER slot]; add qword [r11], N`, N its eBPF
instructions (lddw is one, as the interpreter counts it), so that the u64 the slot
points to gains what the interpreter reports as executed. A block ends at every
jump, exit and call (a helper may be a tail call that never returns to it); a
callee's blocks count themselves. The counter lives outside the image (images are
mapped read+execute), which stays position-independent; normal images are unchanged.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from bpftime.isa import (
    FP, MAX_TAIL_CALLS, OPCODE_CALLX, STACK_SIZE, Alu, AtomicOp, CallKind, Cls, Insn, Jmp, Mode,
    Pseudo, Src, insn_starts, validate_program,
)
from bpftime.jit import x86
from bpftime.jit.errors import CompileError
from bpftime.jit.image import SLOT_SIZE, TAIL_CALL_ENTRY_SKIP, ProgramImage, Slot, SlotKind, slots_offset_for
from bpftime.jit.x86 import Mem, RipLabel
from bpftime.kernel_abi import helper_name

REG = (x86.RAX, x86.RDI, x86.RSI, x86.RDX, x86.RCX, x86.R8,
       x86.RBX, x86.R13, x86.R14, x86.R15, x86.RBP)
CALLEE_SAVED = {6: x86.RBX, 7: x86.R13, 8: x86.R14, 9: x86.R15}
HELPER_TAIL_CALL = 12
MASK64 = (1 << 64) - 1

# frame slots below the 512-byte eBPF stack, used only by programs with tail calls
CNT = -STACK_SIZE - 8    # this invocation's tail-call count (entry function)
PTR = -STACK_SIZE - 16   # address of the count this function increments
SAVE = -STACK_SIZE - 24  # ctx kept across the tail-call lookup
LOOP_ALIGN = 32  # loop heads start a 32-byte block: measured 2x on string_scan (AMD EPYC)
TAIL_CALL_SIZE = 128  # max_size of a tail call (`call bpf_tail_call` or a callx of its id)
COUNT_SIZE = 14  # mov r11, [rip+disp32] (7) + add qword [r11], imm32 (7)

ALU_RR = {Alu.ADD: x86.OP_ADD, Alu.SUB: x86.OP_SUB, Alu.OR: x86.OP_OR,
          Alu.AND: x86.OP_AND, Alu.XOR: x86.OP_XOR}
ALU_RI = {Alu.ADD: x86.EXT_ADD, Alu.SUB: x86.EXT_SUB, Alu.OR: x86.EXT_OR,
          Alu.AND: x86.EXT_AND, Alu.XOR: x86.EXT_XOR}
SHIFTS = {Alu.LSH: x86.EXT_SHL, Alu.RSH: x86.EXT_SHR, Alu.ARSH: x86.EXT_SAR}
CONDS = {Jmp.JEQ: x86.CC_E, Jmp.JNE: x86.CC_NE, Jmp.JGT: x86.CC_A, Jmp.JGE: x86.CC_AE,
         Jmp.JLT: x86.CC_B, Jmp.JLE: x86.CC_BE, Jmp.JSGT: x86.CC_G, Jmp.JSGE: x86.CC_GE,
         Jmp.JSLT: x86.CC_L, Jmp.JSLE: x86.CC_LE, Jmp.JSET: x86.CC_NE}
ATOMIC_RR = {AtomicOp.ADD: x86.OP_ADD, AtomicOp.OR: x86.OP_OR,
             AtomicOp.AND: x86.OP_AND, AtomicOp.XOR: x86.OP_XOR}


@dataclass
class Function:
    """One System V function: instructions [start, end)."""

    start: int
    end: int
    saved: list[int] = field(default_factory=list)  # callee-saved x86 registers pushed
    frame: bool = False       # has a 512-byte stack addressed through rbp
    calls: bool = False
    frame_size: int = 0       # bytes subtracted from rsp after the pushes
    callback: bool = False    # its address is taken (lddw src=FUNC)


@dataclass
class Analysis:
    """What the emitter needs to know about the program before emitting it."""

    functions: list[Function]
    owner: list[int]              # instruction index -> index into functions
    starts: list[bool]            # instruction begins a slot (not the 2nd half of lddw)
    constants: dict[int, int]     # callx pc -> the helper id its register holds
    tail_calls: bool
    jump_targets: set[int]        # instructions some jump goes to
    loop_heads: set[int]          # targets of backward jumps (aligned)
    bound: list[int]              # bound[i]: at most this many bytes of code (padding included)
                                  # from the start to instruction i's padding
    blocks: dict[int, int]        # counting only: basic-block leader -> its instruction count


def compile_program(insns: list[Insn], helper_available: Callable[[int], bool] | None = None,
                    count_instructions: bool = False) -> ProgramImage:
    """Compile a verified, self-contained program (see docs/internals.md). Refuses,
    naming the instruction, what cannot be compiled, and (when `helper_available` is
    given) any helper the runtime lacks. `count_instructions` adds a COUNTER slot and
    counts executed instructions into it (see the module docstring)."""
    validate_program(insns)
    analysis = analyse(insns, count_instructions)
    try:
        return _Codegen(insns, analysis, helper_available, forward_short=True).build()
    except x86.ShortJumpOverflow:  # a max_size bound was wrong: play safe
        return _Codegen(insns, analysis, helper_available, forward_short=False).build()


# --- analysis -----------------------------------------------------------------------
def _func_targets(insns: list[Insn]) -> tuple[set[int], set[int]]:
    calls, callbacks = set(), set()
    for pc, insn in enumerate(insns):
        if insn.is_local_call:
            calls.add(pc + 1 + insn.imm)
        elif insn.is_lddw and insn.src == Pseudo.FUNC:
            target = pc + 1 + insn.imm
            if not 0 <= target < len(insns):
                raise CompileError(pc, f"function address out of range: target {target}")
            callbacks.add(target)
    return calls, callbacks


def _starts(insns: list[Insn]) -> list[bool]:
    """Per slot: whether an instruction starts there (see isa.insn_starts)."""
    starts = [False] * len(insns)
    for pc in insn_starts(insns):
        starts[pc] = True
    return starts


def _written(insn: Insn) -> int | None:
    """The eBPF register an instruction writes (calls excepted), or None."""
    cls = insn.cls
    if cls in (Cls.ALU, Cls.ALU64, Cls.LDX) or insn.is_lddw:
        return insn.dst
    if cls == Cls.STX and insn.mode == Mode.ATOMIC and insn.imm & AtomicOp.FETCH:
        return 0 if insn.imm == AtomicOp.CMPXCHG else insn.src
    return None


def _reads_fp(insn: Insn) -> bool:
    cls = insn.cls
    if cls in (Cls.ST, Cls.STX, Cls.LDX):
        return FP in (insn.dst, insn.src)
    if cls in (Cls.ALU, Cls.ALU64, Cls.JMP, Cls.JMP32):
        return insn.src == FP and insn.uses_reg or insn.dst == FP
    return False


def _blocks(insns: list[Insn], starts: list[bool], functions: list[Function],
            jump_targets: set[int]) -> dict[int, int]:
    """Basic-block leader -> the instructions of its block: blocks start at functions
    and jump targets and after every jump, exit and call."""
    leaders = jump_targets | {fn.start for fn in functions}
    leaders.update(pc + 1 for pc, insn in enumerate(insns) if starts[pc] and insn.is_jmp)
    blocks: dict[int, int] = {}
    leader = 0
    for pc in range(len(insns)):
        if starts[pc]:
            if pc in leaders:
                leader = pc
                blocks[pc] = 0
            blocks[leader] += 1
    return blocks


def analyse(insns: list[Insn], count_instructions: bool = False) -> Analysis:
    starts = _starts(insns)
    calls, callbacks = _func_targets(insns)
    bounds = sorted({0} | calls | callbacks)
    functions = [Function(s, e) for s, e in zip(bounds, bounds[1:] + [len(insns)])]
    owner = [0] * len(insns)
    for i, fn in enumerate(functions):
        owner[fn.start:fn.end] = [i] * (fn.end - fn.start)
        fn.callback = fn.start in callbacks
    jump_targets: set[int] = set()
    loop_heads: set[int] = set()
    for fn in functions:
        written: set[int] = set()
        last = fn.start
        for pc in range(fn.start, fn.end):
            if not starts[pc]:
                continue
            last = pc
            insn = insns[pc]
            reg = _written(insn)
            if reg == FP:
                raise CompileError(pc, "r10 (the frame pointer) is read-only")
            if reg is not None:
                written.add(reg)
            fn.frame |= _reads_fp(insn)
            fn.calls |= insn.is_call
            target = insn.jump_target(pc)
            if target is not None and not insn.is_call:
                jump_targets.add(target)
                if target <= pc:
                    loop_heads.add(target)
                if owner[target] != owner[pc]:
                    raise CompileError(pc, f"jump to {target} leaves the function starting at {fn.start}")
        final = insns[last]
        if not (final.is_exit or final.opcode in (Cls.JMP | Jmp.JA, Cls.JMP32 | Jmp.JA)):
            where = "the program" if fn.end == len(insns) else f"the function starting at {fn.start}"
            raise CompileError(last, f"execution falls off the end of {where}")
        fn.saved = [CALLEE_SAVED[r] for r in sorted(written) if r in CALLEE_SAVED]
    constants = _callx_constants(insns, starts, jump_targets)
    tail_calls = HELPER_TAIL_CALL in constants.values() or any(
        i.opcode == Cls.JMP | Jmp.CALL and i.src == CallKind.HELPER and i.imm == HELPER_TAIL_CALL for i in insns)
    for fn in functions:
        fn.frame |= tail_calls
        if fn.frame:
            fn.saved.insert(0, x86.RBP)
        misalign = (8 + 8 * len(fn.saved)) % 16  # rsp mod 16 after the pushes
        if fn.frame:
            extra = 24 if tail_calls else 0
            fn.frame_size = STACK_SIZE + extra + ((misalign + STACK_SIZE + extra) % 16)
        elif fn.calls:
            fn.frame_size = misalign
    blocks = _blocks(insns, starts, functions, jump_targets) if count_instructions else {}
    bound = [0]
    for pc, insn in enumerate(insns):
        size = max_size(insn) if starts[pc] else 0
        if constants.get(pc) == HELPER_TAIL_CALL:  # callx of bpf_tail_call
            size = TAIL_CALL_SIZE
        if pc in blocks:
            size += COUNT_SIZE
        bound.append(bound[-1] + _padding(pc, loop_heads) + size)
    return Analysis(functions, owner, starts, constants, tail_calls,
                    jump_targets, loop_heads, bound, blocks)


def _padding(pc: int, loop_heads: set[int]) -> int:
    return LOOP_ALIGN - 1 if pc in loop_heads else 0


def max_size(insn: Insn) -> int:
    """An upper bound of the bytes one instruction compiles to, with a margin over
    the longest encodings (movabs 10, ALU with imm32 7, a load/store with SIB and
    disp32 9, a store of imm32 13, compare 7 + jcc rel32 6)."""
    cls = insn.cls
    if cls in (Cls.ALU, Cls.ALU64):
        return 64 if insn.op in (Alu.DIV, Alu.MOD) else 14
    if cls == Cls.STX and insn.mode == Mode.ATOMIC:
        return 48
    if cls in (Cls.JMP, Cls.JMP32):
        if insn.is_call:
            return TAIL_CALL_SIZE if insn.imm == HELPER_TAIL_CALL and insn.src == CallKind.HELPER else 16
        return 32 if insn.is_exit else 14
    return 14 if cls == Cls.ST else 11


def _callx_constants(insns: list[Insn], starts: list[bool], targets: set[int]) -> dict[int, int]:
    """For each callx, the constant its register holds if a `mov`/`lddw` of an
    immediate in the same basic block sets it."""
    known: dict[int, int] = {}
    out: dict[int, int] = {}
    for pc, insn in enumerate(insns):
        if not starts[pc]:
            continue
        if pc in targets:
            known = {}
        if insn.opcode == OPCODE_CALLX and insn.dst in known:
            out[pc] = known[insn.dst]
        reg = _written(insn)
        if insn.is_call:
            for r in range(6):
                known.pop(r, None)
        elif insn.opcode in (Cls.ALU64 | Alu.MOV, Cls.ALU | Alu.MOV) and not insn.uses_reg:
            known[insn.dst] = insn.imm & (MASK64 if insn.cls == Cls.ALU64 else 0xFFFFFFFF)
        elif insn.is_lddw and insn.src == Pseudo.IMM64:
            known[insn.dst] = insn.imm64
        elif reg is not None:
            known.pop(reg, None)
    return out


# --- emission -----------------------------------------------------------------------
class _Codegen:
    def __init__(self, insns: list[Insn], analysis: Analysis,
                 helper_available: Callable[[int], bool] | None, forward_short: bool):
        self.insns = insns
        self.a = analysis
        self.helper_available = helper_available
        self.fn = analysis.functions[0]  # the function being emitted
        self.forward_short = forward_short
        self.e = x86.Emitter()
        self.labels: dict[object, int] = {}
        self.slots: dict[Slot, int] = {}
        self.first_use: list[int] = []
        self.local = 0

    # -- helpers --
    def label(self, name: object) -> None:
        self.labels[name] = self.e.pos

    def new_label(self) -> tuple[str, int]:
        self.local += 1
        return ("L", self.local)

    def slot(self, pc: int, kind: SlotKind, index: int, arg: int = 0) -> RipLabel:
        key = Slot(kind, index, arg)
        if key not in self.slots:
            self.slots[key] = len(self.slots)
            self.first_use.append(pc)
        return RipLabel(("slot", self.slots[key]))

    def build(self) -> ProgramImage:
        self.emit_all()
        return self.image()

    def image(self) -> ProgramImage:
        slots_offset = slots_offset_for(self.e.pos)
        for i in range(len(self.slots)):
            self.labels[("slot", i)] = slots_offset + SLOT_SIZE * i
        self.e.resolve(self.labels)
        subs = [self.labels[("cb", fn.start)] for fn in self.a.functions[1:]]
        return ProgramImage(bytes(self.e.buf), list(self.slots), 0, subs, self.first_use)

    # -- functions --
    def emit_all(self) -> None:
        for fi, fn in enumerate(self.a.functions):
            self.fn = fn
            self.prologue(fi == 0)
            pc = fn.start
            while pc < fn.end:
                if pc in self.a.loop_heads:
                    self.align_loop()
                self.label(("i", pc))
                if pc in self.a.blocks:
                    self.count(pc, self.a.blocks[pc])
                consumed = self.fused(pc)
                if not consumed:
                    self.emit(pc, self.insns[pc])
                    consumed = self.insns[pc].slots
                pc += consumed

    def count(self, pc: int, n: int) -> None:
        """Add the `n` instructions of the block starting at pc to the counter."""
        self.e.load(x86.R11, self.slot(pc, SlotKind.COUNTER, 0), 8)
        self.e.alu_ri(x86.EXT_ADD, Mem(x86.R11), n)

    def align_loop(self) -> None:
        """Pad to LOOP_ALIGN with NOPs."""
        self.e.nops(-self.e.pos % LOOP_ALIGN)

    # -- peephole: patterns of clang output emitted as fewer x86 instructions --
    def _plain(self, pc: int, opcode: int, dst: int | None = None, imm: int | None = None) -> Insn | None:
        """insns[pc] if it has `opcode` (and `dst`, `imm`), no jump lands on it and
        no counted block starts at it."""
        if pc >= self.fn.end or pc in self.a.jump_targets or pc in self.a.blocks:
            return None
        insn = self.insns[pc]
        if insn.opcode != opcode or (dst is not None and insn.dst != dst) or (imm is not None and insn.imm != imm):
            return None
        return insn

    def fused(self, pc: int) -> int:
        """Emit a pattern starting at pc; the slots it consumed, or 0."""
        insn, e = self.insns[pc], self.e
        mov64 = Cls.ALU64 | Alu.MOV | Src.X
        lsh32, rsh32 = Cls.ALU64 | Alu.LSH, Cls.ALU64 | Alu.RSH
        if insn.opcode == mov64 and not insn.off and insn.dst != FP:
            d = insn.dst
            if self._plain(pc + 1, lsh32, d, 32) and self._plain(pc + 2, rsh32, d, 32):
                e.mov_rr(REG[d], REG[insn.src], False)        # zero-extension: mov r32, r32
                return 3
            add = self._plain(pc + 1, Cls.ALU64 | Alu.ADD, d)
            if add is not None:
                e.lea(REG[d], Mem(REG[insn.src], add.imm))     # address arithmetic: lea
                return 2
        if insn.opcode == lsh32 and insn.imm == 32 and self._plain(pc + 1, rsh32, insn.dst, 32):
            e.mov_rr(REG[insn.dst], REG[insn.dst], False)
            return 2
        if insn.is_jmp and insn.op in CONDS and insn.off == 1:
            ja = self._plain(pc + 1, Cls.JMP | Jmp.JA)
            if ja is not None:                                 # if c goto +1; goto X  =>  if !c goto X
                self.compare(insn)
                self.branch(pc, pc + 2 + ja.off, CONDS[Jmp(insn.op)] ^ 1)
                return 2
        return 0

    def prologue(self, entry: bool) -> None:
        e, fn = self.e, self.fn
        self.label(("cb", fn.start))
        if entry or (fn.callback and self.a.tail_calls):
            e.mov_ri(x86.RAX, 0)  # external entry: no tail calls yet / no count to share
        self.label(("f", fn.start))
        for reg in fn.saved:
            e.push(reg)
        if fn.frame:
            e.mov_rr(x86.RBP, x86.RSP)
        if fn.frame_size:
            e.alu_ri(x86.EXT_SUB, x86.RSP, fn.frame_size)
        if not self.a.tail_calls:
            return
        if entry:  # eax = tail-call count so far
            e.store(Mem(x86.RBP, CNT), x86.RAX, 4)
            e.lea(x86.RAX, Mem(x86.RBP, CNT))
        else:      # rax = caller's count pointer, or 0 when called from native code
            have = self.new_label()
            e.alu_rr(x86.OP_TEST, x86.RAX, x86.RAX)
            e.jump(have, x86.CC_NE, short=True)
            e.lea(x86.RAX, Mem(x86.RBP, CNT))
            e.store_imm(Mem(x86.RAX), 0, 4)
            self.label(have)
        e.store(Mem(x86.RBP, PTR), x86.RAX, 8)

    def epilogue(self) -> None:
        e, fn = self.e, self.fn
        if fn.frame:
            e.mov_rr(x86.RSP, x86.RBP)
        elif fn.frame_size:
            e.alu_ri(x86.EXT_ADD, x86.RSP, fn.frame_size)
        for reg in reversed(fn.saved):
            e.pop(reg)

    # -- instructions --
    def emit(self, pc: int, insn: Insn) -> None:
        cls = insn.cls
        if cls in (Cls.ALU, Cls.ALU64):
            self.alu(pc, insn, cls == Cls.ALU64)
        elif cls in (Cls.JMP, Cls.JMP32):
            self.jmp(pc, insn)
        elif cls == Cls.LDX:
            self.e.load(REG[insn.dst], Mem(REG[insn.src], insn.off), insn.size, insn.mode == Mode.MEMSX)
        elif cls == Cls.ST:
            self.e.store_imm(Mem(REG[insn.dst], insn.off), insn.imm, insn.size)
        elif cls == Cls.STX:
            if insn.mode == Mode.ATOMIC:
                self.atomic(insn)
            else:
                self.e.store(Mem(REG[insn.dst], insn.off), REG[insn.src], insn.size)
        elif insn.is_lddw:
            self.lddw(pc, insn)
        else:
            raise CompileError(pc, "legacy packet access (ld_abs/ld_ind) is not supported")

    def lddw(self, pc: int, insn: Insn) -> None:
        d = REG[insn.dst]
        src = insn.src
        if src == Pseudo.IMM64:
            self.e.mov_ri(d, insn.imm64)
        elif src == Pseudo.MAP_IDX:
            self.e.load(d, self.slot(pc, SlotKind.MAP, insn.imm), 8)
        elif src == Pseudo.MAP_IDX_VALUE:
            self.e.load(d, self.slot(pc, SlotKind.MAP_VALUE, insn.imm, insn.imm_hi & 0xFFFFFFFF), 8)
        elif src == Pseudo.BTF_ID:
            self.e.load(d, self.slot(pc, SlotKind.EXTERN_VAR, insn.imm), 8)
        elif src == Pseudo.FUNC:
            self.e.lea(d, RipLabel(("cb", pc + 1 + insn.imm)))
        else:
            raise CompileError(pc, f"lddw with pseudo source {Pseudo(src).name.lower()} (a raw map fd) "
                                   "is not supported: the loader must use map indices")

    def alu(self, pc: int, insn: Insn, w: bool) -> None:
        e, op, d = self.e, insn.op, REG[insn.dst]
        s = REG[insn.src] if insn.uses_reg else None
        imm = insn.imm
        if op == Alu.MOV:
            if s is None:
                e.mov_ri(d, imm if w else imm & 0xFFFFFFFF)
            elif insn.off:
                e.movsx_rr(d, s, insn.off // 8, w)
            elif d != s or not w:
                e.mov_rr(d, s, w)
        elif op in ALU_RR:
            if s is not None:
                e.alu_rr(ALU_RR[op], d, s, w)
            elif imm == 0 and op in (Alu.ADD, Alu.SUB, Alu.OR, Alu.XOR):
                if not w:
                    e.mov_rr(d, d, False)
            else:
                e.alu_ri(ALU_RI[op], d, imm, w)
        elif op == Alu.MUL:
            if s is not None:
                e.imul_rr(d, s, w)
            else:
                e.imul_ri(d, imm, w)
        elif op in SHIFTS:
            self.shift(insn, d, s, w)
        elif op == Alu.NEG:
            e.unary(3, d, w)
        elif op in (Alu.DIV, Alu.MOD):
            self.divmod(insn, d, s, w)
        elif op == Alu.END:
            self.byteswap(insn, d, w)
        else:  # pragma: no cover - validate_program refuses other opcodes
            raise CompileError(pc, f"unknown ALU opcode {insn.opcode:#04x}")

    def shift(self, insn: Insn, d: int, s: int | None, w: bool) -> None:
        e, ext = self.e, SHIFTS[Alu(insn.op)]
        if s is None:
            count = insn.imm & (63 if w else 31)
            if count:
                e.shift_ri(ext, d, count, w)
            elif not w:
                e.mov_rr(d, d, False)
            return
        if s == x86.RCX:
            e.shift_cl(ext, d, w)
        elif d == x86.RCX:
            e.mov_rr(x86.R11, x86.RCX)
            e.mov_rr(x86.RCX, s)
            e.shift_cl(ext, x86.R11, w)
            e.mov_rr(x86.RCX, x86.R11)
        else:
            e.mov_rr(x86.R11, x86.RCX)
            e.mov_rr(x86.RCX, s)
            e.shift_cl(ext, d, w)
            e.mov_rr(x86.RCX, x86.R11)

    def divmod(self, insn: Insn, d: int, s: int | None, w: bool) -> None:
        """RFC 9669: x/0 = 0, x%0 = x, INT_MIN/-1 = INT_MIN, INT_MIN%-1 = 0; never a trap."""
        e = self.e
        signed, is_mod = insn.off == 1, insn.op == Alu.MOD
        if s is None:
            divisor = (insn.imm & MASK64) if w else (insn.imm & 0xFFFFFFFF)
            if divisor == 0:
                return self.div_by_zero(d, is_mod, w)
            if signed and insn.imm == -1:
                return self.div_by_minus_one(d, is_mod, w)
            if not signed and divisor & (divisor - 1) == 0 and divisor < (1 << 31):
                k = divisor.bit_length() - 1
                if is_mod:
                    e.alu_ri(x86.EXT_AND, d, divisor - 1, w)
                elif k:
                    e.shift_ri(x86.EXT_SHR, d, k, w)
                elif not w:
                    e.mov_rr(d, d, False)
                return None
            e.mov_ri(x86.R11, divisor)
            return self.divide(d, signed, is_mod, w)
        done, zero, minus_one = self.new_label(), self.new_label(), self.new_label()
        e.mov_rr(x86.R11, s, w)
        e.alu_rr(x86.OP_TEST, x86.R11, x86.R11, w)
        e.jump(zero, x86.CC_E, short=True)
        if signed:
            e.alu_ri(x86.EXT_CMP, x86.R11, -1, w)
            e.jump(minus_one, x86.CC_E, short=True)
        self.divide(d, signed, is_mod, w)
        e.jump(done, None, short=True)
        self.label(zero)
        self.div_by_zero(d, is_mod, w)
        if signed:
            e.jump(done, None, short=True)
            self.label(minus_one)
            self.div_by_minus_one(d, is_mod, w)
        self.label(done)
        return None

    def div_by_zero(self, d: int, is_mod: bool, w: bool) -> None:
        if not is_mod:
            self.e.mov_ri(d, 0)
        elif not w:
            self.e.mov_rr(d, d, False)

    def div_by_minus_one(self, d: int, is_mod: bool, w: bool) -> None:
        if is_mod:
            self.e.mov_ri(d, 0)
        else:
            self.e.unary(3, d, w)

    def divide(self, d: int, signed: bool, is_mod: bool, w: bool) -> None:
        """d = d (op) r11, keeping rax and rdx unless one of them is d."""
        e = self.e
        if d != x86.RAX:
            e.mov_rr(x86.R10, x86.RAX)
            e.mov_rr(x86.RAX, d)
        if d != x86.RDX:
            e.mov_rr(x86.R9, x86.RDX)
        if signed:
            e.sign_extend_rax(w)
        else:
            e.mov_ri(x86.RDX, 0)
        e.unary(7 if signed else 6, x86.R11, w)
        result = x86.RDX if is_mod else x86.RAX
        if d != result:
            e.mov_rr(d, result, w)
        if d != x86.RAX:
            e.mov_rr(x86.RAX, x86.R10)
        if d != x86.RDX:
            e.mov_rr(x86.RDX, x86.R9)

    def byteswap(self, insn: Insn, d: int, w: bool) -> None:
        e, width = self.e, insn.imm
        swap = w or insn.uses_reg  # bswap (ALU64) or to-big-endian on this little-endian CPU
        if width == 16:
            if swap:
                e.rol16_8(d)
            e.movzx_rr(d, d, 2)
        elif width == 32:
            if swap:
                e.bswap(d, False)
            else:
                e.mov_rr(d, d, False)
        elif swap:
            e.bswap(d, True)

    def atomic(self, insn: Insn) -> None:
        e, op, w = self.e, insn.imm, insn.size == 8
        mem, s = Mem(REG[insn.dst], insn.off), REG[insn.src]
        if op in ATOMIC_RR:
            e.lock_alu(ATOMIC_RR[AtomicOp(op)], mem, s, w)
        elif op == AtomicOp.ADD | AtomicOp.FETCH:
            e.lock_xadd(mem, s, w)
        elif op == AtomicOp.XCHG:
            e.xchg(mem, s, w)
        elif op == AtomicOp.CMPXCHG:
            e.lock_cmpxchg(mem, s, w)
            if not w:
                e.mov_rr(x86.RAX, x86.RAX, False)
        else:  # fetch-or/and/xor: a compare-exchange loop
            alu = ATOMIC_RR[AtomicOp(op & ~AtomicOp.FETCH)]
            loop = self.new_label()
            e.lea(x86.R11, mem)
            operand, scratch = (x86.R10, x86.R9) if s == x86.RAX else (s, x86.R10)
            if s == x86.RAX:
                e.mov_rr(x86.R10, x86.RAX)
            else:
                e.mov_rr(x86.R9, x86.RAX)
            e.load(x86.RAX, Mem(x86.R11), insn.size)
            self.label(loop)
            e.mov_rr(scratch, x86.RAX, w)
            e.alu_rr(alu, scratch, operand, w)
            e.lock_cmpxchg(Mem(x86.R11), scratch, w)
            e.jump(loop, x86.CC_NE, short=True)
            if s != x86.RAX:
                e.mov_rr(s, x86.RAX, w)
                e.mov_rr(x86.RAX, x86.R9)

    def jmp(self, pc: int, insn: Insn) -> None:
        e, op = self.e, insn.op
        if insn.is_exit:
            self.epilogue()
            e.ret()
            return
        if insn.is_call:
            self.call(pc, insn)
            return
        target = insn.jump_target(pc)
        assert target is not None
        if op == Jmp.JA:
            if target != pc + 1:
                self.branch(pc, target, None)
            return
        self.compare(insn)
        self.branch(pc, target, CONDS[Jmp(op)])

    def compare(self, insn: Insn) -> None:
        """The flags a conditional jump tests."""
        e, op, w, d = self.e, insn.op, insn.cls == Cls.JMP, REG[insn.dst]
        if insn.uses_reg:
            e.alu_rr(x86.OP_TEST if op == Jmp.JSET else x86.OP_CMP, d, REG[insn.src], w)
        elif op == Jmp.JSET:
            e.test_ri(d, insn.imm, w)
        elif insn.imm == 0:
            e.alu_rr(x86.OP_TEST, d, d, w)
        else:
            e.alu_ri(x86.EXT_CMP, d, insn.imm, w)

    def branch(self, pc: int, target: int, cc: int | None) -> None:
        """A jump to instruction `target`: rel8 when it surely reaches (see the module
        docstring), else rel32."""
        placed = self.labels.get(("i", target))
        if placed is not None:
            short = x86.fits8(placed - (self.e.pos + 2))
        elif not self.forward_short:
            short = False
        else:
            after = pc + self.insns[pc].slots
            reach = self.a.bound[target] - self.a.bound[after] + _padding(target, self.a.loop_heads)
            short = reach <= 127
        self.e.jump(("i", target), cc, short=short)

    def call(self, pc: int, insn: Insn) -> None:
        e = self.e
        if insn.opcode == OPCODE_CALLX:
            helper = self.a.constants.get(pc)
            if helper is None or helper >= (1 << 31):
                raise CompileError(pc, f"callx: r{insn.dst} does not hold a known helper id")
            return self.helper_call(pc, helper)
        if insn.src == CallKind.LOCAL:
            if self.a.tail_calls:
                e.load(x86.RAX, Mem(x86.RBP, PTR), 8)
            e.call_label(("f", pc + 1 + insn.imm))
        elif insn.src == CallKind.KFUNC:
            e.call_mem(self.slot(pc, SlotKind.EXTERN_FUNC, insn.imm))
        else:
            self.helper_call(pc, insn.imm)
        return None

    def helper_call(self, pc: int, helper: int) -> None:
        if helper <= 0 or (self.helper_available and not self.helper_available(helper)):
            raise CompileError(pc, f"{helper_name(helper)} (id {helper}) is not provided by the runtime")
        if helper == HELPER_TAIL_CALL:
            self.tail_call(pc)
        else:
            self.e.call_mem(self.slot(pc, SlotKind.HELPER, helper))

    def tail_call(self, pc: int) -> None:
        """r1 = ctx, r2 = prog_array handle, r3 = index. The runtime's tail_call helper
        returns the target's entry address (0 if none); on success the current
        function's frame is dropped and the target entered with the count in eax."""
        e = self.e
        fail = self.new_label()
        e.load(x86.R11, Mem(x86.RBP, PTR), 8)
        e.alu_ri(x86.EXT_CMP, Mem(x86.R11), MAX_TAIL_CALLS, False)
        e.jump(fail, x86.CC_AE, short=False)
        e.store(Mem(x86.RBP, SAVE), x86.RDI, 8)
        e.call_mem(self.slot(pc, SlotKind.HELPER, HELPER_TAIL_CALL))
        e.alu_rr(x86.OP_TEST, x86.RAX, x86.RAX)
        e.jump(fail, x86.CC_E, short=False)
        e.mov_rr(x86.R11, x86.RAX)
        e.load(x86.R10, Mem(x86.RBP, PTR), 8)
        e.load(x86.RAX, Mem(x86.R10), 4)
        e.alu_ri(x86.EXT_ADD, x86.RAX, 1, False)
        e.store(Mem(x86.R10), x86.RAX, 4)
        e.load(x86.RDI, Mem(x86.RBP, SAVE), 8)
        self.epilogue()
        e.lea(x86.R11, Mem(x86.R11, TAIL_CALL_ENTRY_SKIP))
        e.jmp_reg(x86.R11)
        self.label(fail)
