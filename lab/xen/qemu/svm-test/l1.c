/*
 * A minimal L1 hypervisor that checks which SVM intercept QEMU's TCG reports for an instruction in L2.
 *
 * For each case it builds a fresh VMCB that intercepts one thing (plus VMMCALL, which ends every L2
 * snippet, and SHUTDOWN), runs one L2 snippet from boot.S and compares the #VMEXIT code with the one
 * AMD's APM vol. 2 prescribes. One line per case on COM1, then isa-debug-exit with the failure count.
 */
#include <stddef.h>
#include <stdint.h>

/* The compiler may call these for struct copies and clears, even freestanding. */
void *memset(void *destination, int value, size_t size)
{
    uint8_t *d = destination;
    while (size--) {
        *d++ = (uint8_t)value;
    }
    return destination;
}

void *memcpy(void *destination, const void *source, size_t size)
{
    uint8_t *d = destination;
    const uint8_t *s = source;
    while (size--) {
        *d++ = *s++;
    }
    return destination;
}

/* --- I/O ---------------------------------------------------------------------------------------- */

#define COM1 0x3f8
#define DEBUG_EXIT_PORT 0xf4   /* -device isa-debug-exit,iobase=0xf4,iosize=0x04 */

static inline void outb(uint16_t port, uint8_t value)
{
    __asm__ volatile("outb %0, %1" : : "a"(value), "Nd"(port));
}

static void print(const char *s)
{
    for (; *s; s++) {
        if (*s == '\n') {
            outb(COM1, '\r');
        }
        outb(COM1, (uint8_t)*s);
    }
}

static void print_hex3(uint32_t value)
{
    static const char digits[] = "0123456789abcdef";
    char text[] = "0x000";
    for (int i = 0; i < 3; i++) {
        text[4 - i] = digits[(value >> (4 * i)) & 0xf];
    }
    print(text);
}

static void print_decimal(uint32_t value)
{
    char text[11];
    int i = sizeof(text) - 1;
    text[i] = 0;
    do {
        text[--i] = (char)('0' + value % 10);
        value /= 10;
    } while (value);
    print(&text[i]);
}

/* --- SVM definitions (AMD APM vol. 2, appendix B and C) ------------------------------------------- */

#define MSR_EFER 0xc0000080
#define EFER_SVME (1u << 12)
#define MSR_VM_HSAVE_PA 0xc0010117

enum exit_code {
    EXIT_READ_CR0 = 0x000,
    EXIT_READ_CR3 = 0x003,
    EXIT_EXCP_BP = 0x043,      /* EXCP_BASE (0x40) + vector 3 */
    EXIT_EXCP_OF = 0x044,      /* EXCP_BASE + vector 4 */
    EXIT_RDTSC = 0x06e,
    EXIT_SWINT = 0x075,        /* INTn */
    EXIT_SHUTDOWN = 0x07f,
    EXIT_VMRUN = 0x080,
    EXIT_VMMCALL = 0x081,
    EXIT_RDTSCP = 0x087,
    EXIT_INVALID = -1,
};

static const char *exit_name(uint32_t code)
{
    switch (code) {
    case EXIT_READ_CR0: return "READ_CR0";
    case EXIT_READ_CR3: return "READ_CR3";
    case EXIT_EXCP_BP: return "EXCP_BP";
    case EXIT_EXCP_OF: return "EXCP_OF";
    case EXIT_RDTSC: return "RDTSC";
    case EXIT_SWINT: return "SWINT";
    case EXIT_SHUTDOWN: return "SHUTDOWN";
    case EXIT_VMMCALL: return "VMMCALL";
    case EXIT_RDTSCP: return "RDTSCP";
    case (uint32_t)EXIT_INVALID: return "INVALID";
    default: return "?";
    }
}

/* The intercept bit of an instruction intercept in the VMCB's two 32-bit intercept vectors, which
 * start at exit code 0x060 (INTR) and are contiguous, so one 64-bit field holds both. */
#define INTERCEPT(exit_code) (1ull << ((exit_code) - 0x060))

struct vmcb_segment {
    uint16_t selector;
    uint16_t attributes;        /* descriptor bits 40-47 and 52-55 */
    uint32_t limit;
    uint64_t base;
};

struct vmcb {
    /* control area */
    uint16_t intercept_cr_reads;             /* 0x000, bit n: MOV from CRn */
    uint16_t intercept_cr_writes;
    uint16_t intercept_dr_reads;
    uint16_t intercept_dr_writes;
    uint32_t intercept_exceptions;           /* 0x008, bit n: exception vector n */
    uint64_t intercept_instructions;         /* 0x00c, see INTERCEPT() */
    uint8_t reserved_0x014[0x058 - 0x014];
    uint32_t asid;                           /* 0x058 */
    uint8_t reserved_0x05c[0x070 - 0x05c];
    uint64_t exit_code;                      /* 0x070 */
    uint8_t reserved_0x078[0x400 - 0x078];
    /* state save area */
    struct vmcb_segment es, cs, ss, ds, fs, gs, gdtr, ldtr, idtr, tr;   /* 0x400 */
    uint8_t reserved_0x4a0[0x4d0 - 0x4a0];
    uint64_t efer;                           /* 0x4d0 */
    uint8_t reserved_0x4d8[0x548 - 0x4d8];
    uint64_t cr4, cr3, cr0, dr7, dr6, rflags, rip;                      /* 0x548 */
    uint8_t reserved_0x580[0x5d8 - 0x580];
    uint64_t rsp;                            /* 0x5d8 */
    uint8_t reserved_0x5e0[0x5f8 - 0x5e0];
    uint64_t rax;                            /* 0x5f8 */
    uint8_t reserved_0x600[0x1000 - 0x600];
} __attribute__((packed, aligned(4096)));

