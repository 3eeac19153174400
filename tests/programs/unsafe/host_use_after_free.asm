# reason: released
# policy: eim
# extern: host_alloc
# extern: host_free
mov %r1, 16
call kfunc 0
jeq %r0, 0, out
mov %r6, %r0
mov %r1, %r0
call kfunc 1
stb [%r6+0], 1
out:
mov %r0, 0
exit
