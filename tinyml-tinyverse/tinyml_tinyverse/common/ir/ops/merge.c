/* C kernels of the merge op family (tinyml_tinyverse.common.ir.ops.merge); sections <precision>_<name>. */

/* @section int8_concat */
/* copy one input of a concat into its slot of the output, rescaled to the output's scale */
static void tm_concat_part(const int8_t *x, int8_t *y, int32_t outer, int32_t inner, int32_t out_inner,
                           int32_t offset, int32_t zp, int32_t mult, int32_t shift, int32_t out_zp)
{
    int32_t o, i;
    for (o = 0; o < outer; ++o) {
        for (i = 0; i < inner; ++i) {
            y[o * out_inner + offset + i] = tm_sat(tm_requant((int32_t)x[o * inner + i] - zp, mult, shift) + out_zp, -128, 127);
        }
    }
}

/* @section float_concat */
static void tm_concat_part(const float *x, float *y, int32_t outer, int32_t inner, int32_t out_inner, int32_t offset)
{
    int32_t o, i;
    for (o = 0; o < outer; ++o) {
        for (i = 0; i < inner; ++i) {
            y[o * out_inner + offset + i] = x[o * inner + i];
        }
    }
}
