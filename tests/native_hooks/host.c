/* A host for live-process resolution tests: calls work() until killed. */
#include <unistd.h>

__attribute__((noinline)) int work(int a, int b) { return a * 3 + b; }

int main(void)
{
    volatile int sink = 0;
    for (;;) {
        sink += work(sink & 7, 1);
        usleep(10000);
    }
}
