# reason: instruction bound over the class's limit
# policy: eim
# limits: instructions=200
mov %r2, 0
loop:
add %r2, 1
jlt %r2, 100, loop
mov %r0, 0
exit
