"""attribute: which pixels (input attribution), which earlier units (w * x, ``to_layer``) or which
curves (``curves``) drive a unit on an image."""

from __future__ import annotations

import io
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from circuitloupe.core.errors import UserError
from circuitloupe.core.paths import atomic_write_bytes
from circuitloupe.tasks.base import Context, Request, Result, flag, in_memory, option, positional, task
from circuitloupe.tasks.inputs import read_images


@dataclass(frozen=True)
class AttributeRequest(Request):
    """``unit``: layer:channel, a family ``mixed3b:379,406`` or ``class:N``; ``image``: a file or
    ``sample:NAME``; ``pixels``: the GUI's image [H, W, 3] when no file holds it (``image`` then only
    names it). Options as on the command line (``circuitloupe attribute --help``)."""

    command = "attribute"

    unit: str = positional()
    image: str = positional()
    method: str | None = option("--method", default=None)
    direction: str | None = option("--direction", default=None)
    whole_map: bool = flag("--whole-map")
    position: str | None = option("--position", default=None)
    baseline: str = option("--baseline", default="black")
    steps: int = option("--steps", default=32)
    batch: int = option("--batch", default=8)
    blur_sigma: float | None = option("--blur-sigma", default=None)
    seed: int = option("--seed", default=0)
    layer: str | None = option("--layer", default=None)
    size: int | None = option("--size", default=None)
    to_layer: str | None = option("--to-layer", default=None)
    top: int = option("--top", default=10)
    post_relu: bool = flag("--post-relu")
    curves: bool = flag("--curves")
    canny_sigma: float = option("--canny-sigma", default=2.0)
    canny_low: float = option("--canny-low", default=0.05)
    canny_high: float = option("--canny-high", default=0.15)
    curve_threshold: float = option("--curve-threshold", default=0.25)
    absolute: bool = flag("--absolute")
    opacity: float = option("--opacity", default=0.6)
    clip: float = option("--clip", default=99.5)
    mode: str = option("--mode", default="side_by_side")
    pixels: np.ndarray | None = in_memory()

    def validate(self) -> None:
        from circuitloupe.core.attribution import BASELINES, METHODS
        from circuitloupe.core.attribution.figures import OVERLAY_MODES

        if self.to_layer and self.curves:
            raise UserError("use either --to-layer or --curves, not both")
        if self.method is not None and self.method not in METHODS:
            raise UserError(f"no attribution method '{self.method}'; choose one of {', '.join(METHODS)}")
        if self.baseline not in BASELINES:
            raise UserError(f"no baseline '{self.baseline}'; choose one of {', '.join(BASELINES)}")
        if self.mode not in OVERLAY_MODES:
            raise UserError(f"no figure mode '{self.mode}'; choose one of {', '.join(OVERLAY_MODES)}")
        if self.steps < 1 or self.batch < 1 or self.top < 1:
            raise UserError("--steps, --batch and --top must be at least 1")
        if self.size is not None and not 16 <= self.size <= 4096:
            raise UserError(f"--size {self.size} is out of range; use 16 to 4096 pixels")
        if not 0 <= self.opacity <= 1:
            raise UserError(f"--opacity {self.opacity} is out of range; use 0 to 1")
        if not 0 < self.clip <= 100:
            raise UserError(f"--clip {self.clip} is out of range; use a percentile in (0, 100]")

    @property
    def analysis_size(self) -> tuple[int, int] | None:
        return (self.size, self.size) if self.size else None


@dataclass
class _AttributeResult(Result, ABC):
    """Shared by the three kinds: ``array()`` is what ``save("x.npy")`` writes."""

    @abstractmethod
    def array(self) -> np.ndarray:
        """The attribution as one array."""


    def save(self, path: str | Path, scale: float = 1.0) -> Path:
        """``.npy``: the map (:meth:`save_npy`); ``.png`` / ``.json`` as for every Result."""
        return self.save_npy(path) if Path(path).suffix.lower() == ".npy" else super().save(path, scale)

    def save_npy(self, path: str | Path) -> Path:
        buffer = io.BytesIO()
        np.save(buffer, np.asarray(self.array()))
        atomic_write_bytes(path, buffer.getvalue())
        return Path(path)

    def _header(self) -> dict[str, Any]:
        return {"image": self.request.image}  # type: ignore[attr-defined]


