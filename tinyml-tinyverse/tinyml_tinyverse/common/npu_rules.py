"""NPU constraints as plain records and checks (no torch import).

A model is described as a list of :class:`LayerInfo` records, one per conv / pool / linear layer, in
execution order. The models side builds them from a torch model (``describe.describe_model``); the
compiler builds them from an ONNX graph. :func:`check_npu_rules` returns every violation, each
naming the layer, the rule, the value found and what is allowed.

Rules (kernel height ``kh`` runs along time, kernel width ``kw`` across; shapes are per sample):

- first conv: input channels 1, output channels a multiple of 4, kernel width <= 8;
- other convs (also transposed convs): input and output channels multiples of 4, kernel height <= 7,
  stride (1, 1), (2, 1) or (2, 2);
- depthwise (``groups == in_channels > 1``): kernel width <= 7; a grouped conv that is not depthwise
  is not supported;
- pointwise (kernel (1, 1), groups 1): channels multiples of 4;
- max pool: kernel <= 4 x 4;
- global average pool: input H * W > 2;
- fully connected: >= 16 input features (>= 8 with weights of 4 bits or fewer).
"""

from __future__ import annotations

from dataclasses import dataclass

LAYER_OPS = ("conv", "conv_transpose", "maxpool", "avgpool", "global_avgpool", "linear", "other")

FIRST_CONV_MAX_KW = 8
CONV_MAX_KH = 7
DEPTHWISE_MAX_KW = 7
CONV_STRIDES = ((1, 1), (2, 1), (2, 2))
MAXPOOL_MAX_KERNEL = (4, 4)
GAP_MIN_HW = 3
LINEAR_MIN_IN = 16
LINEAR_MIN_IN_LOW_BIT = 8


@dataclass
class LayerInfo:
    """One layer as the NPU sees it."""

    name: str
    op: str  # 'conv' | 'conv_transpose' | 'maxpool' | 'avgpool' | 'global_avgpool' | 'linear' | 'other'
    in_shape: tuple[int, ...]  # per sample: (C, H, W) for conv/pool, (F,) for linear
    out_shape: tuple[int, ...]
    in_channels: int = 0
    out_channels: int = 0
    kernel: tuple[int, int] = (1, 1)  # (kh, kw); time on H
    stride: tuple[int, int] = (1, 1)
    groups: int = 1
    is_first: bool = False  # first conv of the network


@dataclass
class NpuViolation:
    """One broken rule: which layer, which rule, and a message saying what is allowed."""

    layer: str
    rule: str
    message: str

    def __str__(self) -> str:
        return self.message


def is_depthwise(info: LayerInfo) -> bool:
    """Depthwise conv: one group per input channel (and more than one channel)."""
    return info.op == "conv" and info.groups == info.in_channels and info.in_channels > 1


def is_pointwise(info: LayerInfo) -> bool:
    """Pointwise conv: kernel (1, 1) and groups 1."""
    return info.op == "conv" and tuple(info.kernel) == (1, 1) and info.groups == 1


def _violation(info: LayerInfo, rule: str, found: str, allowed: str) -> NpuViolation:
    msg = f"layer {info.name!r} ({info.op}) breaks NPU rule '{rule}': {found}; allowed: {allowed}"
    return NpuViolation(layer=info.name, rule=rule, message=msg)


def _check_first_conv(info: LayerInfo) -> list[NpuViolation]:
    out = []
    if info.in_channels != 1:
        out.append(
            _violation(
                info, "first_conv_in_channels", f"input channels {info.in_channels}", "1 input channel"
            )
        )
    if info.out_channels % 4:
        out.append(
            _violation(
                info,
                "first_conv_out_channels",
                f"output channels {info.out_channels}",
                "a multiple of 4 (4, 8, 12, ...)",
            )
        )
    kw = info.kernel[1]
    if kw > FIRST_CONV_MAX_KW:
        out.append(
            _violation(info, "first_conv_kernel_width", f"kernel width {kw}", f"<= {FIRST_CONV_MAX_KW}")
        )
    return out