_Static_assert(__builtin_offsetof(struct vmcb, intercept_instructions) == 0x00c, "VMCB layout");
_Static_assert(__builtin_offsetof(struct vmcb, exit_code) == 0x070, "VMCB layout");
_Static_assert(__builtin_offsetof(struct vmcb, efer) == 0x4d0, "VMCB layout");
_Static_assert(__builtin_offsetof(struct vmcb, cr4) == 0x548, "VMCB layout");
_Static_assert(__builtin_offsetof(struct vmcb, rip) == 0x578, "VMCB layout");
_Static_assert(__builtin_offsetof(struct vmcb, rax) == 0x5f8, "VMCB layout");
_Static_assert(sizeof(struct vmcb) == 4096, "VMCB layout");

static inline void wrmsr(uint32_t msr, uint64_t value)
{
    __asm__ volatile("wrmsr" : : "c"(msr), "a"((uint32_t)value), "d"((uint32_t)(value >> 32)));
}

static inline uint64_t rdmsr(uint32_t msr)
{
    uint32_t low, high;
    __asm__ volatile("rdmsr" : "=a"(low), "=d"(high) : "c"(msr));
    return ((uint64_t)high << 32) | low;
}

/* --- L2 ------------------------------------------------------------------------------------------- */

/* boot.S */
extern void run_l2(uint32_t vmcb);
extern char l2_read_cr0[], l2_read_cr2[], l2_read_cr3[], l2_read_cr4[];
extern char l2_rdtsc[], l2_rdtscp[], l2_int3[], l2_int_3[], l2_int_0x21[], l2_into[];
extern char l2_exception_handler[];

#define CODE_SELECTOR 0x08
#define DATA_SELECTOR 0x10
#define FLAT_CODE_ATTRIBUTES 0xc9b  /* present, DPL 0, code read/accessed; 32-bit, 4K granularity */
#define FLAT_DATA_ATTRIBUTES 0xc93  /* present, DPL 0, data read/write/accessed; 32-bit, 4K granularity */

struct idt_gate {
    uint16_t offset_low, selector, type, offset_high;
};
#define INTERRUPT_GATE_32 0x8e00

static struct vmcb vmcb;
static uint8_t host_save_area[4096] __attribute__((aligned(4096)));
static struct idt_gate l2_idt[32];
static uint8_t l2_stack[4096] __attribute__((aligned(16)));

struct descriptor_table_pointer {
    uint16_t limit;
    uint32_t base;
} __attribute__((packed));

static uint32_t read_cr0(void)
{
    uint32_t value;
    __asm__ volatile("mov %%cr0, %0" : "=r"(value));
    return value;
}

/* L2 runs like L1 (same flat segments and GDT, CPL 0, no paging) on its own stack and IDT. */
static void vmcb_init_l2_state(void *code)
{
    struct descriptor_table_pointer gdt;
    __asm__ volatile("sgdt %0" : "=m"(gdt));

    struct vmcb_segment code_segment = {CODE_SELECTOR, FLAT_CODE_ATTRIBUTES, 0xffffffff, 0};
    struct vmcb_segment data_segment = {DATA_SELECTOR, FLAT_DATA_ATTRIBUTES, 0xffffffff, 0};
    vmcb.cs = code_segment;
    vmcb.ds = vmcb.es = vmcb.ss = vmcb.fs = vmcb.gs = data_segment;
    vmcb.gdtr.base = gdt.base;
    vmcb.gdtr.limit = gdt.limit;
    vmcb.idtr.base = (uint32_t)l2_idt;
    vmcb.idtr.limit = sizeof(l2_idt) - 1;
    vmcb.efer = EFER_SVME;                  /* VMRUN's consistency checks require it */
    vmcb.cr0 = read_cr0();
    vmcb.dr7 = 0x400;
    vmcb.dr6 = 0xffff0ff0;
    vmcb.rflags = 0x2;                      /* IF=0: no interrupt ever reaches L2 */
    vmcb.rip = (uint32_t)code;
    vmcb.rsp = (uint32_t)&l2_stack[sizeof(l2_stack)];
}

/* --- The cases ------------------------------------------------------------------------------------ */

struct test_case {
    const char *bug;            /* which bug it shows ("bug1".."bug3"), or "control" */
    const char *what;
    char *l2_code;
    uint16_t intercept_cr_reads;
    uint32_t intercept_exceptions;
    uint64_t intercept_instructions;
    uint32_t expected_exit;
};

