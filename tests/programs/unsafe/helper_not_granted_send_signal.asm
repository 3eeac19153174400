# reason: not granted to class default
mov %r1, 9
call bpf_send_signal
mov %r0, 0
exit
