/* What `bpftime load` writes into a session for the agent, and the agent's report.
 *
 * Objects of the session's table (session.h) used by the load stage:
 *   BLOB "load"        struct bpftime_load: counts, the order of images and plans,
 *                      and the agent's status (written by the agent, read by the CLI);
 *   IMAGE "image:N"    struct bpftime_load_image, then its slot records, then code;
 *   HOOK_PLAN "hook:N" struct bpftime_load_plan and its attachments; the hook
 *                      stage's serialised plan follows in the same object;
 *   BLOB "tails"       (optional) prog_array slots to fill with images;
 *   BLOB "maps.json"   for readers only (bpftime maps): each map's object and name.
 * Every offset is from the session base, so any process can follow it. The Python
 * side of this layout is bpftime/inject/records.py: change both together. */
#ifndef BPFTIME_AGENT_LOAD_H
#define BPFTIME_AGENT_LOAD_H

#include <stdint.h>

#include "api.h"

#define BPFTIME_LOAD_OBJECT "load"
#define BPFTIME_LOAD_VERSION 1
#define BPFTIME_LOAD_MESSAGE 256
#define BPFTIME_SESSION_ENV "BPFTIME_SESSION"

enum bpftime_load_state {
    BPFTIME_LOAD_FAILED = -1,    /* message says why; the host runs unpatched */
    BPFTIME_LOAD_PENDING = 0,    /* no agent has started yet */
    BPFTIME_LOAD_STARTING = 1,   /* an agent is mapping images and applying plans */
    BPFTIME_LOAD_INSTALLED = 2,  /* every plan applied */
};

struct bpftime_load_status {
    int32_t state;       /* enum bpftime_load_state, stored last (release) */
    int32_t pid;         /* of the process whose agent reported */
    uint64_t startup_ns; /* time the agent spent from start to INSTALLED or FAILED */
    uint32_t hooks;      /* plans applied */
    uint32_t images;     /* images mapped */
    char message[BPFTIME_LOAD_MESSAGE];
};

struct bpftime_load {
    uint32_t version;    /* BPFTIME_LOAD_VERSION */
    uint32_t n_images;
    uint32_t n_plans;
    uint32_t pad;
    uint64_t images;     /* offset of n_images u64 offsets of bpftime_load_image */
    uint64_t plans;      /* offset of n_plans u64 offsets of bpftime_load_plan */
    struct bpftime_load_status status;
};

/* What a link-table slot of an image holds once filled. */
enum bpftime_slot_kind {
    BPFTIME_SLOT_SESSION = 1, /* session base + value (a map handle, global data) */
    BPFTIME_SLOT_HELPER = 2,  /* bpftime_helper_address(index) */
    BPFTIME_SLOT_HOST = 4,    /* load bias of the host executable + value (EIM externs) */
};

struct bpftime_slot {
    uint32_t kind;
    uint32_t index;
    uint64_t value;
};

struct bpftime_load_image {
    uint64_t code_len;     /* bytes of code, link table included */
    uint64_t slots_offset; /* of the link table, from the start of the code */
    uint32_t n_slots;
    uint32_t entry_offset; /* of `uint64_t prog(void *ctx)`, from the start of the code */
    uint64_t code;         /* offset of the code in the session */
    char name[64];
    struct bpftime_slot slots[]; /* n_slots */
};

struct bpftime_load_attach {
    uint32_t image;        /* index of the image */
    uint32_t at_return;    /* 0: runs at the entry (uprobe), 1: at its return */
};

struct bpftime_load_plan {
    uint64_t plan_len;     /* bytes of the serialised hook plan (hook.h) */
    uint64_t plan;         /* its offset in the session */
    uint64_t vaddr;        /* the entry's link-time address in its module */
    char module[256];      /* the module's path, as /proc/self/maps shows it */
    uint32_t n_programs;   /* extensions at the entry, in the order they run */
    uint32_t pad;
    struct bpftime_load_attach programs[];
};

#define BPFTIME_LOAD_MAX_IMAGES 256

/* One installation of a session's load table in this process: what removing it
 * again needs (attach/detach, agent_attach.c). */
struct bpftime_loader {
    void *session;
    struct bpftime_load *load;
    void *images[BPFTIME_LOAD_MAX_IMAGES];
    uint32_t n_mapped;
    struct bpftime_hooks *hooks; /* plan i is hook i */
    int64_t host_bias;           /* of the main executable, -1 if unknown */
    uint64_t *hits;              /* per-program hit counters, plan by plan, NULL: none */
    uint32_t n_hits;
    uint32_t n_counted;          /* counters handed out so far */
};

/* Maps every image of `session`'s load table, fills its slots, applies every hook
 * plan and reports in the table's status; touches no environment. With `hits`, each
 * program (plan by plan, in order) counts its runs there from its first one. 0
 * installed (l holds the images and the hook table), -1 failed (reported, everything
 * undone), 1 the session has no load table. */
BPFTIME_HIDDEN int bpftime_load_install(struct bpftime_loader *l, void *session, uint64_t *hits,
                                        uint32_t n_hits);

/* BLOB "tails" (optional): prog_array slots to fill with images once they are
 * mapped (libbpf's `.values = { [slot] = &prog }`). */
#define BPFTIME_TAILS_OBJECT "tails"

struct bpftime_load_tail {
    uint64_t map;          /* offset of the prog_array map in the session */
    uint32_t slot;
    uint32_t image;        /* index of the image whose entry goes there */
};

struct bpftime_load_tails {
    uint32_t n;
    uint32_t pad;
    struct bpftime_load_tail tails[];
};

/* The agent's start-up in a host, once agent.c opened the session BPFTIME_SESSION
 * names: removes the variable (and the agent from LD_PRELOAD) so that programs the
 * host starts are not extended, maps every image, fills its slots, applies every hook
 * plan, and reports the outcome in the "load" object's status (bpftime_load_install). A
 * session without a load table is left alone. Starts no threads. */
BPFTIME_HIDDEN void bpftime_agent_load(void *session);

#endif
