"""bpftime: a user-space eBPF extension runtime for Linux programs.

The Python API (docs/python-api.md) is `bpftime.run`, `verify`, `inspect`,
`disassemble`, `load`, `attach`, `detach`, `sessions` and `open_session`, defined in
`bpftime.api` and imported from there on first use: `import bpftime` stays light.
"""
from typing import Any

__version__ = "0.1.0"

API = ("Attachment", "Event", "LiveSession", "LoadedHost", "MapReader", "RunResult", "SessionInfo",
       "Verdict", "attach", "detach", "disassemble", "inspect", "load", "open_session", "run",
       "sessions", "verify")
__all__ = ["__version__", *API]


def __getattr__(name: str) -> Any:
    if name in API:
        from bpftime import api

        return getattr(api, name)
    raise AttributeError(f"module 'bpftime' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *API})
