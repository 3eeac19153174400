# reason: R1 !read_ok
call bpf_ktime_get_ns
mov %r0, %r1
exit
