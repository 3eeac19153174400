/* Applying hook plans: trampoline memory near the entry, relocation, and live
 * patching that is safe while other threads run the entry (int3 first, then the tail,
 * then the first byte; a SIGTRAP handler sends a thread that meets the int3 to the
 * trampoline and passes every other trap on to the handler that was there before).
 *
 * Per-session state is a struct bpftime_hooks. Process-wide, because the process has
 * one set of signal handlers and one text: the SIGTRAP redirect table, the list of
 * retired trampolines (never unmapped: a thread may still be inside), one lock. */
#define _GNU_SOURCE
#include "hook.h"

#include <errno.h>
#include <limits.h>
#include <link.h>
#include <linux/membarrier.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include "api.h"
#include "hook_quiesce.h"

#define MAX_PATCH 32
#define MAX_HOOKS 1024
#define REDIRECTS 4096          /* power of two */
#define REACH (1900ULL << 20)   /* trampolines within 1.9 GiB of their entry */
#define HINT_STEP (1ULL << 20)

struct plan {
    const struct bpftime_plan_header *hdr;
    const uint8_t *original, *patch, *code;
    const struct bpftime_plan_reloc *relocs;
};

/* A mapping holding one hook: page 0 the descriptor (RW), then the code (RX). */
struct region {
    uint8_t *base;
    size_t len;
    size_t code_len;
    uint64_t entry;
    struct region *next; /* in the retired list */
};

struct installed {
    struct region *region;
    uint8_t *entry;
    uint32_t patch_len;
    uint8_t original[MAX_PATCH];
    uint8_t written[MAX_PATCH];
};

struct bpftime_hooks {
    void *session;
    struct installed hooks[MAX_HOOKS];
};

struct redirect {
    uint64_t addr;
    uint64_t target;
};

static pthread_mutex_t patch_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
static struct region *retired;
static struct redirect redirects[REDIRECTS];
static struct sigaction previous_trap;
static int sync_core_state; /* 0 unknown, 1 registered, -1 unavailable */

static void fail(char *err, size_t len, const char *fmt, ...)
{
    if (!err || !len)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, len, fmt, ap);
    va_end(ap);
}

static void hex(char *out, size_t out_len, const uint8_t *b, size_t n)
{
    size_t pos = 0;
    for (size_t i = 0; i < n && pos + 3 < out_len; i++)
        pos += (size_t)snprintf(out + pos, out_len - pos, "%02x", b[i]);
    out[pos] = 0;
}

/* ---- the plan ---------------------------------------------------------------- */

static int parse_plan(const void *data, size_t len, struct plan *p, char *err, size_t err_len)
{
    const struct bpftime_plan_header *h = data;
    if (len < sizeof(*h) || memcmp(h->magic, BPFTIME_PLAN_MAGIC, 4) != 0 ||
        h->version != BPFTIME_PLAN_VERSION) {
        fail(err, err_len, "hook plan: bad header (not a version %d plan)", BPFTIME_PLAN_VERSION);
        return -1;
    }
    size_t need = sizeof(*h) + (size_t)h->module_len + 2 * (size_t)h->patch_len +
                  (size_t)h->code_len + (size_t)h->n_relocs * sizeof(struct bpftime_plan_reloc);
    if (need != len) {
        fail(err, err_len, "hook plan: %zu bytes, header says %zu", len, need);
        return -1;
    }
    p->hdr = h;
    p->original = (const uint8_t *)(h + 1) + h->module_len;
    p->patch = p->original + h->patch_len;
    p->code = p->patch + h->patch_len;
    p->relocs = (const struct bpftime_plan_reloc *)(p->code + h->code_len);
    int jmp = h->strategy == BPFTIME_HOOK_JMP || h->strategy == BPFTIME_HOOK_PADDING;
    if (!(jmp && h->patch_len >= 5 && h->patch_len <= MAX_PATCH && p->patch[0] == 0xE9) &&
        !(h->strategy == BPFTIME_HOOK_INT3 && h->patch_len == 1 && p->patch[0] == 0xCC)) {
        fail(err, err_len, "hook plan: strategy %u does not match its %u patch bytes",
             h->strategy, h->patch_len);
        return -1;
    }
    if (h->entry_off >= h->code_len || h->return_off >= h->code_len) {
        fail(err, err_len, "hook plan: trampoline offsets beyond the code");
        return -1;
    }
    for (uint32_t i = 0; i < h->n_relocs; i++) {
        const struct bpftime_plan_reloc *r = &p->relocs[i];
        uint32_t size = r->kind == BPFTIME_RELOC_ABS64 ? 8 : 4;
        if (r->kind > BPFTIME_RELOC_REL32 || r->target > BPFTIME_TARGET_DISPATCH_RETURN ||
            (uint64_t)r->offset + size > h->code_len) {
            fail(err, err_len, "hook plan: relocation %u is malformed", i);
            return -1;
        }
    }
    return 0;
}