@dataclass
class InputAttributionResult(_AttributeResult):
    """``details``: the attribution map [H, W] with the target's value and the method's numbers;
    ``target_name``: the target in words (a class with its name); ``photo_shape``: the image's
    [H, W] before it was resized to the model's input, whose aspect the figure keeps."""

    details: Any
    target_name: str
    photo_shape: tuple[int, int]

    def title(self) -> str:
        from circuitloupe.core.attribution import METHOD_NAMES

        d = self.details
        return f"{self.target_name}: {METHOD_NAMES[d.method]}" + (f" at {d.layer}" if d.layer else "")

    def in_photo_aspect(self) -> tuple[np.ndarray, np.ndarray]:
        """The analysed image and its map (at the model's square input size) stretched back to the
        photo's aspect ratio, so that a photo is not shown squashed."""
        from circuitloupe.core.figures import resize2d, to_pil, upscale

        d = self.details
        photo_h, photo_w = self.photo_shape
        h, w = d.map.shape[:2]
        size = (h, round(h * photo_w / photo_h)) if photo_w >= photo_h else (round(w * photo_h / photo_w), w)
        if size == (h, w):
            return d.image, d.map
        image = np.asarray(upscale(to_pil(d.image), (size[1], size[0]), smooth=True), np.float32) / 255
        image = image.reshape(*size, -1)  # a one-channel image keeps its channel axis
        heat = d.map.sum(axis=2) if d.map.ndim == 3 else d.map
        return image, resize2d(heat, size)

    def figure(self, scale: float = 1.0):
        from circuitloupe.core.attribution.figures import overlay_figure

        r: AttributeRequest = self.request  # type: ignore[assignment]
        return overlay_figure(*self.in_photo_aspect(), self.title(), signed=not r.absolute,
                              opacity=r.opacity, clip_percentile=r.clip, mode=r.mode, scale=scale)

    def array(self) -> np.ndarray:
        return self.details.map

    def data(self) -> dict[str, Any]:
        return {**self._header(), **self.details.summary()}

    def lines(self) -> list[str]:
        gap = self.details.completeness_gap
        d = self.details
        return [f"{d.target}: {d.method}" + (f" at {d.layer}" if d.layer else "") + f" (value {d.value:.4g}); "
                f"sum {self.data()['sum']:.4g}"
                + (f", completeness gap {gap:.3g}" if gap is not None else "")]


@dataclass
class ContributionsResult(_AttributeResult):
    """``contributions``: w * x [C_src, h, w] from ``to_layer`` into the unit, ranked."""

    contributions: Any
    thumbnails: dict

    def figure(self, scale: float = 1.0):
        from circuitloupe.core.attribution.figures import ranking_figure

        return ranking_figure(self.contributions, self.request.top, self.thumbnails,  # type: ignore[attr-defined]
                              scale=scale)

    def array(self) -> np.ndarray:
        return self.contributions.wx

    def data(self) -> dict[str, Any]:
        return {**self._header(), **self.contributions.summary(self.request.top)}  # type: ignore[attr-defined]

    def lines(self) -> list[str]:
        c = self.contributions
        positive = c.ranked(1, 1)
        best = str(positive[0].unit) if positive else "none"
        return [f"{c.unit} <- {c.source_layer}: value {c.value:.4g}, strongest excitatory {best}"]


