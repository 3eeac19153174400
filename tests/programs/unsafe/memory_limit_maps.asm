# reason: memory over the class's limit
# policy: eim
# map: big hash 8 64 1000
stdw [%r10-8], 0
mov %r2, %r10
add %r2, -8
lddw %r1, map_idx(0)
call bpf_map_lookup_elem
mov %r0, 0
exit
