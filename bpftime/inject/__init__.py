"""Putting extensions into hosts: `bpftime load` (a host started with the agent
preloaded) and the session objects the agent starts from.

    prepare(LoadRequest(target, host, progs, attach, event_type)) -> Prepared
        every program verified (its EIM class, or the default tracing policy) and
        JIT-compiled, one hook plan per entry; raises before anything runs
    build_session(prepared) -> LoadSession      maps, images, plans, the "load" table
    launch(request, args, LaunchOptions(...)) -> host's exit status
        the whole command: prepare, session, host, event loop, maps, cleanup
    LoadSession.status() -> Status              what the agent in the host reported

The session layout the agent reads is bpftime/native/agent_load.h, packed by
records.py. Heavy imports (capstone, keystone, lief) happen inside the stages that
need them, on first use.
"""
from bpftime.inject.launch import LaunchOptions, launch
from bpftime.inject.prepare import LoadRequest, Prepared, prepare
from bpftime.inject.session_build import LoadSession, build_session

__all__ = ["LaunchOptions", "LoadRequest", "LoadSession", "Prepared", "build_session", "launch",
           "prepare"]
