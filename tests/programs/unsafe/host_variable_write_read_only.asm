# reason: write through read-only grant
# policy: eim
# extern: host_counter
lddw %r1, btf_id(0)
stdw [%r1+0], 1
mov %r0, 0
exit
