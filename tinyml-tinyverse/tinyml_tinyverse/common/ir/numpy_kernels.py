"""numpy kernels shared by the float executor and the integer reference of every op.

They are written for any dtype, so with int64 inputs they do exact integer arithmetic. Tensors are
``N x C x H x W``; 1-D ops view ``N x C x L`` tensors as ``N x C x L x 1`` (:func:`as_nchw`).
"""

from __future__ import annotations

import numpy as np


def as_nchw(x: np.ndarray) -> np.ndarray:
    """View a ``N x C x L`` tensor as ``N x C x L x 1``; 4-D tensors pass through."""
    return x.reshape(x.shape + (1,) * (4 - x.ndim)) if x.ndim < 4 else x


def _windows(xp: np.ndarray, kernel, strides, dilations, out_hw) -> np.ndarray:
    """``N x C x OH x OW x kh x kw`` windows of a padded tensor (a view)."""
    kh, kw = kernel
    dh, dw = dilations
    sh, sw = strides
    win = np.lib.stride_tricks.sliding_window_view(xp, ((kh - 1) * dh + 1, (kw - 1) * dw + 1), axis=(2, 3))
    win = win[:, :, ::sh, ::sw, ::dh, ::dw]
    return win[:, :, : out_hw[0], : out_hw[1]]


def slice_nd(x: np.ndarray, a: dict) -> np.ndarray:
    """Strided slice ``begin + k * step`` (``count`` entries) on every non-batch axis."""
    index = (slice(None),) + tuple(
        slice(b, b + (c - 1) * st + 1, st) for b, st, c in zip(a["begin"][1:], a["step"][1:], a["count"][1:])
    )
    return np.ascontiguousarray(x[index])


def pad2d(x: np.ndarray, pads, value) -> np.ndarray:
    """Constant padding of H and W by ``pads`` = (top, left, bottom, right)."""
    return np.pad(x, ((0, 0), (0, 0), (pads[0], pads[2]), (pads[1], pads[3])), constant_values=value)


def conv_out_hw(in_hw, kernel, strides, pads, dilations) -> tuple[int, int]:
    return tuple(
        (in_hw[i] + pads[i] + pads[i + 2] - ((kernel[i] - 1) * dilations[i] + 1)) // strides[i] + 1
        for i in range(2)
    )


def conv2d(x: np.ndarray, w: np.ndarray, strides, pads, dilations, group: int) -> np.ndarray:
    """Convolution of ``N x C x H x W`` by ``w [Cout, C/g, kh, kw]``, zero padding, no bias."""
    n, c, h, wd = x.shape
    cout, cin_g, kh, kw = w.shape
    oh, ow = conv_out_hw((h, wd), (kh, kw), strides, pads, dilations)
    xp = np.pad(x, ((0, 0), (0, 0), (pads[0], pads[2]), (pads[1], pads[3])))
    win = _windows(xp, (kh, kw), strides, dilations, (oh, ow))  # N C OH OW kh kw
    cout_g = cout // group
    outs = []
    for g in range(group):
        wg = win[:, g * cin_g : (g + 1) * cin_g]  # N Cg OH OW kh kw
        cols = wg.transpose(0, 2, 3, 1, 4, 5).reshape(n * oh * ow, cin_g * kh * kw)
        wmat = w[g * cout_g : (g + 1) * cout_g].reshape(cout_g, -1)
        outs.append((cols @ wmat.T).reshape(n, oh, ow, cout_g))
    return np.concatenate(outs, axis=3).transpose(0, 3, 1, 2)


def conv_transpose2d(x, w, strides, pads, dilations, group, output_padding, out_hw) -> np.ndarray:
    """Transposed convolution; ``w`` in compiler layout ``[Cout, Cin/g, kh, kw]``; no bias."""
    n, c, h, wd = x.shape
    cout, cin_g, kh, kw = w.shape
    sh, sw = strides
    dh, dw = dilations
    cout_g = cout // group
    full_h = max((h - 1) * sh + (kh - 1) * dh + 1, pads[0] + out_hw[0])
    full_w = max((wd - 1) * sw + (kw - 1) * dw + 1, pads[1] + out_hw[1])
    y = np.zeros((n, cout, full_h, full_w), dtype=np.result_type(x, w))
    for g in range(group):
        xg = x[:, g * cin_g : (g + 1) * cin_g]
        wg = w[g * cout_g : (g + 1) * cout_g]
        for ky in range(kh):
            for kx in range(kw):
                contrib = np.einsum("nchw,oc->nohw", xg, wg[:, :, ky, kx])
                y[:, g * cout_g : (g + 1) * cout_g, ky * dh : ky * dh + (h - 1) * sh + 1 : sh,
                  kx * dw : kx * dw + (wd - 1) * sw + 1 : sw] += contrib  # fmt: skip
    return y[:, :, pads[0] : pads[0] + out_hw[0], pads[1] : pads[1] + out_hw[1]]


def pool2d(x, kind: str, kernel, strides, pads, out_hw, pad_value=0):
    """Max pool (``kind="max"``, padding with ``pad_value``) or window sums (``kind="sum"``)."""
    xp = np.pad(x, ((0, 0), (0, 0), (pads[0], pads[2]), (pads[1], pads[3])), constant_values=pad_value)
    # ceil_mode may need extra bottom/right padding
    need_h = (out_hw[0] - 1) * strides[0] + kernel[0]
    need_w = (out_hw[1] - 1) * strides[1] + kernel[1]
    extra_h, extra_w = max(0, need_h - xp.shape[2]), max(0, need_w - xp.shape[3])
    if extra_h or extra_w:
        xp = np.pad(xp, ((0, 0), (0, 0), (0, extra_h), (0, extra_w)), constant_values=pad_value)
    win = _windows(xp, kernel, strides, (1, 1), out_hw)
    if kind == "max":
        return win.max(axis=(4, 5))
    return win.sum(axis=(4, 5))


def pool_counts(in_hw, kernel, strides, pads, out_hw, count_include_pad) -> np.ndarray:
    """Number of elements averaged at each output position (``OH x OW`` int64)."""
    ones = np.ones((1, 1) + tuple(in_hw), dtype=np.int64)
    if count_include_pad:
        ones = np.pad(ones, ((0, 0), (0, 0), (pads[0], pads[2]), (pads[1], pads[3])), constant_values=1)
        pads = (0, 0, 0, 0)
    return pool2d(ones, "sum", kernel, strides, pads, out_hw)[0, 0]


def restore_rank(y4: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Undo :func:`as_nchw` for an output computed from input ``x``."""
    return y4.reshape(y4.shape[:3]) if x.ndim == 3 else y4
