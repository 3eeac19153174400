/* Functions the hook tests patch, and C "extensions" that count what they see.
 * Built by tests/test_hook_native.py with gcc -O2 -fcf-protection (endbr64 entries). */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>

struct regs { /* struct pt_regs, x86-64 */
    uint64_t r15, r14, r13, r12, bp, bx, r11, r10, r9, r8, ax, cx, dx, si, di;
    uint64_t orig_ax, ip, cs, flags, sp, ss;
};

/* ---- targets ---- */
int global_value; /* 0: add_global(a, b) == a + b unless a test sets it */

/* -O2 leaf with no endbr64: `lea eax,[rdi+rsi]; ret`, 4 bytes. */
__attribute__((noinline, nocf_check)) int add_leaf(int a, int b) { return a + b; }

/* endbr64, then a RIP-relative mov inside the first 5 bytes. */
__attribute__((noinline)) int add_global(int a, int b) { return a + b + global_value; }

/* -O0: endbr64; push rbp; mov rbp,rsp ... */
__attribute__((noinline, optimize("O0"))) int add_o0(int a, int b) { return a + b; }

/* A body with a visible effect, to tell whether it ran. */
int bump_calls;
__attribute__((noinline)) int bump(int a, int b)
{
    __atomic_fetch_add(&bump_calls, 1, __ATOMIC_RELAXED);
    return a + b;
}

/* Recursion through a pointer the compiler cannot see through. */
long sum_to(long n);
long (*volatile sum_to_ptr)(long) = sum_to;
__attribute__((noinline)) long sum_to(long n) { return n <= 0 ? 0 : n + sum_to_ptr(n - 1); }

/* Never hooked: its bytes must stay as the file has them. */
__attribute__((noinline)) int untouched(int a, int b) { return a ^ b; }

/* Arguments and result in xmm registers, which trampolines do not save. */
__attribute__((noinline)) double scale_add(double a, double b) { return a * 2.0 + b; }

/* The benchmark's target. */
__attribute__((noinline)) int bench_target(int a, int b) { return a + b; }

/* ---- extensions ---- */
uint64_t hits;          /* entry programs */
uint64_t ret_hits;      /* return programs */
uint64_t ret_sum;       /* sum of regs->ax seen at return */
uint64_t last_ip, last_func_ip, last_session, last_di, last_si, last_sp_ok, last_ret;
void **(*invocation_fn)(void); /* bpftime_invocation(): its first field is the session */
/* the runtime's helpers (bpftime_helper_override_return, _get_func_ip), set by the test */
typedef uint64_t (*helper_fn)(uint64_t, uint64_t, uint64_t, uint64_t, uint64_t);
helper_fn override_fn, func_ip_fn;
uint64_t override_value = 42;

uint64_t misaligned; /* programs entered with a stack not aligned as System V wants */

/* With a frame pointer, rbp = the stack at the call - 16: 16-aligned iff the caller
 * called with a 16-aligned stack. */
#define CHECK_ALIGNMENT()                                                  \
    do {                                                                   \
        if ((uintptr_t)__builtin_frame_address(0) & 15)                    \
            __atomic_fetch_add(&misaligned, 1, __ATOMIC_RELAXED);          \
    } while (0)

uint64_t count_prog(void *ctx)
{
    (void)ctx;
    __atomic_fetch_add(&hits, 1, __ATOMIC_RELAXED);
    return 0;
}

uint64_t empty_prog(void *ctx) { (void)ctx; return 0; }

uint64_t record_prog(void *ctx)
{
    struct regs *r = ctx;
    CHECK_ALIGNMENT();
    __atomic_fetch_add(&hits, 1, __ATOMIC_RELAXED);
    last_ip = r->ip;
    last_func_ip = func_ip_fn(0, 0, 0, 0, 0);
    last_session = (uint64_t)*invocation_fn();
    last_di = r->di;
    last_si = r->si;
    last_ret = *(uint64_t *)r->sp; /* sp: the caller's rsp at entry, at the return address */
    last_sp_ok = r->cs == 0x33 && r->ss == 0x2b;
    return 0;
}

uint64_t override_prog(void *ctx)
{
    (void)ctx;
    __atomic_fetch_add(&hits, 1, __ATOMIC_RELAXED);
    override_fn((uint64_t)ctx, override_value, 0, 0, 0);
    return 0;
}

uint64_t ret_prog(void *ctx)
{
    struct regs *r = ctx;
    CHECK_ALIGNMENT();
    __atomic_fetch_add(&ret_hits, 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&ret_sum, r->ax, __ATOMIC_RELAXED);
    return 0;
}

/* ---- drivers ---- */
/* Calls add_global once from a known place (the return address lands in here). */
__attribute__((noinline, optimize("no-optimize-sibling-calls"))) int call_add_global(int a, int b)
{
    int (*volatile fn)(int, int) = add_global;
    return fn(a, b);
}

typedef int (*binop)(int, int);
typedef long (*unop)(long);

struct job {
    binop fn;
    unop rec;
    long calls;
    long arg;
    long sum;
    volatile int *stop;
};

