# reason: context is read-only
stdw [%r1+112], 0
mov %r0, 0
exit
