"""Curve extraction: a curve family's attribution onto an image, beside a Canny edge map.

Attributing the sum of a curve family's whole maps (e.g. all mixed3b curve detectors) to the
pixels draws the curves the network sees (with "combing": short strokes across each curve).
The Canny edge map is scikit-image's ``feature.canny``: already a dependency with prebuilt
wheels on every platform, so no OpenCV binary has to ship in the desktop bundle.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from circuitloupe.core.attribution.input import attribute_details
from circuitloupe.core.attribution.targets import family_target
from circuitloupe.core.errors import UserError
from circuitloupe.core.jobs import ProgressFn, StopFn, no_progress
from circuitloupe.core.models.base import LoadedModel
from circuitloupe.core.units import UnitRef


@dataclass
class CurveExtraction:
    """``curve_map`` [H, W] in [0, 1] (|attribution|, smoothed, clipped at ``clip_percentile``),
    ``edges`` [H, W] bool (Canny), ``curve_mask`` = curve_map >= ``curve_threshold``, and
    ``agreement``: the fraction of curve-mask pixels within ``tolerance`` px of a Canny edge."""

    image: np.ndarray
    curve_map: np.ndarray
    edges: np.ndarray
    curve_mask: np.ndarray
    agreement: float
    units: tuple[UnitRef, ...]
    params: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """JSON-ready numbers."""
        return {"units": [str(u) for u in self.units], "agreement_with_canny": self.agreement,
                "curve_pixels": int(self.curve_mask.sum()), "edge_pixels": int(self.edges.sum()),
                "shape": list(self.curve_map.shape), **self.params}


def canny_edges(image: np.ndarray, sigma: float = 2.0, low_threshold: float = 0.05,
                high_threshold: float = 0.15) -> np.ndarray:
    """Canny edges of ``image`` ([H, W, C] in [0, 1], converted to gray): [H, W] bool.

    ``sigma`` is the Gaussian's standard deviation in pixels; the thresholds are on the
    gradient magnitude of the [0, 1] gray image (hysteresis: low <= high).
    """
    from skimage import feature

    if low_threshold > high_threshold:
        raise UserError(f"the Canny low threshold ({low_threshold}) is above the high one ({high_threshold})")
    gray = np.asarray(image, dtype=np.float64)
    gray = gray.mean(axis=2) if gray.ndim == 3 else gray
    return feature.canny(gray, sigma=sigma, low_threshold=low_threshold, high_threshold=high_threshold)


def extract_curves(model: LoadedModel, image: np.ndarray, units: Sequence[UnitRef | str],
                   method: str = "input_x_gradient", *, size: tuple[int, int] | None = None,
                   smoothing: float = 1.0, clip_percentile: float = 99.5, curve_threshold: float = 0.25,
                   canny_sigma: float = 2.0, canny_low: float = 0.05, canny_high: float = 0.15,
                   tolerance: int = 2, progress: ProgressFn = no_progress, should_stop: StopFn | None = None,
                   **options: Any) -> CurveExtraction:
    """The curve map of the family ``units`` on ``image`` beside its Canny edge map.

    ``method`` and ``options`` go to :func:`attribute_details`; ``smoothing`` is a Gaussian
    sigma in pixels applied to |attribution| (0 = none); the map is divided by its
    ``clip_percentile`` value and clipped to [0, 1].
    """
    from scipy import ndimage

    target = family_target(model, units)
    result = attribute_details(model, image, target, method, size=size, progress=progress,
                               should_stop=should_stop, **options)
    magnitude = np.abs(result.map).astype(np.float64)
    if smoothing > 0:
        magnitude = ndimage.gaussian_filter(magnitude, smoothing)
    limit = float(np.percentile(magnitude, clip_percentile)) or float(magnitude.max()) or 1.0
    curve_map = np.clip(magnitude / limit, 0, 1).astype(np.float32)
    edges = canny_edges(result.image, canny_sigma, canny_low, canny_high)
    mask = curve_map >= curve_threshold
    if mask.any() and edges.any():
        near = ndimage.distance_transform_edt(~edges) <= tolerance
        agreement = float((mask & near).sum() / mask.sum())
    else:
        agreement = 0.0
    params = {"method": result.method, "smoothing": smoothing, "clip_percentile": clip_percentile,
              "curve_threshold": curve_threshold, "canny_sigma": canny_sigma, "canny_low": canny_low,
              "canny_high": canny_high, "tolerance": tolerance}
    return CurveExtraction(result.image, curve_map, edges, mask, agreement, target.units, params)
