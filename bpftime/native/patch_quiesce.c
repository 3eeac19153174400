/* Waiting until no other thread is stopped inside a range of code.
 *
 * Before the tail of a jmp patch is written, the entry already holds int3, so no
 * thread can newly enter the range; but a thread may have been preempted after the
 * first displaced instruction and would resume in the middle of the new bytes. A
 * thread blocked in the kernel shows its user pc in /proc/self/task/TID/syscall; a
 * thread running user code is asked with a real-time signal whose handler reports
 * the interrupted pc. Only running threads are signalled, so threads sleeping in
 * system calls see no EINTR. */
#define _GNU_SOURCE
#include "hook_quiesce.h"
#include "api.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#define MAX_TASKS 4096
#define PATIENCE_NS 3000000000ULL /* give up after 3 s */
#define ROUND_NS 1000000L          /* looks at every thread, 1 ms apart */
#define ACK_POLLS 250              /* a look waits up to 50 ms for the answers */
#define ACK_POLL_NS 200000L

enum task_state { TASK_OUTSIDE, TASK_INSIDE, TASK_RUNNING };

/* Process-wide, used only under the patcher's lock. The handler stays installed
 * once installed: a probe answered late must not meet the default action (which
 * for a real-time signal kills the process). */
static struct {
    uint64_t lo, hi;
    int acks;
    int inside;
    int pending; /* our signals not yet handled */
    int round;   /* carried by each signal: late answers to old rounds are ignored */
    int installed;
    struct sigaction previous;
} probe;

static int probe_signal(void) { return SIGRTMAX - 2; }

/* Claims one of our outstanding signals; 0 if none is outstanding. */
static int take_pending(void)
{
    int p = __atomic_load_n(&probe.pending, __ATOMIC_ACQUIRE);
    while (p > 0)
        if (__atomic_compare_exchange_n(&probe.pending, &p, p - 1, 0, __ATOMIC_ACQ_REL,
                                        __ATOMIC_ACQUIRE))
            return 1;
    return 0;
}

static void on_probe(int sig, siginfo_t *info, void *context)
{
    int ours = info->si_code == SI_QUEUE && info->si_pid == getpid() && take_pending();
    if (!ours) {
        if (probe.previous.sa_flags & SA_SIGINFO)
            probe.previous.sa_sigaction(sig, info, context);
        else if (probe.previous.sa_handler != SIG_IGN && probe.previous.sa_handler != SIG_DFL)
            probe.previous.sa_handler(sig);
        return;
    }
    if (info->si_value.sival_int != __atomic_load_n(&probe.round, __ATOMIC_ACQUIRE))
        return;
    uint64_t rip = (uint64_t)((ucontext_t *)context)->uc_mcontext.gregs[REG_RIP];
    if (rip > probe.lo && rip < probe.hi)
        __atomic_store_n(&probe.inside, 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&probe.acks, 1, __ATOMIC_RELEASE);
}

/* From /proc/self/task/TID/syscall: "NR args… sp pc" in a system call, "-1 sp pc"
 * blocked otherwise, "running" when on a CPU or runnable. */
