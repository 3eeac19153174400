/* The session: one shared-memory region holding a versioned header, a table of
 * typed objects (maps, program images, hook plans, the trace ring) and the space
 * they live in. Every reference inside the region is an offset from its base. */
#ifndef BPFTIME_SESSION_H
#define BPFTIME_SESSION_H

#include <stdint.h>

#include "api.h"
#include "runtime.h"

#define BPFTIME_SESSION_MAGIC 0x31454d4954465042ULL /* "BPFTIME1" */
#define BPFTIME_SESSION_VERSION 1
#define BPFTIME_NAME_LEN 64
#define BPFTIME_MAX_OBJECTS 256
#define BPFTIME_BLOCK_ALIGN 64

enum bpftime_object_kind {
    BPFTIME_OBJ_NONE = 0,
    BPFTIME_OBJ_MAP = 1,       /* a struct bpftime_map */
    BPFTIME_OBJ_IMAGE = 2,     /* a program image (load stage) */
    BPFTIME_OBJ_HOOK_PLAN = 3, /* a hook plan (load stage) */
    BPFTIME_OBJ_TRACE = 4,     /* the trace_printk ring (a ringbuf map) */
    BPFTIME_OBJ_BLOB = 5,      /* anything else the load stage needs */
};

struct bpftime_object {
    uint32_t kind;
    uint32_t flags;
    uint64_t offset; /* of the payload, from the session base */
    uint64_t size;   /* of the payload */
    char name[BPFTIME_NAME_LEN];
};

struct bpftime_session_header {
    uint64_t magic;
    uint32_t version;
    uint32_t header_size;
    uint64_t size;          /* of the whole region */
    int32_t creator_pid;
    uint32_t ncpus;         /* copies kept by per-CPU maps */
    uint64_t creator_start; /* creator's start time, /proc/PID/stat field 22 */
    uint64_t trace_ring;    /* offset of the trace_printk ring map, 0 if none */
    uint32_t lock;          /* guards the allocator and the object table */
    uint32_t n_objects;     /* slots of `objects` in use (the table is dense) */
    uint64_t alloc_next;    /* bump pointer: offset of the first never-used byte */
    uint64_t free_head;     /* first free block (offset of its block header), 0 none */
    uint64_t reserved[8];
    struct bpftime_object objects[BPFTIME_MAX_OBJECTS];
};

/* Allocates `size` zeroed bytes in the region: the payload offset, or -errno. */
BPFTIME_HIDDEN int64_t bpftime_session_alloc(struct bpftime_session_header *s, uint64_t size);
BPFTIME_HIDDEN void bpftime_session_release(struct bpftime_session_header *s, uint64_t offset);

#endif
