# reason: unbounded loop
ldxdw %r2, [%r1+112]
loop:
and %r2, 0xff
add %r2, 1
jne %r2, 0, loop
mov %r0, 0
exit
