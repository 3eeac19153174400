# reason: infinite recursion
call local f
exit
f:
call local f
exit
