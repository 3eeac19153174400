"""Extension entries: resolution in the host's files (resolve), patch planning and
trampolines (plan, relocate, trampoline), and the in-process binding of the native
patcher (native). Heavy libraries (capstone, keystone) load on first use."""
