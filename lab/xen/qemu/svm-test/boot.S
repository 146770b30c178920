/*
 * Entry, flat GDT, the VMRUN stub and the L2 code snippets of the SVM intercept test.
 * 32-bit protected mode without paging, for L1 and L2 alike: the intercept checks under test do not
 * depend on the mode, and this way no page tables are needed (L2 runs on L1's physical memory).
 */
#define MULTIBOOT_MAGIC 0x1BADB002
#define CODE_SELECTOR 0x08
#define DATA_SELECTOR 0x10

    .section .multiboot, "a"
    .align 4
    .long MULTIBOOT_MAGIC
    .long 0                         /* no flags: QEMU loads the ELF by its program headers */
    .long -MULTIBOOT_MAGIC

    .text
    .code32
    .globl _start
_start:
    cli
    mov $l1_stack_top, %esp
    /* Our own GDT: L2 uses it too, to deliver exceptions through its IDT. */
    lgdt gdt_pointer
    ljmp $CODE_SELECTOR, $1f
1:  mov $DATA_SELECTOR, %ax
    mov %ax, %ds
    mov %ax, %es
    mov %ax, %fs
    mov %ax, %gs
    mov %ax, %ss
    call l1_main
2:  hlt
    jmp 2b

/*
 * void run_l2(uint32_t vmcb): VMRUN until the next #VMEXIT. The #VMEXIT restores only ESP, EAX, EIP,
 * EFLAGS and the segment and control registers of L1; the callee-saved registers are ours to keep.
 */
    .globl run_l2
run_l2:
    push %ebp
    push %ebx
    push %esi
    push %edi
    mov 20(%esp), %eax
    vmrun
    pop %edi
    pop %esi
    pop %ebx
    pop %ebp
    ret

/*
 * L2 snippets: each executes the instruction under test, then VMMCALL, which L1 always intercepts, so
 * exit code VMMCALL means "the instruction did not exit".
 */
    .globl l2_read_cr0, l2_read_cr2, l2_read_cr3, l2_read_cr4
    .globl l2_rdtsc, l2_rdtscp, l2_int3, l2_int_3, l2_int_0x21, l2_into, l2_exception_handler
l2_read_cr0:
    mov %cr0, %eax
    vmmcall
l2_read_cr2:
    mov %cr2, %eax
    vmmcall
l2_read_cr3:
    mov %cr3, %eax
    vmmcall
l2_read_cr4:
    mov %cr4, %eax
    vmmcall
l2_rdtsc:
    rdtsc
    vmmcall
l2_rdtscp:
    rdtscp
    vmmcall
l2_int3:
    int3
    vmmcall
l2_int_3:                           /* INT imm8 with 3: an INTn, not the one-byte INT3 */
    .byte 0xcd, 0x03
    vmmcall
l2_int_0x21:
    int $0x21
    vmmcall
l2_into:
    movb $0x7f, %al
    addb $1, %al                    /* 0x7f + 1 overflows: OF=1, so INTO raises #OF */
    into
    vmmcall
/* Every vector of L2's IDT: an exception L1 did not intercept also ends in VMMCALL. */
l2_exception_handler:
    vmmcall

    .section .rodata
    .align 8
gdt:
    .quad 0                         /* null */
    .quad 0x00CF9A000000FFFF        /* CODE_SELECTOR: flat 32-bit code, DPL 0 */
    .quad 0x00CF92000000FFFF        /* DATA_SELECTOR: flat 32-bit data, DPL 0 */
gdt_end:
    .globl gdt_pointer
gdt_pointer:
    .word gdt_end - gdt - 1
    .long gdt

    .bss
    .align 16
    .space 16384
l1_stack_top:

    .section .note.GNU-stack, "", @progbits
