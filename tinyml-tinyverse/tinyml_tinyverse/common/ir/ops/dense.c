/* C kernels of the dense op family (tinyml_tinyverse.common.ir.ops.dense); sections <precision>_<name>. */

/* @section int8_dense_packed */
typedef struct {
    int32_t rows, k, n, in_zp, out_zp, act_min, act_max, wbits;
    const uint8_t *w; /* [n][k] packed */
    const int32_t *bias, *mult; /* mult 0: every multiplier is 2^30 (power-of-two scales) */
    const int8_t *shift;
} tm_dense_packed_t;

static void tm_dense_packed(const tm_dense_packed_t *p, const int8_t *x, int8_t *y)
{
    int32_t r, o, i;
    for (r = 0; r < p->rows; ++r) {
        const int8_t *xr = x + r * p->k;
        for (o = 0; o < p->n; ++o) {
            int32_t acc = p->bias[o];
            for (i = 0; i < p->k; ++i) {
                acc += ((int32_t)xr[i] - p->in_zp) * tm_wget(p->w, o * p->k + i, p->wbits);
            }
            y[r * p->n + o] = tm_sat(tm_requant(acc, p->mult ? p->mult[o] : 1073741824, p->shift[o]) + p->out_zp, p->act_min, p->act_max);
        }
    }
}

/* @section float_dense */
typedef struct {
    int32_t rows, k, n;
    float act_min, act_max;
    const float *w, *bias; /* w: [n][k] */
} tm_dense_t;

static void tm_dense(const tm_dense_t *p, const float *x, float *y)
{
    int32_t r, o, i;
    for (r = 0; r < p->rows; ++r) {
        const float *xr = x + r * p->k;
        for (o = 0; o < p->n; ++o) {
            const float *wr = p->w + o * p->k;
            float acc = p->bias[o];
            for (i = 0; i < p->k; ++i) {
                acc += xr[i] * wr[i];
            }
            y[r * p->n + o] = tm_clampf(acc, p->act_min, p->act_max);
        }
    }
}
