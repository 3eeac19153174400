# reason: out-of-bounds context access
# context: syscall_exit
ldxdw %r0, [%r1+24]
exit
