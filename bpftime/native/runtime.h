/* The native runtime's exported API, for C code in or outside this library (the
 * agent, test programs); Python reaches the same functions through ctypes
 * (bpftime/runtime/native.py). Errors are negative errno values unless stated. */
#ifndef BPFTIME_RUNTIME_H
#define BPFTIME_RUNTIME_H

#include <stddef.h>
#include <stdint.h>

#include "api.h"

/* Program images (image.c): RX copy with its link table filled; NULL + errno. */
BPFTIME_API void *bpftime_image_map(const uint8_t *code, size_t len, size_t slots_offset,
                                    const uint64_t *slot_values, size_t n_slots);
BPFTIME_API int bpftime_image_unmap(void *base, size_t len);

/* Sessions (session.c): a session is the base address of its mapping. */
BPFTIME_API void *bpftime_session_create(const char *name, uint64_t size, int *err);
BPFTIME_API void *bpftime_session_open(const char *name, int *err);
BPFTIME_API int bpftime_session_close(void *base);
BPFTIME_API int bpftime_session_unlink(const char *name);
BPFTIME_API void bpftime_session_info(const void *base, int32_t *pid, uint64_t *start,
                                      uint64_t *size, uint32_t *ncpus);
BPFTIME_API int64_t bpftime_session_add_object(void *base, uint32_t kind, const char *name,
                                               uint64_t size);
BPFTIME_API int64_t bpftime_session_find_object(const void *base, uint32_t kind, const char *name);
BPFTIME_API int bpftime_session_object(const void *base, uint32_t index, uint32_t *kind,
                                       uint64_t *offset, uint64_t *size, char *name);
BPFTIME_API int bpftime_session_remove_object(void *base, uint64_t offset);
BPFTIME_API void *bpftime_session_trace_ring(void *session, uint32_t data_size, int *err);

/* Maps (map.c, ring.c): a map is its handle, the address of its header (map.h). */
BPFTIME_API const char *bpftime_map_check(uint32_t type, uint32_t key_size, uint32_t value_size,
                                          uint32_t max_entries);
BPFTIME_API void *bpftime_map_create(void *session, const char *name, uint32_t type,
                                     uint32_t key_size, uint32_t value_size, uint32_t max_entries,
                                     uint32_t flags, uint64_t map_extra, int *err);
BPFTIME_API int bpftime_map_lookup(void *map, const void *key, void *value);
BPFTIME_API int bpftime_map_update(void *map, const void *key, const void *value, uint64_t flags);
BPFTIME_API int bpftime_map_delete(void *map, const void *key);
BPFTIME_API int bpftime_map_pop(void *map, void *value, int remove);
BPFTIME_API int bpftime_map_next_key(void *map, const void *key, void *next);
BPFTIME_API void *bpftime_map_value_address(void *map, const void *key);
BPFTIME_API int bpftime_ring_read(void *map, uint32_t index, void *buf, uint32_t cap, uint32_t *len);
BPFTIME_API uint64_t bpftime_ring_dropped(void *map, uint32_t index);

/* Helpers (helpers.h has each bpftime_helper_NAME) and running a program. */
BPFTIME_API void *bpftime_helper_address(int id);
BPFTIME_API uint64_t bpftime_invoke(void *entry, void *ctx, void *session, uint64_t func_ip,
                                    void *regs, int32_t *override_set, uint64_t *override);

#endif
