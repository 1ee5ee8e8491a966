/* Minimal bare-metal start-up for one inference under the Cortex-M emulator (tinyml_tinyverse):
 * the vector table holds the initial stack pointer and the reset handler, which copies .data
 * from flash, clears .bss, enables the FPU where the core has one, and calls main(). The
 * emulator counts the instructions executed between tm_emu_begin() and tm_emu_end(). */
#include <stdint.h>

extern uint32_t _sidata[], _sdata[], _edata[], _sbss[], _ebss[], _estack[];
int main(void);
void tm_emu_reset(void);

__attribute__((section(".vectors"), used)) const void *const tm_emu_vectors[2] = {
    _estack, (const void *)tm_emu_reset};

void tm_emu_begin(void) {}
void tm_emu_end(void) {}

void tm_emu_halt(void)
{
    for (;;) {
    }
}

void tm_emu_reset(void)
{
    uint32_t *src = _sidata;
    uint32_t *dst = _sdata;
    while (dst < _edata) {
        *dst++ = *src++;
    }
    for (dst = _sbss; dst < _ebss;) {
        *dst++ = 0u;
    }
#if defined(__ARM_FP)
    *(volatile uint32_t *)0xE000ED88u |= 0xFu << 20; /* CPACR: full access to CP10 and CP11 */
#endif
    (void)main();
    tm_emu_halt();
}
