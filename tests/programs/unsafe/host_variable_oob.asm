# reason: out of bounds
# policy: eim
# extern: host_counter
lddw %r1, btf_id(0)
ldxdw %r0, [%r1+8]
mov %r0, 0
exit
