/* The agent's start-up in a host launched by `bpftime load` (see agent_load.h). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent_load.h"
#include "hook.h"
#include "map.h"
#include "runtime.h"
#include "session.h"

/* The Python side (bpftime/inject/records.py) packs these sizes. */
_Static_assert(sizeof(struct bpftime_load_status) == 280, "load status layout");
_Static_assert(sizeof(struct bpftime_load) == 312, "load table layout");
_Static_assert(sizeof(struct bpftime_load_image) == 96, "image record layout");
_Static_assert(sizeof(struct bpftime_load_plan) == 288, "plan record layout");

#define MAX_SLOTS 4096

/* Load bias of the process's main executable (0 for a non-PIE one), or -1. */
static int64_t main_program_bias(void)
{
    char path[4096];
    ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
    if (n <= 0)
        return -1;
    path[n] = 0;
    return bpftime_module_bias(path);
}

static void report(struct bpftime_load *load, int32_t state, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(load->status.message, sizeof load->status.message, fmt, ap);
    va_end(ap);
    __atomic_store_n(&load->status.state, state, __ATOMIC_RELEASE);
}

/* Removes the agent's own path from LD_PRELOAD (and the variable if that empties
 * it), so that programs the host starts are not extended. A list too long to copy
 * is left as it is (children then load an agent that, without a session, does
 * nothing). */
static void forget_preload(void)
{
    const char *list = getenv("LD_PRELOAD");
    Dl_info self;
    if (!list || !dladdr((void *)forget_preload, &self) || !self.dli_fname)
        return;
    char kept[4096];
    size_t used = 0;
    const char *p = list;
    while (*p) {
        size_t len = strcspn(p, " :");
        int ours = len == strlen(self.dli_fname) && strncmp(p, self.dli_fname, len) == 0;
        if (len && !ours) {
            if (used + len + 2 > sizeof kept)
                return;
            if (used)
                kept[used++] = ' ';
            memcpy(kept + used, p, len);
            used += len;
        }
        p += len;
        p += strspn(p, " :");
    }
    kept[used] = 0;
    /* On failure (ENOMEM) the variable keeps its old value: harmless, see above. */
    if (used)
        (void)setenv("LD_PRELOAD", kept, 1);
    else
        (void)unsetenv("LD_PRELOAD");
}

static int in_session(const struct bpftime_loader *l, uint64_t off, uint64_t len)
{
    const struct bpftime_session_header *s = l->session;
    return off <= s->size && len <= s->size - off;
}

static int slot_value(struct bpftime_loader *l, const struct bpftime_slot *slot, uint64_t *out)
{
    switch (slot->kind) {
    case BPFTIME_SLOT_SESSION:
        if (!in_session(l, slot->value, 1))
            return -ERANGE;
        *out = (uint64_t)(uintptr_t)l->session + slot->value;
        return 0;
    case BPFTIME_SLOT_HELPER: {
        void *helper = bpftime_helper_address((int)slot->index);
        if (!helper)
            return -ENOSYS;
        *out = (uint64_t)(uintptr_t)helper;
        return 0;
    }
    case BPFTIME_SLOT_HOST:
        if (l->host_bias < 0)
            return -ENOENT;
        *out = (uint64_t)l->host_bias + slot->value;
        return 0;
    }
    return -EINVAL;
}

/* Maps image `i`: 0, or reports why not and returns -1. */
static int map_image(struct bpftime_loader *l, uint32_t i)
{
    const uint64_t *offsets = bpftime_at(l->session, l->load->images);
    if (!in_session(l, offsets[i], sizeof(struct bpftime_load_image))) {
        report(l->load, BPFTIME_LOAD_FAILED, "image %u: record outside the session", i);
        return -1;
    }
    const struct bpftime_load_image *img = bpftime_at(l->session, offsets[i]);
    if (img->n_slots > MAX_SLOTS ||
        !in_session(l, offsets[i], sizeof *img + img->n_slots * sizeof(struct bpftime_slot)) ||
        !in_session(l, img->code, img->code_len)) {
        report(l->load, BPFTIME_LOAD_FAILED, "image %u (%.64s): malformed record", i, img->name);
        return -1;
    }
    uint64_t values[MAX_SLOTS];
    for (uint32_t k = 0; k < img->n_slots; k++) {
        int err = slot_value(l, &img->slots[k], &values[k]);
        if (err) {
            report(l->load, BPFTIME_LOAD_FAILED, "image %.64s: slot %u (kind %u, index %u): %s",
                   img->name, k, img->slots[k].kind, img->slots[k].index, strerror(-err));
            return -1;
        }
    }
    void *base = bpftime_image_map(bpftime_at(l->session, img->code), img->code_len,
                                   img->slots_offset, values, img->n_slots);
    if (!base) {
        report(l->load, BPFTIME_LOAD_FAILED, "image %.64s: cannot map: %s", img->name,
               strerror(errno));
        return -1;
    }
    l->images[l->n_mapped++] = base;
    return 0;
}

