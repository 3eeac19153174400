# reason: pre-condition `n <= 64`
# policy: eim
# extern: host_copy
ldxdw %r3, [%r1+96]
and %r3, 0x7f
mov %r1, %r10
add %r1, -128
mov %r2, %r10
add %r2, -128
call kfunc 0
mov %r0, 0
exit
