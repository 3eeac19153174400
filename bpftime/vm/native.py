"""Native helpers (the runtime's `bpftime_helper_*` C functions) as interpreter helpers.

The interpreter hands them real addresses, so before each call every memory
argument is checked against the program's regions using the helper's prototype
(`bpftime.helper_protos`): a bad pointer stops the program with a RuntimeFault
naming the instruction instead of crashing the process inside C (a string argument
must end in such memory). Memory a helper returns (a map value, a ringbuf record)
becomes accessible; a submitted or discarded ringbuf record stops being accessible.
bpf_tail_call's lookup is the runtime's helper too; the jump is the interpreter's.
"""
from __future__ import annotations

import ctypes
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

from bpftime.errors import RuntimeFault
from bpftime.helper_protos import PROTOS, Arg, HelperProto, Ret
from bpftime.kernel_abi import helper_name
from bpftime.vm.machine import Helper, Machine

_U64 = ctypes.c_uint64
NativeFn = ctypes.CFUNCTYPE(_U64, _U64, _U64, _U64, _U64, _U64)
RINGBUF_RECORD = "ringbuf record"
_MEMORY_ARGS = (Arg.MEM, Arg.UNINIT_MEM, Arg.MEM_OR_NULL)


@dataclass(frozen=True)
class MapInfo:
    """What argument checks need to know of a map, by its handle."""

    name: str
    key_size: int
    value_size: int


@contextmanager
def _argument(m: Machine, what: str) -> Iterator[None]:
    """A fault checking an argument names the argument."""
    try:
        yield
    except RuntimeFault as err:
        raise RuntimeFault(m.pc, f"{what}: {err.reason}") from None


def _memory_arg(m: Machine, address: int, size: int, write: bool, what: str) -> None:
    with _argument(m, what):
        m.mem.check(address, size, write, m.pc)


def _arg_names(proto: HelperProto) -> tuple[str, ...]:
    """How faults name each argument of `proto`'s helper."""
    name = helper_name(proto.id)
    return tuple(f"argument {i + 1} (r{i + 1}) of {name}" for i in range(len(proto.args)))


def _check_args(m: Machine, proto: HelperProto, names: tuple[str, ...], args: tuple[int, ...],
                maps: Mapping[int, MapInfo]) -> MapInfo | None:
    """RuntimeFault unless every pointer argument is memory the program may pass;
    the map argument's info (or None). `names` are `_arg_names(proto)`."""
    the_map = None
    for i, kind in enumerate(proto.args):
        value, what = args[i], names[i]
        if kind == Arg.CONST_MAP_PTR:
            the_map = maps.get(value)
            if the_map is None:
                raise RuntimeFault(m.pc, f"{what} is not a map")
        elif kind in (Arg.MAP_KEY, Arg.MAP_VALUE, Arg.UNINIT_MAP_VALUE) and the_map is not None:
            size = the_map.key_size if kind == Arg.MAP_KEY else the_map.value_size
            if size:
                _memory_arg(m, value, size, kind == Arg.UNINIT_MAP_VALUE, what)
        elif kind in _MEMORY_ARGS:
            size = args[i + 1] if i + 1 < len(args) else 0
            if size and not (kind == Arg.MEM_OR_NULL and value == 0):
                _memory_arg(m, value, size, kind == Arg.UNINIT_MEM, what)
        elif kind == Arg.CONST_STR:
            with _argument(m, what):
                m.mem.string_length(value, m.pc)
        elif kind == Arg.RINGBUF_RECORD:
            if m.mem.region_at(value, RINGBUF_RECORD) is None:
                raise RuntimeFault(m.pc, f"{what} is not a reserved ringbuf record")
        elif kind == Arg.FUNC:
            raise RuntimeFault(m.pc, f"{what} is a callback, which native code cannot run "
                                     "for the interpreter")
    return the_map


def native_helper(address: int, proto: HelperProto, maps: Mapping[int, MapInfo]) -> Helper:
    """The native function at `address` as an interpreter helper with checked arguments."""
    fn = NativeFn(address)
    names = _arg_names(proto)

    def call(m: Machine, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
        args = (r1, r2, r3, r4, r5)
        the_map = _check_args(m, proto, names, args, maps)
        if proto.args and proto.args[0] == Arg.RINGBUF_RECORD:
            record = m.mem.region_at(r1, RINGBUF_RECORD)
            if record is not None:
                m.mem.remove_region(record)
        r0 = fn(r1, r2, r3, r4, r5)
        if r0 and proto.ret == Ret.MAP_VALUE_OR_NULL and the_map is not None:
            m.mem.add_region(r0, the_map.value_size, True, f"value of map {the_map.name}")
        elif r0 and proto.ret == Ret.RINGBUF_MEM_OR_NULL:
            m.mem.add_region(r0, r2, True, RINGBUF_RECORD)
        return r0
    return call


def native_helpers(ids: Iterable[int], address_of: Callable[[int], int],
                   maps: Mapping[int, MapInfo]) -> dict[int, Helper]:
    """Interpreter helpers for the helper `ids` the native runtime implements
    (`address_of(id)` is 0 for the others) and that have a prototype to check their
    arguments by; the others stay unbound."""
    out: dict[int, Helper] = {}
    for hid in set(ids):
        address, proto = address_of(hid), PROTOS.get(hid)
        if address and proto is not None:
            out[hid] = native_helper(address, proto, maps)
    return out