def _check_other_conv(info: LayerInfo) -> list[NpuViolation]:
    out = []
    kh, kw = info.kernel
    depthwise = is_depthwise(info)
    pointwise = is_pointwise(info)
    kind = "pointwise" if pointwise else "depthwise" if depthwise else "conv"
    bad = [f"{k} {v}" for k, v in (("input", info.in_channels), ("output", info.out_channels)) if v % 4]
    if bad:
        out.append(
            _violation(
                info, f"{kind}_channels", f"{' and '.join(bad)} channels", "multiples of 4 (4, 8, 12, ...)"
            )
        )
    if kh > CONV_MAX_KH:
        out.append(_violation(info, "conv_kernel_height", f"kernel height {kh}", f"<= {CONV_MAX_KH}"))
    if tuple(info.stride) not in CONV_STRIDES:
        out.append(
            _violation(
                info,
                "conv_stride",
                f"stride {tuple(info.stride)}",
                " or ".join(str(s) for s in CONV_STRIDES),
            )
        )
    if info.op == "conv" and info.groups > 1 and not depthwise:
        out.append(
            _violation(
                info,
                "depthwise_groups",
                f"groups {info.groups} with {info.in_channels} input channels",
                "groups 1 or groups == input channels (depthwise)",
            )
        )
    if depthwise and kw > DEPTHWISE_MAX_KW:
        out.append(_violation(info, "depthwise_kernel_width", f"kernel width {kw}", f"<= {DEPTHWISE_MAX_KW}"))
    return out


def _check_maxpool(info: LayerInfo) -> list[NpuViolation]:
    kh, kw = info.kernel
    mh, mw = MAXPOOL_MAX_KERNEL
    if kh > mh or kw > mw:
        return [_violation(info, "maxpool_kernel", f"kernel {(kh, kw)}", f"at most {mh} x {mw}")]
    return []


def _check_global_avgpool(info: LayerInfo) -> list[NpuViolation]:
    if len(info.in_shape) < 3:
        return []
    hw = info.in_shape[-2] * info.in_shape[-1]
    if hw < GAP_MIN_HW:
        return [
            _violation(
                info,
                "global_avgpool_input",
                f"input H*W = {info.in_shape[-2]}*{info.in_shape[-1]} = {hw}",
                "H*W > 2 (pool less before the global average pool)",
            )
        ]
    return []


def _check_linear(info: LayerInfo, weight_bitwidth: int) -> list[NpuViolation]:
    minimum = LINEAR_MIN_IN_LOW_BIT if weight_bitwidth <= 4 else LINEAR_MIN_IN
    features = info.in_channels or (info.in_shape[-1] if info.in_shape else 0)
    if features < minimum:
        return [
            _violation(
                info,
                "linear_in_features",
                f"{features} input features",
                f">= {minimum} input features at {weight_bitwidth}-bit weights",
            )
        ]
    return []


def check_npu_rules(layers: list[LayerInfo], weight_bitwidth: int = 8) -> list[NpuViolation]:
    """Every NPU rule violation of ``layers`` (empty list: the model fits the NPU)."""
    violations: list[NpuViolation] = []
    for info in layers:
        if info.op not in LAYER_OPS:
            raise ValueError(f"LayerInfo {info.name!r} has unknown op {info.op!r}; known: {LAYER_OPS}")
        if info.op == "conv" and info.is_first:
            violations += _check_first_conv(info)
        elif info.op in ("conv", "conv_transpose"):
            violations += _check_other_conv(info)
        elif info.op == "maxpool":
            violations += _check_maxpool(info)
        elif info.op == "global_avgpool":
            violations += _check_global_avgpool(info)
        elif info.op == "linear":
            violations += _check_linear(info, weight_bitwidth)
    return violations


def format_violations(violations: list[NpuViolation]) -> str:
    """One line per violation, for error messages and reports."""
    return "\n".join(f"- {v.message}" for v in violations)
