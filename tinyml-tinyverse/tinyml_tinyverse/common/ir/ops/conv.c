/* C kernels of the conv op family (tinyml_tinyverse.common.ir.ops.conv); sections <precision>_<name>. */

/* @section int8_conv_packed */
typedef struct {
    int32_t cin, ih, iw, cout, oh, ow, kh, kw, sh, sw, pt, pl, dh, dw, groups;
    int32_t in_zp, out_zp, act_min, act_max, wbits;
    const uint8_t *w;
    const int32_t *bias, *mult; /* mult 0: every multiplier is 2^30 (power-of-two scales) */
    const int8_t *shift;
} tm_conv_packed_t;

static void tm_conv_packed(const tm_conv_packed_t *p, const int8_t *x, int8_t *y)
{
    const int32_t cin_g = p->cin / p->groups;
    const int32_t cout_g = p->cout / p->groups;
    const int32_t plane = p->ih * p->iw;
    const int32_t ksize = p->kh * p->kw;
    const int32_t one_d = p->kw == 1 && p->iw == 1 && p->ow == 1 && p->pl == 0; /* no W padding */
    const int32_t in_zp = p->in_zp;
    const int32_t dh = p->dh;
    int32_t oc, oy, ox, ic, ky, kx;
    for (oc = 0; oc < p->cout; ++oc) {
        const int8_t *xg = x + (oc / cout_g) * cin_g * plane;
        int8_t *yo = y + oc * p->oh * p->ow;
        for (oy = 0; oy < p->oh; ++oy) {
            const int32_t iy0 = oy * p->sh - p->pt;
            const int32_t ky0 = tm_kfirst(iy0, p->dh);
            const int32_t ky1 = tm_klast(iy0, p->ih, p->kh, p->dh);
            for (ox = 0; ox < p->ow; ++ox) {
                const int32_t ix0 = ox * p->sw - p->pl;
                const int32_t kx0 = tm_kfirst(ix0, p->dw);
                const int32_t kx1 = tm_klast(ix0, p->iw, p->kw, p->dw);
                int32_t acc = p->bias[oc];
                for (ic = 0; ic < cin_g; ++ic) {
                    const int8_t *xc = xg + ic * plane;
                    const int32_t w0 = (oc * cin_g + ic) * ksize;
                    if (one_d) {
                        for (ky = ky0; ky < ky1; ++ky) {
                            acc += ((int32_t)xc[iy0 + ky * dh] - in_zp) * tm_wget(p->w, w0 + ky, p->wbits);
                        }
                        continue;
                    }
                    for (ky = ky0; ky < ky1; ++ky) {
                        const int8_t *xr = xc + (iy0 + ky * dh) * p->iw + ix0;
                        for (kx = kx0; kx < kx1; ++kx) {
                            acc += ((int32_t)xr[kx * p->dw] - in_zp) * tm_wget(p->w, w0 + ky * p->kw + kx, p->wbits);
                        }
                    }
                }
                yo[oy * p->ow + ox] = tm_sat(tm_requant(acc, p->mult ? p->mult[oc] : 1073741824, p->shift[oc]) + p->out_zp, p->act_min, p->act_max);
            }
        }
    }
}

/* @section int8_conv_transpose */
typedef struct {
    int32_t cin, ih, iw, cout, oh, ow, kh, kw, sh, sw, pt, pl, dh, dw, groups;
    int32_t in_zp, out_zp, act_min, act_max;
    const int8_t *w; /* [cout][cin / groups][kh][kw] */
    const int32_t *bias, *mult; /* mult 0: every multiplier is 2^30 (power-of-two scales) */
    const int8_t *shift;
} tm_conv_transpose_t;

static void tm_conv_transpose(const tm_conv_transpose_t *p, const int8_t *x, int8_t *y)
{
    const int32_t cin_g = p->cin / p->groups;
    const int32_t cout_g = p->cout / p->groups;
    int32_t oc, oy, ox, ic, ky, kx;
    for (oc = 0; oc < p->cout; ++oc) {
        const int32_t c0 = (oc / cout_g) * cin_g;
        for (oy = 0; oy < p->oh; ++oy) {
            for (ox = 0; ox < p->ow; ++ox) {
                int32_t acc = p->bias[oc];
                for (ic = 0; ic < cin_g; ++ic) {
                    const int8_t *xc = x + (c0 + ic) * p->ih * p->iw;
                    const int8_t *wk = p->w + (oc * cin_g + ic) * p->kh * p->kw;
                    for (ky = 0; ky < p->kh; ++ky) {
                        const int32_t ty = oy + p->pt - ky * p->dh;
                        int32_t iy;
                        if (ty < 0 || ty % p->sh != 0) {
                            continue;
                        }
                        iy = ty / p->sh;
                        if (iy >= p->ih) {
                            continue;
                        }
                        for (kx = 0; kx < p->kw; ++kx) {
                            const int32_t tx = ox + p->pl - kx * p->dw;
                            int32_t ix;
                            if (tx < 0 || tx % p->sw != 0) {
                                continue;
                            }
                            ix = tx / p->sw;
                            if (ix >= p->iw) {
                                continue;
                            }
                            acc += ((int32_t)xc[iy * p->iw + ix] - p->in_zp) * (int32_t)wk[ky * p->kw + kx];
                        }
                    }
                }
                y[(oc * p->oh + oy) * p->ow + ox] =
                    tm_sat(tm_requant(acc, p->mult ? p->mult[oc] : 1073741824, p->shift[oc]) + p->out_zp, p->act_min, p->act_max);
            }
        }
    }
}

