# reason: violating `nonnull(p)`
# policy: eim
# extern: host_alloc
# extern: host_touch
mov %r1, 16
call kfunc 0
mov %r1, %r0
call kfunc 1
mov %r0, 0
exit
