# reason: invalid indirect access to stack
mov %r1, %r10
add %r1, -8
mov %r2, 16
mov %r3, 0
call bpf_probe_read_user
mov %r0, 0
exit
