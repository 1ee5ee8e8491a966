/* @section common */
/* THE rounding rule (tinyml_tinyverse/common/quantization/rounding.py): one rounding of the
 * exact 64-bit product, halves rounded up; '>>' on a negative int64_t is an arithmetic shift on
 * gcc, clang, armcc and TI cl2000. */
static inline int32_t tm_requant(int64_t acc, int32_t mult, int32_t shift)
{
    return (int32_t)((acc * mult + ((int64_t)1 << (shift - 1))) >> shift);
}

static inline int8_t tm_sat(int32_t v, int32_t lo, int32_t hi)
{
    return (int8_t)(v < lo ? lo : (v > hi ? hi : v));
}

/* round(a / b) with halves up, b > 0: floor((2a + b) / (2b)) */
static inline int64_t tm_round_div(int64_t a, int64_t b)
{
    const int64_t n = 2 * a + b;
    const int64_t d = 2 * b;
    int64_t q = n / d;
    if ((n % d != 0) && (n < 0)) {
        q -= 1;
    }
    return q;
}

/* first kernel tap k with i0 + k * d >= 0, and one past the last with i0 + k * d < n */
static inline int32_t tm_kfirst(int32_t i0, int32_t d)
{
    if (i0 >= 0) {
        return 0;
    }
    return d == 1 ? -i0 : (-i0 + d - 1) / d;
}

static inline int32_t tm_klast(int32_t i0, int32_t n, int32_t k, int32_t d)
{
    const int32_t last = n - i0 <= 0 ? 0 : (d == 1 ? n - i0 : (n - i0 + d - 1) / d);
    return last < k ? last : k;
}

/* @section conv */
typedef struct {
    int32_t cin, ih, iw, cout, oh, ow, kh, kw, sh, sw, pt, pl, dh, dw, groups;
    int32_t in_zp, out_zp, act_min, act_max;
    const int8_t *w;
    const int32_t *bias, *mult, *shift;
} tm_conv_t;

static void tm_conv(const tm_conv_t *p, const int8_t *x, int8_t *y)
{
    const int32_t cin_g = p->cin / p->groups;
    const int32_t cout_g = p->cout / p->groups;
    const int32_t plane = p->ih * p->iw;
    const int32_t ksize = p->kh * p->kw;
    const int32_t one_d = p->kw == 1 && p->iw == 1;
    const int32_t in_zp = p->in_zp;
    const int32_t dh = p->dh;
    int32_t oc, oy, ox, ic, ky, kx;
    for (oc = 0; oc < p->cout; ++oc) {
        const int8_t *xg = x + (oc / cout_g) * cin_g * plane;
        const int8_t *wo = p->w + oc * cin_g * ksize;
        int8_t *yo = y + oc * p->oh * p->ow;
        for (oy = 0; oy < p->oh; ++oy) {
            const int32_t iy0 = oy * p->sh - p->pt;
            const int32_t ky0 = tm_kfirst(iy0, p->dh);
            const int32_t ky1 = tm_klast(iy0, p->ih, p->kh, p->dh);
            for (ox = 0; ox < p->ow; ++ox) {
                int32_t acc = p->bias[oc];
                int32_t ix0, kx0, kx1;
                if (one_d) {
                    /* time series (W = 1): one strided dot product per input channel */
                    const int32_t taps = ky1 - ky0;
                    const int8_t *xp = xg + iy0 + ky0 * dh;
                    const int8_t *wp = wo + ky0;
                    int32_t k;
                    for (ic = 0; ic < cin_g; ++ic, xp += plane, wp += ksize) {
                        if (dh == 1) {
                            for (k = 0; k < taps; ++k) {
                                acc += ((int32_t)xp[k] - in_zp) * (int32_t)wp[k];
                            }
                        } else {
                            for (k = 0; k < taps; ++k) {
                                acc += ((int32_t)xp[k * dh] - in_zp) * (int32_t)wp[k];
                            }
                        }
                    }
                    yo[oy * p->ow + ox] = tm_sat(tm_requant(acc, p->mult[oc], p->shift[oc]) + p->out_zp, p->act_min, p->act_max);
                    continue;
                }
                ix0 = ox * p->sw - p->pl;
                kx0 = tm_kfirst(ix0, p->dw);
                kx1 = tm_klast(ix0, p->iw, p->kw, p->dw);
                for (ic = 0; ic < cin_g; ++ic) {
                    const int8_t *xc = xg + ic * plane;
                    const int8_t *wc = wo + ic * ksize;
                    for (ky = ky0; ky < ky1; ++ky) {
                        const int8_t *xr = xc + (iy0 + ky * dh) * p->iw + ix0;
                        for (kx = kx0; kx < kx1; ++kx) {
                            acc += ((int32_t)xr[kx * p->dw] - in_zp) * wc[ky * p->kw + kx];
                        }
                    }
                }
                yo[oy * p->ow + ox] = tm_sat(tm_requant(acc, p->mult[oc], p->shift[oc]) + p->out_zp, p->act_min, p->act_max);
            }
        }
    }
}

/* @section packed */
/* weight i of a tensor packed at 4 or 2 bits (two's complement, lowest bits first) */
static inline int32_t tm_wget(const uint8_t *w, int32_t i, int32_t bits)
{
    int32_t v;
    if (bits == 4) {
        v = (w[i >> 1] >> ((i & 1) * 4)) & 15;
        return v > 7 ? v - 16 : v;
    }
    v = (w[i >> 2] >> ((i & 3) * 2)) & 3;
    return v > 1 ? v - 4 : v;
}

/* @section conv_packed */
typedef struct {
    int32_t cin, ih, iw, cout, oh, ow, kh, kw, sh, sw, pt, pl, dh, dw, groups;
    int32_t in_zp, out_zp, act_min, act_max, wbits;
    const uint8_t *w;
    const int32_t *bias, *mult, *shift;
} tm_conv_packed_t;

