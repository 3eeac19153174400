# reason: needs the `return` grant
# policy: eim
mov %r2, 0
call bpf_override_return
mov %r0, 0
exit
