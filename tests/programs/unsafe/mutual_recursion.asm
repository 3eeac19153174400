# reason: infinite recursion
call local f
exit
f:
call local g
exit
g:
call local f
exit