static uint64_t reloc_target(const struct bpftime_plan_reloc *r, uint64_t entry, uint64_t code,
                             uint64_t hook)
{
    switch (r->target) {
    case BPFTIME_TARGET_ENTRY: return entry + (uint64_t)r->addend;
    case BPFTIME_TARGET_TRAMP: return code + (uint64_t)r->addend;
    case BPFTIME_TARGET_HOOK: return hook;
    case BPFTIME_TARGET_DISPATCH_ENTRY: return (uint64_t)&bpftime_dispatch_entry;
    default: return (uint64_t)&bpftime_dispatch_return;
    }
}

/* The plan's code relocated to run at `at` (descriptor `hook`) into out. */
static int link_code(const struct plan *p, uint64_t entry, uint64_t at, uint64_t hook,
                     uint8_t *out, char *err, size_t err_len)
{
    memcpy(out, p->code, p->hdr->code_len);
    for (uint32_t i = 0; i < p->hdr->n_relocs; i++) {
        const struct bpftime_plan_reloc *r = &p->relocs[i];
        uint64_t value = reloc_target(r, entry, at, hook);
        if (r->kind == BPFTIME_RELOC_ABS64) {
            memcpy(out + r->offset, &value, 8);
            continue;
        }
        int64_t rel = (int64_t)(value - (at + r->pc));
        if (rel != (int32_t)rel) {
            fail(err, err_len, "entry %#lx: relocation %u cannot reach %#lx from the trampoline",
                 (unsigned long)entry, i, (unsigned long)value);
            return -1;
        }
        int32_t rel32 = (int32_t)rel;
        memcpy(out + r->offset, &rel32, 4);
    }
    return 0;
}

/* ---- trampoline memory ------------------------------------------------------- */

