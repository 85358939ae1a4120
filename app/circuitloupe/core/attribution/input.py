"""Input attribution: which pixels drive a target, by Captum's methods behind one call shape.

``attribute(model, image, target, method=..., **options)`` returns a map over the analysed image
([H, W], the input channels summed; or [H, W, C] with ``channels="keep"``). Methods:

- ``ig``: integrated gradients from a baseline (``black``, ``blurred`` or ``noise`` (uniform),
  or an array), ``steps`` points, ``internal_batch_size`` images per forward pass.
- ``saliency``: the gradient (its absolute value unless ``absolute=False``).
- ``input_x_gradient``: gradient times input (the network's input after preprocessing is
  applied inside the model, so this is image-in-[0, 1] times its gradient).
- ``guided``: guided backprop (needs ``nn.ReLU`` modules; the result says when there are none).
- ``gradcam``: Grad-CAM at ``layer`` (default: the deepest spatial block before the target),
  upsampled bilinearly to the image.

The image is resized to ``size`` (default the model's input size) before attribution; the map
has that size. Hooks (Captum's and ours) are removed when a call ends, by success or error.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from circuitloupe.core.errors import UserError
from circuitloupe.core.images import to_batch
from circuitloupe.core.jobs import ProgressFn, StopFn, check_stop, no_progress
from circuitloupe.core.models.base import LoadedModel
from circuitloupe.core.attribution.targets import Target, TargetModule, resolve_position

METHODS = ("ig", "saliency", "input_x_gradient", "guided", "gradcam")
METHOD_NAMES = {
    "ig": "integrated gradients",
    "saliency": "saliency",
    "input_x_gradient": "input x gradient",
    "guided": "guided backprop",
    "gradcam": "Grad-CAM",
}
_ALIASES = {"integrated_gradients": "ig", "guided_backprop": "guided", "grad_cam": "gradcam",
            "ixg": "input_x_gradient", "inputxgradient": "input_x_gradient", "gradient": "saliency"}
BASELINES = ("black", "blurred", "noise")


@dataclass
class AttributionResult:
    """One attribution: ``map`` [H, W] (or [H, W, C]), the target value on the image, and for
    integrated gradients the baseline's value and the completeness gap
    ``map.sum() - (value - baseline_value)``. ``image`` is the analysed image [H, W, C]."""

    map: np.ndarray
    image: np.ndarray
    method: str
    target: str
    value: float
    baseline_value: float | None = None
    completeness_gap: float | None = None
    layer: str | None = None
    note: str = ""

    def summary(self) -> dict[str, Any]:
        """JSON-ready numbers describing the map."""
        values = self.map if self.map.ndim == 2 else self.map.sum(axis=2)
        total = float(np.abs(values).sum()) or 1.0
        half = values.shape[1] // 2
        return {
            "method": self.method, "target": self.target, "value": self.value,
            "baseline_value": self.baseline_value, "completeness_gap": self.completeness_gap,
            "layer": self.layer, "shape": list(self.map.shape), "sum": float(values.sum()),
            "abs_sum": float(np.abs(values).sum()), "positive_fraction": float(np.clip(values, 0, None).sum() / total),
            "left_half_fraction": float(np.abs(values[:, :half]).sum() / total),
            "note": self.note,
        }


def canonical_method(method: str) -> str:
    """``ig``, ``saliency``, ``input_x_gradient``, ``guided`` or ``gradcam`` (aliases accepted)."""
    key = method.strip().lower().replace("-", "_").replace(" ", "_")
    key = _ALIASES.get(key, key)
    if key not in METHODS:
        raise UserError(f"no attribution method '{method}'; choose one of {', '.join(METHODS)}")
    return key


def make_baseline(image: torch.Tensor, kind: str | np.ndarray | torch.Tensor = "black",
                  blur_sigma: float | None = None, seed: int = 0) -> torch.Tensor:
    """A baseline like ``image`` ([B, C, H, W] in [0, 1]): ``black`` (zeros), ``blurred``
    (Gaussian blur, ``blur_sigma`` px, default a tenth of the shorter side) or ``noise``
    (uniform in [0, 1], seeded); an array/tensor of the image's shape is used as given."""
    if not isinstance(kind, str):
        baseline = torch.as_tensor(np.asarray(kind) if isinstance(kind, np.ndarray) else kind,
                                   dtype=image.dtype, device=image.device)
        if baseline.dim() == 3 and baseline.shape[2] == image.shape[1]:
            baseline = baseline.permute(2, 0, 1)[None]
        if baseline.shape != image.shape:
            raise UserError(f"baseline shape {tuple(baseline.shape)} does not match the image {tuple(image.shape)}")
        return baseline
    kind = kind.lower()
    if kind == "black":
        return torch.zeros_like(image)
    if kind == "blurred":
        sigma = blur_sigma or min(image.shape[-2:]) / 10
        radius = max(1, min(int(np.ceil(3 * sigma)), min(image.shape[-2:]) - 1))
        from torchvision.transforms.functional import gaussian_blur

        return gaussian_blur(image, [2 * radius + 1] * 2, [float(sigma)] * 2)
    if kind in ("noise", "uniform", "uniform_noise"):
        generator = torch.Generator().manual_seed(seed)
        return torch.rand(image.shape, generator=generator, dtype=image.dtype).to(image.device)
    raise UserError(f"no baseline '{kind}'; choose one of {', '.join(BASELINES)}")


