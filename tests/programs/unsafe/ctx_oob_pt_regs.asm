# reason: out-of-bounds context access
ldxdw %r0, [%r1+168]
exit
