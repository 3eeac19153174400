# reason: unreleased reference
# map: events ringbuf 0 0 4096
mov %r1, 4
lddw %r2, func(cb)
mov %r3, 0
mov %r4, 0
call bpf_loop
mov %r0, 0
exit
cb:
lddw %r1, map_idx(0)
mov %r2, 8
mov %r3, 0
call bpf_ringbuf_reserve
mov %r0, 0
exit
