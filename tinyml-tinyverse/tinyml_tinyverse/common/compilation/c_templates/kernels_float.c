/* @section common */
static inline float tm_clampf(float v, float lo, float hi)
{
    return v < lo ? lo : (v > hi ? hi : v);
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
    float act_min, act_max;
    const float *w, *bias;
} tm_conv_t;

static void tm_conv(const tm_conv_t *p, const float *x, float *y)
{
    const int32_t cin_g = p->cin / p->groups;
    const int32_t cout_g = p->cout / p->groups;
    const int32_t plane = p->ih * p->iw;
    const int32_t ksize = p->kh * p->kw;
    const int32_t one_d = p->kw == 1 && p->iw == 1;
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

/* @section conv_transpose */
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

/* @section dense */
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

/* @section pool */
typedef struct {
    int32_t c, ih, iw, oh, ow, kh, kw, sh, sw, pt, pl, pb, pr, zp, count_include_pad;
} tm_pool_t;

/* @section maxpool */
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

/* @section avgpool */
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

/* @section clamp */
static void tm_clamp(const float *x, float *y, int32_t n, float lo, float hi)
{
    int32_t i;
    for (i = 0; i < n; ++i) {
        y[i] = tm_clampf(x[i], lo, hi);
    }
}

/* @section sigmoid */
static void tm_sigmoid(const float *x, float *y, int32_t n)
{
    int32_t i;
    for (i = 0; i < n; ++i) {
        y[i] = 1.0f / (1.0f + expf(-x[i]));
    }
}

/* @section tanh */
static void tm_tanh(const float *x, float *y, int32_t n)
{
    int32_t i;
    for (i = 0; i < n; ++i) {
        y[i] = tanhf(x[i]);
    }
}

/* @section softmax */
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

/* @section binary */
typedef struct {
    int32_t kind; /* 0 add, 1 sub, 2 mul */
    int32_t dims[4], sa[4], sb[4];
    float act_min, act_max;
} tm_binary_t;

static void tm_binary(const tm_binary_t *p, const float *a, const float *b, float *y)
{
    int32_t i0, i1, i2, i3;
    int32_t k = 0;
    for (i0 = 0; i0 < p->dims[0]; ++i0) {
        for (i1 = 0; i1 < p->dims[1]; ++i1) {
            for (i2 = 0; i2 < p->dims[2]; ++i2) {
                for (i3 = 0; i3 < p->dims[3]; ++i3) {
                    const float va = a[i0 * p->sa[0] + i1 * p->sa[1] + i2 * p->sa[2] + i3 * p->sa[3]];
                    const float vb = b[i0 * p->sb[0] + i1 * p->sb[1] + i2 * p->sb[2] + i3 * p->sb[3]];
                    const float v = p->kind == 0 ? va + vb : (p->kind == 1 ? va - vb : va * vb);
                    y[k++] = tm_clampf(v, p->act_min, p->act_max);
                }
            }
        }
    }
}

/* @section concat */
static void tm_concat_part(const float *x, float *y, int32_t outer, int32_t inner, int32_t out_inner, int32_t offset)
{
    int32_t o, i;
    for (o = 0; o < outer; ++o) {
        for (i = 0; i < inner; ++i) {
            y[o * out_inner + offset + i] = x[o * inner + i];
        }
    }
}

/* @section resize */
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

/* @section transpose */
/* y[i0][i1][i2][i3] = x[sum(ik * strides[k])]: a permutation (Transpose) or a strided view (Slice);
 * dims are the output's (padded to 4) */
static void tm_transpose(const float *x, float *y, const int32_t *dims, const int32_t *strides)
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
static void tm_pad(const float *x, float *y, int32_t c, int32_t ih, int32_t iw, int32_t oh, int32_t ow, int32_t pt,
                   int32_t pl, float value)
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
