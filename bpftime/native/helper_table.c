/* Helper id -> function. */
#include <stddef.h>

#include "helpers.h"
#include "runtime.h"

/* Address of helper `id`, or NULL if the runtime does not implement it. */
BPFTIME_API void *bpftime_helper_address(int id)
{
    switch (id) {
#define CASE(hid, name) case hid: return (void *)bpftime_helper_##name;
        BPFTIME_HELPERS(CASE)
#undef CASE
    }
    return NULL;
}
