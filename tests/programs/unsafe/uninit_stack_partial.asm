# reason: uninitialized stack
stw [%r10-8], 1
ldxdw %r0, [%r10-8]
exit
