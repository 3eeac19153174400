# reason: cannot be used with bpf_ringbuf_output
# map: values hash 4 8 16
stdw [%r10-8], 0
lddw %r1, map_idx(0)
mov %r2, %r10
add %r2, -8
mov %r3, 8
mov %r4, 0
call bpf_ringbuf_output
mov %r0, 0
exit
