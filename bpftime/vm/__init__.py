"""The reference interpreter of the whole eBPF instruction set (RFC 9669).

`Machine(insns, bindings).run(data)` runs a validated program over real memory;
helpers come from `Bindings.helpers` (see `bpftime.vm.helpers`).
"""
from bpftime.vm.machine import DEFAULT_LIMIT, Bindings, FixedRegion, Helper, Machine

__all__ = ["Machine", "Bindings", "FixedRegion", "Helper", "DEFAULT_LIMIT"]
