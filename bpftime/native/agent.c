/* The bpftime agent: the native library's constructor when it is preloaded into a
 * host (LD_PRELOAD) or injected (Frida). Without BPFTIME_SESSION in the environment
 * it does nothing at all. With it, it opens that session; the load stage builds the
 * rest (images, hook plans) on top of the opened session. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent_load.h"
#include "session.h"

__attribute__((constructor)) static void agent_start(void)
{
    const char *name = getenv(BPFTIME_SESSION_ENV);
    if (!name || !*name)
        return;
    int err = 0;
    void *session = bpftime_session_open(name, &err);
    if (session)
        bpftime_agent_load(session);
    else
        fprintf(stderr, "bpftime agent: cannot open session %s: %s\n", name, strerror(-err));
}
