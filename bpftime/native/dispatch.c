/* The dispatcher the trampolines call: runs the extensions of one entry, honours
 * bpf_override_return, and keeps the per-thread uretprobe shadow stack.
 *
 * Trampolines save only general registers, so nothing here may touch a vector
 * register: the file is compiled for general registers only (the pragma below makes
 * the compiler refuse SSE code rather than silently emit it). The extensions it calls
 * are JIT images (no vector code) and native helpers built the same way. */
#pragma GCC target("general-regs-only")

#include "hook.h"

#include <pthread.h>
#include <sys/mman.h>
#include <unistd.h>

#include <stdlib.h>

#include "api.h"

struct shadow_frame {
    uint64_t ret; /* the caller's return address */
    uint64_t sp;  /* where it was on the stack (regs->sp at entry) */
};

struct shadow_stack {
    uint64_t depth;
    struct shadow_frame frames[BPFTIME_SHADOW_DEPTH];
};

/* The invocation a thread is running extensions for (nested hooks are skipped). */
struct invocation {
    uint64_t ip;
    uint64_t override_value;
    int active;
    int overridden;
};

/* initial-exec: no allocation on first access, even when the agent was dlopen()ed
 * (Frida) and the hooked function is malloc. */
static __thread struct invocation tls_invocation __attribute__((tls_model("initial-exec")));
static __thread struct shadow_stack *tls_shadow __attribute__((tls_model("initial-exec")));

static pthread_key_t shadow_key;
static pthread_once_t shadow_once = PTHREAD_ONCE_INIT;
static int shadow_key_ok;

static void shadow_release(void *stack)
{
    munmap(stack, sizeof(struct shadow_stack));
}

static void shadow_key_init(void)
{
    shadow_key_ok = pthread_key_create(&shadow_key, shadow_release) == 0;
}

/* This thread's shadow stack, mapped on first use (never malloc: the hooked function
 * may be malloc), unmapped at thread exit. NULL if it cannot be had. */
static struct shadow_stack *shadow(void)
{
    struct shadow_stack *s = tls_shadow;
    if (s)
        return s;
    if (pthread_once(&shadow_once, shadow_key_init) != 0 || !shadow_key_ok)
        return NULL;
    s = mmap(NULL, sizeof(*s), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (s == MAP_FAILED)
        return NULL;
    if (pthread_setspecific(shadow_key, s) != 0) {
        munmap(s, sizeof(*s));
        return NULL;
    }
    tls_shadow = s;
    return s;
}

static void count_missed(struct bpftime_hook *hook)
{
    __atomic_fetch_add(&hook->missed, 1, __ATOMIC_RELAXED);
}

static void fill_regs(struct bpftime_pt_regs *regs, uint64_t ip)
{
    regs->ip = ip;
    regs->orig_ax = (uint64_t)-1;
    regs->cs = 0x33; /* __USER_CS */
    regs->ss = 0x2b; /* __USER_DS */
}

/* Swap the caller's return address for the return trampoline; 0 if the shadow stack
 * is full or unavailable (then the return extensions miss this call). */
static int hijack_return(struct bpftime_hook *hook, struct bpftime_pt_regs *regs)
{
    struct shadow_stack *s = shadow();
    if (!s || s->depth == BPFTIME_SHADOW_DEPTH)
        return 0;
    uint64_t *slot = (uint64_t *)regs->sp;
    s->frames[s->depth].ret = *slot;
    s->frames[s->depth].sp = regs->sp;
    s->depth++;
    *slot = hook->ret_tramp;
    return 1;
}

BPFTIME_API uint64_t bpftime_dispatch_entry(struct bpftime_hook *hook, struct bpftime_pt_regs *regs)
{
    struct invocation *inv = &tls_invocation;
    uint32_t n = __atomic_load_n(&hook->n_entry, __ATOMIC_ACQUIRE);
    uint32_t n_ret = __atomic_load_n(&hook->n_return, __ATOMIC_ACQUIRE);
    if (!n && !n_ret)
        return 0;
    if (inv->active) { /* called from inside an extension (a helper, a host call) */
        count_missed(hook);
        return 0;
    }
    fill_regs(regs, hook->address);
    if (n) {
        inv->active = 1;
        inv->overridden = 0;
        inv->ip = hook->address;
        for (uint32_t i = 0; i < n; i++)
            hook->entry_progs[i](regs);
        inv->active = 0;
        if (inv->overridden) {
            regs->ax = inv->override_value;
            return 1;
        }
    }
    if (n_ret && !hijack_return(hook, regs))
        count_missed(hook);
    return 0;
}

BPFTIME_API uint64_t bpftime_dispatch_return(struct bpftime_hook *hook, struct bpftime_pt_regs *regs)
{
    struct shadow_stack *s = tls_shadow;
    /* regs->sp is just above the popped return slot. Frames above the matching one
     * belong to calls that never returned (longjmp, exceptions): drop them. */
    uint64_t slot = regs->sp - 8;
    uint64_t d = s ? s->depth : 0;
    while (d && s->frames[d - 1].sp != slot)
        d--;
    if (!d) {
        static const char msg[] = "bpftime: uretprobe shadow stack lost its frame; aborting\n";
        ssize_t w = write(2, msg, sizeof(msg) - 1);
        (void)w;
        abort();
    }
    uint64_t ret = s->frames[d - 1].ret;
    s->depth = d - 1;
    struct invocation *inv = &tls_invocation;
    uint32_t n = __atomic_load_n(&hook->n_return, __ATOMIC_ACQUIRE);
    if (n && inv->active) {
        count_missed(hook);
    } else if (n) {
        fill_regs(regs, ret);
        inv->active = 1;
        inv->overridden = 0;
        inv->ip = hook->address;
        for (uint32_t i = 0; i < n; i++)
            hook->return_progs[i](regs);
        inv->active = 0;
    }
    return ret;
}

BPFTIME_API int bpftime_hook_override_return(uint64_t value)
{
    struct invocation *inv = &tls_invocation;
    if (!inv->active)
        return -1;
    inv->override_value = value;
    inv->overridden = 1;
    return 0;
}

BPFTIME_API uint64_t bpftime_hook_current_ip(void)
{
    struct invocation *inv = &tls_invocation;
    return inv->active ? inv->ip : 0;
}
