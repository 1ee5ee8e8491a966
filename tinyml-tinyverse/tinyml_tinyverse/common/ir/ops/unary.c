/* C kernels of the unary op family (tinyml_tinyverse.common.ir.ops.unary); sections <precision>_<name>. */

/* @section int8_lut */
static void tm_lut(const int8_t *x, int8_t *y, int32_t n, const int8_t *table)
{
    int32_t i;
    for (i = 0; i < n; ++i) {
        y[i] = table[(int32_t)x[i] + 128];
    }
}

/* @section float_sigmoid */
static void tm_sigmoid(const float *x, float *y, int32_t n)
{
    int32_t i;
    for (i = 0; i < n; ++i) {
        y[i] = 1.0f / (1.0f + expf(-x[i]));
    }
}

/* @section float_tanh */
static void tm_tanh(const float *x, float *y, int32_t n)
{
    int32_t i;
    for (i = 0; i < n; ++i) {
        y[i] = tanhf(x[i]);
    }
}
