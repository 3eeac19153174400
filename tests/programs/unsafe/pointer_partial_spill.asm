# reason: partial spill of pointer
stxw [%r10-8], %r10
mov %r0, 0
exit
