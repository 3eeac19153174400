/* redis_like: a stand-in for redis with the same function names and client /
 * server structs that specs/redis.eim.yaml names, so tests resolve that spec for real.
 *
 * usage: redis_like [COMMANDS]   (default 1000)
 * Executes COMMANDS commands (SET, GET, INCR in turn) through processCommand() and
 * call(); write commands bump server.dirty.  The append-only file is a memory
 * buffer flushed by flushAppendOnlyFile().  Prints
 *     commands=C dirty=D fsyncs=F
 * Without extensions fsyncs is the number of times the buffer filled up; a
 * durability extension calling flushAppendOnlyFile(1) after each write raises it.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/types.h>

#define NOINLINE __attribute__((noipa, used))  /* noipa: callers must not be specialised on what GCC sees the callee read */
#define CMD_WRITE (1ULL << 0)
#define CLIENT_FORCE_AOF (1 << 6)

typedef struct redisObject {
    unsigned type:4;
    unsigned encoding:4;
    unsigned lru:24;
    int refcount;
    void *ptr;
} robj;

struct redisCommand {
    const char *declared_name;
    int arity;
    uint64_t flags;
    long long calls;
};

typedef struct client {
    uint64_t id;
    int argc;
    robj **argv;
    struct redisCommand *cmd;
    int flags;
    long long woff;
    char name[16];
} client;

struct redisServer {
    long long dirty;
    int aof_fsync;                 /* 0 no, 1 everysec, 2 always */
    long long aof_last_fsync;
    size_t aof_buf_len;
    long long stat_fsyncs;
    char aof_buf[256];
};

struct redisServer server;
int aof_fsync_policy = 1;

static struct redisCommand commands[] = {
    { "set", -3, CMD_WRITE, 0 },
    { "get", 2, 0, 0 },
    { "incr", 2, CMD_WRITE, 0 },
};

NOINLINE long long ustime(void)
{
    struct timeval tv;
    if (gettimeofday(&tv, NULL) != 0)
        return 1;
    return (long long)tv.tv_sec * 1000000 + tv.tv_usec;
}

/* "Writes" len bytes of buf to the AOF; returns the bytes written. */
NOINLINE ssize_t aofWrite(int fd, const char *buf, size_t len)
{
    (void)fd;
    (void)buf;
    return (ssize_t)len;
}

NOINLINE void flushAppendOnlyFile(int force)
{
    if (server.aof_buf_len == 0 || (!force && server.aof_buf_len < sizeof server.aof_buf / 2))
        return;
    aofWrite(3, server.aof_buf, server.aof_buf_len);
    server.aof_buf_len = 0;
    server.stat_fsyncs++;
    server.aof_last_fsync = ustime();
}

static void feedAppendOnlyFile(const char *name)
{
    size_t n = strlen(name);
    if (server.aof_buf_len + n + 1 > sizeof server.aof_buf)
        flushAppendOnlyFile(1);
    memcpy(server.aof_buf + server.aof_buf_len, name, n);
    server.aof_buf[server.aof_buf_len + n] = '\n';
    server.aof_buf_len += n + 1;
}

NOINLINE void call(client *c, int flags)
{
    (void)flags;
    c->cmd->calls++;
    if (c->cmd->flags & CMD_WRITE) {
        server.dirty++;
        feedAppendOnlyFile(c->cmd->declared_name);
    }
    if (c->flags & CLIENT_FORCE_AOF)
        flushAppendOnlyFile(1);
}

NOINLINE int processCommand(client *c)
{
    if (c->argc < 1 || c->cmd == NULL)
        return -1;
    call(c, 0);
    return 0;
}

int main(int argc, char **argv)
{
    long n = 1000;
    if (argc > 1) {
        char *end;
        errno = 0;
        n = strtol(argv[1], &end, 10);
        if (errno != 0 || *end != '\0' || n < 0) {
            fprintf(stderr, "redis_like: bad COMMANDS '%s'\n", argv[1]);
            return 2;
        }
    }
    server.aof_fsync = aof_fsync_policy;
    robj key = { 0, 0, 0, 1, "key" };
    robj *args[] = { &key };
    for (long i = 0; i < n; i++) {
        client c;
        memset(&c, 0, sizeof c);
        c.id = (uint64_t)i + 1;
        c.argc = 1;
        c.argv = args;
        c.cmd = &commands[i % 3];
        snprintf(c.name, sizeof c.name, "client-%ld", i % 4);
        if (processCommand(&c) != 0) {
            fprintf(stderr, "redis_like: command %ld failed\n", i);
            return 1;
        }
    }
    printf("commands=%ld dirty=%lld fsyncs=%lld\n", n, server.dirty, server.stat_fsyncs);
    return 0;
}
