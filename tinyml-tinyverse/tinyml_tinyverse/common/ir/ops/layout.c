/* C kernels of the layout op family (tinyml_tinyverse.common.ir.ops.layout); sections <precision>_<name>, or any_<name> for both (element type tm_elem_t). */

/* @section any_transpose */
/* y[i0][i1][i2][i3] = x[sum(ik * strides[k])]: a permutation (Transpose) or a strided view (Slice);
 * dims are the output's (padded to 4) */
static void tm_transpose(const tm_elem_t *x, tm_elem_t *y, const int32_t *dims, const int32_t *strides)
{
    int32_t i0, i1, i2, i3;
    int32_t k = 0;
    for (i0 = 0; i0 < dims[0]; ++i0) {
        for (i1 = 0; i1 < dims[1]; ++i1) {
            for (i2 = 0; i2 < dims[2]; ++i2) {
                for (i3 = 0; i3 < dims[3]; ++i3) {
                    y[k++] = x[i0 * strides[0] + i1 * strides[1] + i2 * strides[2] + i3 * strides[3]];
                }
            }
        }
    }
}

/* @section any_pad */
static void tm_pad(const tm_elem_t *x, tm_elem_t *y, int32_t c, int32_t ih, int32_t iw, int32_t oh, int32_t ow, int32_t pt,
                   int32_t pl, tm_elem_t value)
{
    int32_t ch, oy, ox;
    for (ch = 0; ch < c; ++ch) {
        for (oy = 0; oy < oh; ++oy) {
            const int32_t iy = oy - pt;
            for (ox = 0; ox < ow; ++ox) {
                const int32_t ix = ox - pl;
                const int32_t inside = iy >= 0 && iy < ih && ix >= 0 && ix < iw;
                y[(ch * oh + oy) * ow + ox] = inside ? x[(ch * ih + iy) * iw + ix] : value;
            }
        }
    }
}