/* Map `len` bytes within REACH of `entry`, trying hints below it first. */
static uint8_t *map_near(uint64_t entry, size_t len)
{
    uint64_t base = entry & ~(HINT_STEP - 1);
    for (uint64_t d = HINT_STEP; d < REACH; d += HINT_STEP) {
        uint64_t hints[2] = {base - d, base + d};
        for (int i = 0; i < 2; i++) {
            if ((i == 0 && base < d) || hints[i] >= (1ULL << 47) - len)
                continue;
            void *m = mmap((void *)hints[i], len, PROT_READ | PROT_WRITE,
                           MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
            if (m != MAP_FAILED) {
                if ((uint64_t)m == hints[i])
                    return m;
                (void)munmap(m, len); /* an old kernel ignoring MAP_FIXED_NOREPLACE; a
                                         failure only leaks the page */
            }
        }
    }
    return NULL;
}

/* A retired region of this entry whose code, relocated for it, equals the plan's. */
static struct region *take_retired(const struct plan *p, uint64_t entry, uint8_t *scratch)
{
    size_t page = bpftime_page_size();
    for (struct region **link = &retired; *link; link = &(*link)->next) {
        struct region *r = *link;
        if (r->entry != entry || r->code_len != p->hdr->code_len)
            continue;
        if (link_code(p, entry, (uint64_t)(r->base + page), (uint64_t)r->base, scratch, NULL, 0) ||
            memcmp(scratch, r->base + page, r->code_len) != 0)
            continue;
        *link = r->next;
        r->next = NULL;
        return r;
    }
    return NULL;
}

static struct region *make_region(const struct plan *p, uint64_t entry, char *err, size_t err_len)
{
    size_t page = bpftime_page_size();
    uint8_t *scratch = malloc(p->hdr->code_len);
    if (!scratch) {
        fail(err, err_len, "entry %#lx: out of memory", (unsigned long)entry);
        return NULL;
    }
    struct region *r = take_retired(p, entry, scratch);
    free(scratch);
    if (r)
        return r;
    r = calloc(1, sizeof(*r));
    size_t len = page + bpftime_page_round(p->hdr->code_len);
    uint8_t *base = r ? map_near(entry, len) : NULL;
    if (!base) {
        fail(err, err_len, "entry %#lx: no free memory within 2 GiB for its trampoline",
             (unsigned long)entry);
        free(r);
        return NULL;
    }
    *r = (struct region){.base = base, .len = len, .code_len = p->hdr->code_len, .entry = entry};
    if (link_code(p, entry, (uint64_t)(base + page), (uint64_t)base, base + page, err, err_len) ||
        mprotect(base + page, len - page, PROT_READ | PROT_EXEC) != 0) {
        if (!err[0])
            fail(err, err_len, "entry %#lx: mprotect of its trampoline: %s", (unsigned long)entry,
                 strerror(errno));
        (void)munmap(base, len); /* never ran: at worst leaked */
        free(r);
        return NULL;
    }
    return r;
}

/* ---- SIGTRAP redirection ----------------------------------------------------- */

static struct redirect *redirect_slot(uint64_t addr, int insert)
{
    for (uint64_t i = 0; i < REDIRECTS; i++) {
        struct redirect *e = &redirects[((addr * 0x9E3779B97F4A7C15ULL >> 52) + i) & (REDIRECTS - 1)];
        uint64_t a = __atomic_load_n(&e->addr, __ATOMIC_ACQUIRE);
        if (a == addr)
            return e;
        if (a == 0)
            return insert ? e : NULL;
    }
    return NULL;
}

/* Entries are never removed: a thread may have trapped just before the int3 went away
 * and still be on its way into the handler. Called with patch_lock held. */
static int redirect_set(uint64_t addr, uint64_t target)
{
    struct redirect *e = redirect_slot(addr, 1);
    if (!e)
        return -1;
    __atomic_store_n(&e->target, target, __ATOMIC_RELEASE);
    __atomic_store_n(&e->addr, addr, __ATOMIC_RELEASE);
    return 0;
}

static void on_sigtrap(int sig, siginfo_t *info, void *context)
{
    ucontext_t *uc = context;
    uint64_t rip = (uint64_t)uc->uc_mcontext.gregs[REG_RIP];
    struct redirect *e = redirect_slot(rip - 1, 0);
    if (e) {
        uc->uc_mcontext.gregs[REG_RIP] = (greg_t)__atomic_load_n(&e->target, __ATOMIC_ACQUIRE);
        return;
    }
    if (previous_trap.sa_flags & SA_SIGINFO) {
        previous_trap.sa_sigaction(sig, info, context);
    } else if (previous_trap.sa_handler == SIG_DFL) {
        signal(SIGTRAP, SIG_DFL); /* delivered (and fatal) once this handler returns */
        raise(SIGTRAP);
    } else if (previous_trap.sa_handler != SIG_IGN) {
        previous_trap.sa_handler(sig);
    }
}

/* Puts ours first, chaining to whatever handler was there. Checked at every install
 * and removal: a host that installed its own SIGTRAP handler since (after the agent's
 * start-up, say) is put behind ours again. */
static int ensure_trap_handler(char *err, size_t err_len)
{
    struct sigaction current;
    if (sigaction(SIGTRAP, NULL, &current) != 0) {
        fail(err, err_len, "cannot read the SIGTRAP handler: %s", strerror(errno));
        return -1;
    }
    if ((current.sa_flags & SA_SIGINFO) && current.sa_sigaction == on_sigtrap)
        return 0;
    previous_trap = current; /* ours is not installed yet: no trap reads this now */
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = on_sigtrap;
    sa.sa_flags = SA_SIGINFO | SA_RESTART | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGTRAP, &sa, NULL) != 0) {
        fail(err, err_len, "cannot install the SIGTRAP handler: %s", strerror(errno));
        return -1;
    }
    return 0;
}

/* ---- writing text ------------------------------------------------------------ */

/* Make every core drop code it may have fetched before a write (no-op where the
 * kernel lacks membarrier sync-core: the int3 protocol alone then guards). */
