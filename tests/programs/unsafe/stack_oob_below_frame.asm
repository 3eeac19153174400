# reason: invalid write of stack off=-520
stdw [%r10-520], 1
mov %r0, 0
exit
