/* Entries whose first bytes the hook planner must handle exactly. Each computes
 * a + b (for a >= 0, b >= 1), like the C targets, so the same drivers check them. */
    .text
    .globl add_jcc
    .type add_jcc, @function
    .p2align 4
add_jcc:                      /* a short jcc in the first 5 bytes */
    test %edi, %edi
    js 1f
    lea (%rdi,%rsi), %eax
    ret
1:  xor %eax, %eax
    ret
    .size add_jcc, .-add_jcc

    .type zero, @function
    .p2align 4
zero:
    xor %eax, %eax
    ret
    .size zero, .-zero

    .globl add_call
    .type add_call, @function
    .p2align 4
add_call:                     /* a call rel32 in the first bytes */
    sub $8, %rsp
    call zero
    add $8, %rsp
    add %edi, %eax
    add %esi, %eax
    ret
    .size add_call, .-add_call

    .globl add_loop
    .type add_loop, @function
    .p2align 4
add_loop:                     /* a branch target at +2: no jmp fits, int3 it is */
    mov %edi, %eax
2:  inc %eax
    dec %esi
    jnz 2b
    ret
    .size add_loop, .-add_loop

    .globl add_tiny
    .type add_tiny, @function
    .p2align 4
add_tiny:                     /* 4 bytes with no fill after them: int3 as well */
    lea (%rdi,%rsi), %eax
    ret
    .size add_tiny, .-add_tiny
    .globl add_tiny_next
    .type add_tiny_next, @function
add_tiny_next:
    lea (%rdi,%rsi), %eax
    ret
    .size add_tiny_next, .-add_tiny_next

    .section .note.GNU-stack,"",@progbits