def default_gradcam_layer(model: LoadedModel, target: Target) -> str:
    """The deepest spatial, non-branch, post-ReLU layer that runs before the target's layer
    (for a class: the deepest spatial layer)."""
    catalogue = model.catalogue
    layers = target.layers()
    limit = min(catalogue.position(n) for n in layers) if layers else len(catalogue)
    block = catalogue.layer(layers[0]).group if layers else None
    candidates = [info for info in catalogue
                  if catalogue.position(info.name) < limit and info.shape[1] > 1 and info.group is None
                  and not info.is_pre_relu and info.name != block]
    if not candidates:
        raise UserError("Grad-CAM needs a spatial layer before the target; pick a deeper unit")
    return candidates[-1].name


def _check_gradcam_layer(model: LoadedModel, target: Target, layer: str) -> str:
    catalogue = model.catalogue
    info = catalogue.layer(layer)
    if info.shape[1] <= 1:
        raise UserError(f"Grad-CAM needs a spatial layer; {info.name} is a vector")
    layers = target.layers()
    if layers and catalogue.position(info.name) > max(catalogue.position(n) for n in layers):
        raise UserError(f"Grad-CAM layer {info.name} runs after the target's layer; pick an earlier one")
    return info.name


def attribute_details(model: LoadedModel, image: np.ndarray | torch.Tensor, target: Target,
                      method: str = "ig", *, size: tuple[int, int] | None = None, channels: str = "sum",
                      baseline: str | np.ndarray = "black", steps: int = 32, internal_batch_size: int = 8,
                      blur_sigma: float | None = None, seed: int = 0, absolute: bool = True,
                      layer: str | None = None, progress: ProgressFn = no_progress,
                      should_stop: StopFn | None = None) -> AttributionResult:
    """Attribute ``target`` on ``image`` ([H, W, C] in [0, 1], or a [1, C, H, W] tensor).

    See the module docstring for the methods and their options. ``progress(images, total)``
    counts images through the network; ``should_stop`` cancels between forward passes.
    """
    method = canonical_method(method)
    if method == "ig" and int(steps) < 1:
        raise UserError(f"integrated gradients need at least 1 step, not {steps}")
    if channels not in ("sum", "keep"):
        raise UserError(f"channels must be 'sum' or 'keep', not '{channels}'")
    batch = as_model_input(model, image, size)
    check_stop(should_stop)
    target = resolve_position(model, batch, target)
    module = TargetModule(model, target, should_stop)
    with torch.no_grad():
        value = float(module(batch)[0])
    result = AttributionResult(np.zeros(0), batch[0].permute(1, 2, 0).cpu().numpy(), method,
                               target.describe(), value)
    total = steps if method == "ig" else 1
    if method == "ig":
        base = make_baseline(batch, baseline, blur_sigma, seed)
        with torch.no_grad():
            result.baseline_value = float(module(base)[0])
    module.images_seen = 0
    module.on_forward = lambda seen: progress(min(seen, total), total)
    batch = batch.clone().requires_grad_(True)
    if method == "ig":
        from captum.attr import IntegratedGradients

        attributions = IntegratedGradients(module).attribute(
            batch, baselines=base, n_steps=int(steps), internal_batch_size=max(1, int(internal_batch_size)))
        result.completeness_gap = float(attributions.detach().sum()) - (value - result.baseline_value)
    elif method == "saliency":
        from captum.attr import Saliency

        attributions = Saliency(module).attribute(batch, abs=absolute)
    elif method == "input_x_gradient":
        from captum.attr import InputXGradient

        attributions = InputXGradient(module).attribute(batch)
    elif method == "guided":
        from captum.attr import GuidedBackprop

        if not any(isinstance(m, nn.ReLU) for m in model.net.modules()):
            result.note = "the model has no nn.ReLU modules, so guided backprop equals the plain gradient"
        with warnings.catch_warnings():  # Captum announces its (always removed) ReLU hooks
            warnings.filterwarnings("ignore", message="Setting backward hooks on ReLU")
            attributions = GuidedBackprop(module).attribute(batch)
    else:
        from captum.attr import LayerGradCam

        name = _check_gradcam_layer(model, target, layer) if layer else default_gradcam_layer(model, target)
        result.layer = name
        cam = LayerGradCam(module, model.hook_points[name]).attribute(batch, relu_attributions=True)
        attributions = F.interpolate(cam, size=batch.shape[-2:], mode="bilinear", align_corners=False)
    progress(total, total)
    values = attributions.detach()[0].permute(1, 2, 0).cpu().numpy().astype(np.float32)
    result.map = values.sum(axis=2) if channels == "sum" or values.shape[2] == 1 else values
    return result


