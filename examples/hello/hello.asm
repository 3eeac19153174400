# hello.asm: sums the bytes of its input (r1 = input, r2 = its length) and
# returns 0x68656c6c6f ("hello" in ASCII) plus that sum.
#   bpftime run examples/hello/hello.asm               -> 0x68656c6c6f
#   bpftime run examples/hello/hello.asm --mem 010203  -> 0x68656c6c75
    lddw %r0, 0x68656c6c6f
    mov %r3, 0              # index
loop:
    jge %r3, %r2, done
    mov %r4, %r1
    add %r4, %r3
    ldxb %r5, [%r4]
    add %r0, %r5
    add %r3, 1
    ja loop
done:
    exit
