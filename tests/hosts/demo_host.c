/* demo_host: a small multi-threaded host for bpftime's tests.
 *
 * usage: demo_host [N [T]]   (defaults N=1000, T=2)
 * Each of T threads handles N requests; every request goes through
 * process_request(), which calls add(), checksum() and read_counter().
 * Prints one line that a test can check:
 *     calls=N*T sum=S status=X
 * where S is the sum of process_request()'s results and X the sum of
 * the final request statuses.  Without extensions, for request id i:
 *     process_request returns add(i, 1) + checksum(&r, 4) - 4*'0' = (i + 1) + (i % 7)
 *     its status is 200
 * so the output depends only on N and T.  See README.md for the hookable functions.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOINLINE __attribute__((noipa, used))  /* noipa: callers must not be specialised on what GCC sees the callee read */

struct request {
    int32_t id;
    int32_t status;
    char path[24];
    uint64_t bytes;
    struct {
        uint16_t port;
        uint16_t flags;
    } peer;
};

/* Globals the specs name as state capabilities. */
volatile int64_t demo_counter = 0;   /* bumped by read_counter(); read-only grant */
int32_t demo_limit = 4096;           /* writable grant in demo.eim.yaml */
const char demo_banner[16] = "demo_host v1";

/* Too short to patch with a 5-byte jump at -O2 (lea eax,[rdi+rsi]; ret). */
NOINLINE int add(int a, int b)
{
    return a + b;
}

/* Its first instruction (at -O2; after the prologue at -O0) reads demo_limit
 * RIP-relatively: a hook must relocate that displacement. */
NOINLINE int32_t read_limit(void)
{
    return demo_limit;
}

/* Sum of the first n bytes of r's path (n <= sizeof r->path). */
NOINLINE uint64_t checksum(const struct request *r, uint64_t n)
{
    uint64_t s = 0;
    for (uint64_t i = 0; i < n && i < sizeof r->path; i++)
        s += (unsigned char)r->path[i];
    return s;
}

/* Copies n bytes from src to dst and returns dst (a host function extensions may call). */
NOINLINE void *copy_bytes(void *dst, const void *src, uint64_t n)
{
    return memcpy(dst, src, n);
}

/* Increments demo_counter; returns the new value. */
NOINLINE int64_t read_counter(void)
{
    return __atomic_add_fetch(&demo_counter, 1, __ATOMIC_RELAXED);
}

/* The main extension entry: one request. Returns (id + 1) + (id % 7). */
NOINLINE int64_t process_request(struct request *r)
{
    int64_t v = add(r->id, 1) + (int64_t)checksum(r, 4) - 4 * '0';
    r->bytes += (uint64_t)v;
    read_counter();
    if (read_limit() < 0)
        r->status = 500;
    return v;
}

struct worker {
    pthread_t thread;
    long first, n;
    int64_t sum;
    int64_t status;
};

static void *work(void *arg)
{
    struct worker *w = arg;
    for (long i = w->first; i < w->first + w->n; i++) {
        struct request r;
        memset(&r, 0, sizeof r);
        r.id = (int32_t)i;
        r.status = 200;
        r.peer.port = 8080;
        /* path "000k/": the first 4 bytes sum to 4*'0' + (i % 7) */
        snprintf(r.path, sizeof r.path, "000%ld/index", i % 7);
        w->sum += process_request(&r);
        w->status += r.status;
    }
    return NULL;
}

static long arg_or(const char *text, long fallback, const char *what)
{
    if (text == NULL)
        return fallback;
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno != 0 || *end != '\0' || v < 0 || v > 100000000) {
        fprintf(stderr, "demo_host: bad %s '%s'\n", what, text);
        exit(2);
    }
    return v;
}

int main(int argc, char **argv)
{
    long n = arg_or(argc > 1 ? argv[1] : NULL, 1000, "N");
    long t = arg_or(argc > 2 ? argv[2] : NULL, 2, "T");
    if (t < 1 || t > 64) {
        fprintf(stderr, "demo_host: T must be 1..64\n");
        return 2;
    }
    struct worker *ws = calloc((size_t)t, sizeof *ws);
    if (ws == NULL) {
        perror("demo_host: calloc");
        return 1;
    }
    for (long k = 0; k < t; k++) {
        ws[k].first = k * n;
        ws[k].n = n;
        int err = pthread_create(&ws[k].thread, NULL, work, &ws[k]);
        if (err != 0) {
            fprintf(stderr, "demo_host: pthread_create: %s\n", strerror(err));
            return 1;
        }
    }
    int64_t sum = 0, status = 0;
    for (long k = 0; k < t; k++) {
        int err = pthread_join(ws[k].thread, NULL);
        if (err != 0) {
            fprintf(stderr, "demo_host: pthread_join: %s\n", strerror(err));
            return 1;
        }
        sum += ws[k].sum;
        status += ws[k].status;
    }
    free(ws);
    printf("calls=%ld sum=%lld status=%lld\n", n * t, (long long)sum, (long long)status);
    return 0;
}