static void sync_cores(void)
{
    if (sync_core_state == 0)
        sync_core_state = syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE,
                                  0, 0) == 0 ? 1 : -1;
    if (sync_core_state == 1 &&
        syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE, 0, 0) != 0)
        sync_core_state = -1;
}

/* The protection of the mapping holding addr, from /proc/self/maps. */
static int page_protection(uint64_t addr)
{
    FILE *f = fopen("/proc/self/maps", "r");
    if (!f)
        return -1;
    char line[512];
    int prot = -1;
    int line_start = 1; /* a line longer than the buffer comes in pieces: parse the first */
    while (prot < 0 && fgets(line, sizeof(line), f)) {
        unsigned long lo, hi;
        char perms[5];
        int at_start = line_start;
        line_start = strchr(line, '\n') != NULL;
        if (at_start && sscanf(line, "%lx-%lx %4s", &lo, &hi, perms) == 3 && lo <= addr &&
            addr < hi)
            prot = (perms[0] == 'r' ? PROT_READ : 0) | (perms[1] == 'w' ? PROT_WRITE : 0) |
                   (perms[2] == 'x' ? PROT_EXEC : 0);
    }
    fclose(f);
    return prot;
}

/* Replace at[0..n) by bytes, so that no thread ever runs a half-written instruction:
 * int3, the tail, then the first byte. `wait`: before the tail, wait until no thread
 * is stopped inside the old instructions (installing; when removing, the bytes being
 * replaced are the jmp's and nothing runs them). Called with patch_lock held. */
static int write_text(uint8_t *at, const uint8_t *bytes, size_t n, int wait, char *err,
                      size_t err_len)
{
    size_t page = bpftime_page_size();
    uint64_t lo = (uint64_t)at & ~(page - 1);
    uint64_t hi = ((uint64_t)at + n + page - 1) & ~(page - 1);
    int prot_lo = page_protection(lo), prot_hi = page_protection(hi - 1);
    if (prot_lo < 0 || prot_hi < 0) {
        fail(err, err_len, "entry %p: not in a mapping of this process", (void *)at);
        return -1;
    }
    if (mprotect((void *)lo, hi - lo, PROT_READ | PROT_WRITE | PROT_EXEC) != 0) {
        fail(err, err_len, "entry %p: cannot make its page writable: %s", (void *)at,
             strerror(errno));
        return -1;
    }
    int rc = 0;
    if (n > 1) {
        uint8_t first = *at;
        __atomic_store_n(at, (uint8_t)0xCC, __ATOMIC_SEQ_CST);
        sync_cores();
        if (wait && bpftime_wait_outside((uint64_t)at, (uint64_t)at + n, err, err_len) != 0) {
            bytes = &first; /* put the first byte back and give up */
            n = 1;
            rc = -1;
        }
        for (size_t i = 1; i < n; i++)
            __atomic_store_n(at + i, bytes[i], __ATOMIC_RELAXED);
        sync_cores();
    }
    __atomic_store_n(at, bytes[0], __ATOMIC_SEQ_CST);
    sync_cores();
    int bad = mprotect((void *)lo, page, prot_lo) != 0 ||
              (hi - lo > page && mprotect((void *)(lo + page), hi - lo - page, prot_hi) != 0);
    if (bad) {
        fail(err, err_len, "entry %p: cannot restore its page protection: %s", (void *)at,
             strerror(errno));
        return -1;
    }
    return rc;
}

/* ---- fork -------------------------------------------------------------------- */

/* A fork() waits for a patch in progress (the lock is taken around it), so that the
 * child gets the text, the redirect table and the retired list in a consistent state
 * and the lock free, whatever other thread was patching. Registered with the first
 * install; if registration fails (ENOMEM), a fork racing a patch leaves the child
 * unable to patch again, but its text is consistent (int3 first). */
static void fork_prepare(void) { (void)pthread_mutex_lock(&patch_lock); }
static void fork_release(void) { (void)pthread_mutex_unlock(&patch_lock); }
static void register_atfork(void) { (void)pthread_atfork(fork_prepare, fork_release, fork_release); }

/* ---- the API ----------------------------------------------------------------- */

BPFTIME_API struct bpftime_hooks *bpftime_hooks_new(void)
{
    return calloc(1, sizeof(struct bpftime_hooks));
}

