# reason: out of bounds
# policy: eim
ldxdw %r2, [%r1+112]
ldxdw %r0, [%r2+16]
mov %r0, 0
exit
