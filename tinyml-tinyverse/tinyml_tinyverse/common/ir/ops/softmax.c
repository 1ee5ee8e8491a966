/* C kernels of the softmax op family (tinyml_tinyverse.common.ir.ops.softmax); sections <precision>_<name>. */

/* @section int8_softmax */
/* exp table[d + 255] = round(exp(d * scale) * 65536), d = x - max in [-255, 0]; output scale 1/256, zero point -128 */
static void tm_softmax(const int8_t *x, int8_t *y, int32_t outer, int32_t n, int32_t inner, const int32_t *table)
{
    int32_t o, j, i;
    for (o = 0; o < outer; ++o) {
        for (j = 0; j < inner; ++j) {
            const int8_t *xs = x + o * n * inner + j;
            int8_t *ys = y + o * n * inner + j;
            int32_t m = -128;
            int64_t total = 0;
            for (i = 0; i < n; ++i) {
                m = xs[i * inner] > m ? xs[i * inner] : m;
            }
            for (i = 0; i < n; ++i) {
                total += table[(int32_t)xs[i * inner] - m + 255];
            }
            for (i = 0; i < n; ++i) {
                const int64_t e = table[(int32_t)xs[i * inner] - m + 255];
                ys[i * inner] = tm_sat((int32_t)tm_round_div(e * 256, total) - 128, -128, 127);
            }
        }
    }
}

/* @section float_softmax */
static void tm_softmax(const float *x, float *y, int32_t outer, int32_t n, int32_t inner)
{
    int32_t o, j, i;
    for (o = 0; o < outer; ++o) {
        for (j = 0; j < inner; ++j) {
            const float *xs = x + o * n * inner + j;
            float *ys = y + o * n * inner + j;
            float m = xs[0];
            float total = 0.0f;
            for (i = 1; i < n; ++i) {
                m = xs[i * inner] > m ? xs[i * inner] : m;
            }
            for (i = 0; i < n; ++i) {
                ys[i * inner] = expf(xs[i * inner] - m);
                total += ys[i * inner];
            }
            for (i = 0; i < n; ++i) {
                ys[i * inner] /= total;
            }
        }
    }
}
