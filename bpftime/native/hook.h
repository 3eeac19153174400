/* Hooks: applying the hook plans Python made (bpftime/hook/plan.py) and running the
 * extensions attached to an entry.
 *
 * Wire form of a plan (little-endian, packed, written by HookPlan.to_bytes):
 *   struct bpftime_plan_header
 *   module path  [module_len]      (informational: the caller passes the address)
 *   original     [patch_len]       bytes expected at the entry
 *   patch        [patch_len]       bytes to write; JMP/PADDING: bytes 1..4 are the
 *                                  rel32 to the entry trampoline, filled at install
 *   code         [code_len]        trampoline code (return trampoline, entry
 *                                  trampoline, displaced instructions, jump back)
 *   relocs       [n_relocs]        struct bpftime_plan_reloc
 */
#ifndef BPFTIME_HOOK_H
#define BPFTIME_HOOK_H

#include <stddef.h>
#include <stdint.h>

#define BPFTIME_PLAN_MAGIC "BHP1"
#define BPFTIME_PLAN_VERSION 1

enum bpftime_hook_strategy {
    BPFTIME_HOOK_JMP = 0,     /* jmp rel32 over whole instructions */
    BPFTIME_HOOK_PADDING = 1, /* jmp rel32 over a short function and its fill */
    BPFTIME_HOOK_INT3 = 2,    /* int3, redirected by the SIGTRAP handler */
};

enum bpftime_reloc_kind { BPFTIME_RELOC_ABS64 = 0, BPFTIME_RELOC_REL32 = 1 };

enum bpftime_reloc_target {
    BPFTIME_TARGET_ENTRY = 0,           /* entry address + addend */
    BPFTIME_TARGET_TRAMP = 1,           /* trampoline code + addend */
    BPFTIME_TARGET_HOOK = 2,            /* the hook descriptor */
    BPFTIME_TARGET_DISPATCH_ENTRY = 3,  /* bpftime_dispatch_entry */
    BPFTIME_TARGET_DISPATCH_RETURN = 4, /* bpftime_dispatch_return */
};

struct __attribute__((packed)) bpftime_plan_header {
    char magic[4];
    uint16_t version;
    uint8_t strategy;
    uint8_t reserved;
    uint32_t patch_len;
    uint32_t code_len;
    uint32_t n_relocs;
    uint32_t entry_off;  /* entry trampoline in code */
    uint32_t return_off; /* return trampoline in code */
    uint64_t vaddr;      /* link-time address of the entry in the module */
    uint32_t module_len;
};

struct __attribute__((packed)) bpftime_plan_reloc {
    uint32_t offset; /* where in code */
    uint32_t pc;     /* REL32: value = target - (code + pc) */
    uint32_t kind;
    uint32_t target;
    int64_t addend;
};

/* x86-64 struct pt_regs, the kernel's layout: the context of uprobe extensions. */
struct bpftime_pt_regs {
    uint64_t r15, r14, r13, r12, bp, bx, r11, r10, r9, r8, ax, cx, dx, si, di;
    uint64_t orig_ax, ip, cs, flags, sp, ss;
};

/* An extension: a JIT image entry (System V), called with the pt_regs. */
typedef uint64_t (*bpftime_prog_fn)(void *ctx);

#define BPFTIME_HOOK_MAX_PROGS 16

/* One hooked entry. Lives in memory that is never unmapped (trampolines may still be
 * running after removal); reused when the same entry is hooked again. */
struct bpftime_hook {
    uint64_t address;    /* the entry (regs->ip for entry extensions) */
    uint64_t ret_tramp;  /* address of the return trampoline */
    void *session;       /* the session of its extensions (invocation.h) */
    uint32_t n_entry;    /* published with release stores; 0 after removal */
    uint32_t n_return;
    bpftime_prog_fn entry_progs[BPFTIME_HOOK_MAX_PROGS];
    bpftime_prog_fn return_progs[BPFTIME_HOOK_MAX_PROGS];
    uint64_t missed;     /* invocations whose extensions did not run: nested in another
                            extension, or the shadow stack was full (uretprobes) */
    /* Optional per-program hit counters (NULL: not counted), e.g. in a session so that
     * `bpftime list` can read them; the dispatcher adds 1 (relaxed) before each run.
     * Set after bpftime_hook_add_program; like the program pointers they are only
     * replaced, never cleared, so a counter must stay mapped once set. */
    uint64_t *entry_hits[BPFTIME_HOOK_MAX_PROGS];
    uint64_t *return_hits[BPFTIME_HOOK_MAX_PROGS];
};

/* Depth of the per-thread uretprobe shadow stack. When it is full, the return
 * extensions of that call do not run (counted in `missed`), like a kretprobe's
 * maxactive. */
#define BPFTIME_SHADOW_DEPTH 255

/* dispatch.c: called by the trampolines. Extensions run with the thread's invocation
 * record (invocation.h) set: session, func_ip = the entry, regs; an entry extension
 * calling bpf_override_return makes the trampoline return that value at once. */
uint64_t bpftime_dispatch_entry(struct bpftime_hook *hook, struct bpftime_pt_regs *regs);
uint64_t bpftime_dispatch_return(struct bpftime_hook *hook, struct bpftime_pt_regs *regs);

/* patch.c: a table of installed hooks, one per session. Hooks are small integers. */
struct bpftime_hooks;
struct bpftime_hooks *bpftime_hooks_new(void);
/* The session whose extensions this table's hooks run (bpf_trace_printk output and
 * the like go there, see invocation.h); NULL until set. */
void bpftime_hooks_set_session(struct bpftime_hooks *set, void *session);
/* Removes every hook still installed, then frees the table. */
void bpftime_hooks_free(struct bpftime_hooks *set);
/* Verify and patch; returns the hook id, or -1 with a one-line reason in err. */
int bpftime_hook_install(struct bpftime_hooks *set, const void *plan, size_t plan_len,
                         uint64_t entry, char *err, size_t err_len);
int bpftime_hook_add_program(struct bpftime_hooks *set, int id, bpftime_prog_fn prog,
                             int at_return);
/* Restore every original byte; 0, or -1 with a reason in err. */
int bpftime_hook_remove(struct bpftime_hooks *set, int id, char *err, size_t err_len);
/* The descriptor of an installed hook (NULL for a bad id): counters, programs. */
struct bpftime_hook *bpftime_hook_get(struct bpftime_hooks *set, int id);
/* Where a module (path as in /proc/self/maps, or its basename) is loaded: its load
 * bias, so that entry = bias + plan vaddr. -1 if it is not loaded. */
int64_t bpftime_module_bias(const char *path);

#endif
