"""The JIT's x86-64 encoder agrees with capstone (disassembly of our bytes) and
keystone (assembly of the same text) on every register and addressing form it uses."""
from __future__ import annotations

import itertools

import pytest

from bpftime.jit import x86
from bpftime.jit.x86 import Mem

capstone = pytest.importorskip("capstone")
keystone = pytest.importorskip("keystone")

NAMES64 = ["rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
           "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15"]
NAMES32 = ["eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi"] + [f"r{i}d" for i in range(8, 16)]
NAMES16 = ["ax", "cx", "dx", "bx", "sp", "bp", "si", "di"] + [f"r{i}w" for i in range(8, 16)]
NAMES8 = ["al", "cl", "dl", "bl", "spl", "bpl", "sil", "dil"] + [f"r{i}b" for i in range(8, 16)]
REGS = range(16)
GPRS = [r for r in REGS if r != x86.RSP]
BASES = [x86.RAX, x86.RSP, x86.RBP, x86.RDI, x86.R12, x86.R13, x86.R15]
DISPS = [0, 8, -8, 127, -128, 128, -512, 0x12345]
PTR = {1: "byte", 2: "word", 4: "dword", 8: "qword"}


@pytest.fixture(scope="module")
def tools():
    cs = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64)
    ks = keystone.Ks(keystone.KS_ARCH_X86, keystone.KS_MODE_64)
    return cs, ks


def num(v: int) -> str:
    """An unsigned number as capstone prints it (decimal below 10)."""
    return str(v) if v < 10 else hex(v)


def mem_text(base: int, disp: int, size: int) -> str:
    if disp == 0:
        inner = NAMES64[base]
    else:
        inner = f"{NAMES64[base]} {'+' if disp > 0 else '-'} {num(abs(disp))}"
    return f"{PTR[size]} ptr [{inner}]"


def disasm_one(cs, code: bytes) -> str:
    insns = list(cs.disasm(code, 0))
    assert len(insns) == 1 and insns[0].size == len(code), (code.hex(), insns)
    return f"{insns[0].mnemonic} {insns[0].op_str}".strip()


def check(tools, emit, text: str) -> None:
    """Our bytes are one instruction, and it is the one keystone assembles from `text`
    (both compared as capstone disassembles them)."""
    cs, ks = tools
    e = x86.Emitter()
    emit(e)
    ours = disasm_one(cs, bytes(e.buf))
    theirs, _ = ks.asm(text, 0)
    expected = disasm_one(cs, bytes(theirs))
    assert ours == expected, f"{bytes(e.buf).hex()} is {ours!r}, expected {text!r} ({expected!r})"


def test_register_moves_and_alu(tools):
    for dst, src in itertools.product(REGS, REGS):
        check(tools, lambda e: e.mov_rr(dst, src), f"mov {NAMES64[dst]}, {NAMES64[src]}")
        check(tools, lambda e: e.mov_rr(dst, src, False), f"mov {NAMES32[dst]}, {NAMES32[src]}")
    for dst, src in itertools.product(GPRS, [x86.RAX, x86.RSI, x86.R11, x86.R15]):
        check(tools, lambda e: e.alu_rr(x86.OP_ADD, dst, src), f"add {NAMES64[dst]}, {NAMES64[src]}")
        check(tools, lambda e: e.alu_rr(x86.OP_XOR, dst, src, False), f"xor {NAMES32[dst]}, {NAMES32[src]}")
        check(tools, lambda e: e.imul_rr(dst, src), f"imul {NAMES64[dst]}, {NAMES64[src]}")
        check(tools, lambda e: e.movsx_rr(dst, src, 1, True), f"movsx {NAMES64[dst]}, {NAMES8[src]}")
        check(tools, lambda e: e.movsx_rr(dst, src, 2, False), f"movsx {NAMES32[dst]}, {NAMES16[src]}")
        check(tools, lambda e: e.movsx_rr(dst, src, 4, True), f"movsxd {NAMES64[dst]}, {NAMES32[src]}")
        check(tools, lambda e: e.movzx_rr(dst, src, 1), f"movzx {NAMES32[dst]}, {NAMES8[src]}")


@pytest.mark.parametrize("value", [1, -1, 127, -128, 128, 0x7FFFFFFF, -0x80000000])
def test_immediate_forms(tools, value):
    for dst in GPRS:
        check(tools, lambda e: e.alu_ri(x86.EXT_SUB, dst, value),
              f"sub {NAMES64[dst]}, {num(value & (2**64 - 1))}")
        check(tools, lambda e: e.alu_ri(x86.EXT_CMP, dst, value, False),
              f"cmp {NAMES32[dst]}, {num(value & 0xFFFFFFFF)}")


@pytest.mark.parametrize("value,text", [
    (5, "mov {r32}, 5"), (0xFFFFFFFF, "mov {r32}, 0xffffffff"),
    (-2, "mov {r64}, 0xfffffffffffffffe"), (0x123456789A, "movabs {r64}, 0x123456789a"),
])
def test_mov_immediates(tools, value, text):
    for dst in GPRS:
        check(tools, lambda e: e.mov_ri(dst, value), text.format(r32=NAMES32[dst], r64=NAMES64[dst]))


