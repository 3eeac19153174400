"""Extension entries: where they are, how to divert them, and the in-process binding
of the native patcher. Heavy libraries (capstone, keystone, pyelftools) load on use.

    resolve.Resolver(host=PATH | pid=PID).resolve("[LIB:]FUNC[+OFF] | [LIB:]0xADDR") -> Entry
    plan.plan_hook(entry) -> HookPlan      (.to_bytes() is what the agent installs)
    native.HookSet(): install(plan, address) -> id, add_program(id, fn, at_return),
                      remove(id), descriptor(id), set_session(base), close()
    native.module_bias(path) -> load bias of a module mapped in this process

The C side (bpftime/native/hook.h) is the same API for the agent.
"""
