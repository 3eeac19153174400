# reason: unreleased reference
# map: events ringbuf 0 0 4096
lddw %r1, map_idx(0)
mov %r2, 16
mov %r3, 0
call bpf_ringbuf_reserve
jeq %r0, 0, out
stdw [%r0+0], 1
out:
mov %r0, 0
exit