def test_loads_and_stores_every_base(tools):
    for base, disp, reg in itertools.product(BASES, DISPS, [x86.RAX, x86.RSI, x86.RDI, x86.R9, x86.R13]):
        check(tools, lambda e: e.load(reg, Mem(base, disp), 8), f"mov {NAMES64[reg]}, {mem_text(base, disp, 8)}")
        check(tools, lambda e: e.load(reg, Mem(base, disp), 4), f"mov {NAMES32[reg]}, {mem_text(base, disp, 4)}")
        check(tools, lambda e: e.load(reg, Mem(base, disp), 2), f"movzx {NAMES32[reg]}, {mem_text(base, disp, 2)}")
        check(tools, lambda e: e.load(reg, Mem(base, disp), 1, True), f"movsx {NAMES64[reg]}, {mem_text(base, disp, 1)}")
        check(tools, lambda e: e.load(reg, Mem(base, disp), 4, True), f"movsxd {NAMES64[reg]}, {mem_text(base, disp, 4)}")
        for size, names in ((1, NAMES8), (2, NAMES16), (4, NAMES32), (8, NAMES64)):
            check(tools, lambda e: e.store(Mem(base, disp), reg, size), f"mov {mem_text(base, disp, size)}, {names[reg]}")
        check(tools, lambda e: e.store_imm(Mem(base, disp), 0x7B, 2), f"mov {mem_text(base, disp, 2)}, 0x7b")
        check(tools, lambda e: e.store_imm(Mem(base, disp), -1, 8),
              f"mov {mem_text(base, disp, 8)}, 0xffffffffffffffff")


def test_shifts_swaps_division_and_atomics(tools):
    for r in GPRS:
        n64, n32 = NAMES64[r], NAMES32[r]
        check(tools, lambda e: e.shift_ri(x86.EXT_SAR, r, 63), f"sar {n64}, 0x3f")
        check(tools, lambda e: e.shift_ri(x86.EXT_SHL, r, 1, False), f"shl {n32}, 1")
        check(tools, lambda e: e.shift_cl(x86.EXT_SHR, r), f"shr {n64}, cl")
        check(tools, lambda e: e.bswap(r, True), f"bswap {n64}")
        check(tools, lambda e: e.bswap(r, False), f"bswap {n32}")
        check(tools, lambda e: e.rol16_8(r), f"rol {NAMES16[r]}, 8")
        check(tools, lambda e: e.unary(6, r), f"div {n64}")
        check(tools, lambda e: e.unary(7, r, False), f"idiv {n32}")
        check(tools, lambda e: e.unary(3, r), f"neg {n64}")
        check(tools, lambda e: e.push(r), f"push {n64}")
        check(tools, lambda e: e.pop(r), f"pop {n64}")
        check(tools, lambda e: e.call_reg(r), f"call {n64}")
        check(tools, lambda e: e.test_ri(r, 0x80000000), f"test {n64}, 0xffffffff80000000")
        for base in BASES:
            mem = Mem(base, -16)
            check(tools, lambda e: e.lock_xadd(mem, r, True), f"lock xadd {mem_text(base, -16, 8)}, {n64}")
            check(tools, lambda e: e.lock_cmpxchg(mem, r, False), f"lock cmpxchg {mem_text(base, -16, 4)}, {n32}")
            check(tools, lambda e: e.xchg(mem, r, True), f"xchg {mem_text(base, -16, 8)}, {n64}")
            check(tools, lambda e: e.lock_alu(x86.OP_OR, mem, r, False), f"lock or {mem_text(base, -16, 4)}, {n32}")
            check(tools, lambda e: e.lea(r, mem), f"lea {n64}, [{NAMES64[base]} - 0x10]")


def test_relative_references_resolve(tools):
    cs, _ = tools
    e = x86.Emitter()
    e.jump("end", x86.CC_NE, short=True)
    e.jump("end", None, short=False)
    e.call_mem(x86.RipLabel("slot"))
    e.call_label("end")
    end = e.pos
    e.ret()
    e.resolve({"end": end, "slot": 0x100})
    text = [(i.mnemonic, i.op_str) for i in cs.disasm(bytes(e.buf), 0)]
    # 2-byte jne, 5-byte jmp: rip after the 6-byte call is 13, so the slot is at rip + 0x100 - 13
    assert text == [("jne", hex(end)), ("jmp", hex(end)), ("call", f"qword ptr [rip + {0x100 - 13:#x}]"),
                    ("call", hex(end)), ("ret", "")]


def test_padding_nops_are_single_instructions(tools):
    cs, _ = tools
    for n in range(1, 10):
        e = x86.Emitter()
        e.nops(n)
        assert disasm_one(cs, bytes(e.buf)).startswith("nop")
    e = x86.Emitter()
    e.nops(31)
    assert len(e.buf) == 31 and all(i.mnemonic == "nop" for i in cs.disasm(bytes(e.buf), 0))