def attribute(model: LoadedModel, image: np.ndarray | torch.Tensor, target: Target, method: str = "ig",
              **options: Any) -> np.ndarray:
    """The attribution map of ``target`` on ``image`` by ``method``: [H, W] (or [H, W, C] with
    ``channels="keep"``) at the analysed size. Options as :func:`attribute_details`."""
    return attribute_details(model, image, target, method, **options).map


def as_model_input(model: LoadedModel, image: np.ndarray | torch.Tensor,
                   size: tuple[int, int] | None = None) -> torch.Tensor:
    """An image ([H, W, C] in [0, 1], or a [C, H, W] / [1, C, H, W] tensor) as the model's input
    batch [1, C, h, w] at ``size`` (default the model's input size), on the model's device."""
    size = tuple(size) if size is not None else tuple(model.input_size)
    if isinstance(image, torch.Tensor):
        batch = image.float() if image.dim() == 4 else image.float()[None]
        if tuple(batch.shape[-2:]) != size:
            batch = F.interpolate(batch, size=size, mode="bilinear", antialias=True, align_corners=False)
    else:
        array = np.asarray(image, dtype=np.float32)
        if array.ndim == 2:
            array = array[..., None]
        if array.shape[2] != model.in_channels:
            if model.in_channels == 1:
                array = array.mean(axis=2, keepdims=True)
            elif array.shape[2] == 1:
                array = np.repeat(array, model.in_channels, axis=2)
            else:
                raise UserError(f"the image has {array.shape[2]} channels but the model takes {model.in_channels}")
        batch = to_batch([array], size)
    return batch.to(model.device)

