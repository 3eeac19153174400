"""EIM specifications: the model, YAML loading, and resolution against the host binary.

    load_development(path, host=None) -> Development
    load_deployment(path, host=None) -> Deployment   (classes with their verifier Policy)
    check_externs(policy, obj)                       (an object's externs against the grants)
    load_extension(ext) -> (BpfObject, Program)      (an extension's object and program)
    spec_kind(path) -> "development" | "deployment"

Every problem with a spec raises `bpftime.errors.LoadError` (exit code 2) whose message
is `file:line:column: what is wrong`. `host` overrides the host binary the specs name.
"""
from __future__ import annotations

from pathlib import Path

from bpftime.eim.externs import check_externs
from bpftime.eim.model import Deployment, Development, EntryPoint, Extension, ExtensionClass
from bpftime.eim.objects import load_extension

__all__ = ["load_development", "load_deployment", "check_externs", "load_extension", "spec_kind",
           "SPEC_SUFFIXES",
           "Deployment", "Development", "EntryPoint", "Extension", "ExtensionClass"]

DEPLOYMENT_KEYS = frozenset({"uses", "classes", "extensions"})
SPEC_SUFFIXES = (".yaml", ".yml")  # what names a spec file rather than an object


def spec_kind(path: str | Path) -> str:
    """"deployment" for a file with `uses:`, `classes:` or `extensions:`, else
    "development" (malformed YAML is a LoadError)."""
    from bpftime.eim.yamlnodes import compose_file

    keys = {key.name("spec key") for key, _ in compose_file(Path(path)).pairs("spec")}
    return "deployment" if keys & DEPLOYMENT_KEYS else "development"


def load_development(path: str | Path, host: str | Path | None = None) -> Development:
    """Read a development-time file and resolve it against its host (or `host`)."""
    from bpftime.eim.development import read_development
    from bpftime.eim.resolve import resolve_development

    return resolve_development(read_development(Path(path)), Path(host) if host else None)


def load_deployment(path: str | Path, host: str | Path | None = None) -> Deployment:
    """Read a deployment-time file, the development file it `uses:`, resolve both against
    the host, and build each class's Policy. The host is, by priority: `host`, the
    deployment file's `host:`, the development file's `host:`."""
    from bpftime.eim.deployment import read_deployment
    from bpftime.eim.development import read_development
    from bpftime.eim.grants import build_policy, merge_classes
    from bpftime.eim.resolve import check_host, resolve_development

    spec, uses_node = read_deployment(Path(path))
    if not spec.uses.exists():
        raise uses_node.error(f"uses: {spec.uses} not found")
    dev_spec = read_development(spec.uses)
    if not host and spec.host is not None:
        check_host(spec.host, spec.host_where)
    binary = Path(host) if host else spec.host
    dev = resolve_development(dev_spec, binary)
    classes: dict[str, ExtensionClass] = {}
    for name, merged in merge_classes(spec.classes).items():
        entry, policy = build_policy(merged, dev)
        classes[name] = ExtensionClass(name, entry, policy)
    extensions = [Extension(e.name, e.object, e.program, e.class_name,
                            classes[e.class_name].entry, classes[e.class_name].policy,
                            e.object_where, e.program_where)
                  for e in spec.extensions.values()]
    return Deployment(spec.path, dev, classes, extensions)
