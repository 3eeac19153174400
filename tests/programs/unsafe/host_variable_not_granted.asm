# reason: host variable host_secret_var is not granted
# policy: eim
# extern: host_secret_var
lddw %r1, btf_id(0)
ldxdw %r0, [%r1+0]
exit
