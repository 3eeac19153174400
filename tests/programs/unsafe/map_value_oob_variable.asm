# reason: invalid write of map value (out of bounds)
# map: values hash 4 8 16
ldxdw %r6, [%r1+112]
and %r6, 0xf
stw [%r10-4], 0
mov %r2, %r10
add %r2, -4
lddw %r1, map_idx(0)
call bpf_map_lookup_elem
jeq %r0, 0, out
add %r0, %r6
stb [%r0+0], 1
out:
mov %r0, 0
exit