static const struct test_case cases[] = {
    /* 1: MOV from CRn is checked against its own CR-read intercept bit */
    {"bug1", "mov %cr2, CR0 reads intercepted", l2_read_cr2, 1u << 0, 0, 0, EXIT_VMMCALL},
    {"bug1", "mov %cr3, CR0 reads intercepted", l2_read_cr3, 1u << 0, 0, 0, EXIT_VMMCALL},
    {"bug1", "mov %cr4, CR0 reads intercepted", l2_read_cr4, 1u << 0, 0, 0, EXIT_VMMCALL},
    {"bug1", "mov %cr3, CR3 reads intercepted", l2_read_cr3, 1u << 3, 0, 0, EXIT_READ_CR3},
    {"control", "mov %cr0, CR0 reads intercepted", l2_read_cr0, 1u << 0, 0, 0, EXIT_READ_CR0},
    /* 2: RDTSCP has its own intercept, and the RDTSC intercept does not apply to it */
    {"bug2", "rdtscp, RDTSCP intercepted", l2_rdtscp, 0, 0, INTERCEPT(EXIT_RDTSCP), EXIT_RDTSCP},
    {"bug2", "rdtscp, RDTSC intercepted", l2_rdtscp, 0, 0, INTERCEPT(EXIT_RDTSC), EXIT_VMMCALL},
    {"control", "rdtsc, RDTSC intercepted", l2_rdtsc, 0, 0, INTERCEPT(EXIT_RDTSC), EXIT_RDTSC},
    /* 3: INT3 and INTO raise #BP and #OF, intercepted as exceptions; only INTn is SWINT */
    {"bug3", "int3, #BP intercepted", l2_int3, 0, 1u << 3, 0, EXIT_EXCP_BP},
    {"bug3", "int3, INTn intercepted", l2_int3, 0, 0, INTERCEPT(EXIT_SWINT), EXIT_VMMCALL},
    {"bug3", "into with OF=1, #OF intercepted", l2_into, 0, 1u << 4, 0, EXIT_EXCP_OF},
    {"control", "int $0x21, INTn intercepted", l2_int_0x21, 0, 0, INTERCEPT(EXIT_SWINT), EXIT_SWINT},
    {"control", "int $3 (CD 03), #BP intercepted", l2_int_3, 0, 1u << 3, 0, EXIT_VMMCALL},
};

static uint32_t run_case(const struct test_case *c)
{
    memset(&vmcb, 0, sizeof(vmcb));
    vmcb.intercept_cr_reads = c->intercept_cr_reads;
    vmcb.intercept_exceptions = c->intercept_exceptions;
    /* VMRUN must be intercepted (else VMRUN fails); SHUTDOWN turns an L2 triple fault into a result. */
    vmcb.intercept_instructions = c->intercept_instructions | INTERCEPT(EXIT_VMRUN)
                                  | INTERCEPT(EXIT_VMMCALL) | INTERCEPT(EXIT_SHUTDOWN);
    vmcb.asid = 1;
    vmcb_init_l2_state(c->l2_code);
    run_l2((uint32_t)&vmcb);
    return (uint32_t)vmcb.exit_code;
}

static int svm_available(void)
{
    uint32_t eax = 0x80000001, ebx, ecx, edx;
    __asm__ volatile("cpuid" : "+a"(eax), "=b"(ebx), "=c"(ecx), "=d"(edx));
    return (ecx >> 2) & 1;
}

void l1_main(void)
{
    print("\n");   /* the firmware's last message ends without one */
    if (!svm_available()) {
        print("ERROR: no SVM in CPUID 0x80000001 (use -cpu EPYC,-monitor)\n");
        outb(DEBUG_EXIT_PORT, 0x7f);
        return;
    }
    wrmsr(MSR_EFER, rdmsr(MSR_EFER) | EFER_SVME);
    wrmsr(MSR_VM_HSAVE_PA, (uint32_t)host_save_area);
    for (unsigned i = 0; i < sizeof(l2_idt) / sizeof(l2_idt[0]); i++) {
        uint32_t handler = (uint32_t)l2_exception_handler;
        l2_idt[i] = (struct idt_gate){(uint16_t)handler, CODE_SELECTOR, INTERRUPT_GATE_32,
                                      (uint16_t)(handler >> 16)};
    }

    uint32_t failures = 0;
    for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct test_case *c = &cases[i];
        uint32_t exit = run_case(c);
        int pass = exit == c->expected_exit;
        failures += !pass;
        print(pass ? "PASS " : "FAIL ");
        print(c->bug);
        print(" ");
        print(c->what);
        print(": exit ");
        print_hex3(exit);
        print(" ");
        print(exit_name(exit));
        print(", expected ");
        print_hex3(c->expected_exit);
        print(" ");
        print(exit_name(c->expected_exit));
        print("\n");
    }
    print("DONE ");
    print_decimal(failures);
    print(" failed\n");
    outb(DEBUG_EXIT_PORT, (uint8_t)failures);   /* QEMU exits with status 2 * failures + 1 */
}
