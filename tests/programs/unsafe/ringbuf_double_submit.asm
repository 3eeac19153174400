# reason: after submit/discard
# map: events ringbuf 0 0 4096
lddw %r1, map_idx(0)
mov %r2, 16
mov %r3, 0
call bpf_ringbuf_reserve
jeq %r0, 0, out
mov %r6, %r0
mov %r1, %r0
mov %r2, 0
call bpf_ringbuf_submit
mov %r1, %r6
mov %r2, 0
call bpf_ringbuf_discard
out:
mov %r0, 0
exit
