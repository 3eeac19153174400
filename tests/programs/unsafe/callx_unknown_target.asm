# reason: indirect call
ldxdw %r2, [%r1+112]
call %r2
mov %r0, 0
exit
