# reason: uninitialized stack
# map: values hash 4 8 16
mov %r2, %r10
add %r2, -4
lddw %r1, map_idx(0)
call bpf_map_lookup_elem
mov %r0, 0
exit
