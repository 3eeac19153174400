# reason: falls off the end of the program
ldxdw %r2, [%r1+112]
mov %r0, 0
jeq %r2, 0, +1
exit
mov %r0, 1