/* @section float_conv */
typedef struct {
    int32_t cin, ih, iw, cout, oh, ow, kh, kw, sh, sw, pt, pl, dh, dw, groups;
    float act_min, act_max;
    const float *w, *bias;
} tm_conv_t;

static void tm_conv(const tm_conv_t *p, const float *x, float *y)
{
    const int32_t cin_g = p->cin / p->groups;
    const int32_t cout_g = p->cout / p->groups;
    const int32_t plane = p->ih * p->iw;
    const int32_t ksize = p->kh * p->kw;
    const int32_t one_d = p->kw == 1 && p->iw == 1 && p->ow == 1 && p->pl == 0; /* no W padding */
    const int32_t dh = p->dh;
    int32_t oc, oy, ox, ic, ky, kx;
    for (oc = 0; oc < p->cout; ++oc) {
        const float *xg = x + (oc / cout_g) * cin_g * plane;
        const float *wo = p->w + oc * cin_g * ksize;
        float *yo = y + oc * p->oh * p->ow;
        for (oy = 0; oy < p->oh; ++oy) {
            const int32_t iy0 = oy * p->sh - p->pt;
            const int32_t ky0 = tm_kfirst(iy0, p->dh);
            const int32_t ky1 = tm_klast(iy0, p->ih, p->kh, p->dh);
            for (ox = 0; ox < p->ow; ++ox) {
                float acc = p->bias[oc];
                int32_t ix0, kx0, kx1;
                if (one_d) {
                    /* time series (W = 1): one strided dot product per input channel */
                    const int32_t taps = ky1 - ky0;
                    const float *xp = xg + iy0 + ky0 * dh;
                    const float *wp = wo + ky0;
                    int32_t k;
                    for (ic = 0; ic < cin_g; ++ic, xp += plane, wp += ksize) {
                        for (k = 0; k < taps; ++k) {
                            acc += xp[k * dh] * wp[k];
                        }
                    }
                    yo[oy * p->ow + ox] = tm_clampf(acc, p->act_min, p->act_max);
                    continue;
                }
                ix0 = ox * p->sw - p->pl;
                kx0 = tm_kfirst(ix0, p->dw);
                kx1 = tm_klast(ix0, p->iw, p->kw, p->dw);
                for (ic = 0; ic < cin_g; ++ic) {
                    const float *xc = xg + ic * plane;
                    const float *wc = wo + ic * ksize;
                    for (ky = ky0; ky < ky1; ++ky) {
                        const float *xr = xc + (iy0 + ky * dh) * p->iw + ix0;
                        for (kx = kx0; kx < kx1; ++kx) {
                            acc += xr[kx * p->dw] * wc[ky * p->kw + kx];
                        }
                    }
                }
                yo[oy * p->ow + ox] = tm_clampf(acc, p->act_min, p->act_max);
            }
        }
    }
}

/* @section float_conv_transpose */
typedef struct {
    int32_t cin, ih, iw, cout, oh, ow, kh, kw, sh, sw, pt, pl, dh, dw, groups;
    float act_min, act_max;
    const float *w, *bias; /* w: [cout][cin / groups][kh][kw] */
} tm_conv_transpose_t;

static void tm_conv_transpose(const tm_conv_transpose_t *p, const float *x, float *y)
{
    const int32_t cin_g = p->cin / p->groups;
    const int32_t cout_g = p->cout / p->groups;
    int32_t oc, oy, ox, ic, ky, kx;
    for (oc = 0; oc < p->cout; ++oc) {
        const int32_t c0 = (oc / cout_g) * cin_g;
        for (oy = 0; oy < p->oh; ++oy) {
            for (ox = 0; ox < p->ow; ++ox) {
                float acc = p->bias[oc];
                for (ic = 0; ic < cin_g; ++ic) {
                    const float *xc = x + (c0 + ic) * p->ih * p->iw;
                    const float *wk = p->w + (oc * cin_g + ic) * p->kh * p->kw;
                    for (ky = 0; ky < p->kh; ++ky) {
                        const int32_t ty = oy + p->pt - ky * p->dh;
                        int32_t iy;
                        if (ty < 0 || ty % p->sh != 0) {
                            continue;
                        }
                        iy = ty / p->sh;
                        if (iy >= p->ih) {
                            continue;
                        }
                        for (kx = 0; kx < p->kw; ++kx) {
                            const int32_t tx = ox + p->pl - kx * p->dw;
                            int32_t ix;
                            if (tx < 0 || tx % p->sw != 0) {
                                continue;
                            }
                            ix = tx / p->sw;
                            if (ix >= p->iw) {
                                continue;
                            }
                            acc += xc[iy * p->iw + ix] * wk[ky * p->kw + kx];
                        }
                    }
                }
                y[(oc * p->oh + oy) * p->ow + ox] = tm_clampf(acc, p->act_min, p->act_max);
            }
        }
    }
}
