# reason: invalid read of stack off=0
ldxdw %r0, [%r10+0]
exit