static void tm_conv_packed(const tm_conv_packed_t *p, const int8_t *x, int8_t *y)
{
    const int32_t cin_g = p->cin / p->groups;
    const int32_t cout_g = p->cout / p->groups;
    const int32_t plane = p->ih * p->iw;
    const int32_t ksize = p->kh * p->kw;
    const int32_t one_d = p->kw == 1 && p->iw == 1;
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
                yo[oy * p->ow + ox] = tm_sat(tm_requant(acc, p->mult[oc], p->shift[oc]) + p->out_zp, p->act_min, p->act_max);
            }
        }
    }
}

/* @section conv_transpose */
typedef struct {
    int32_t cin, ih, iw, cout, oh, ow, kh, kw, sh, sw, pt, pl, dh, dw, groups;
    int32_t in_zp, out_zp, act_min, act_max;
    const int8_t *w; /* [cout][cin / groups][kh][kw] */
    const int32_t *bias, *mult, *shift;
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
                    tm_sat(tm_requant(acc, p->mult[oc], p->shift[oc]) + p->out_zp, p->act_min, p->act_max);
            }
        }
    }
}

/* @section dense */
typedef struct {
    int32_t rows, k, n, in_zp, out_zp, act_min, act_max;
    const int8_t *w; /* [n][k] */
    const int32_t *bias, *mult, *shift;
} tm_dense_t;

static void tm_dense(const tm_dense_t *p, const int8_t *x, int8_t *y)
{
    int32_t r, o, i;
    for (r = 0; r < p->rows; ++r) {
        const int8_t *xr = x + r * p->k;
        for (o = 0; o < p->n; ++o) {
            const int8_t *wr = p->w + o * p->k;
            int32_t acc = p->bias[o];
            for (i = 0; i < p->k; ++i) {
                acc += ((int32_t)xr[i] - p->in_zp) * (int32_t)wr[i];
            }
            y[r * p->n + o] = tm_sat(tm_requant(acc, p->mult[o], p->shift[o]) + p->out_zp, p->act_min, p->act_max);
        }
    }
}

/* @section dense_packed */
typedef struct {
    int32_t rows, k, n, in_zp, out_zp, act_min, act_max, wbits;
    const uint8_t *w; /* [n][k] packed */
    const int32_t *bias, *mult, *shift;
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
            y[r * p->n + o] = tm_sat(tm_requant(acc, p->mult[o], p->shift[o]) + p->out_zp, p->act_min, p->act_max);
        }
    }
}

/* @section pool */
typedef struct {
    int32_t c, ih, iw, oh, ow, kh, kw, sh, sw, pt, pl, pb, pr, zp, count_include_pad;
} tm_pool_t;

/* @section maxpool */
static void tm_maxpool(const tm_pool_t *p, const int8_t *x, int8_t *y)
{
    int32_t c, oy, ox, ky, kx;
    for (c = 0; c < p->c; ++c) {
        const int8_t *xc = x + c * p->ih * p->iw;
        for (oy = 0; oy < p->oh; ++oy) {
            for (ox = 0; ox < p->ow; ++ox) {
                int32_t m = -128;
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
                y[(c * p->oh + oy) * p->ow + ox] = (int8_t)m;
            }
        }
    }
}

/* @section avgpool */
static void tm_avgpool(const tm_pool_t *p, const int8_t *x, int8_t *y)
{
    int32_t c, oy, ox, ky, kx;
    for (c = 0; c < p->c; ++c) {
        const int8_t *xc = x + c * p->ih * p->iw;
        for (oy = 0; oy < p->oh; ++oy) {
            for (ox = 0; ox < p->ow; ++ox) {
                int32_t sum = 0;
                int32_t count = 0;
                for (ky = 0; ky < p->kh; ++ky) {
                    const int32_t iy = oy * p->sh - p->pt + ky;
                    for (kx = 0; kx < p->kw; ++kx) {
                        const int32_t ix = ox * p->sw - p->pl + kx;
                        if (iy >= 0 && iy < p->ih && ix >= 0 && ix < p->iw) {
                            sum += (int32_t)xc[iy * p->iw + ix] - p->zp;
                            count += 1;
                        } else if (p->count_include_pad && iy < p->ih + p->pb && ix < p->iw + p->pr) {
                            count += 1;
                        }
                    }
                }
                y[(c * p->oh + oy) * p->ow + ox] = tm_sat((int32_t)tm_round_div(sum, count) + p->zp, -128, 127);
            }
        }
    }
}

/* @section clamp */
static void tm_clamp(const int8_t *x, int8_t *y, int32_t n, int32_t lo, int32_t hi)
{
    int32_t i;
    for (i = 0; i < n; ++i) {
        y[i] = tm_sat(x[i], lo, hi);
    }
}

/* @section lut */
static void tm_lut(const int8_t *x, int8_t *y, int32_t n, const int8_t *table)
{
    int32_t i;
    for (i = 0; i < n; ++i) {
        y[i] = table[(int32_t)x[i] + 128];
    }
}

/* @section softmax */
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

/* @section binary */
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

/* @section concat */
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

/* @section resize */
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

/* @section transpose */
/* y[i0][i1][i2][i3] = x[sum(ik * strides[k])]: a permutation (Transpose) or a strided view (Slice);
 * dims are the output's (padded to 4) */
static void tm_transpose(const int8_t *x, int8_t *y, const int32_t *dims, const int32_t *strides)
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

/* @section pad */
static void tm_pad(const int8_t *x, int8_t *y, int32_t c, int32_t ih, int32_t iw, int32_t oh, int32_t ow, int32_t pt,
                   int32_t pl, int8_t value)
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