static void unmap_images(struct bpftime_loader *l)
{
    const uint64_t *offsets = bpftime_at(l->session, l->load->images);
    while (l->n_mapped) {
        l->n_mapped--;
        const struct bpftime_load_image *img = bpftime_at(l->session, offsets[l->n_mapped]);
        (void)bpftime_image_unmap(l->images[l->n_mapped], img->code_len); /* never ran:
                                                                               at worst leaked */
    }
}

/* Points the next program slot of hook `id` at the next hit counter, when counting:
 * 0, or -1 when the counters run out. Before the program is added, so that its
 * first run is counted. */
static int count_hits(struct bpftime_loader *l, int id, int at_return)
{
    if (!l->hits)
        return 0;
    struct bpftime_hook *hook = bpftime_hook_get(l->hooks, id);
    uint32_t n = hook ? (at_return ? hook->n_return : hook->n_entry) : BPFTIME_HOOK_MAX_PROGS;
    if (n >= BPFTIME_HOOK_MAX_PROGS || l->n_counted >= l->n_hits)
        return -1;
    uint64_t **slot = at_return ? &hook->return_hits[n] : &hook->entry_hits[n];
    __atomic_store_n(slot, &l->hits[l->n_counted++], __ATOMIC_RELAXED);
    return 0;
}

/* Applies plan `i` and adds its programs: 0, or reports why not and returns -1. */
static int apply_plan(struct bpftime_loader *l, uint32_t i)
{
    const uint64_t *offsets = bpftime_at(l->session, l->load->plans);
    if (!in_session(l, offsets[i], sizeof(struct bpftime_load_plan))) {
        report(l->load, BPFTIME_LOAD_FAILED, "hook %u: record outside the session", i);
        return -1;
    }
    const struct bpftime_load_plan *p = bpftime_at(l->session, offsets[i]);
    if (p->n_programs > BPFTIME_HOOK_MAX_PROGS * 2 ||
        !in_session(l, offsets[i], sizeof *p + p->n_programs * sizeof p->programs[0]) ||
        !in_session(l, p->plan, p->plan_len) || !memchr(p->module, 0, sizeof p->module)) {
        report(l->load, BPFTIME_LOAD_FAILED, "hook %u: malformed record", i);
        return -1;
    }
    int64_t bias = bpftime_module_bias(p->module);
    if (bias < 0) {
        report(l->load, BPFTIME_LOAD_FAILED, "hook %u: %s is not loaded in process %d", i,
               p->module, (int)getpid());
        return -1;
    }
    char err[200] = "";
    int id = bpftime_hook_install(l->hooks, bpftime_at(l->session, p->plan), p->plan_len,
                                  (uint64_t)bias + p->vaddr, err, sizeof err);
    if (id < 0) {
        report(l->load, BPFTIME_LOAD_FAILED, "hook %u (%s+%#llx): %s", i, p->module,
               (unsigned long long)p->vaddr, err);
        return -1;
    }
    const uint64_t *image_offsets = bpftime_at(l->session, l->load->images);
    for (uint32_t k = 0; k < p->n_programs; k++) {
        uint32_t image = p->programs[k].image;
        if (image >= l->n_mapped) {
            report(l->load, BPFTIME_LOAD_FAILED, "hook %u: no image %u", i, image);
            return -1;
        }
        const struct bpftime_load_image *img = bpftime_at(l->session, image_offsets[image]);
        bpftime_prog_fn fn = (bpftime_prog_fn)((char *)l->images[image] + img->entry_offset);
        if (count_hits(l, id, p->programs[k].at_return != 0) != 0 ||
            bpftime_hook_add_program(l->hooks, id, fn, p->programs[k].at_return != 0) != 0) {
            report(l->load, BPFTIME_LOAD_FAILED, "hook %u: cannot add %.64s (too many extensions "
                   "at one entry?)", i, img->name);
            return -1;
        }
    }
    l->load->status.hooks++;
    return 0;
}

/* Undoes a partial start-up: every patched byte restored, and the images unmapped
 * unless a hook was ever in place. Once one was, a host thread may still be running
 * an extension (or may be about to: a hook that could not be removed stays), so the
 * images stay mapped for the life of the process, as after a detach. Hook ids are
 * handed out from 0, so hook 0 exists whenever any does. */
static void abandon(struct bpftime_loader *l)
{
    int hooked = l->hooks && bpftime_hook_get(l->hooks, 0) != NULL;
    /* hook ids are below n_plans (one per plan); one that cannot be removed stays
     * whole and working, and the status says so after the reason of the failure */
    for (uint32_t id = 0; l->hooks && id < l->load->n_plans; id++) {
        char err[200] = "";
        if (bpftime_hook_get(l->hooks, (int)id) &&
            bpftime_hook_remove(l->hooks, (int)id, err, sizeof err) != 0) {
            size_t used = strnlen(l->load->status.message, sizeof l->load->status.message);
            snprintf(l->load->status.message + used, sizeof l->load->status.message - used,
                     "; hook %u stays in place: %s", id, err);
        }
    }
    if (l->hooks)
        bpftime_hooks_free(l->hooks);
    l->hooks = NULL;
    l->load->status.hooks = 0;
    if (!hooked)
        unmap_images(l);
}

