/* Shared by the stress programs: the address of map NAME in session SESSION, opened
 * in this process; prints why and returns 0 when either is missing. */
#ifndef TESTS_NATIVE_SESSION_MAP_H
#define TESTS_NATIVE_SESSION_MAP_H

#include <stdint.h>
#include <stdio.h>

#include "runtime.h"
#include "session.h"

static uint64_t session_map(const char *session, const char *name)
{
    int err = 0;
    void *base = bpftime_session_open(session, &err);
    if (!base) {
        fprintf(stderr, "cannot open session %s: %d\n", session, err);
        return 0;
    }
    int64_t off = bpftime_session_find_object(base, BPFTIME_OBJ_MAP, name);
    if (off < 0) {
        fprintf(stderr, "no map %s\n", name);
        return 0;
    }
    return (uintptr_t)base + (uint64_t)off;
}

#endif
