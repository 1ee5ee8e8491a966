/* C kernels of the resize op family (tinyml_tinyverse.common.ir.ops.resize); sections <precision>_<name>, or any_<name> for both (element type tm_elem_t). */

/* @section any_resize */
static void tm_resize(const tm_elem_t *x, tm_elem_t *y, int32_t c, int32_t ih, int32_t iw, int32_t oh, int32_t ow,
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