/* Fills the prog_array slots the "tails" object lists with the entries of mapped
 * images: 0, or reports why not and returns -1. */
static int fill_tails(struct bpftime_loader *l)
{
    int64_t off = bpftime_session_find_object(l->session, BPFTIME_OBJ_BLOB, BPFTIME_TAILS_OBJECT);
    if (off < 0)
        return 0;
    const struct bpftime_load_tails *t = bpftime_at(l->session, (uint64_t)off);
    if (!in_session(l, (uint64_t)off, sizeof *t) ||
        !in_session(l, (uint64_t)off, sizeof *t + (uint64_t)t->n * sizeof t->tails[0])) {
        report(l->load, BPFTIME_LOAD_FAILED, "tail calls: malformed record");
        return -1;
    }
    const uint64_t *image_offsets = bpftime_at(l->session, l->load->images);
    for (uint32_t i = 0; i < t->n; i++) {
        const struct bpftime_load_tail *tail = &t->tails[i];
        if (tail->image >= l->n_mapped || !in_session(l, tail->map, BPFTIME_MAP_DATA)) {
            report(l->load, BPFTIME_LOAD_FAILED, "tail call %u: no image %u or map", i, tail->image);
            return -1;
        }
        const struct bpftime_load_image *img = bpftime_at(l->session, image_offsets[tail->image]);
        uint64_t entry = (uint64_t)(uintptr_t)l->images[tail->image] + img->entry_offset;
        int err = bpftime_map_update(bpftime_at(l->session, tail->map), &tail->slot, &entry, 0);
        if (err) {
            report(l->load, BPFTIME_LOAD_FAILED, "tail call %u: slot %u of the prog_array: %s", i,
                   tail->slot, strerror(-err));
            return -1;
        }
    }
    return 0;
}

static int install(struct bpftime_loader *l)
{
    for (uint32_t i = 0; i < l->load->n_images; i++)
        if (map_image(l, i) != 0)
            return -1;
    l->load->status.images = l->n_mapped;
    if (fill_tails(l) != 0)
        return -1;
    l->hooks = bpftime_hooks_new();
    if (!l->hooks) {
        report(l->load, BPFTIME_LOAD_FAILED, "cannot allocate the hook table: %s", strerror(errno));
        return -1;
    }
    bpftime_hooks_set_session(l->hooks, l->session);
    for (uint32_t i = 0; i < l->load->n_plans; i++)
        if (apply_plan(l, i) != 0)
            return -1;
    return 0;
}

int bpftime_load_install(struct bpftime_loader *l, void *session, uint64_t *hits,
                         uint32_t n_hits)
{
    uint64_t started = bpftime_clock_ns(CLOCK_MONOTONIC);
    *l = (struct bpftime_loader){.session = session, .host_bias = main_program_bias(),
                                 .hits = hits, .n_hits = n_hits};
    int64_t off = bpftime_session_find_object(session, BPFTIME_OBJ_BLOB, BPFTIME_LOAD_OBJECT);
    if (off < 0 || !in_session(l, (uint64_t)off, sizeof(struct bpftime_load)))
        return 1;
    l->load = bpftime_at(session, (uint64_t)off);
    l->load->status.pid = getpid();
    __atomic_store_n(&l->load->status.state, BPFTIME_LOAD_STARTING, __ATOMIC_RELEASE);
    if (l->load->version != BPFTIME_LOAD_VERSION || l->load->n_images > BPFTIME_LOAD_MAX_IMAGES ||
        !in_session(l, l->load->images, 8ull * l->load->n_images) ||
        !in_session(l, l->load->plans, 8ull * l->load->n_plans)) {
        report(l->load, BPFTIME_LOAD_FAILED, "load table: version %u or counts not understood",
               l->load->version);
        return -1;
    }
    if (install(l) != 0) {
        abandon(l);
        l->load->status.startup_ns = bpftime_clock_ns(CLOCK_MONOTONIC) - started;
        __atomic_store_n(&l->load->status.state, BPFTIME_LOAD_FAILED, __ATOMIC_RELEASE);
        return -1;
    }
    l->load->status.startup_ns = bpftime_clock_ns(CLOCK_MONOTONIC) - started;
    report(l->load, BPFTIME_LOAD_INSTALLED, "%u images mapped, %u hooks applied", l->n_mapped,
           l->load->status.hooks);
    return 0;
}

void bpftime_agent_load(void *session)
{
    (void)unsetenv(BPFTIME_SESSION_ENV); /* fails only for a malformed name */
    forget_preload();
    struct bpftime_loader l;
    /* A session without a load table is someone else's business; the hook table and
     * the images of an installed one stay for the life of the process. */
    bpftime_load_install(&l, session, NULL, 0);
}
