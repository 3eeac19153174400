/* The demo host of the bpftime examples: a program with a few functions worth
 * extending, each called an exact, known number of times.
 *
 *   demo count N T     call demo_target() exactly N times, split over T threads
 *   demo work N        call demo_work(i) for i = 0..N-1 (cost grows with i % 64)
 *   demo check UID     ask demo_check(UID) whether access is granted (UID 0 only)
 *   demo add A B       print demo_add(A, B) (a leaf too short for a 5-byte jump at -O2)
 *   demo events N      call demo_event(i, name) N times
 *   demo bump N        call demo_bump() N times (its first instruction reads a global
 *                      RIP-relatively)
 *   demo rand N        call libc's rand_r() N times (nothing else in the host calls it)
 *   demo fib N T       compute demo_fib(N) recursively in each of T threads; prints the
 *                      result and the number of demo_fib calls
 *   demo greet N       call demo_greeting() N times (it starts with a RIP-relative lea)
 *   demo bench N       time N calls of demo_target(); print "ns_per_call X"
 *
 * With --hold as the first argument it prints "done" after the work and waits for
 * its standard input to close (so a test can read the maps of a live session).
 * Build: cc -O2 -pthread -o demo demo.c   (any of -O0/-O2, -pie/-no-pie).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* noipa: besides not inlining, GCC must not specialise callers on what it sees the
 * body read (at -O2 it would drop stores to fields the body ignores but an
 * extension reads). */
#define NOINLINE __attribute__((noipa, used))

NOINLINE long demo_target(long x)
{
    __asm__ volatile("" : "+r"(x));
    return x * 2 + 1;
}

NOINLINE long demo_work(long n)
{
    long acc = 0;
    long rounds = 1L << (n % 16);
    for (long i = 0; i < rounds; i++) {
        acc += i ^ n;
        __asm__ volatile("" : "+r"(acc));
    }
    return acc;
}

NOINLINE int demo_check(int uid)
{
    __asm__ volatile("" : "+r"(uid));
    return uid == 0;
}

NOINLINE int demo_add(int a, int b)
{
    return a + b;
}

NOINLINE void demo_event(long id, const char *name)
{
    __asm__ volatile("" : : "r"(id), "r"(name) : "memory");
}

static volatile long bumps;

NOINLINE long demo_bump(void)
{
    return ++bumps;
}

static const char greeting[] = "hello from the demo host";

NOINLINE const char *demo_greeting(void)
{
    return greeting;
}

static long fib_calls;

/* Without no-optimize-sibling-calls GCC turns one of the two recursive calls into a
 * loop, and the function is entered fewer times than it is "called". */
NOINLINE __attribute__((optimize("no-optimize-sibling-calls"))) long demo_fib(long n)
{
    __atomic_fetch_add(&fib_calls, 1, __ATOMIC_RELAXED);
    return n < 2 ? n : demo_fib(n - 1) + demo_fib(n - 2);
}

struct share {
    long first;
    long count;
    long sum;
};

static void *count_thread(void *arg)
{
    struct share *s = arg;
    long sum = 0;
    for (long i = 0; i < s->count; i++)
        sum += demo_target(s->first + i);
    s->sum = sum;
    return NULL;
}

static void *fib_thread(void *arg)
{
    struct share *s = arg;
    s->sum = demo_fib(s->first);
    return NULL;
}

/* Runs `fn` on shares[0..threads) in threads; 0, or 1 if a thread cannot start. */
static int run_threads(void *(*fn)(void *), struct share *shares, long threads)
{
    pthread_t tid[256];
    for (long t = 0; t < threads; t++) {
        int err = pthread_create(&tid[t], NULL, fn, &shares[t]);
        if (err) {
            fprintf(stderr, "demo: pthread_create: %s\n", strerror(err));
            return 1;
        }
    }
    for (long t = 0; t < threads; t++)
        pthread_join(tid[t], NULL);
    return 0;
}

static int run_fib(long n, long threads)
{
    struct share shares[256];
    if (threads < 1 || threads > 256 || n < 0 || n > 40) {
        fprintf(stderr, "demo: fib needs 0 <= N <= 40 and 1 <= T <= 256\n");
        return 2;
    }
    for (long t = 0; t < threads; t++)
        shares[t].first = n;
    if (run_threads(fib_thread, shares, threads))
        return 1;
    for (long t = 1; t < threads; t++)
        if (shares[t].sum != shares[0].sum) {
            printf("fib threads disagree\n");
            return 1;
        }
    printf("fib %ld = %ld calls %ld\n", n, shares[0].sum, fib_calls);
    return 0;
}

