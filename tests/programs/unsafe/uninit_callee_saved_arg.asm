# reason: R3 !read_ok
mov %r1, 1
call local f
mov %r0, 0
exit
f:
mov %r0, %r3
exit
