# reason: pre-condition `delta >= 0`
# policy: eim
# extern: host_adjust
ldxdw %r1, [%r1+96]
and %r1, 0xff
sub %r1, 8
call kfunc 0
mov %r0, 0
exit