@dataclass
class CurvesResult(_AttributeResult):
    """``extraction``: a family's curve map beside the image's Canny edges, and their agreement."""

    extraction: Any

    def figure(self, scale: float = 1.0):
        from circuitloupe.core.attribution.figures import curve_figure

        return curve_figure(self.extraction, scale=scale)

    def array(self) -> np.ndarray:
        return self.extraction.curve_map

    def data(self) -> dict[str, Any]:
        return {**self._header(), **self.extraction.summary()}

    def lines(self) -> list[str]:
        e = self.extraction
        return [f"curve map of {len(e.units)} units: {e.agreement:.0%} of curve pixels near a Canny edge"]


@task(AttributeRequest)
def attribute(ctx: Context, request: AttributeRequest) -> _AttributeResult:
    model = ctx.model
    pixels = read_images([request.image])[0] if request.pixels is None else request.pixels
    if request.to_layer:
        return _to_layer(ctx, request, pixels)
    if request.curves:
        return _curves(ctx, request, pixels)
    from circuitloupe.core.attribution import (ClassTarget, attribute_details, direction_target, parse_position,
                                               parse_target)
    from circuitloupe.core.imagenet import class_name

    position = parse_position(request.position)
    if request.direction:
        target = direction_target(model, request.unit, _load_vector(request.direction), position,
                                  request.whole_map)
    else:
        target = parse_target(model, request.unit, whole_map=request.whole_map, position=position)
    details = attribute_details(model, pixels, target, request.method or "ig", size=request.analysis_size,
                                baseline=request.baseline, steps=request.steps, internal_batch_size=request.batch,
                                blur_sigma=request.blur_sigma, seed=request.seed, layer=request.layer,
                                progress=ctx.progress, should_stop=ctx.should_stop)
    name = f"class {class_name(target.index, model.class_labels)}" if isinstance(target, ClassTarget) \
        else details.target
    return InputAttributionResult(request, model.spec, model.weights_id, details, name, pixels.shape[:2])


def _to_layer(ctx: Context, request: AttributeRequest, pixels: np.ndarray) -> ContributionsResult:
    from circuitloupe.core.attribution import earlier_contributions, parse_position
    from circuitloupe.core.units import parse_unit_list
    from circuitloupe.core.weights import cached_thumbnails

    units = parse_unit_list(request.unit)
    if len(units) != 1:
        raise UserError("--to-layer takes one unit, not a family")
    model = ctx.model
    contributions = earlier_contributions(model, pixels, units[0], request.to_layer,
                                          parse_position(request.position), size=request.analysis_size,
                                          pre_relu=not request.post_relu, should_stop=ctx.should_stop)
    ranked = contributions.ranked(1, request.top) + contributions.ranked(-1, request.top)
    thumbs = cached_thumbnails(model, [c.unit for c in ranked])
    return ContributionsResult(request, model.spec, model.weights_id, contributions, thumbs)


def _curves(ctx: Context, request: AttributeRequest, pixels: np.ndarray) -> CurvesResult:
    from circuitloupe.core.attribution import FamilyTarget, extract_curves, parse_target

    model = ctx.model
    target = parse_target(model, request.unit)
    units = target.units if isinstance(target, FamilyTarget) else getattr(target, "unit", None)
    if units is None:
        raise UserError("--curves needs units (a family such as mixed3b:379,406,385), not a class")
    units = units if isinstance(units, tuple) else (units,)
    extraction = extract_curves(model, pixels, units, request.method or "input_x_gradient",
                                size=request.analysis_size, curve_threshold=request.curve_threshold,
                                canny_sigma=request.canny_sigma, canny_low=request.canny_low,
                                canny_high=request.canny_high, clip_percentile=request.clip, steps=request.steps,
                                internal_batch_size=request.batch, baseline=request.baseline,
                                progress=ctx.progress, should_stop=ctx.should_stop)
    return CurvesResult(request, model.spec, model.weights_id, extraction)


def _load_vector(path: str) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise UserError(f"cannot read the direction {path}: {error}") from None