static int run_count(long n, long threads)
{
    if (threads < 1 || threads > 256 || n < 0) {
        fprintf(stderr, "demo: count needs N >= 0 and 1 <= T <= 256\n");
        return 2;
    }
    struct share shares[256];
    long first = 0;
    for (long t = 0; t < threads; t++) {
        shares[t].first = first;
        shares[t].count = n / threads + (t < n % threads);
        first += shares[t].count;
    }
    if (run_threads(count_thread, shares, threads))
        return 1;
    long total = 0;
    for (long t = 0; t < threads; t++)
        total += shares[t].sum;
    printf("calls %ld sum %ld\n", n, total);
    return 0;
}

static int run_bench(long n)
{
    struct timespec a, b;
    long sum = 0;
    for (long i = 0; i < n / 10; i++) /* warm up */
        sum += demo_target(i);
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (long i = 0; i < n; i++)
        sum += demo_target(i);
    clock_gettime(CLOCK_MONOTONIC, &b);
    double ns = (b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec);
    printf("ns_per_call %.3f sum %ld\n", n ? ns / n : 0.0, sum);
    return 0;
}

static int dispatch(int argc, char **argv)
{
    if (argc >= 4 && strcmp(argv[1], "count") == 0)
        return run_count(atol(argv[2]), atol(argv[3]));
    if (argc >= 3 && strcmp(argv[1], "work") == 0) {
        long n = atol(argv[2]), acc = 0;
        for (long i = 0; i < n; i++)
            acc += demo_work(i);
        printf("work %ld acc %ld\n", n, acc);
        return 0;
    }
    if (argc >= 3 && strcmp(argv[1], "check") == 0) {
        int ok = demo_check(atoi(argv[2]));
        printf("access %s\n", ok ? "granted" : "denied");
        return ok ? 0 : 3;
    }
    if (argc >= 4 && strcmp(argv[1], "add") == 0) {
        printf("%d\n", demo_add(atoi(argv[2]), atoi(argv[3])));
        return 0;
    }
    if (argc >= 3 && strcmp(argv[1], "events") == 0) {
        static const char *names[] = {"alpha", "beta", "gamma", "delta"};
        long n = atol(argv[2]);
        for (long i = 0; i < n; i++)
            demo_event(i, names[i % 4]);
        printf("events %ld\n", n);
        return 0;
    }
    if (argc >= 3 && strcmp(argv[1], "bump") == 0) {
        long n = atol(argv[2]);
        for (long i = 0; i < n; i++)
            demo_bump();
        printf("bumps %ld\n", bumps);
        return 0;
    }
    if (argc >= 3 && strcmp(argv[1], "rand") == 0) {
        unsigned seed = 1;
        long n = atol(argv[2]), acc = 0;
        for (long i = 0; i < n; i++)
            acc += rand_r(&seed) & 1;
        printf("rand %ld odd %ld\n", n, acc);
        return 0;
    }
    if (argc >= 3 && strcmp(argv[1], "greet") == 0) {
        long n = atol(argv[2]), same = 0;
        for (long i = 0; i < n; i++)
            same += demo_greeting() == greeting;
        printf("%s: %ld of %ld\n", demo_greeting(), same, n);
        return 0;
    }
    if (argc >= 4 && strcmp(argv[1], "fib") == 0)
        return run_fib(atol(argv[2]), atol(argv[3]));
    if (argc >= 3 && strcmp(argv[1], "bench") == 0)
        return run_bench(atol(argv[2]));
    fprintf(stderr, "usage: demo [--hold] count N T | work N | check UID | add A B | "
                    "events N | bump N | rand N | fib N T | greet N | bench N\n");
    return 2;
}

int main(int argc, char **argv)
{
    int hold = argc > 1 && strcmp(argv[1], "--hold") == 0;
    if (hold) {
        argv[1] = argv[0];
        argv++;
        argc--;
    }
    int status = dispatch(argc, argv);
    if (hold) {
        char buf[64];
        printf("done\n");
        fflush(stdout);
        while (read(STDIN_FILENO, buf, sizeof buf) > 0)
            ;
    }
    return status;
}
