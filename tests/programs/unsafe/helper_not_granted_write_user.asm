# reason: not granted to class default
stdw [%r10-8], 0
mov %r1, 0
mov %r2, %r10
add %r2, -8
mov %r3, 8
call bpf_probe_write_user
mov %r0, 0
exit
