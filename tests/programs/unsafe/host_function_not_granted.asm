# reason: host function host_secret is not granted to class eim
# policy: eim
# extern: host_secret
call kfunc 0
mov %r0, 0
exit
