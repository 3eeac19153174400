/* Creating, opening and closing a session region; its allocator and object table. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include "lock.h"
#include "session.h"

/* A block of the region: header, then payload (BPFTIME_BLOCK_ALIGN aligned). */
struct block {
    uint64_t size; /* whole block, header included */
    uint64_t next; /* next free block while free */
};
#define BLOCK_HEADER BPFTIME_BLOCK_ALIGN

static uint64_t round_up(uint64_t n, uint64_t a) { return (n + a - 1) / a * a; }

/* Start time of this process in clock ticks (field 22 of /proc/self/stat), 0 if
 * unreadable: with the pid it tells a live creator from a recycled pid. */
static uint64_t self_start_time(void)
{
    char buf[1024];
    FILE *f = fopen("/proc/self/stat", "re");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')'); /* comm may hold spaces */
    if (!p)
        return 0;
    unsigned long long start = 0;
    /* after ")": state(3) ... starttime(22) */
    if (sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %llu",
               &start) != 1)
        return 0;
    return start;
}

/* Number of possible CPUs as libbpf counts them (highest index in
 * /sys/devices/system/cpu/possible + 1): per-CPU values have that many copies, as
 * the kernel's. Falls back to the configured CPUs. */
static uint32_t possible_cpus(void)
{
    char buf[256];
    FILE *f = fopen("/sys/devices/system/cpu/possible", "re");
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f)
        fclose(f);
    buf[n] = 0;
    long highest = -1;
    for (char *p = buf; *p;) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p)
            break;
        if (v > highest)
            highest = v;
        p = end;
        while (*p == '-' || *p == ',' || *p == '\n')
            p++;
    }
    if (highest >= 0 && highest < 65536)
        return (uint32_t)highest + 1;
    int conf = get_nprocs_conf();
    return conf > 0 ? (uint32_t)conf : 1;
}

static int valid_name(const char *name)
{
    return name && name[0] == '/' && strlen(name) < 250 && !strchr(name + 1, '/');
}

/* Creates the region `name` ("/bpftime-…", mode 0600, must not exist). Returns its
 * base, or NULL with *err = -errno. */
BPFTIME_API void *bpftime_session_create(const char *name, uint64_t size, int *err)
{
    uint64_t header = round_up(sizeof(struct bpftime_session_header), BPFTIME_BLOCK_ALIGN);
    if (!valid_name(name) || size < header + 4096) {
        *err = -EINVAL;
        return NULL;
    }
    size = bpftime_page_round(size);
    int fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        *err = -errno;
        return NULL;
    }
    void *base = MAP_FAILED;
    if (fchmod(fd, 0600) != 0 || ftruncate(fd, (off_t)size) != 0 ||
        (base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)) == MAP_FAILED) {
        *err = -errno;
        close(fd);
        shm_unlink(name);
        return NULL;
    }
    close(fd);
    struct bpftime_session_header *s = base;
    s->version = BPFTIME_SESSION_VERSION;
    s->header_size = (uint32_t)header;
    s->size = size;
    s->creator_pid = getpid();
    s->ncpus = possible_cpus();
    s->creator_start = self_start_time();
    s->alloc_next = header;
    __atomic_store_n(&s->magic, BPFTIME_SESSION_MAGIC, __ATOMIC_RELEASE);
    *err = 0;
    return base;
}

/* Opens an existing region, checking magic, version and size. Returns its base, or
 * NULL with *err = -ENOENT (no such session), -EBADMSG (not a bpftime session),
 * -EPROTO (another version) or another -errno. */
BPFTIME_API void *bpftime_session_open(const char *name, int *err)
{
    if (!valid_name(name)) {
        *err = -EINVAL;
        return NULL;
    }
    int fd = shm_open(name, O_RDWR | O_CLOEXEC, 0);
    if (fd < 0) {
        *err = -errno;
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        *err = -errno;
        close(fd);
        return NULL;
    }
    if ((uint64_t)st.st_size < sizeof(struct bpftime_session_header)) {
        *err = -EBADMSG;
        close(fd);
        return NULL;
    }
    void *base = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    int saved = errno;
    close(fd);
    if (base == MAP_FAILED) {
        *err = -saved;
        return NULL;
    }
    struct bpftime_session_header *s = base;
    *err = 0;
    if (__atomic_load_n(&s->magic, __ATOMIC_ACQUIRE) != BPFTIME_SESSION_MAGIC ||
        s->size != (uint64_t)st.st_size)
        *err = -EBADMSG;
    else if (s->version != BPFTIME_SESSION_VERSION)
        *err = -EPROTO;
    if (*err) {
        munmap(base, (size_t)st.st_size);
        return NULL;
    }
    return base;
}

/* Unmaps the region from this process (it stays for the others). 0 or -errno. */
BPFTIME_API int bpftime_session_close(void *base)
{
    struct bpftime_session_header *s = base;
    if (!s)
        return -EINVAL;
    return munmap(base, s->size) ? -errno : 0;
}

/* Removes the region's name; processes that mapped it keep it until they unmap. */
BPFTIME_API int bpftime_session_unlink(const char *name)
{
    if (!valid_name(name))
        return -EINVAL;
    return shm_unlink(name) ? -errno : 0;
}

/* Creator pid, creator start time, region size and per-CPU copy count (ncpus) of a
 * mapped session. */
BPFTIME_API void bpftime_session_info(const void *base, int32_t *pid, uint64_t *start,
                                      uint64_t *size, uint32_t *ncpus)
{
    const struct bpftime_session_header *s = base;
    *pid = s->creator_pid;
    *start = s->creator_start;
    *size = s->size;
    *ncpus = s->ncpus;
}

