# reason: null check missing
# policy: eim
# extern: host_alloc
mov %r1, 16
call kfunc 0
stb [%r0+0], 1
mov %r0, 0
exit
