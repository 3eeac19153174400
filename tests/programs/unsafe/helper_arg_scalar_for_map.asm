# reason: helper argument of the wrong kind
mov %r1, 0
mov %r2, %r10
add %r2, -8
stdw [%r10-8], 0
call bpf_map_lookup_elem
mov %r0, 0
exit
