"""Entry resolution: names, offsets and addresses in files on disk and live processes."""
from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bpftime.errors import LoadError
from bpftime.hook.plan import Strategy, plan_hook
from bpftime.hook.resolve import Resolver, resolve_entry
from native_hooks.build import HERE, host_program, targets_library

BUILD = HERE / "build"


@pytest.fixture(scope="module")
def targets() -> Path:
    return targets_library(BUILD, "-O2")


def file_bytes(path: str, offset: int, size: int) -> bytes:
    with open(path, "rb") as f:
        f.seek(offset)
        return f.read(size)


def test_function_in_a_library_file(targets):
    entry = resolve_entry(targets, "add_leaf")
    assert entry.symbol == "add_leaf" and entry.module == str(targets.resolve())
    assert entry.pie and entry.func_size == 4
    assert entry.body == file_bytes(entry.module, entry.file_offset, 4) == bytes.fromhex("8d0437c3")
    assert entry.after and set(entry.after) <= {0x66, 0x2E, 0x0F, 0x1F, 0x84, 0x00, 0x90, 0xCC}


def test_name_plus_offset_and_address(targets):
    base = resolve_entry(targets, "add_jcc")
    inner = resolve_entry(targets, "add_jcc+4")
    assert inner.vaddr == base.vaddr + 4 and inner.symbol == "add_jcc" and inner.offset_in_func == 4
    assert resolve_entry(targets, f"{base.vaddr + 4:#x}") == inner
    with pytest.raises(LoadError, match=r"beyond add_jcc"):
        resolve_entry(targets, "add_jcc+0x100")


def test_libc_through_the_hosts_needed_libraries():
    entry = resolve_entry(sys.executable, "libc.so.6:malloc")
    assert os.path.basename(entry.module).startswith("libc")
    assert entry.func_size > 5 and entry.body[:4] == file_bytes(entry.module, entry.file_offset, 4)
    assert resolve_entry(sys.executable, "libc:free").module == entry.module
    # without a library, names are searched in the host and then its libraries
    assert resolve_entry(sys.executable, "malloc").vaddr == entry.vaddr


@pytest.mark.parametrize("spec, message", [
    ("no_such_function", r"no function 'no_such_function'"),
    ("libnothere.so.9:malloc", r"library 'libnothere.so.9'"),
    ("add_leaf:+:", r"expected \[LIB:\]FUNC"),
])
def test_bad_names_are_one_line_errors(targets, spec, message):
    with pytest.raises(LoadError, match=message) as err:
        resolve_entry(targets, spec)
    assert "\n" not in str(err.value)


def test_a_misspelt_libc_function_suggests_close_names_from_its_dynamic_symbols():
    with pytest.raises(LoadError, match=r"^entry 'libc.so.6:mallocc': no function 'mallocc' in "
                                        r"libc.so.6 \(did you mean malloc\b.*\?\)$") as err:
        resolve_entry(sys.executable, "libc.so.6:mallocc")
    assert "address" not in str(err.value)


def test_the_attach_option_address_form_resolves_in_a_library():
    from bpftime.inject.targets import entry_spec, parse_attach_option

    malloc = resolve_entry(sys.executable, "libc.so.6:malloc")
    for text, vaddr in [(f"p=uprobe:libc.so.6:{malloc.vaddr:#x}", malloc.vaddr),
                        ("p=uprobe:libc.so.6:malloc+0x4", malloc.vaddr + 4)]:
        spec = entry_spec(parse_attach_option(text)[1])
        assert resolve_entry(sys.executable, spec).vaddr == vaddr


def test_ifunc_is_refused_with_a_hint():
    with pytest.raises(LoadError, match=r"memcpy is an IFUNC resolved at run time"):
        resolve_entry(sys.executable, "libc.so.6:memcpy")


def test_stripped_host_works_by_address_only(tmp_path):
    host = host_program(BUILD, pie=True)
    work = resolve_entry(host, "work")
    stripped = tmp_path / "host_stripped"
    if shutil.which("strip") is None:
        pytest.skip("strip (binutils) is not installed")
    subprocess.run(["strip", "--strip-all", "-o", str(stripped), str(host)], check=True)
    with pytest.raises(LoadError, match=r"no function 'work' in host_stripped and its libraries "
                                        r"\(host_stripped has no function symbols: name an address, "
                                        r"host_stripped:0xADDR\)$"):
        resolve_entry(stripped, "work")
    assert resolve_entry(stripped, f"host_stripped:{work.vaddr:#x}").vaddr == work.vaddr
    bare = resolve_entry(stripped, f"{work.vaddr:#x}")
    assert bare.symbol is None and bare.func_size == 0
    assert bare.body[:8] == work.body[:8]
    assert plan_hook(bare).strategy == Strategy.INT3  # no extent known: one byte only


def test_bad_hosts(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("not an elf\n")
    with pytest.raises(LoadError, match=r"notes.txt: not an ELF file"):
        resolve_entry(text, "main")
    with pytest.raises(LoadError, match=r"missing: no such file"):
        resolve_entry(tmp_path / "missing", "main")
    with pytest.raises(LoadError, match=r"no such process"):
        Resolver(pid=2**22 + 12345)


def test_this_process_after_dlopen(targets):
    lib = ctypes.CDLL(str(targets))  # loaded after start, at an ASLR address
    entry = Resolver(pid=os.getpid()).resolve(f"{targets.name}:add_global")
    assert entry.address == ctypes.cast(lib.add_global, ctypes.c_void_p).value


@pytest.mark.parametrize("pie", [True, False], ids=["pie", "no-pie"])
def test_live_process_pie_and_not(pie):
    host = host_program(BUILD, pie)
    proc = subprocess.Popen([str(host)])
    try:
        time.sleep(0.1)
        entry = Resolver(pid=proc.pid).resolve("work")
        assert entry.pie is pie and entry.module == str(host.resolve())
        if not pie:
            assert entry.load_bias == 0 and entry.address == entry.vaddr
        with open(f"/proc/{proc.pid}/mem", "rb") as mem:
            mem.seek(entry.address)
            assert mem.read(entry.func_size) == entry.body
    finally:
        proc.kill()
        proc.wait()


def test_needed_library_found_through_origin_runpath(tmp_path):
    """A host linked with -rpath '$ORIGIN/lib': its library is found where the
    dynamic linker would find it, and names resolve in it."""
    from native_hooks.build import TARGETS, gcc

    lib = gcc(tmp_path / "lib" / "libhooktargets.so", TARGETS, "-O2", "-fPIC", "-shared",
              "-Wl,-soname,libhooktargets.so")
    main = tmp_path / "main.c"
    main.write_text("int add_leaf(int, int);\nint main(void) { return add_leaf(0, 0); }\n")
    host = gcc(tmp_path / "host", (main, lib), "-O2", "-Wl,-rpath,$ORIGIN/lib")
    entry = resolve_entry(host, "add_leaf")
    assert entry.module == str(lib.resolve())
    assert resolve_entry(host, "libhooktargets:add_jcc").module == entry.module
