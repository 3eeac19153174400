# reason: uninitialized stack
ldxdw %r0, [%r10-8]
exit
