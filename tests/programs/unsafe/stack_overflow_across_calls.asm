# reason: stack overflow across calls
stdw [%r10-400], 1
call local f
mov %r0, 0
exit
f:
stdw [%r10-200], 1
mov %r0, 0
exit
