"""YAML reading that keeps positions, so every spec error is `file:line:column: message`.

The file is composed into pyyaml's node tree (not just `safe_load`ed) and read through
`Node`, which knows where each value came from.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import yaml
from yaml.constructor import SafeConstructor

from bpftime.errors import LoadError

_INT_TAG = "tag:yaml.org,2002:int"
_STR_TAG = "tag:yaml.org,2002:str"


@dataclass(frozen=True)
class Where:
    """A position in a spec file (1-based line and column)."""

    file: str
    line: int
    column: int

    def error(self, message: str) -> LoadError:
        return LoadError(f"{self.file}:{self.line}:{self.column}: {message}")

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


def _where(file: str, mark: yaml.Mark | None) -> Where:
    if mark is None:
        return Where(file, 1, 1)
    return Where(file, mark.line + 1, mark.column + 1)


class Node:
    """A YAML node and its position, with typed accessors that raise located errors."""

    def __init__(self, file: str, node: yaml.Node):
        self.file = file
        self.node = node
        self.where = _where(file, node.start_mark)

    def error(self, message: str) -> LoadError:
        return self.where.error(message)

    def _kind(self) -> str:
        if isinstance(self.node, yaml.MappingNode):
            return "a mapping"
        if isinstance(self.node, yaml.SequenceNode):
            return "a list"
        if self.node.tag == "tag:yaml.org,2002:null":
            return "nothing"
        return repr(self.node.value)

    # scalars ---------------------------------------------------------------
    def is_scalar(self) -> bool:
        return isinstance(self.node, yaml.ScalarNode)

    def is_mapping(self) -> bool:
        return isinstance(self.node, yaml.MappingNode)

    def text(self, what: str) -> str:
        """A scalar as text (numbers too, as written); `what` names the field in errors."""
        if not self.is_scalar() or self.node.tag == "tag:yaml.org,2002:null":
            raise self.error(f"{what}: expected text, got {self._kind()}")
        return str(self.node.value)

    def name(self, what: str) -> str:
        """A non-empty string scalar."""
        if not self.is_scalar() or self.node.tag != _STR_TAG or not str(self.node.value).strip():
            raise self.error(f"{what}: expected a name, got {self._kind()}")
        return str(self.node.value).strip()

    def integer(self, what: str) -> int:
        if not self.is_scalar() or self.node.tag != _INT_TAG:
            raise self.error(f"{what}: expected an integer, got {self._kind()}")
        return int(SafeConstructor().construct_object(self.node))

    # collections -----------------------------------------------------------
    def items(self, what: str) -> list["Node"]:
        """A list; a single scalar counts as a one-element list."""
        if isinstance(self.node, yaml.SequenceNode):
            return [Node(self.file, child) for child in self.node.value]
        if self.is_scalar() and self.node.tag != "tag:yaml.org,2002:null":
            return [self]
        raise self.error(f"{what}: expected a list, got {self._kind()}")

    def mapping(self, what: str, allowed: tuple[str, ...],
                required: tuple[str, ...] = ()) -> "Fields":
        """A mapping whose keys must be among `allowed`; `required` ones must be present."""
        return Fields.read(self, what, allowed, required)

    def pairs(self, what: str) -> Iterator[tuple["Node", "Node"]]:
        """Key/value nodes of a mapping with free-form keys (e.g. `types:`), no duplicates."""
        if not self.is_mapping():
            raise self.error(f"{what}: expected a mapping, got {self._kind()}")
        seen: dict[str, Where] = {}
        for key, value in self.node.value:
            k = Node(self.file, key)
            name = k.name(f"{what} key")
            if name in seen:
                raise k.error(f"{what}: duplicate key '{name}' (first at line {seen[name].line})")
            seen[name] = k.where
            yield k, Node(self.file, value)


class Fields:
    """The fields of a YAML mapping, checked against the keys a section allows."""

    def __init__(self, values: dict[str, Node]):
        self._values = values

    @classmethod
    def read(cls, owner: Node, what: str, allowed: tuple[str, ...],
             required: tuple[str, ...]) -> "Fields":
        values: dict[str, Node] = {}
        for key, value in owner.pairs(what):
            name = key.name(f"{what} key")
            if name not in allowed:
                raise key.error(f"{what}: unknown key '{name}' (expected one of: {', '.join(allowed)})")
            values[name] = value
        for name in required:
            if name not in values:
                raise owner.error(f"{what}: missing '{name}'")
        return cls(values)

    def get(self, name: str) -> Node | None:
        return self._values.get(name)

    def __contains__(self, name: str) -> bool:
        return name in self._values

    def __getitem__(self, name: str) -> Node:
        return self._values[name]

    def items(self, name: str, what: str) -> list[Node]:
        """The items of the list field `name` (see Node.items); [] when it is absent."""
        return self._values[name].items(what) if name in self._values else []


def compose_file(path: Path) -> Node:
    """Parse a YAML file into a positioned node tree; malformed YAML is a LoadError."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise LoadError(f"{path}: no such file") from None
    except OSError as err:
        raise LoadError(f"{path}: cannot read: {err.strerror}") from None
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as err:
        where = _where(str(path), err.problem_mark or err.context_mark)
        problem = err.problem or err.context or "malformed YAML"
        if err.problem and err.context and err.context_mark is not None:
            problem += f" ({err.context} started at line {err.context_mark.line + 1})"
        raise where.error(f"malformed YAML: {problem}") from None
    except yaml.YAMLError as err:
        raise LoadError(f"{path}: malformed YAML: {err}") from None
    if root is None:
        raise LoadError(f"{path}:1:1: empty specification")
    return Node(str(path), root)
