# reason: can't be proven across tail calls
# policy: eim
# map: jumps prog_array 4 4 4
lddw %r2, map_idx(0)
mov %r3, 0
call bpf_tail_call
mov %r0, 0
exit
