# reason: helper argument of the wrong kind
# map: values hash 4 8 16
mov %r2, 0
lddw %r1, map_idx(0)
call bpf_map_lookup_elem
mov %r0, 0
exit