BPFTIME_API void bpftime_hooks_set_session(struct bpftime_hooks *set, void *session)
{
    if (set)
        set->session = session;
}

static struct installed *lookup(struct bpftime_hooks *set, int id)
{
    if (!set || id < 0 || id >= MAX_HOOKS || !set->hooks[id].region)
        return NULL;
    return &set->hooks[id];
}

BPFTIME_API struct bpftime_hook *bpftime_hook_get(struct bpftime_hooks *set, int id)
{
    struct installed *h = lookup(set, id);
    return h ? (struct bpftime_hook *)h->region->base : NULL;
}

static int install_locked(struct bpftime_hooks *set, const struct plan *p, uint8_t *entry,
                          char *err, size_t err_len)
{
    const struct bpftime_plan_header *h = p->hdr;
    int id = 0;
    while (id < MAX_HOOKS && set->hooks[id].region)
        id++;
    if (id == MAX_HOOKS) {
        fail(err, err_len, "entry %p: the session already has %d hooks", (void *)entry, MAX_HOOKS);
        return -1;
    }
    int prot_first = page_protection((uint64_t)entry);
    int prot_last = page_protection((uint64_t)entry + h->patch_len - 1);
    if (prot_first < 0 || prot_last < 0 || !(prot_first & prot_last & PROT_EXEC) ||
        !(prot_first & prot_last & PROT_READ)) {
        fail(err, err_len, "entry %p: not in readable executable memory of this process",
             (void *)entry);
        return -1;
    }
    if (memcmp(entry, p->original, h->patch_len) != 0) {
        char live[2 * MAX_PATCH + 1], want[2 * MAX_PATCH + 1];
        hex(live, sizeof(live), entry, h->patch_len);
        hex(want, sizeof(want), p->original, h->patch_len);
        fail(err, err_len, "entry %p: live bytes %s differ from the plan's %s (already patched, "
             "or another build of the module)", (void *)entry, live, want);
        return -1;
    }
    struct region *r = make_region(p, (uint64_t)entry, err, err_len);
    if (!r)
        return -1;
    uint64_t code = (uint64_t)(r->base + bpftime_page_size());
    /* A reused descriptor may still be read by threads that entered before its last
     * removal: its program pointers are only ever replaced by valid ones, never
     * cleared (a fresh mapping starts zeroed). */
    struct bpftime_hook *hook = (struct bpftime_hook *)r->base;
    hook->address = (uint64_t)entry;
    hook->ret_tramp = code + h->return_off;
    hook->session = set->session;
    __atomic_store_n(&hook->missed, 0, __ATOMIC_RELAXED);
    struct installed *slot = &set->hooks[id];
    slot->entry = entry;
    slot->patch_len = h->patch_len;
    memcpy(slot->original, p->original, h->patch_len);
    memcpy(slot->written, p->patch, h->patch_len);
    uint64_t tramp = code + h->entry_off;
    if (h->strategy != BPFTIME_HOOK_INT3) {
        int32_t rel = (int32_t)(tramp - ((uint64_t)entry + 5));
        memcpy(slot->written + 1, &rel, 4);
    }
    if (redirect_set((uint64_t)entry, tramp) != 0 || ensure_trap_handler(err, err_len) != 0) {
        if (!err[0])
            fail(err, err_len, "entry %p: the trap redirect table is full", (void *)entry);
        r->next = retired;
        retired = r;
        return -1;
    }
    int rc = write_text(entry, slot->written, h->patch_len, 1, err, err_len);
    if (memcmp(entry, slot->written, h->patch_len) != 0) { /* not patched */
        r->next = retired;
        retired = r;
        return -1;
    }
    slot->region = r; /* patched (even if its page protection could not be restored):
                         removable, and removed by bpftime_hooks_free */
    return rc == 0 ? id : -1;
}

