# reason: R0 !read_ok
exit
