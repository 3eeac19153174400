# reason: out of bounds of the 512-byte frame
ldxdw %r2, [%r1+112]
and %r2, 0x3ff
mov %r3, %r10
sub %r3, %r2
stb [%r3-1], 0
mov %r0, 0
exit