static enum task_state task_state(int tid, uint64_t lo, uint64_t hi)
{
    char path[64], buf[256];
    snprintf(path, sizeof(path), "/proc/self/task/%d/syscall", tid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return TASK_OUTSIDE; /* the thread has exited */
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    (void)close(fd); /* read-only: nothing to flush */
    if (n <= 0)
        return TASK_RUNNING;
    buf[n] = 0;
    char *last = strrchr(buf, ' ');
    if (strncmp(buf, "running", 7) == 0 || !last)
        return TASK_RUNNING;
    uint64_t pc = strtoull(last + 1, NULL, 0);
    return pc > lo && pc < hi ? TASK_INSIDE : TASK_OUTSIDE;
}

static void pause_round(void)
{
    struct timespec ts = {0, ROUND_NS};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* Send thread tid the probe signal, tagged with the current round. */
static int ask(int tid)
{
    siginfo_t si;
    memset(&si, 0, sizeof(si));
    si.si_signo = probe_signal();
    si.si_code = SI_QUEUE;
    si.si_pid = getpid();
    si.si_uid = getuid();
    si.si_value.sival_int = __atomic_load_n(&probe.round, __ATOMIC_ACQUIRE);
    return (int)syscall(SYS_rt_tgsigqueueinfo, getpid(), tid, probe_signal(), &si);
}

/* One look at every other thread: 0 all outside, 1 some inside or unknown. */
static int look(uint64_t lo, uint64_t hi, int *failed_tid)
{
    DIR *dir = opendir("/proc/self/task");
    if (!dir)
        return -1;
    int self = (int)syscall(SYS_gettid), sent = 0, busy = 0;
    __atomic_add_fetch(&probe.round, 1, __ATOMIC_RELEASE);
    __atomic_store_n(&probe.acks, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&probe.inside, 0, __ATOMIC_RELAXED);
    struct dirent *d;
    while ((d = readdir(dir)) != NULL) {
        int tid = atoi(d->d_name);
        if (tid <= 0 || tid == self)
            continue;
        enum task_state st = task_state(tid, lo, hi);
        if (st == TASK_INSIDE) {
            busy = 1;
            *failed_tid = tid;
        } else if (st == TASK_RUNNING) {
            __atomic_add_fetch(&probe.pending, 1, __ATOMIC_ACQ_REL);
            if (ask(tid) == 0) {
                sent++;
                *failed_tid = tid;
            } else {
                /* ESRCH: the thread has exited. Otherwise (EAGAIN: the signal queue is
                 * full, say) where it runs is unknown: look again. */
                if (errno != ESRCH) {
                    busy = 1;
                    *failed_tid = tid;
                }
                __atomic_sub_fetch(&probe.pending, 1, __ATOMIC_ACQ_REL);
            }
        }
    }
    closedir(dir);
    /* a preempted thread answers when it next runs: on a loaded machine that can take
     * a few time slices */
    for (int wait = 0; wait < ACK_POLLS && __atomic_load_n(&probe.acks, __ATOMIC_ACQUIRE) < sent;
         wait++) {
        struct timespec ts = {0, ACK_POLL_NS};
        nanosleep(&ts, NULL);
    }
    if (__atomic_load_n(&probe.acks, __ATOMIC_ACQUIRE) < sent)
        busy = 1; /* someone did not answer (signal blocked, or slow): look again */
    return busy || __atomic_load_n(&probe.inside, __ATOMIC_RELAXED);
}

int bpftime_wait_outside(uint64_t lo, uint64_t hi, char *err, size_t err_len)
{
    if (!probe.installed) {
        struct sigaction sa;
        memset(&sa, 0, sizeof(sa));
        sa.sa_sigaction = on_probe;
        sa.sa_flags = SA_SIGINFO | SA_RESTART | SA_ONSTACK;
        sigemptyset(&sa.sa_mask);
        if (sigaction(probe_signal(), &sa, &probe.previous) != 0) {
            snprintf(err, err_len, "cannot install the thread probe handler: %s", strerror(errno));
            return -1;
        }
        probe.installed = 1;
    }
    probe.lo = lo;
    probe.hi = hi;
    int rc = 1, tid = 0;
    uint64_t deadline = bpftime_clock_ns(CLOCK_MONOTONIC) + PATIENCE_NS;
    /* the round count bounds the wait too, should the clock be unreadable */
    for (uint64_t rounds = 0;
         rc > 0 && bpftime_clock_ns(CLOCK_MONOTONIC) < deadline && rounds < PATIENCE_NS / ROUND_NS;
         rounds++) {
        rc = look(lo, hi, &tid);
        if (rc < 0)
            break;
        if (rc)
            pause_round();
    }
    if (rc < 0)
        snprintf(err, err_len, "entry %#lx: cannot list this process's threads: %s",
                 (unsigned long)lo, strerror(errno));
    else if (rc)
        snprintf(err, err_len, "entry %#lx: thread %d stayed inside the bytes to patch "
                 "(or did not answer) for 3 s; not patched", (unsigned long)lo, tid);
    return rc ? -1 : 0;
}
