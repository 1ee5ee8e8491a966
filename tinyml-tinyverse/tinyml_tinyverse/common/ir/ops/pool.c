/* C kernels of the pool op family (tinyml_tinyverse.common.ir.ops.pool); sections <precision>_<name>. */

/* @section float_pool */
typedef struct {
    int32_t c, ih, iw, oh, ow, kh, kw, sh, sw, pt, pl, pb, pr, zp, count_include_pad;
} tm_pool_t;

/* @section float_maxpool */
static void tm_maxpool(const tm_pool_t *p, const float *x, float *y)
{
    int32_t c, oy, ox, ky, kx;
    for (c = 0; c < p->c; ++c) {
        const float *xc = x + c * p->ih * p->iw;
        for (oy = 0; oy < p->oh; ++oy) {
            for (ox = 0; ox < p->ow; ++ox) {
                float m = -3.402823466e+38f;
                for (ky = 0; ky < p->kh; ++ky) {
                    const int32_t iy = oy * p->sh - p->pt + ky;
                    if (iy < 0 || iy >= p->ih) {
                        continue;
                    }
                    for (kx = 0; kx < p->kw; ++kx) {
                        const int32_t ix = ox * p->sw - p->pl + kx;
                        if (ix >= 0 && ix < p->iw && xc[iy * p->iw + ix] > m) {
                            m = xc[iy * p->iw + ix];
                        }
                    }
                }
                y[(c * p->oh + oy) * p->ow + ox] = m;
            }
        }
    }
}

/* @section float_avgpool */
static void tm_avgpool(const tm_pool_t *p, const float *x, float *y)
{
    int32_t c, oy, ox, ky, kx;
    for (c = 0; c < p->c; ++c) {
        const float *xc = x + c * p->ih * p->iw;
        for (oy = 0; oy < p->oh; ++oy) {
            for (ox = 0; ox < p->ow; ++ox) {
                float sum = 0.0f;
                int32_t count = 0;
                for (ky = 0; ky < p->kh; ++ky) {
                    const int32_t iy = oy * p->sh - p->pt + ky;
                    for (kx = 0; kx < p->kw; ++kx) {
                        const int32_t ix = ox * p->sw - p->pl + kx;
                        if (iy >= 0 && iy < p->ih && ix >= 0 && ix < p->iw) {
                            sum += xc[iy * p->iw + ix];
                            count += 1;
                        } else if (p->count_include_pad && iy < p->ih + p->pb && ix < p->iw + p->pr) {
                            count += 1;
                        }
                    }
                }
                y[(c * p->oh + oy) * p->ow + ox] = sum / (float)count;
            }
        }
    }
}
