"""What `bpftime load TARGET` runs where: the (extension, entry) pairs of a bare
object (libbpf section names, `--prog`, `--attach`) or of an EIM deployment."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from bpftime.elf.attach import AttachPoint, parse_attach
from bpftime.elf.model import BpfObject, Program
from bpftime.errors import LoadError
from bpftime.policy import Policy

UPROBE_KINDS = ("uprobe", "uretprobe")
ELF_MAGIC = b"\x7fELF"


@dataclass(frozen=True)
class Attachment:
    """One extension run at one entry of the host, verified under `policy`."""

    name: str            # the extension's name: its program, or its EIM name
    obj: BpfObject
    program: Program
    policy: Policy
    kind: str            # "uprobe" (entry) or "uretprobe" (return)
    entry: str           # for the hook resolver: "[LIB:]FUNC[+OFF]" or "[LIB:]0xADDR"
    # host functions and variables the class grants: symbol -> address in the host file
    host_symbols: dict[str, int] = field(default_factory=dict, compare=False)

    def describe(self) -> str:
        return f"{self.name} ({self.kind} {self.entry})"


def is_object(path: Path) -> bool:
    """Decided by content: True for an ELF file (a BPF object), False for a deployment
    spec (a .yaml or .yml file that is not ELF); LoadError for anything else (C source
    given by mistake, a directory, a missing file)."""
    from bpftime.eim import SPEC_SUFFIXES

    try:
        with path.open("rb") as f:
            if f.read(4) == ELF_MAGIC:
                return True
    except FileNotFoundError:
        raise LoadError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise LoadError(f"{path}: is a directory, expected an object or a deployment spec") from None
    if path.suffix.lower() in SPEC_SUFFIXES:
        return False
    raise LoadError(f"{path}: expected a BPF object (clang -target bpf) or a deployment .yaml")


def parse_attach_option(text: str) -> tuple[str, AttachPoint]:
    """`PROG=uprobe:BINARY:FUNC[+OFF]` (or uretprobe) -> (PROG, its attach point)."""
    prog, eq, spec = text.partition("=")
    kind, colon, target = spec.partition(":")
    if not eq or not prog or not colon or kind not in UPROBE_KINDS:
        raise LoadError(f"--attach {text}: expected PROG=uprobe:BINARY:FUNC[+OFF] "
                        f"or PROG=uretprobe:BINARY:FUNC")
    return prog, parse_attach(f"{kind}/{target}", "--attach: ")


def entry_spec(attach: AttachPoint) -> str:
    """The resolver's name of a uprobe's entry: `BINARY:FUNC[+OFF]` or `BINARY:0xOFF`."""
    if attach.function is None:
        return f"{attach.binary}:{attach.offset:#x}"
    suffix = f"+{attach.offset:#x}" if attach.offset else ""
    return f"{attach.binary}:{attach.function}{suffix}"


def from_object(obj: BpfObject, policy: Policy, progs: tuple[str, ...],
                attach: tuple[str, ...]) -> list[Attachment]:
    """The programs named by `progs` and `attach`, each at its section's
    uprobe/uretprobe or at the places `--attach` gives it (which replace its
    section's). When neither names one: every program whose section names an entry
    (as libbpf auto-attaches), the others stay unloaded."""
    given: dict[str, list[AttachPoint]] = {}
    for text in attach:
        name, point = parse_attach_option(text)
        obj.program(name)  # an unknown program is an error naming the known ones
        given.setdefault(name, []).append(point)
    chosen = [obj.program(name) for name in progs]
    for name in given:
        if all(p.name != name for p in chosen):
            chosen.append(obj.program(name))
    if not chosen:
        chosen = [p for p in obj.programs if p.attach.kind not in UPROBE_KINDS or p.attach.binary]
    out: list[Attachment] = []
    for prog in chosen:
        points = given.get(prog.name) or [prog.attach]
        for point in points:
            if point.kind not in UPROBE_KINDS:
                raise LoadError(f"{obj.path}: program {prog.name} (section {prog.section}) is not a "
                                f"uprobe; give --attach {prog.name}=uprobe:BINARY:FUNC")
            if point.binary is None:
                raise LoadError(f"{obj.path}: program {prog.name} (section {prog.section}) names no "
                                f"function; give --attach {prog.name}={point.kind}:BINARY:FUNC")
            out.append(Attachment(prog.name, obj, prog, policy, point.kind, entry_spec(point)))
    if not out:
        raise LoadError(f"{obj.path}: no program names where to attach; give "
                        f"--attach PROG=uprobe:BINARY:FUNC")
    return out


def from_deployment(deployment, load_object, progs: tuple[str, ...]) -> list[Attachment]:
    """Each extension of an EIM deployment (or those named in `progs`) at its class's
    entry, under its class's policy. `load_object(path)` loads each object once."""
    chosen = [e for e in deployment.extensions if not progs or e.name in progs or e.program in progs]
    missing = [p for p in progs if all(p not in (e.name, e.program) for e in deployment.extensions)]
    if missing:
        known = ", ".join(e.name for e in deployment.extensions) or "none"
        raise LoadError(f"{deployment.path}: no extension {missing[0]!r} (extensions: {known})")
    out: list[Attachment] = []
    for ext in chosen:
        obj = load_object(ext.object)
        kind = "uretprobe" if ext.entry.at == "return" else "uprobe"
        entry = f"{ext.entry.host}:{ext.entry.function}"
        out.append(Attachment(ext.name, obj, obj.program(ext.program), ext.policy, kind, entry,
                              deployment.development.addresses))
    if not out:
        raise LoadError(f"{deployment.path}: the deployment has no extension")
    return out
