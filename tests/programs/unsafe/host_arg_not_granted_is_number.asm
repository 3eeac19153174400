# reason: invalid mem access 'scalar
ldxdw %r2, [%r1+112]
ldxdw %r0, [%r2+0]
exit