BPFTIME_API int bpftime_hook_install(struct bpftime_hooks *set, const void *plan, size_t plan_len,
                                     uint64_t entry, char *err, size_t err_len)
{
    struct plan p;
    char local[256];
    if (!err || !err_len) {
        err = local;
        err_len = sizeof(local);
    }
    err[0] = 0;
    if (!set || !entry) {
        fail(err, err_len, "hook install: no session table or no entry address");
        return -1;
    }
    if (parse_plan(plan, plan_len, &p, err, err_len) != 0)
        return -1;
    (void)pthread_once(&atfork_once, register_atfork); /* best effort, see above */
    if (pthread_mutex_lock(&patch_lock) != 0) {
        fail(err, err_len, "hook install: cannot take the patch lock");
        return -1;
    }
    int id = install_locked(set, &p, (uint8_t *)entry, err, err_len);
    pthread_mutex_unlock(&patch_lock);
    return id;
}

BPFTIME_API int bpftime_hook_add_program(struct bpftime_hooks *set, int id, bpftime_prog_fn prog,
                                         int at_return)
{
    struct bpftime_hook *hook = bpftime_hook_get(set, id);
    if (!hook || !prog || pthread_mutex_lock(&patch_lock) != 0)
        return -1;
    uint32_t *count = at_return ? &hook->n_return : &hook->n_entry;
    bpftime_prog_fn *progs = at_return ? hook->return_progs : hook->entry_progs;
    int rc = -1;
    if (*count < BPFTIME_HOOK_MAX_PROGS) {
        progs[*count] = prog;
        __atomic_store_n(count, *count + 1, __ATOMIC_RELEASE);
        rc = 0;
    }
    pthread_mutex_unlock(&patch_lock);
    return rc;
}

BPFTIME_API int bpftime_hook_remove(struct bpftime_hooks *set, int id, char *err, size_t err_len)
{
    char local[256];
    if (!err || !err_len) {
        err = local;
        err_len = sizeof(local);
    }
    err[0] = 0;
    if (pthread_mutex_lock(&patch_lock) != 0) {
        fail(err, err_len, "hook remove: cannot take the patch lock");
        return -1;
    }
    int rc = -1;
    struct installed *h = lookup(set, id);
    if (!h) {
        fail(err, err_len, "hook remove: no hook %d in this session", id);
    } else if (memcmp(h->entry, h->written, h->patch_len) != 0) {
        fail(err, err_len, "entry %p: its bytes changed since it was patched; left alone",
             (void *)h->entry);
    } else if (ensure_trap_handler(err, err_len) == 0) {
        rc = write_text(h->entry, h->original, h->patch_len, 0, err, err_len);
        if (memcmp(h->entry, h->original, h->patch_len) == 0) { /* restored */
            struct bpftime_hook *hook = (struct bpftime_hook *)h->region->base;
            __atomic_store_n(&hook->n_entry, 0, __ATOMIC_RELEASE);
            __atomic_store_n(&hook->n_return, 0, __ATOMIC_RELEASE);
            h->region->next = retired;
            retired = h->region;
            memset(h, 0, sizeof(*h));
        }
    }
    pthread_mutex_unlock(&patch_lock);
    return rc;
}

BPFTIME_API void bpftime_hooks_free(struct bpftime_hooks *set)
{
    if (!set)
        return;
    for (int id = 0; id < MAX_HOOKS; id++)
        if (set->hooks[id].region)
            bpftime_hook_remove(set, id, NULL, 0);
    free(set);
}

/* ---- modules ----------------------------------------------------------------- */

struct bias_query {
    const char *path;
    char exe[4096];
    int64_t bias;
};

static int same_module(const char *name, const char *path, const char *exe)
{
    if (!name[0])
        name = exe; /* the main program */
    if (strcmp(name, path) == 0)
        return 1;
    const char *base = strrchr(name, '/');
    if (!strchr(path, '/'))
        return base && strcmp(base + 1, path) == 0;
    char a[PATH_MAX], b[PATH_MAX];
    return realpath(name, a) && realpath(path, b) && strcmp(a, b) == 0;
}

static int bias_of(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    struct bias_query *q = data;
    if (!info->dlpi_name || !same_module(info->dlpi_name, q->path, q->exe))
        return 0;
    q->bias = (int64_t)info->dlpi_addr;
    return 1;
}

BPFTIME_API int64_t bpftime_module_bias(const char *path)
{
    struct bias_query q = {.path = path, .bias = -1};
    ssize_t n = readlink("/proc/self/exe", q.exe, sizeof(q.exe) - 1);
    q.exe[n > 0 ? n : 0] = 0;
    dl_iterate_phdr(bias_of, &q);
    return q.bias;
}
