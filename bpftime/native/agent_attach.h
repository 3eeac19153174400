/* `bpftime attach` / `detach`: the agent loaded into a running process by Frida.
 *
 * The attach CLI builds a session as `bpftime load` does (agent_load.h: images, hook
 * plans, the "load" table) and adds one BLOB "attach", struct bpftime_attach: the
 * per-program hit counters and the agent's attach/detach report. Frida then calls
 * an entrypoint of this library inside the process with the session's name:
 *   bpftime_agent_attach(NAME)  opens the session and installs its load table
 *                               (int3-first live patching, patch.c); the outcome is in
 *                               the "load" status as for `load`, and in state here;
 *   bpftime_agent_detach(NAME)  restores every patched byte of that session's hooks.
 * The dlopen()ed library stays loaded, so it serves the next attach. After a detach the
 * session's mapping and its images stay mapped (retired): a thread may still be
 * running an extension, and trampolines are never unmapped either (patch.c).
 * The Python side of this layout is bpftime/inject/attach_records.py. */
#ifndef BPFTIME_AGENT_ATTACH_H
#define BPFTIME_AGENT_ATTACH_H

#include <stdint.h>

#include "api.h"

#define BPFTIME_ATTACH_OBJECT "attach"
#define BPFTIME_ATTACH_VERSION 1
#define BPFTIME_ATTACH_MESSAGE 256

enum bpftime_attach_state {
    BPFTIME_ATTACH_FAILED = -1,  /* attach or detach failed: message says why */
    BPFTIME_ATTACH_PENDING = 0,  /* no agent has run yet */
    BPFTIME_ATTACH_ATTACHED = 1, /* every hook installed, extensions running */
    BPFTIME_ATTACH_DETACHED = 2, /* every hook removed, every patched byte restored */
};

struct bpftime_attach {
    uint32_t version;      /* BPFTIME_ATTACH_VERSION */
    uint32_t n_hits;       /* counters: plan by plan, the plan's programs in order */
    uint64_t hits;         /* offset of n_hits u64 counters in the session */
    int32_t state;         /* enum bpftime_attach_state, stored last (release) */
    int32_t pid;           /* of the process the agent runs in */
    uint64_t detach_ns;    /* time the agent spent removing the hooks */
    uint32_t removed;      /* hooks removed by the detach */
    uint32_t pad;
    char message[BPFTIME_ATTACH_MESSAGE];
};

/* Frida entrypoints: data is "SESSION LIBRARY" (the session's name, then the path
 * of this library); *stay_resident is Frida's gboolean. Frida loads a private copy
 * of the library for every injection, outside the dynamic linker's list and without
 * working thread-local storage, so these only dlopen() LIBRARY for real and call the
 * functions below in that one instance, and let Frida unload the copy. */
BPFTIME_API void bpftime_agent_attach(const char *data, int *stay_resident, void *unused);
BPFTIME_API void bpftime_agent_detach(const char *data, int *stay_resident, void *unused);

/* The work itself, in the dlopen()ed instance: install / remove session NAME. */
BPFTIME_API void bpftime_attach_session(const char *name);
BPFTIME_API void bpftime_detach_session(const char *name);

#endif
