# reason: unbounded loop
# budget: 20000
ldxdw %r2, [%r1+112]
mov %r3, 0
loop:
add %r3, 1
jlt %r3, %r2, loop
mov %r0, 0
exit
