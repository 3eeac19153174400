/* Entries whose first bytes the hook planner must handle exactly: a short jcc, a
 * call rel32 and a loop whose branch target lies inside the first 5 bytes. */
    .text
    .globl clamp_double
    .type clamp_double, @function
    .p2align 4
clamp_double:                 /* x < 0 ? 0 : 2x */
    test %edi, %edi
    js 1f
    lea (%rdi,%rdi), %eax
    ret
1:  xor %eax, %eax
    ret
    .size clamp_double, .-clamp_double

    .type seven, @function
    .p2align 4
seven:
    mov $7, %eax
    ret
    .size seven, .-seven

    .globl plus_seven
    .type plus_seven, @function
    .p2align 4
plus_seven:                   /* a + b + 7, calling seven() in the first bytes */
    sub $8, %rsp
    call seven
    add $8, %rsp
    add %edi, %eax
    add %esi, %eax
    ret
    .size plus_seven, .-plus_seven

    .globl tri_loop
    .type tri_loop, @function
    .p2align 4
tri_loop:                     /* n + (n-1) + ... + 1 for n >= 1; loop target at +2 */
    xor %eax, %eax
2:  add %edi, %eax
    dec %edi
    jnz 2b
    ret
    .size tri_loop, .-tri_loop

    .section .note.GNU-stack,"",@progbits
