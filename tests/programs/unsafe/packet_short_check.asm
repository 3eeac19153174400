# reason: check against data_end
# context: xdp
ldxw %r2, [%r1+0]
ldxw %r3, [%r1+4]
mov %r4, %r2
add %r4, 4
jgt %r4, %r3, out
ldxw %r0, [%r2+2]
exit
out:
mov %r0, 1
exit
