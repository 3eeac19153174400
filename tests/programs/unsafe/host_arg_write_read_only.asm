# reason: write through read-only grant
# policy: eim
ldxdw %r2, [%r1+112]
stw [%r2+0], 1
mov %r0, 0
exit
