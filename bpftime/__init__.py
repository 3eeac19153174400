"""bpftime: a user-space eBPF extension runtime for Linux programs."""

__version__ = "0.1.0"
