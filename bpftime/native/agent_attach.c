/* The agent's attach and detach entrypoints, called by Frida inside a running
 * process (see agent_attach.h). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "agent_attach.h"
#include "agent_load.h"
#include "hook.h"
#include "runtime.h"
#include "session.h"

_Static_assert(sizeof(struct bpftime_attach) == 296, "attach record layout");

/* One session attached to this process. */
struct attachment {
    char name[BPFTIME_NAME_LEN];
    struct bpftime_loader loader;
    struct bpftime_attach *attach; /* in the session */
    struct attachment *next;
};

/* The sessions attached to this process, by name: process-wide because Frida hands
 * an entrypoint nothing but the name. Sessions never share an entry of it. */
static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
static struct attachment *registry;

/* The child of a fork() made while another thread attached or detached inherits
 * the lock taken by a thread it does not have: it gets a free one (the registry is
 * only ever changed by single pointer stores). Not taken around the fork instead:
 * patch.c takes the patch lock there, and an attach holds this lock while it waits
 * for that one. */
static void registry_fork_child(void) { (void)pthread_mutex_init(&registry_lock, NULL); }
static void register_atfork(void) { (void)pthread_atfork(NULL, NULL, registry_fork_child); }

static void report(struct bpftime_attach *a, int32_t state, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(a->message, sizeof a->message, fmt, ap);
    va_end(ap);
    a->pid = getpid();
    __atomic_store_n(&a->state, state, __ATOMIC_RELEASE);
}

/* A session name as the CLI makes them: "/bpftime-…", shorter than the name field. */
static int valid_name(const char *name)
{
    return name && strncmp(name, "/bpftime-", 9) == 0 && strlen(name) < BPFTIME_NAME_LEN &&
           !strchr(name + 1, '/');
}

static struct attachment **find(const char *name)
{
    struct attachment **link = &registry;
    while (*link && strcmp((*link)->name, name) != 0)
        link = &(*link)->next;
    return link;
}

/* The session's attach record, or NULL if it has none this agent understands. */
static struct bpftime_attach *attach_record(void *session)
{
    const struct bpftime_session_header *s = session;
    int64_t off = bpftime_session_find_object(session, BPFTIME_OBJ_BLOB, BPFTIME_ATTACH_OBJECT);
    if (off < 0 || (uint64_t)off + sizeof(struct bpftime_attach) > s->size)
        return NULL;
    struct bpftime_attach *a = bpftime_at(session, (uint64_t)off);
    if (a->version != BPFTIME_ATTACH_VERSION || a->hits > s->size ||
        (uint64_t)a->n_hits * 8 > s->size - a->hits)
        return NULL;
    return a;
}

/* Removes every hook of `at`: the number removed; *first_err gets the first failure. */
static uint32_t remove_hooks(struct attachment *at, char *first_err, size_t len)
{
    struct bpftime_loader *l = &at->loader;
    uint32_t removed = 0;
    for (uint32_t i = 0; i < l->load->status.hooks; i++) {
        char err[200] = "";
        if (bpftime_hook_remove(l->hooks, (int)i, err, sizeof err) == 0)
            removed++;
        else if (!first_err[0])
            snprintf(first_err, len, "%s", err);
    }
    bpftime_hooks_free(l->hooks); /* the table; a hook left alone stays as it is */
    l->hooks = NULL;
    return removed;
}

/* A detached session stays mapped, like its images: a thread may still be running
 * one of its extensions. But nothing in this process refers beyond what had been
 * allocated when it was installed (maps are allocated whole, extensions allocate
 * nothing, and alloc_next only grows): the never-used tail's address space goes. */
static void retire(void *session)
{
    struct bpftime_session_header *s = session;
    uint64_t used = bpftime_page_round(__atomic_load_n(&s->alloc_next, __ATOMIC_ACQUIRE));
    if (used < s->size && munmap((char *)session + used, s->size - used) != 0)
        fprintf(stderr, "bpftime agent: cannot unmap a retired session's tail: %s\n",
                strerror(errno));
}

