"""Quantization-aware training (QAT): fine-tune a float model with fake quantization.

``prepare_qat(model)`` returns a copy of the model that trains with the usual loop:

1. every BatchNorm that directly follows a Conv / ConvTranspose / Linear is folded into it and
   replaced by ``nn.Identity`` (found by tracing the forward with ``torch.fx``; a model that does
   not trace falls back to neighbours inside ``nn.Sequential`` containers);
2. the weights of every Conv / ConvTranspose / Linear are fake-quantized per output channel,
   symmetric, ``[-qmax, qmax]`` with ``qmax = 2**(bits - 1) - 1``, with a straight-through
   gradient (the layer runs with its fake-quantized weight through ``torch.func.functional_call``);
3. the model input and the outputs of conv / linear / activation / average-pool modules are
   fake-quantized per tensor to int8 with a zero point, from an exponential moving average of the
   batch min / max (the range always holds 0).

``finalize_qat(model)`` returns a plain float copy (no fake-quant modules, no hooks) whose weights
lie exactly on their grid, ready for ``torch.onnx.export`` and for post-training quantization,
which then finds the same per-channel scales again. Functional ops called inside ``forward``
(``torch.add``, ``F.relu``...) are not fake-quantized.

Weight scales (the grid the exported weights lie on):

- mode 1: ``s = max|w| / qmax`` rounded to 16 significant bits. ``k * s`` is then exact in float32
  for every ``|k| <= qmax`` and ``max|w_q| / qmax == s`` exactly, so re-quantizing the exported
  weights with ``s' = max|w| / qmax`` (float32 or float64) gives back the same integers and values.
- mode 2 (NPU): ``s = 2**ceil(log2(max|w| / qmax))``, a power of two that never clips; the
  power-of-two re-quantization ``2**ceil(log2(max|w_q| / qmax))`` gives back the same ``s``.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Mapping

import torch
import torch.fx
from torch import nn
from torch.func import functional_call

from ..errors import ConfigError

logger = logging.getLogger(__name__)

WEIGHT_LAYERS = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.Linear)
BATCHNORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)
OUTPUT_QUANT_LAYERS = WEIGHT_LAYERS + (
    nn.ReLU,
    nn.ReLU6,
    nn.Hardtanh,
    nn.LeakyReLU,
    nn.PReLU,
    nn.Sigmoid,
    nn.Tanh,
    nn.Softmax,
    nn.Hardsigmoid,
    nn.Hardswish,
    nn.SiLU,
    nn.GELU,
    nn.AvgPool1d,
    nn.AvgPool2d,
    nn.AdaptiveAvgPool1d,
    nn.AdaptiveAvgPool2d,
)
SCALE_MANTISSA_BITS = 16
ACT_QMIN, ACT_QMAX = -128, 127


def qat_default_epochs(float_epochs: int) -> int:
    """QAT epochs when the config gives none: ``max(10, float_epochs // 5)``."""
    return max(10, int(float_epochs) // 5)


def qat_default_lr(float_lr: float) -> float:
    """QAT learning rate when the config gives none: a hundredth of the float one."""
    return float(float_lr) / 100.0


def _check_settings(mode: int, weight_bitwidth: int | Mapping[str, int]) -> None:
    if mode not in (1, 2):
        raise ConfigError(
            f"training.quantization: QAT needs 1 (generic int8) or 2 (NPU, power-of-two scales), got {mode!r}"
        )
    if isinstance(weight_bitwidth, Mapping):
        for bits in weight_bitwidth.values():
            _check_settings(mode, bits)
        return
    if weight_bitwidth not in (8, 4, 2):
        raise ConfigError(f"training.quantization_weight_bitwidth must be 8, 4 or 2, got {weight_bitwidth!r}")
    if mode == 1 and weight_bitwidth != 8:
        raise ConfigError(
            f"training.quantization_weight_bitwidth {weight_bitwidth} needs quantization: 2 (NPU style); "
            "generic int8 (quantization: 1) uses 8-bit weights"
        )


# -- weight grid ---------------------------------------------------------------------------------
def weight_channel_axis(module: nn.Module) -> int:
    """Axis of the output channels in ``module.weight`` (1 for transposed convs, else 0)."""
    return 1 if isinstance(module, (nn.ConvTranspose1d, nn.ConvTranspose2d)) else 0


def power_of_two_ceil(x: torch.Tensor) -> torch.Tensor:
    """Smallest power of two >= ``x`` (``x > 0``), exact (no log2 rounding)."""
    mantissa, exponent = torch.frexp(x)  # x = mantissa * 2**exponent, mantissa in [0.5, 1)
    exponent = torch.where(mantissa == 0.5, exponent - 1, exponent)
    return torch.ldexp(torch.ones_like(x), exponent)


def round_mantissa(x: torch.Tensor, bits: int = SCALE_MANTISSA_BITS) -> torch.Tensor:
    """``x`` rounded to ``bits`` significant bits (exactly representable products with small ints)."""
    mantissa, exponent = torch.frexp(x)
    return torch.ldexp(torch.round(torch.ldexp(mantissa, torch.full_like(exponent, bits))), exponent - bits)


def weight_scales(weight: torch.Tensor, axis: int, bitwidth: int, power_of_two: bool) -> torch.Tensor:
    """Per-output-channel symmetric scales, shaped to broadcast against ``weight``."""
    qmax = 2 ** (bitwidth - 1) - 1
    dims = [d for d in range(weight.dim()) if d != axis]
    amax = weight.detach().abs().amax(dim=dims, keepdim=True)
    raw = amax / qmax
    safe = torch.where(amax > 0, raw, torch.ones_like(raw))
    scale = power_of_two_ceil(safe) if power_of_two else round_mantissa(safe)
    return torch.where(amax > 0, scale, torch.ones_like(scale))


def quantize_weight(weight: torch.Tensor, axis: int, bitwidth: int, power_of_two: bool) -> torch.Tensor:
    """``weight`` on its per-channel grid: ``clamp(round(w / s), -qmax, qmax) * s``."""
    qmax = 2 ** (bitwidth - 1) - 1
    scale = weight_scales(weight, axis, bitwidth, power_of_two)
    return torch.clamp(torch.round(weight / scale), -qmax, qmax) * scale


class WeightFakeQuant(nn.Module):
    """Weight -> its fake-quantized value, with a straight-through gradient."""

    def __init__(self, axis: int, bitwidth: int, power_of_two: bool):
        super().__init__()
        self.axis = axis
        self.bitwidth = bitwidth
        self.power_of_two = power_of_two

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        quantized = quantize_weight(weight.detach(), self.axis, self.bitwidth, self.power_of_two)
        return weight + (quantized - weight).detach()


# -- activations ---------------------------------------------------------------------------------
class ActFakeQuant(nn.Module):
    """Per-tensor int8 fake quantization with a zero point, range from an EMA of batch min / max."""

    def __init__(self, power_of_two: bool = False, momentum: float = 0.05):
        super().__init__()
        self.power_of_two = power_of_two
        self.momentum = momentum
        self.register_buffer("min_val", torch.tensor(0.0))
        self.register_buffer("max_val", torch.tensor(0.0))
        self.register_buffer("initialized", torch.tensor(False))

    @torch.no_grad()
    def _observe(self, x: torch.Tensor) -> None:
        lo, hi = x.min().float(), x.max().float()
        if not bool(self.initialized):
            self.min_val.copy_(lo)
            self.max_val.copy_(hi)
            self.initialized.fill_(True)
        else:
            self.min_val.lerp_(lo, self.momentum)
            self.max_val.lerp_(hi, self.momentum)

    def qparams(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(scale, zero_point)`` of the current range (``q = round(x / scale) + zero_point``)."""
        lo = torch.clamp(self.min_val, max=0.0)
        hi = torch.clamp(self.max_val, min=0.0)
        scale = (hi - lo) / (ACT_QMAX - ACT_QMIN)
        if self.power_of_two and scale > 0:
            scale = power_of_two_ceil(scale)
        zero_point = (
            torch.clamp(torch.round(ACT_QMIN - lo / scale), ACT_QMIN, ACT_QMAX) if scale > 0 else lo * 0
        )
        return scale, zero_point.to(torch.int32)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            self._observe(x.detach())
        if not bool(self.initialized):
            return x
        scale, zero_point = self.qparams()
        if scale <= 0:
            return x
        out = torch.fake_quantize_per_tensor_affine(
            x.float(), scale.reshape(1).float(), zero_point.reshape(1), ACT_QMIN, ACT_QMAX
        )
        return out.to(x.dtype)  # float32 math also under autocast

    def extra_repr(self) -> str:
        return (
            f"range=({float(self.min_val):.4g}, {float(self.max_val):.4g}), power_of_two={self.power_of_two}"
        )


class QATLayer(nn.Module):
    """A layer of the prepared model: the original module run with its fake-quantized weight (if
    ``weight_quant`` is given), then its output fake quantization."""

    def __init__(
        self, module: nn.Module, output_quant: ActFakeQuant, weight_quant: WeightFakeQuant | None = None
    ):
        super().__init__()
        self.module = module
        self.output_quant = output_quant
        self.weight_quant = weight_quant

    def quantized_weight(self) -> torch.Tensor:
        """The weight the layer computes with (on its grid)."""
        return self.weight_quant(self.module.weight)

    def forward(self, *args, **kwargs):
        if self.weight_quant is None:
            out = self.module(*args, **kwargs)
        else:
            out = functional_call(self.module, {"weight": self.quantized_weight()}, args, kwargs)
        return self.output_quant(out)


def _quantize_model_input(module: nn.Module, args: tuple) -> tuple:
    """Forward pre-hook of the prepared model: fake-quantize its first input."""
    if not args or not isinstance(args[0], torch.Tensor):
        return args
    return (module.qat_input_quant(args[0]), *args[1:])


# -- batch norm folding --------------------------------------------------------------------------
def _fold_into(layer: nn.Module, bn: nn.Module) -> bool:
    """Fold ``bn`` (eval statistics) into ``layer``'s weight and bias; False if it cannot be."""
    if not bn.track_running_stats or bn.running_mean is None:
        return False
    axis = weight_channel_axis(layer)
    channels = layer.weight.shape[axis]
    if isinstance(layer, (nn.ConvTranspose1d, nn.ConvTranspose2d)) and layer.groups != 1:
        return False
    if bn.num_features != channels:
        return False
    with torch.no_grad():
        factor = bn.running_var.add(bn.eps).rsqrt()
        if bn.affine:
            factor = factor * bn.weight
        shift = -bn.running_mean * factor
        if bn.affine:
            shift = shift + bn.bias
        shape = [1] * layer.weight.dim()
        shape[axis] = channels
        layer.weight.mul_(factor.reshape(shape))
        bias = layer.bias if layer.bias is not None else torch.zeros_like(shift)
        new_bias = bias * factor + shift
        if layer.bias is None:
            layer.bias = nn.Parameter(new_bias)
        else:
            layer.bias.copy_(new_bias)
    return True


def _pairs_from_fx(model: nn.Module) -> list[tuple[str, str]] | None:
    """(layer, batchnorm) module paths where the BN is the only consumer of the layer's output."""
    try:
        graph = torch.fx.symbolic_trace(model).graph
    except Exception as exc:  # noqa: BLE001 - any tracing failure means: use the fallback
        logger.debug(
            "torch.fx could not trace %s (%s); folding BN in nn.Sequential only", type(model).__name__, exc
        )
        return None
    modules = dict(model.named_modules())
    calls: dict[str, int] = {}
    for node in graph.nodes:
        if node.op == "call_module":
            calls[node.target] = calls.get(node.target, 0) + 1
    pairs = []
    for node in graph.nodes:
        if node.op != "call_module" or not isinstance(modules.get(node.target), BATCHNORMS):
            continue
        src = node.args[0] if node.args else None
        if (
            isinstance(src, torch.fx.Node)
            and src.op == "call_module"
            and isinstance(modules.get(src.target), WEIGHT_LAYERS)
            and len(src.users) == 1
            and calls[src.target] == 1
            and calls[node.target] == 1
        ):
            pairs.append((src.target, node.target))
    return pairs


def _pairs_from_sequential(model: nn.Module) -> list[tuple[str, str]]:
    pairs = []
    for path, module in model.named_modules():
        if isinstance(module, nn.Sequential):
            names = list(module._modules)
            for a, b in zip(names, names[1:]):
                if isinstance(module._modules[a], WEIGHT_LAYERS) and isinstance(
                    module._modules[b], BATCHNORMS
                ):
                    prefix = f"{path}." if path else ""
                    pairs.append((prefix + a, prefix + b))
    return pairs


def _set_submodule(model: nn.Module, path: str, new: nn.Module) -> None:
    parent_path, _, name = path.rpartition(".")
    parent = model.get_submodule(parent_path) if parent_path else model
    setattr(parent, name, new)


def fold_batchnorm(model: nn.Module) -> nn.Module:
    """A copy of ``model`` with every BatchNorm after a Conv / Linear folded in (BN -> Identity).

    Uses the BN running statistics, so the copy equals ``model.eval()``. BatchNorms that cannot be
    folded are kept and logged.
    """
    model = copy.deepcopy(model)
    pairs = _pairs_from_fx(model)
    if pairs is None:
        pairs = _pairs_from_sequential(model)
    folded = set()
    for layer_path, bn_path in pairs:
        if _fold_into(model.get_submodule(layer_path), model.get_submodule(bn_path)):
            _set_submodule(model, bn_path, nn.Identity())
            folded.add(bn_path)
    left = [p for p, m in model.named_modules() if isinstance(m, BATCHNORMS) and p not in folded]
    if left:
        logger.warning(
            "BatchNorm layers not folded (no Conv/Linear directly before them): %s; they stay in "
            "the model and are folded at compile time, off the QAT weight grid",
            ", ".join(left),
        )
    return model


# -- public API ----------------------------------------------------------------------------------
def prepare_qat(model: nn.Module, mode: int = 1, weight_bitwidth: int | Mapping[str, int] = 8) -> nn.Module:
    """A copy of ``model`` ready for quantization-aware training (see the module docstring).

    ``mode`` 1: generic int8 (8-bit weights); 2: NPU style, power-of-two scales, 8, 4 or 2-bit
    weights, one width for all, or a mapping of module path (``layers.conv1.conv``) to width (mixed
    precision; layers not named get 8). Train it with the usual loop, then call :func:`finalize_qat`.
    """
    _check_settings(mode, weight_bitwidth)
    power_of_two = mode == 2
    prepared = fold_batchnorm(model)
    targets = [
        path
        for path, m in prepared.named_modules()
        if isinstance(m, OUTPUT_QUANT_LAYERS) and not isinstance(m, QATLayer)
    ]
    if not any(isinstance(m, WEIGHT_LAYERS) for m in prepared.modules()):
        raise ConfigError(
            f"{type(model).__name__} has no Conv/ConvTranspose/Linear layer, so there is nothing to quantize"
        )

    def wrap(module: nn.Module, path: str) -> QATLayer:
        weight_quant = None
        if isinstance(module, WEIGHT_LAYERS):
            bits = weight_bitwidth.get(path, 8) if isinstance(weight_bitwidth, Mapping) else weight_bitwidth
            weight_quant = WeightFakeQuant(weight_channel_axis(module), bits, power_of_two)
        return QATLayer(module, ActFakeQuant(power_of_two), weight_quant)

    if "" in targets:  # the model itself is a single layer
        prepared = wrap(prepared, "")
    else:
        for path in targets:
            _set_submodule(prepared, path, wrap(prepared.get_submodule(path), path))
    prepared.qat_input_quant = ActFakeQuant(power_of_two)
    prepared.register_forward_pre_hook(_quantize_model_input)
    prepared.qat_settings = dict(mode=mode, weight_bitwidth=copy.copy(weight_bitwidth))
    return prepared.train(model.training)


def qat_activation_ranges(model: nn.Module) -> dict[str, tuple[float, float]]:
    """``{module path: (min, max)}`` of the activation ranges learned by a prepared model.

    ``"input"`` is the model input; other keys are the paths of the quantized layers' outputs.
    Ranges not observed yet are left out.
    """
    ranges = {}
    for path, module in model.named_modules():
        if isinstance(module, ActFakeQuant) and bool(module.initialized):
            key = "input" if path == "qat_input_quant" else path.removesuffix(".output_quant")
            ranges[key] = (float(module.min_val), float(module.max_val))
    return ranges


def finalize_qat(model: nn.Module) -> nn.Module:
    """A plain float copy of a QAT model, in eval mode, with every weight on its quantization grid."""
    if not any(isinstance(m, QATLayer) for m in model.modules()) and not hasattr(model, "qat_input_quant"):
        raise ConfigError("finalize_qat: the model was not prepared with prepare_qat")
    final = copy.deepcopy(model)
    with torch.no_grad():
        for module in final.modules():
            if isinstance(module, QATLayer) and module.weight_quant is not None:
                module.module.weight.copy_(module.quantized_weight())
    if isinstance(final, QATLayer):
        final = final.module
    else:
        for path in [p for p, m in final.named_modules() if isinstance(m, QATLayer)]:
            _set_submodule(final, path, final.get_submodule(path).module)
    for key, hook in list(final._forward_pre_hooks.items()):
        if hook is _quantize_model_input:
            del final._forward_pre_hooks[key]
    for attr in ("qat_input_quant", "qat_settings"):
        if hasattr(final, attr):
            delattr(final, attr)
    return final.eval()


def module_paths_of_layers(model: nn.Module, layer_names: list[str]) -> dict[str, str]:
    """``{ONNX node name: module path}`` for the conv / linear layers of ``model`` exported by
    ``torch.onnx.export``: a node ``/conv1/conv/Conv`` is the weight module whose path ends with
    ``conv1.conv`` (the exporter names nodes by their module scope, without container prefixes)."""
    modules = [p for p, m in model.named_modules() if isinstance(m, WEIGHT_LAYERS)]
    found = {}
    for name in layer_names:
        scope = [part for part in name.strip("/").split("/")[:-1] if part]
        matches = [p for p in modules if p.split(".")[-len(scope) :] == scope] if scope else []
        if len(matches) != 1:
            raise ConfigError(
                f"layer {name!r} of the exported model matches {len(matches)} modules of {type(model).__name__} "
                f"({', '.join(matches) or 'none'}); per-layer weight bit widths need one"
            )
        found[name] = matches[0]
    return found
