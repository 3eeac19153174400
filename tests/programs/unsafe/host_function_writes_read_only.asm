# reason: write through read-only grant
# policy: eim
# extern: host_copy
ldxdw %r1, [%r1+112]
stdw [%r10-8], 0
mov %r2, %r10
add %r2, -8
mov %r3, 8
call kfunc 0
mov %r0, 0
exit
