# reason: invalid read of map value (out of bounds)
# map: values hash 4 8 16
stw [%r10-4], 0
mov %r2, %r10
add %r2, -4
lddw %r1, map_idx(0)
call bpf_map_lookup_elem
jeq %r0, 0, out
ldxdw %r0, [%r0+8]
out:
mov %r0, 0
exit
