/* C kernels of the elementwise op family (tinyml_tinyverse.common.ir.ops.elementwise); sections <precision>_<name>. */

/* @section int8_clamp */
static void tm_clamp(const int8_t *x, int8_t *y, int32_t n, int32_t lo, int32_t hi)
{
    int32_t i;
    for (i = 0; i < n; ++i) {
        y[i] = tm_sat(x[i], lo, hi);
    }
}

/* @section int8_binary */
/* y = a (+ - *) b with numpy broadcasting over 4 dims; strides of 0 repeat an input */
typedef struct {
    int32_t kind; /* 0 add, 1 sub, 2 mul */
    int32_t dims[4], sa[4], sb[4];
    int32_t zp_a, zp_b, mult_a, mult_b, shift, out_zp, act_min, act_max;
} tm_binary_t;

static void tm_binary(const tm_binary_t *p, const int8_t *a, const int8_t *b, int8_t *y)
{
    int32_t i0, i1, i2, i3;
    int32_t k = 0;
    for (i0 = 0; i0 < p->dims[0]; ++i0) {
        for (i1 = 0; i1 < p->dims[1]; ++i1) {
            for (i2 = 0; i2 < p->dims[2]; ++i2) {
                for (i3 = 0; i3 < p->dims[3]; ++i3) {
                    const int32_t va = (int32_t)a[i0 * p->sa[0] + i1 * p->sa[1] + i2 * p->sa[2] + i3 * p->sa[3]] - p->zp_a;
                    const int32_t vb = (int32_t)b[i0 * p->sb[0] + i1 * p->sb[1] + i2 * p->sb[2] + i3 * p->sb[3]] - p->zp_b;
                    int32_t v;
                    if (p->kind == 2) {
                        v = tm_requant((int64_t)va * vb, p->mult_a, p->shift);
                    } else {
                        const int64_t ta = (int64_t)va * p->mult_a;
                        const int64_t tb = (int64_t)vb * p->mult_b;
                        const int64_t acc = p->kind == 0 ? ta + tb : ta - tb;
                        v = (int32_t)((acc + ((int64_t)1 << (p->shift - 1))) >> p->shift);
                    }
                    y[k++] = tm_sat(v + p->out_zp, p->act_min, p->act_max);
                }
            }
        }
    }
}

/* @section float_clamp */
static void tm_clamp(const float *x, float *y, int32_t n, float lo, float hi)
{
    int32_t i;
    for (i = 0; i < n; ++i) {
        y[i] = tm_clampf(x[i], lo, hi);
    }
}

/* @section float_binary */
typedef struct {
    int32_t kind; /* 0 add, 1 sub, 2 mul */
    int32_t dims[4], sa[4], sb[4];
    float act_min, act_max;
} tm_binary_t;

static void tm_binary(const tm_binary_t *p, const float *a, const float *b, float *y)
{
    int32_t i0, i1, i2, i3;
    int32_t k = 0;
    for (i0 = 0; i0 < p->dims[0]; ++i0) {
        for (i1 = 0; i1 < p->dims[1]; ++i1) {
            for (i2 = 0; i2 < p->dims[2]; ++i2) {
                for (i3 = 0; i3 < p->dims[3]; ++i3) {
                    const float va = a[i0 * p->sa[0] + i1 * p->sa[1] + i2 * p->sa[2] + i3 * p->sa[3]];
                    const float vb = b[i0 * p->sb[0] + i1 * p->sb[1] + i2 * p->sb[2] + i3 * p->sb[3]];
                    const float v = p->kind == 0 ? va + vb : (p->kind == 1 ? va - vb : va * vb);
                    y[k++] = tm_clampf(v, p->act_min, p->act_max);
                }
            }
        }
    }
}
