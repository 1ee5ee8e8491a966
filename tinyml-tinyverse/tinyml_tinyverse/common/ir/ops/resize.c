/* C kernels of the resize op family (tinyml_tinyverse.common.ir.ops.resize); sections <precision>_<name>. */

/* @section int8_resize */
static void tm_resize(const int8_t *x, int8_t *y, int32_t c, int32_t ih, int32_t iw, int32_t oh, int32_t ow,
                      const int16_t *index_h, const int16_t *index_w)
{
    int32_t ch, oy, ox;
    for (ch = 0; ch < c; ++ch) {
        for (oy = 0; oy < oh; ++oy) {
            for (ox = 0; ox < ow; ++ox) {
                y[(ch * oh + oy) * ow + ox] = x[(ch * ih + index_h[oy]) * iw + index_w[ox]];
            }
        }
    }
}

/* @section float_resize */
static void tm_resize(const float *x, float *y, int32_t c, int32_t ih, int32_t iw, int32_t oh, int32_t ow,
                      const int16_t *index_h, const int16_t *index_w)
{
    int32_t ch, oy, ox;
    for (ch = 0; ch < c; ++ch) {
        for (oy = 0; oy < oh; ++oy) {
            for (ox = 0; ox < ow; ++ox) {
                y[(ch * oh + oy) * ow + ox] = x[(ch * ih + index_h[oy]) * iw + index_w[ox]];
            }
        }
    }
}
