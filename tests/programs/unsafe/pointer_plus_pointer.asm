# reason: pointer += pointer prohibited
mov %r0, %r10
add %r0, %r10
mov %r0, 0
exit
