# reason: performs io
# policy: eim
# extern: host_log
stdw [%r10-8], 0
mov %r1, %r10
add %r1, -8
call kfunc 0
mov %r0, 0
exit
