# reason: helper argument of the wrong kind
mov %r1, %r10
call bpf_get_func_ip
mov %r0, 0
exit
