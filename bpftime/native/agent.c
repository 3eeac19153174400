/* The bpftime agent: loaded into a host (LD_PRELOAD or Frida), it does nothing
 * unless a session names it. Filled in by the runtime and hook stages. */
#include <stddef.h>

__attribute__((visibility("default"))) int bpftime_native_abi_version(void) { return 1; }
