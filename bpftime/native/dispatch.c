/* The dispatcher the trampolines call: runs the extensions of one entry, honours
 * bpf_override_return, and keeps the per-thread uretprobe shadow stack.
 *
 * Trampolines save only general registers, so nothing here may touch a vector
 * register: the file is compiled for general registers only (the pragma below makes
 * the compiler refuse SSE code rather than silently emit it). The extensions it calls
 * are JIT images (no vector code) and native helpers built the same way. */
#pragma GCC target("general-regs-only")

#include "hook.h"

#include <cpuid.h>
#include <errno.h>
#include <pthread.h>
#include <sys/mman.h>
#include <unistd.h>

#include <stdlib.h>

#include "api.h"
#include "invocation.h"

struct shadow_frame {
    uint64_t ret; /* the caller's return address */
    uint64_t sp;  /* where it was on the stack (regs->sp at entry) */
};

struct shadow_stack {
    uint64_t depth;
    struct shadow_frame frames[BPFTIME_SHADOW_DEPTH];
};

/* Set while this thread runs extensions: a hooked function reached from inside one
 * (through a helper or a host call) does not run extensions again. initial-exec: no
 * allocation on first access, even when the agent was dlopen()ed (Frida) and the
 * hooked function is malloc. */
static __thread int tls_running __attribute__((tls_model("initial-exec")));
static __thread struct shadow_stack *tls_shadow __attribute__((tls_model("initial-exec")));

static pthread_key_t shadow_key;
static pthread_once_t shadow_once = PTHREAD_ONCE_INIT;
static int shadow_key_ok;

/* Key destructor, run by the exiting thread itself: hooked calls made by later
 * destructors (free, say) start a fresh shadow stack instead of using this one. */
static void shadow_release(void *stack)
{
    tls_shadow = NULL;
    (void)munmap(stack, sizeof(struct shadow_stack)); /* at thread exit: nothing to do if it fails */
}

static void shadow_key_init(void)
{
    shadow_key_ok = pthread_key_create(&shadow_key, shadow_release) == 0;
}

/* Maps this thread's shadow stack (never malloc: the hooked function may be malloc)
 * and registers it for unmapping at thread exit. Runs libc code, which may use vector
 * registers: only through with_vector_state_saved. */
