# reason: unbounded size argument
ldxdw %r2, [%r1+112]
mov %r1, %r10
add %r1, -64
mov %r3, 0
call bpf_probe_read_user
mov %r0, 0
exit