static void attach_locked(const char *name)
{
    if (*find(name))
        return; /* already attached: its record says so */
    int err = 0;
    void *session = bpftime_session_open(name, &err);
    if (!session) {
        fprintf(stderr, "bpftime agent: cannot open session %s: %s\n", name, strerror(-err));
        return;
    }
    struct bpftime_attach *record = attach_record(session);
    if (!record || __atomic_load_n(&record->state, __ATOMIC_ACQUIRE) != BPFTIME_ATTACH_PENDING) {
        bpftime_session_close(session); /* not an attach session, or given up on */
        return;
    }
    struct attachment *at = calloc(1, sizeof *at);
    if (!at) {
        report(record, BPFTIME_ATTACH_FAILED, "out of memory");
        bpftime_session_close(session);
        return;
    }
    snprintf(at->name, sizeof at->name, "%s", name);
    at->attach = record;
    int rc = bpftime_load_install(&at->loader, session, bpftime_at(session, record->hits),
                                  record->n_hits);
    if (rc == 0) {
        report(record, BPFTIME_ATTACH_ATTACHED, "%s", at->loader.load->status.message);
        at->next = registry;
        registry = at;
        return;
    }
    if (rc == 1) {
        report(record, BPFTIME_ATTACH_FAILED, "the session has no load table");
        (void)bpftime_session_close(session); /* nothing of it was installed */
    } else {
        /* Hooks that were briefly in place may have run: the session stays mapped. */
        report(record, BPFTIME_ATTACH_FAILED, "%s", at->loader.load->status.message);
    }
    free(at);
}

static void detach_locked(const char *name)
{
    struct attachment **link = find(name);
    struct attachment *at = *link;
    if (!at) {
        int err = 0;
        void *session = bpftime_session_open(name, &err);
        struct bpftime_attach *record = session ? attach_record(session) : NULL;
        if (record && __atomic_load_n(&record->state, __ATOMIC_ACQUIRE) != BPFTIME_ATTACH_DETACHED)
            report(record, BPFTIME_ATTACH_FAILED, "session %s is not attached to process %d", name,
                   (int)getpid());
        if (session)
            bpftime_session_close(session);
        return;
    }
    *link = at->next;
    uint64_t started = bpftime_clock_ns(CLOCK_MONOTONIC);
    char first_err[200] = "";
    uint32_t hooks = at->loader.load->status.hooks;
    uint32_t removed = remove_hooks(at, first_err, sizeof first_err);
    at->attach->removed = removed;
    at->attach->detach_ns = bpftime_clock_ns(CLOCK_MONOTONIC) - started;
    if (removed == hooks)
        report(at->attach, BPFTIME_ATTACH_DETACHED, "%u hooks removed", removed);
    else
        report(at->attach, BPFTIME_ATTACH_FAILED, "%u of %u hooks removed: %s", removed, hooks,
               first_err);
    retire(at->loader.session);
    free(at); /* nothing refers to it any more */
}

static void run_locked(void (*fn)(const char *), const char *name)
{
    if (!valid_name(name)) {
        fprintf(stderr, "bpftime agent: %s is not a session name\n", name ? name : "(null)");
        return;
    }
    (void)pthread_once(&atfork_once, register_atfork); /* best effort */
    if (pthread_mutex_lock(&registry_lock) != 0) {
        fprintf(stderr, "bpftime agent: %s: cannot take the registry lock\n", name);
        return;
    }
    fn(name);
    pthread_mutex_unlock(&registry_lock);
}

void bpftime_attach_session(const char *name)
{
    run_locked(attach_locked, name);
}

void bpftime_detach_session(const char *name)
{
    run_locked(detach_locked, name);
}

/* Runs in the private copy of this library Frida loads for each injection (outside
 * the dynamic linker's list, without working thread-local storage): dlopen()s the
 * library for real (the instance already there after LD_PRELOAD or an earlier
 * attach, else a new one that stays) and calls `symbol` of that instance. */
static void bootstrap(const char *data, const char *symbol, int *stay_resident)
{
    if (stay_resident)
        *stay_resident = 0; /* this copy goes; the real instance stays */
    char name[BPFTIME_NAME_LEN];
    const char *space = data ? strchr(data, ' ') : NULL;
    if (!space || (size_t)(space - data) >= sizeof name) {
        fprintf(stderr, "bpftime agent: bad injection data\n");
        return;
    }
    memcpy(name, data, (size_t)(space - data));
    name[space - data] = 0;
    void *lib = dlopen(space + 1, RTLD_NOW);
    void (*fn)(const char *) = lib ? (void (*)(const char *))dlsym(lib, symbol) : NULL;
    if (!fn) {
        const char *why = dlerror();
        int err = 0;
        void *session = valid_name(name) ? bpftime_session_open(name, &err) : NULL;
        struct bpftime_attach *record = session ? attach_record(session) : NULL;
        if (record)
            report(record, BPFTIME_ATTACH_FAILED, "cannot load the agent: %s", why ? why : "?");
        if (session)
            bpftime_session_close(session);
        return;
    }
    fn(name); /* the handle is never closed: hooks and the next attach use it */
}

void bpftime_agent_attach(const char *data, int *stay_resident, void *unused)
{
    (void)unused;
    bootstrap(data, "bpftime_attach_session", stay_resident);
}

void bpftime_agent_detach(const char *data, int *stay_resident, void *unused)
{
    (void)unused;
    bootstrap(data, "bpftime_detach_session", stay_resident);
}