static void shadow_create(void)
{
    if (pthread_once(&shadow_once, shadow_key_init) != 0 || !shadow_key_ok)
        return;
    struct shadow_stack *s = mmap(NULL, sizeof(*s), PROT_READ | PROT_WRITE,
                                  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (s == MAP_FAILED)
        return;
    if (pthread_setspecific(shadow_key, s) != 0) {
        (void)munmap(s, sizeof(*s)); /* unused: at worst leaked */
        return;
    }
    tls_shadow = s;
}

/* Runs fn with the whole vector/x87 state saved (xsave, or fxsave on CPUs without
 * it), for the rare calls into libc from the dispatcher: the trampolines saved only
 * the general registers, and the hooked function's vector arguments must survive. */
static __attribute__((noinline, cold)) void with_vector_state_saved(void (*fn)(void))
{
    unsigned int a, b, c, d;
    __cpuid(1, a, b, c, d);
    int xsave = (c & bit_OSXSAVE) != 0;
    unsigned int size = 512 + 64;
    if (xsave) {
        __cpuid_count(0xD, 0, a, b, c, d);
        size = b;
    }
    unsigned char buf[size + 63];
    unsigned char *area = (unsigned char *)(((uintptr_t)buf + 63) & ~(uintptr_t)63);
    bpftime_zero(area, size);
    if (xsave) {
        __asm__ volatile("xsave64 %0" : "+m"(*area) : "a"(-1), "d"(-1) : "memory");
        fn();
        __asm__ volatile("xrstor64 %0" : : "m"(*area), "a"(-1), "d"(-1) : "memory");
    } else {
        __asm__ volatile("fxsave64 %0" : "+m"(*area) : : "memory");
        fn();
        __asm__ volatile("fxrstor64 %0" : : "m"(*area) : "memory");
    }
}

/* This thread's shadow stack, made on first use; NULL if it cannot be had. While it
 * is made, hooked functions it calls (mmap, say) run no extensions, as inside one. */
static struct shadow_stack *shadow(void)
{
    if (!tls_shadow) {
        tls_running = 1;
        with_vector_state_saved(shadow_create);
        tls_running = 0;
    }
    return tls_shadow;
}

static __attribute__((noinline, cold)) void count_missed(struct bpftime_hook *hook)
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

/* Runs progs[0..n) on regs with this thread's invocation record (invocation.h) set
 * for the hook; returns 1 and stores the value in *override when one of them called
 * bpf_override_return. The record is restored afterwards. */
static inline __attribute__((always_inline)) int run_programs(struct bpftime_hook *hook, bpftime_prog_fn *progs,
                        uint64_t **hits, uint32_t n, struct bpftime_pt_regs *regs,
                        uint64_t *override)
{
    struct bpftime_invocation *inv = bpftime_invocation_current();
    void *session = inv->session, *saved_regs = inv->regs;
    uint64_t func_ip = inv->func_ip;
    int32_t override_set = inv->override_set;
    inv->session = hook->session;
    inv->func_ip = hook->address;
    inv->regs = regs;
    inv->override_set = 0;
    tls_running = 1;
    for (uint32_t i = 0; i < n; i++) {
        uint64_t *counter = __atomic_load_n(&hits[i], __ATOMIC_RELAXED);
        if (counter)
            __atomic_fetch_add(counter, 1, __ATOMIC_RELAXED);
        progs[i](regs);
    }
    tls_running = 0;
    int overridden = inv->override_set;
    *override = inv->override_value;
    inv->session = session;
    inv->func_ip = func_ip;
    inv->regs = saved_regs;
    inv->override_set = override_set;
    return overridden;
}

/* The host's errno is part of its state at every entry and return (a function may
 * be called with it set, a caller reads it after a failed return), but helpers make
 * system calls that set it (a probe read of a bad address, the shadow stack's mmap):
 * both dispatchers give it back as they found it. */
static uint64_t dispatch_entry(struct bpftime_hook *hook, struct bpftime_pt_regs *regs,
                               uint32_t n, uint32_t n_ret)
{
    fill_regs(regs, hook->address);
    uint64_t value;
    if (n && run_programs(hook, hook->entry_progs, hook->entry_hits, n, regs, &value)) {
        regs->ax = value;
        return 1;
    }
    if (n_ret && !hijack_return(hook, regs))
        count_missed(hook);
    return 0;
}

BPFTIME_API uint64_t bpftime_dispatch_entry(struct bpftime_hook *hook, struct bpftime_pt_regs *regs)
{
    uint32_t n = __atomic_load_n(&hook->n_entry, __ATOMIC_ACQUIRE);
    uint32_t n_ret = __atomic_load_n(&hook->n_return, __ATOMIC_ACQUIRE);
    if (!n && !n_ret)
        return 0;
    if (tls_running) {
        count_missed(hook);
        return 0;
    }
    int saved_errno = errno;
    uint64_t rc = dispatch_entry(hook, regs, n, n_ret);
    errno = saved_errno;
    return rc;
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
    uint32_t n = __atomic_load_n(&hook->n_return, __ATOMIC_ACQUIRE);
    if (n && tls_running) {
        count_missed(hook);
    } else if (n) {
        uint64_t ignored; /* bpf_override_return means nothing at a return */
        int saved_errno = errno;
        fill_regs(regs, ret);
        regs->flags = 0x202; /* not recorded at returns (trampoline.py) */
        run_programs(hook, hook->return_progs, hook->return_hits, n, regs, &ignored);
        errno = saved_errno;
    }
    return ret;
}
