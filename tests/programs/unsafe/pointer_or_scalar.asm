# reason: pointer arithmetic with or operator prohibited
mov %r0, 0
or %r0, %r10
exit
