/* A host that applies one hook plan to its own executable the way the agent does:
 * dlopen the native library, find the module's bias, install, count, remove.
 * usage: agent_host NATIVE_LIB PLAN_FILE MODULE_PATH THREADS CALLS
 * prints: "hits=N wrong=N restored=0|1 foreign_traps=N"
 * The host has its own SIGTRAP handler, installed before the hook: an int3 of the
 * host's own must still reach it (the agent's handler passes on what is not its). */
#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hook.h"

__attribute__((noinline)) int work(int a, int b) { return a * 3 + b; }

static unsigned long hits;
static uint64_t count(void *ctx)
{
    (void)ctx;
    __atomic_fetch_add(&hits, 1, __ATOMIC_RELAXED);
    return 0;
}

static volatile sig_atomic_t foreign_traps;
static void on_trap(int sig, siginfo_t *info, void *ctx)
{
    (void)sig;
    (void)info;
    (void)ctx;
    foreign_traps++;
}

static long calls;
static int (*volatile target)(int, int) = work;

static void *worker(void *arg)
{
    long wrong = 0;
    for (long i = 0; i < calls; i++)
        wrong += target((int)i & 255, 1) != ((int)i & 255) * 3 + 1;
    *(long *)arg = wrong;
    return NULL;
}

static void *need(void *lib, const char *name)
{
    void *f = dlsym(lib, name);
    if (!f) {
        fprintf(stderr, "agent_host: %s missing\n", name);
        exit(2);
    }
    return f;
}

int main(int argc, char **argv)
{
    if (argc != 6)
        return 2;
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = on_trap;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGTRAP, &sa, NULL) != 0)
        return 2;
    void *lib = dlopen(argv[1], RTLD_NOW);
    FILE *f = fopen(argv[2], "rb");
    static unsigned char plan[1 << 16];
    size_t len = f ? fread(plan, 1, sizeof(plan), f) : 0;
    if (!lib || !len) {
        fprintf(stderr, "agent_host: cannot open %s or %s\n", argv[1], argv[2]);
        return 2;
    }
    fclose(f);
    struct bpftime_hooks *(*hooks_new)(void) = need(lib, "bpftime_hooks_new");
    int (*install)(struct bpftime_hooks *, const void *, size_t, uint64_t, char *, size_t) =
        need(lib, "bpftime_hook_install");
    int (*add)(struct bpftime_hooks *, int, bpftime_prog_fn, int) = need(lib, "bpftime_hook_add_program");
    int (*remove_hook)(struct bpftime_hooks *, int, char *, size_t) = need(lib, "bpftime_hook_remove");
    int64_t (*bias_of)(const char *) = need(lib, "bpftime_module_bias");

    struct bpftime_plan_header h;
    memcpy(&h, plan, sizeof(h));
    int64_t bias = bias_of(argv[3]);
    if (bias < 0) {
        fprintf(stderr, "agent_host: %s is not loaded\n", argv[3]);
        return 2;
    }
    unsigned char *entry = (unsigned char *)(uintptr_t)(bias + (int64_t)h.vaddr);
    if (entry != (unsigned char *)work) {
        fprintf(stderr, "agent_host: bias %#lx + vaddr %#lx != work %p\n", (long)bias,
                (long)h.vaddr, (void *)work);
        return 2;
    }
    char err[256];
    struct bpftime_hooks *set = hooks_new();
    int id = set ? install(set, plan, len, (uint64_t)(uintptr_t)entry, err, sizeof(err)) : -1;
    if (id < 0 || add(set, id, count, 0) != 0) {
        fprintf(stderr, "agent_host: %s\n", id < 0 ? err : "add_program failed");
        return 2;
    }
    int threads = atoi(argv[4]);
    calls = atol(argv[5]);
    pthread_t tid[16];
    long wrong[16] = {0}, total = 0;
    for (int i = 0; i < threads && i < 16; i++)
        if (pthread_create(&tid[i], NULL, worker, &wrong[i]) != 0)
            return 2;
    for (int i = 0; i < threads && i < 16; i++) {
        pthread_join(tid[i], NULL);
        total += wrong[i];
    }
    __asm__ volatile("int3"); /* the host's own breakpoint, while hooks are installed */
    if (remove_hook(set, id, err, sizeof(err)) != 0) {
        fprintf(stderr, "agent_host: %s\n", err);
        return 2;
    }
    const unsigned char *original = plan + sizeof(h) + h.module_len;
    printf("hits=%lu wrong=%ld restored=%d foreign_traps=%d\n", hits, total,
           memcmp(entry, original, h.patch_len) == 0, (int)foreign_traps);
    return 0;
}
