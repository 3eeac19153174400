# reason: write into read-only map
# map: consts array 4 8 1 0x80
lddw %r1, map_idx_value(0, 0)
stdw [%r1+0], 1
mov %r0, 0
exit