int64_t bpftime_session_alloc(struct bpftime_session_header *s, uint64_t size)
{
    if (size == 0 || size > s->size)
        return -ENOMEM;
    uint64_t need = round_up(size, BPFTIME_BLOCK_ALIGN) + BLOCK_HEADER;
    int64_t result = -ENOMEM;
    int reused = 0;
    bpftime_lock(&s->lock);
    uint64_t *link = &s->free_head;
    while (*link) { /* first fit */
        struct block *b = bpftime_at(s, *link);
        if (b->size >= need) {
            uint64_t off = *link;
            if (b->size - need >= 2 * BLOCK_HEADER) { /* split off the tail */
                struct block *rest = bpftime_at(s, off + need);
                rest->size = b->size - need;
                rest->next = b->next;
                *link = off + need;
                b->size = need;
            } else {
                *link = b->next;
            }
            b->next = 0;
            result = (int64_t)(off + BLOCK_HEADER);
            reused = 1;
            break;
        }
        link = &b->next;
    }
    if (result < 0 && s->size - s->alloc_next >= need) {
        struct block *b = bpftime_at(s, s->alloc_next);
        b->size = need;
        b->next = 0;
        result = (int64_t)(s->alloc_next + BLOCK_HEADER);
        s->alloc_next += need;
    }
    bpftime_unlock(&s->lock);
    if (reused) /* never-used space is zero already (ftruncate) */
        memset(bpftime_at(s, (uint64_t)result), 0, need - BLOCK_HEADER);
    return result;
}

void bpftime_session_release(struct bpftime_session_header *s, uint64_t offset)
{
    bpftime_lock(&s->lock);
    struct block *b = bpftime_at(s, offset - BLOCK_HEADER);
    b->next = s->free_head;
    s->free_head = offset - BLOCK_HEADER;
    bpftime_unlock(&s->lock);
}

/* Allocates an object of `kind` named `name` (unique per kind): its payload offset
 * (zeroed), or -EINVAL (bad name/kind), -EEXIST, -ENOSPC (table full), -ENOMEM. */
BPFTIME_API int64_t bpftime_session_add_object(void *base, uint32_t kind, const char *name,
                                               uint64_t size)
{
    struct bpftime_session_header *s = base;
    size_t len = name ? strlen(name) : 0;
    if (kind == BPFTIME_OBJ_NONE || len == 0 || len >= BPFTIME_NAME_LEN)
        return -EINVAL;
    int64_t off = bpftime_session_alloc(s, size);
    if (off < 0)
        return off;
    int64_t result = -ENOSPC;
    bpftime_lock(&s->lock);
    for (uint32_t i = 0; i < s->n_objects; i++)
        if (s->objects[i].kind == kind && strcmp(s->objects[i].name, name) == 0) {
            result = -EEXIST;
            break;
        }
    if (result == -ENOSPC && s->n_objects < BPFTIME_MAX_OBJECTS) {
        struct bpftime_object *o = &s->objects[s->n_objects];
        memcpy(o->name, name, len + 1);
        o->offset = (uint64_t)off;
        o->size = size;
        o->flags = 0;
        o->kind = kind;
        /* readers scan the table without the lock: publish the entry last */
        __atomic_store_n(&s->n_objects, s->n_objects + 1, __ATOMIC_RELEASE);
        result = off;
    }
    bpftime_unlock(&s->lock);
    if (result < 0)
        bpftime_session_release(s, (uint64_t)off);
    return result;
}

/* Payload offset of the object `kind`/`name`, or -ENOENT. */
BPFTIME_API int64_t bpftime_session_find_object(const void *base, uint32_t kind, const char *name)
{
    const struct bpftime_session_header *s = base;
    uint32_t n = __atomic_load_n(&s->n_objects, __ATOMIC_ACQUIRE);
    for (uint32_t i = 0; i < n && i < BPFTIME_MAX_OBJECTS; i++)
        if (s->objects[i].kind == kind && strncmp(s->objects[i].name, name, BPFTIME_NAME_LEN) == 0)
            return (int64_t)s->objects[i].offset;
    return -ENOENT;
}

/* The index-th object: fills kind/offset/size/name (BPFTIME_NAME_LEN bytes); -ENOENT
 * past the end. */
BPFTIME_API int bpftime_session_object(const void *base, uint32_t index, uint32_t *kind,
                                       uint64_t *offset, uint64_t *size, char *name)
{
    const struct bpftime_session_header *s = base;
    if (index >= __atomic_load_n(&s->n_objects, __ATOMIC_ACQUIRE) || index >= BPFTIME_MAX_OBJECTS)
        return -ENOENT;
    const struct bpftime_object *o = &s->objects[index];
    *kind = o->kind;
    *offset = o->offset;
    *size = o->size;
    memcpy(name, o->name, BPFTIME_NAME_LEN);
    return 0;
}

/* Removes the object whose payload is at `offset` and frees its space. 0 or -ENOENT. */
BPFTIME_API int bpftime_session_remove_object(void *base, uint64_t offset)
{
    struct bpftime_session_header *s = base;
    int found = 0;
    bpftime_lock(&s->lock);
    for (uint32_t i = 0; i < s->n_objects; i++)
        if (s->objects[i].offset == offset) {
            s->objects[i] = s->objects[s->n_objects - 1];
            memset(&s->objects[s->n_objects - 1], 0, sizeof(struct bpftime_object));
            s->n_objects--;
            found = 1;
            break;
        }
    if (s->trace_ring == offset)
        s->trace_ring = 0;
    bpftime_unlock(&s->lock);
    if (!found)
        return -ENOENT;
    bpftime_session_release(s, offset);
    return 0;
}