static void *worker(void *p)
{
    struct job *j = p;
    long sum = 0;
    for (long i = 0; j->stop ? !*j->stop : i < j->calls; i++) {
        if (j->fn)
            sum += j->fn((int)(i & 1023), 3) - (int)(i & 1023) - 3;
        else
            sum += j->rec(j->arg) - j->arg * (j->arg + 1) / 2;
        if (j->stop)
            j->calls = i + 1;
    }
    j->sum = sum;
    return NULL;
}

static long run(struct job *jobs, int threads)
{
    pthread_t tid[64];
    int started = 0;
    long sum = 0;
    for (; started < threads && started < 64; started++)
        if (pthread_create(&tid[started], NULL, worker, &jobs[started]) != 0)
            break;
    for (int i = 0; i < started; i++) {
        pthread_join(tid[i], NULL);
        sum += jobs[i].sum;
    }
    return started == threads ? sum : -1;
}

/* Calls fn(i, 3) `calls` times in each of `threads` threads; returns the summed
 * deviation from i + 3 (0 when every result was right), -1 if a thread failed. */
long call_binop_threads(binop fn, int threads, long calls)
{
    struct job jobs[64] = {{0}};
    for (int i = 0; i < threads && i < 64; i++)
        jobs[i] = (struct job){.fn = fn, .calls = calls};
    return run(jobs, threads);
}

/* Same with sum_to(arg): the deviation from arg*(arg+1)/2. */
long call_rec_threads(unop fn, int threads, long calls, long arg)
{
    struct job jobs[64] = {{0}};
    for (int i = 0; i < threads && i < 64; i++)
        jobs[i] = (struct job){.rec = fn, .calls = calls, .arg = arg};
    return run(jobs, threads);
}

/* Background callers for live patching: start, then stop (returns the deviation;
 * *calls gets the number of calls made). */
struct hammer {
    pthread_t tid[16];
    struct job jobs[16];
    int threads;
    volatile int stop;
};

struct hammer *hammer_start(binop fn, int threads)
{
    struct hammer *h = calloc(1, sizeof(*h));
    if (!h)
        return NULL;
    for (int i = 0; i < threads && i < 16; i++) {
        h->jobs[i] = (struct job){.fn = fn, .stop = &h->stop};
        if (pthread_create(&h->tid[i], NULL, worker, &h->jobs[i]) != 0)
            break;
        h->threads++;
    }
    return h;
}

long hammer_stop(struct hammer *h, long *calls)
{
    long sum = 0;
    h->stop = 1;
    *calls = 0;
    for (int i = 0; i < h->threads; i++) {
        pthread_join(h->tid[i], NULL);
        sum += h->jobs[i].sum;
        *calls += h->jobs[i].calls;
    }
    free(h);
    return sum;
}

/* n malloc/free pairs (for hooks on libc); returns how many allocations succeeded. */
long malloc_many(long n)
{
    long ok = 0;
    for (long i = 0; i < n; i++) {
        void *volatile p = malloc(16 + (size_t)(i & 255));
        ok += p != NULL;
        free(p);
    }
    return ok;
}

/* In a new thread, mmap and munmap one page: 1 on success. */
static void *map_once(void *out)
{
    void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    *(int *)out = p != MAP_FAILED && munmap(p, 4096) == 0;
    return NULL;
}

int mmap_in_new_thread(void)
{
    pthread_t tid;
    int ok = 0;
    if (pthread_create(&tid, NULL, map_once, &ok) != 0 || pthread_join(tid, NULL) != 0)
        return 0;
    return ok;
}

/* A SIGTRAP handler of the "host", installed over whatever is there, and an int3
 * of the host's own. */
static volatile int host_traps;
static void on_host_trap(int sig) { (void)sig; host_traps++; }

int install_host_trap_handler(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_host_trap;
    sigemptyset(&sa.sa_mask);
    return sigaction(SIGTRAP, &sa, NULL);
}

int host_breakpoint(void)
{
    __asm__ volatile("int3");
    return host_traps;
}

/* ns per call of fn: the best of 25 rounds of n calls (short rounds dodge preemption). */
double ns_per_call(binop fn, long n)
{
    double best = 1e30;
    for (int round = 0; round < 25; round++) {
        struct timespec a, b;
        volatile int sink = 0;
        clock_gettime(CLOCK_MONOTONIC, &a);
        for (long i = 0; i < n; i++)
            sink += fn((int)i, 1);
        clock_gettime(CLOCK_MONOTONIC, &b);
        double ns = ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / n;
        if (ns < best)
            best = ns;
    }
    return best;
}

/* A RIP-relative lea of hidden data right after endbr64. */
__attribute__((visibility("hidden"))) int hidden_table[4] = {10, 20, 30, 40};
__attribute__((noinline)) int *table_addr(void) { return hidden_table; }

/* An extension that leaves errno changed, as a helper's failed system call does. */
uint64_t errno_prog(void *ctx)
{
    (void)ctx;
    __atomic_fetch_add(&hits, 1, __ATOMIC_RELAXED);
    errno = EFAULT;
    return 0;
}

/* errno after fn(1, 2) called with errno = ENOTTY (fn itself leaves errno alone). */
int errno_across(binop fn)
{
    errno = ENOTTY;
    (void)fn(1, 2);
    return errno;
}
