/* C helpers shared by the op families (tinyml_tinyverse.common.ir.c_emit.CEmitter.need_common): sections <precision>_<name>, or any_<name> for both precisions. */

/* @section int8_common */
/* THE rounding rule (tinyml_tinyverse/common/ir/rounding.py): one rounding of the exact 64-bit
 * product, halves rounded up; '>>' on a negative int64_t is an arithmetic shift on gcc, clang,
 * armcc and TI cl2000. The layers use cheaper forms of the same rule where the generator proves
 * them equal (a rounding shift for power-of-two scales, the high word of the product for shifts
 * of 33 or more). */
static inline int32_t tm_requant(int64_t acc, int32_t mult, int32_t shift)
{
    return (int32_t)((acc * mult + ((int64_t)1 << (shift - 1))) >> shift);
}

static inline int8_t tm_sat(int32_t v, int32_t lo, int32_t hi)
{
    return (int8_t)(v < lo ? lo : (v > hi ? hi : v));
}

/* round(a / b) with halves up, b > 0: floor((2a + b) / (2b)) */
static inline int64_t tm_round_div(int64_t a, int64_t b)
{
    const int64_t n = 2 * a + b;
    const int64_t d = 2 * b;
    int64_t q = n / d;
    if ((n % d != 0) && (n < 0)) {
        q -= 1;
    }
    return q;
}


/* round(a / b) with halves up, b > 0, in 32 bits (|2a + b| < 2^31): floor((2a + b) / (2b)) */
static inline int32_t tm_round_div32(int32_t a, int32_t b)
{
    const int32_t n = 2 * a + b;
    const int32_t d = 2 * b;
    int32_t q = n / d;
    if ((n % d != 0) && (n < 0)) {
        q -= 1;
    }
    return q;
}

/* @section int8_dsp */
/* Cores with the DSP extension (Cortex-M4, M7, M33 with DSP) and GCC-compatible compilers: two
 * 16-bit multiply-accumulates per instruction (SMLAD) on sign-extended byte pairs (SXTB16).
 * Bit for bit the same sums as the plain C loops (the emulator checks it); define TINYML_NO_DSP to
 * build the plain loops instead. */
#if defined(__ARM_FEATURE_DSP) && defined(__GNUC__) && !defined(TINYML_NO_DSP)
#define TM_DSP 1
/* four int8 values as one word, lowest address in the low byte (one unaligned LDR on these cores) */
static inline int32_t tm_read4(const int8_t *p)
{
    return (int32_t)((uint32_t)(uint8_t)p[0] | ((uint32_t)(uint8_t)p[1] << 8) | ((uint32_t)(uint8_t)p[2] << 16) |
                     ((uint32_t)(uint8_t)p[3] << 24));
}

/* bytes 0 and 2 of v as two int16 */
static inline int32_t tm_sxtb16(int32_t v)
{
    int32_t r;
    __asm__("sxtb16 %0, %1" : "=r"(r) : "r"(v));
    return r;
}

/* bytes 1 and 3 of v as two int16 */
static inline int32_t tm_sxtb16_ror8(int32_t v)
{
    int32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(v));
    return r;
}

/* acc + a.lo * b.lo + a.hi * b.hi */
static inline int32_t tm_smlad(int32_t a, int32_t b, int32_t acc)
{
    int32_t r;
    __asm__("smlad %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(acc));
    return r;
}
#else
#define TM_DSP 0
#endif

/* @section int8_packed */
/* weight i of a tensor packed at 4 or 2 bits (two's complement, lowest bits first) */
static inline int32_t tm_wget(const uint8_t *w, int32_t i, int32_t bits)
{
    int32_t v;
    if (bits == 4) {
        v = (w[i >> 1] >> ((i & 1) * 4)) & 15;
        return v > 7 ? v - 16 : v;
    }
    v = (w[i >> 2] >> ((i & 3) * 2)) & 3;
    return v > 1 ? v - 4 : v;
}

/* @section float_common */
static inline float tm_clampf(float v, float lo, float hi)
{
    return v < lo ? lo : (v > hi ? hi : v);
}

/* @section any_taps */
/* first kernel tap k with i0 + k * d >= 0, and one past the last with i0 + k * d < n */
static inline int32_t tm_kfirst(int32_t i0, int32_t d)
{
    if (i0 >= 0) {
        return 0;
    }
    return d == 1 ? -i0 : (-i0 + d - 1) / d;
}

static inline int32_t tm_klast(int32_t i0, int32_t n, int32_t k, int32_t d)
{
    const int32_t last = n - i0 <= 0 ? 0 : (d == 1 ? n - i0 : (n - i0 + d - 1) / d);
    return last < k ? last : k;
}
