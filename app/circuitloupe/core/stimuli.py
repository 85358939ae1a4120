"""Synthetic stimuli: curves, angles, angle-to-curve morphs, lines, edges and gratings.

Every renderer returns float32 RGB in [0, 1] (``[H, W, 3]`` for one image, ``[N, H, W, 3]``
for the batched ``curves`` / ``angles``), is deterministic, and anti-aliases with an exact
signed-distance coverage ramp one pixel wide. Pixel ``(row, col)`` covers the square around
``(x, y) = (col + 0.5, row + 0.5)``; the default position is the image centre ``(size/2,
size/2)``, so a 90-degree rotation of the image maps the pixel grid onto itself.

Orientation convention (the same everywhere in the app)
------------------------------------------------------
Orientations are in degrees, measured **counter-clockwise on screen**, and name the direction
a shape *points*:

* a curve (arc) at 0 degrees bulges upward and opens downward, like ``∩``; 90 bulges to the
  left (``(``), 180 bulges downward (``∪``), 270 bulges to the right (``)``);
* an angle at 0 degrees has its vertex on top and its two strokes going down (``∧``); the
  opening is the angle between the strokes (180 = a straight line);
* a line at 0 degrees is horizontal (the tangent of a 0-degree curve at its apex); 90 is
  vertical; lines and gratings repeat every 180 degrees;
* an edge at 0 degrees is horizontal with the foreground colour above it (on the side it
  points to); a grating at 0 degrees has horizontal stripes.

Rotating an image counter-clockwise by ``d`` degrees therefore turns a stimulus of
orientation ``t`` into the one of orientation ``t + d`` (``np.rot90`` turns by 90).

Curvature is given as a radius in pixels at the rendered ``size`` (InceptionV1's mixed3b curve
detectors like about 60 px at 224); ``np.inf`` gives a straight stroke. Lengths and widths are
in pixels too. Colours are a grey level, an RGB triple in [0, 1], or (for ``bg``) an image
``[H, W, 3]`` / ``[N, H, W, 3]`` to draw on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence, Union

import numpy as np

from circuitloupe.core.errors import UserError

Colour = Union[float, Sequence[float], np.ndarray]

#: Largest angular span of an arc (a full circle would have no orientation).
MAX_ARC_SPAN_DEGREES = 300.0
_CHUNK_PIXELS = 1 << 22  # pixels per rendering chunk, bounds temporary memory


# --------------------------------------------------------------------------- geometry helpers

def direction(orientation_deg: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
    """Unit vector (dx, dy) in image coordinates (y down) that orientation points to.

    0 -> up (0, -1), 90 -> left (-1, 0), 180 -> down, 270 -> right.
    """
    theta = np.deg2rad(np.asarray(orientation_deg, dtype=np.float64))
    return -np.sin(theta), -np.cos(theta)


def default_width(size: int) -> float:
    """Default stroke width in pixels: 1.5 px at 64-96 px, about 3.4 px at 224."""
    return max(1.5, 0.015 * size)


def default_arc_length(size: int) -> float:
    """Default stroke length in pixels: half the image side."""
    return 0.5 * size


def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    coords = np.arange(size, dtype=np.float64) + 0.5
    return coords[None, None, :], coords[None, :, None]  # x [1,1,W], y [1,H,1]


def _coverage(distance: np.ndarray, half_width: np.ndarray | float) -> np.ndarray:
    """Anti-aliased coverage of a stroke from the distance to its centre line."""
    return np.clip(half_width - distance + 0.5, 0.0, 1.0)


def _fill_coverage(signed: np.ndarray) -> np.ndarray:
    """Anti-aliased coverage of a region from its signed distance (negative inside)."""
    return np.clip(0.5 - signed, 0.0, 1.0)


def _segment_distance(x, y, ax, ay, bx, by) -> np.ndarray:
    """Distance from points (x, y) to segments a-b (all broadcastable)."""
    ux, uy = bx - ax, by - ay
    length2 = np.maximum(ux * ux + uy * uy, 1e-12)
    t = np.clip(((x - ax) * ux + (y - ay) * uy) / length2, 0.0, 1.0)
    dx, dy = x - (ax + t * ux), y - (ay + t * uy)
    return np.sqrt(dx * dx + dy * dy)


def _colour_array(colour: Colour, n: int, size: int) -> np.ndarray:
    """A colour (grey, RGB, [H,W,3] or [N,H,W,3]) as a broadcastable float32 array."""
    array = np.asarray(colour, dtype=np.float32)
    if array.ndim == 0:
        return np.full((1, 1, 1, 3), float(array), dtype=np.float32)
    if array.ndim == 1:
        if array.shape[0] != 3:
            raise ValueError(f"a colour is a grey level or an RGB triple, not {array.shape[0]} values")
        return array.reshape(1, 1, 1, 3)
    if array.ndim == 3:
        array = array[None]
    if array.shape[1:] != (size, size, 3) or array.shape[0] not in (1, n):
        raise ValueError(f"a background image must be [{size}, {size}, 3] or [{n}, {size}, {size}, 3]")
    return array


def _batch(*values) -> list[np.ndarray]:
    """Broadcast scalar-or-sequence parameters to 1-D float64 arrays of one length."""
    arrays = [np.atleast_1d(np.asarray(v, dtype=np.float64)) for v in values]
    return list(np.broadcast_arrays(*arrays))


def _compose(bg: Colour, layers: list[tuple[np.ndarray, Colour]], n: int, size: int) -> np.ndarray:
    """Paint coverage masks ([n, H, W]) in order over the background -> [n, H, W, 3]."""
    out = np.broadcast_to(_colour_array(bg, n, size), (n, size, size, 3)).astype(np.float32, copy=True)
    for alpha, colour in layers:
        a = alpha.astype(np.float32)[..., None]
        out = out * (1.0 - a) + _colour_array(colour, n, size) * a
    return np.clip(out, 0.0, 1.0)


def _chunks(n: int, size: int):
    step = max(1, _CHUNK_PIXELS // (size * size))
    for start in range(0, n, step):
        yield slice(start, min(n, start + step))


# --------------------------------------------------------------------------- curves

def curves(orientations: Sequence[float] | float, radii: Sequence[float] | float, size: int = 224, *,
           arc_length: float | Sequence[float] | None = None, width: float | Sequence[float] | None = None,
           fg: Colour = 0.0, bg: Colour = 1.0, filled: bool = False, fill: Colour | None = None,
           center: tuple[float, float] | None = None,
           offsets: np.ndarray | None = None) -> np.ndarray:
    """A batch of arcs -> [N, size, size, 3] float32 in [0, 1].

    ``orientations`` (degrees, see the module docstring) and ``radii`` (pixels; ``np.inf`` for
    straight) broadcast to one length N, as may ``arc_length`` and ``width`` (pixels). The arc's
    apex sits at ``center`` (x, y in pixels; default the image centre), shifted per image by
    ``offsets`` [N, 2] if given. ``filled`` paints the circular segment between the arc and its
    chord with ``fill`` (default ``fg``); with ``width=0`` only the fill is drawn, which with
    two colours (``fill`` vs ``bg``) gives a two-colour boundary curve.
    """
    arc_length = default_arc_length(size) if arc_length is None else arc_length
    width = default_width(size) if width is None else width
    theta, radius, length, stroke = _batch(orientations, radii, arc_length, width)
    n = theta.shape[0]
    cx, cy = _centres(size, center, offsets, n)
    stroke_alpha = np.empty((n, size, size), np.float32)
    fill_alpha = np.empty((n, size, size), np.float32) if filled else None
    x, y = _grid(size)
    for part in _chunks(n, size):
        distance, inside = _arc_fields(x, y, cx[part], cy[part], theta[part], radius[part], length[part])
        stroke_alpha[part] = _coverage(distance, stroke[part, None, None] / 2) * (stroke[part, None, None] > 0)
        if filled:
            fill_alpha[part] = _fill_coverage(inside)
    layers = [(fill_alpha, fg if fill is None else fill)] if filled else []
    layers.append((stroke_alpha, fg))
    return _compose(bg, layers, n, size)


def curve(orientation: float, radius: float, size: int = 224, *, arc_length: float | None = None,
          width: float | None = None, fg: Colour = 0.0, bg: Colour = 1.0, filled: bool = False,
          fill: Colour | None = None, center: tuple[float, float] | None = None) -> np.ndarray:
    """One arc -> [size, size, 3]: orientation in degrees (0 = bulging up, counter-clockwise),
    radius in pixels. See :func:`curves` for the other arguments."""
    return curves(orientation, radius, size, arc_length=arc_length, width=width, fg=fg, bg=bg,
                  filled=filled, fill=fill, center=center)[0]


def _centres(size: int, center, offsets, n: int) -> tuple[np.ndarray, np.ndarray]:
    cx, cy = (size / 2.0, size / 2.0) if center is None else center
    cx = np.full(n, float(cx))
    cy = np.full(n, float(cy))
    if offsets is not None:
        offsets = np.asarray(offsets, dtype=np.float64).reshape(n, 2)
        cx, cy = cx + offsets[:, 0], cy + offsets[:, 1]
    return cx[:, None, None], cy[:, None, None]


def _arc_fields(x, y, cx, cy, theta, radius, length) -> tuple[np.ndarray, np.ndarray]:
    """Distance to each arc's centre line, and signed distance to its filled segment."""
    ux, uy = direction(theta)
    ux, uy = ux[:, None, None], uy[:, None, None]
    r = np.where(np.isfinite(radius), radius, 1e9)[:, None, None]
    half_span = np.minimum(length[:, None, None] / (2 * r), np.deg2rad(MAX_ARC_SPAN_DEGREES) / 2)
    # Centre of curvature, on the concave side of the apex.
    ox, oy = cx - r * ux, cy - r * uy
    vx, vy = x - ox, y - oy
    dot = vx * ux + vy * uy
    cross = ux * vy - uy * vx
    alpha = np.arctan2(cross, dot)  # angle of the point around the centre, from the apex
    rho = np.sqrt(vx * vx + vy * vy)
    ring = np.where(np.abs(alpha) <= half_span, np.abs(rho - r), np.inf)
    cos_h, sin_h = np.cos(half_span), np.sin(half_span)
    ends = []
    for sign in (1.0, -1.0):  # endpoints: the apex direction rotated by +-half_span
        ex = ox + r * (ux * cos_h - sign * uy * sin_h)
        ey = oy + r * (uy * cos_h + sign * ux * sin_h)
        ends.append(np.sqrt((x - ex) ** 2 + (y - ey) ** 2))
    distance = np.minimum(ring, np.minimum(*ends))
    # Filled segment: inside the circle and beyond the chord (towards the apex).
    chord = r * cos_h - dot  # positive on the centre's side of the chord
    inside = np.maximum(rho - r, chord)
    return distance, inside


# --------------------------------------------------------------------------- angles and morphs

def angle_points(orientation: float, opening: float, arc_length: float, center: tuple[float, float],
                 samples: int = 65) -> np.ndarray:
    """Points [samples, 2] (x, y) along an angle's two strokes, first end -> vertex -> other end."""
    cx, cy = center
    ux, uy = direction(orientation)
    half = np.deg2rad(opening) / 2
    s = np.linspace(-1.0, 1.0, samples) * (arc_length / 2)
    # Stroke directions: the reverse of the pointing direction, turned by +-half the opening.
    a = np.where(s < 0, half, -half)  # the first end on the same side as an arc's first end
    dx = -(ux * np.cos(a) - uy * np.sin(a))
    dy = -(uy * np.cos(a) + ux * np.sin(a))
    return np.stack([cx + np.abs(s) * dx, cy + np.abs(s) * dy], axis=1)


def arc_points(orientation: float, radius: float, arc_length: float, center: tuple[float, float],
               samples: int = 65) -> np.ndarray:
    """Points [samples, 2] (x, y) along an arc at equal arc-length steps, apex in the middle."""
    cx, cy = center
    ux, uy = direction(orientation)
    r = radius if np.isfinite(radius) else 1e9
    half_span = min(arc_length / (2 * r), np.deg2rad(MAX_ARC_SPAN_DEGREES) / 2)
    a = np.linspace(-half_span, half_span, samples)
    ox, oy = cx - r * ux, cy - r * uy
    return np.stack([ox + r * (ux * np.cos(a) - uy * np.sin(a)),
                     oy + r * (uy * np.cos(a) + ux * np.sin(a))], axis=1)


def polylines(paths: Sequence[np.ndarray], size: int = 224, *, width: float | None = None,
              fg: Colour = 0.0, bg: Colour = 1.0, filled: bool = False) -> np.ndarray:
    """Anti-aliased strokes along point lists ([K, 2] x, y each) -> [N, size, size, 3]; ``filled``
    also paints the region the path encloses with the straight line joining its two ends."""
    width = default_width(size) if width is None else width
    n = len(paths)
    alpha = np.empty((n, size, size), np.float32)
    fill_alpha = np.empty((n, size, size), np.float32) if filled else None
    x, y = _grid(size)
    for i, points in enumerate(paths):
        p = np.asarray(points, dtype=np.float64)
        a, b = p[:-1, :, None, None], p[1:, :, None, None]
        d = _segment_distance(x[0], y[0], a[:, 0], a[:, 1], b[:, 0], b[:, 1]).min(axis=0)
        alpha[i] = _coverage(d, width / 2) * (width > 0)
        if filled:
            fill_alpha[i] = _polygon_coverage(x[0], y[0], p)
    layers = [(fill_alpha, fg)] if filled else []
    return _compose(bg, [*layers, (alpha, fg)], n, size)


def _polygon_coverage(x: np.ndarray, y: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Anti-aliased coverage [H, W] of the polygon through ``points`` [K, 2] (closed end to start)."""
    a = points[:, :, None, None]
    b = np.roll(points, -1, axis=0)[:, :, None, None]
    distance = _segment_distance(x, y, a[:, 0], a[:, 1], b[:, 0], b[:, 1]).min(axis=0)
    straddles = (a[:, 1] > y) != (b[:, 1] > y)  # even-odd rule along a ray to the right
    with np.errstate(divide="ignore", invalid="ignore"):
        crossing = a[:, 0] + (b[:, 0] - a[:, 0]) * (y - a[:, 1]) / (b[:, 1] - a[:, 1])
    inside = (straddles & (x < crossing)).sum(axis=0) % 2 == 1
    return _fill_coverage(np.where(inside, -distance, distance))


def angles(orientations: Sequence[float] | float, openings: Sequence[float] | float, size: int = 224, *,
           arc_length: float | None = None, width: float | None = None, fg: Colour = 0.0,
           bg: Colour = 1.0, filled: bool = False, center: tuple[float, float] | None = None,
           offsets: np.ndarray | None = None) -> np.ndarray:
    """A batch of angles -> [N, size, size, 3]: two straight strokes of ``arc_length / 2`` each
    meeting at a vertex at ``center``; orientation (degrees) is where the vertex points,
    ``openings`` the angle between the strokes in degrees (180 = straight). ``filled`` paints the
    triangle the strokes make with the line joining their ends."""
    arc_length = default_arc_length(size) if arc_length is None else arc_length
    theta, opening = _batch(orientations, openings)
    n = theta.shape[0]
    cx, cy = _centres(size, center, offsets, n)
    paths = [angle_points(theta[i], opening[i], arc_length, (cx[i, 0, 0], cy[i, 0, 0]), samples=3)
             for i in range(n)]
    return polylines(paths, size, width=width, fg=fg, bg=bg, filled=filled)


def angle(orientation: float, opening: float, size: int = 224, *, arc_length: float | None = None,
          width: float | None = None, fg: Colour = 0.0, bg: Colour = 1.0,
          center: tuple[float, float] | None = None) -> np.ndarray:
    """One angle -> [size, size, 3]; see :func:`angles`."""
    return angles(orientation, opening, size, arc_length=arc_length, width=width, fg=fg, bg=bg,
                  center=center)[0]


def angle_to_curve_series(orientation: float, radius: float, steps: int = 7, size: int = 224, *,
                          arc_length: float | None = None, width: float | None = None, fg: Colour = 0.0,
                          bg: Colour = 1.0, filled: bool = False,
                          center: tuple[float, float] | None = None) -> np.ndarray:
    """Morph an angle into a curve -> [steps, size, size, 3]; image 0 is the angle, the last the arc.

    The arc (``radius`` px, ``arc_length`` px) and the angle share the apex and both end points;
    each intermediate shape interpolates corresponding points at equal arc-length parameter.
    ``filled`` paints each shape's region up to the chord between its ends.
    """
    arc_length = default_arc_length(size) if arc_length is None else arc_length
    center = (size / 2.0, size / 2.0) if center is None else center
    arc = arc_points(orientation, radius, arc_length, center)
    # The angle through the apex and the arc's end points.
    end = arc[-1] - np.asarray(center)
    ux, uy = direction(orientation)
    along = -(end[0] * ux + end[1] * uy)
    across = abs(end[0] * uy - end[1] * ux)
    opening = 2 * np.rad2deg(np.arctan2(across, max(along, 1e-9)))
    stroke = float(np.hypot(*end))
    corner = angle_points(orientation, opening, 2 * stroke, center, samples=arc.shape[0])
    weights = np.linspace(0.0, 1.0, steps)
    paths = [(1 - t) * corner + t * arc for t in weights]
    return polylines(paths, size, width=width, fg=fg, bg=bg, filled=filled)


# --------------------------------------------------------------------------- lines, edges, gratings

def line(orientation: float, size: int = 224, *, length: float | None = None, width: float | None = None,
         fg: Colour = 0.0, bg: Colour = 1.0, center: tuple[float, float] | None = None) -> np.ndarray:
    """A straight stroke through ``center`` -> [size, size, 3]; 0 degrees is horizontal,
    counter-clockwise positive, period 180. ``length`` in pixels (default: across the image)."""
    length = 2.0 * size if length is None else length
    return curves(orientation, np.inf, size, arc_length=length, width=width, fg=fg, bg=bg, center=center)[0]


def edge(orientation: float, size: int = 224, *, fg: Colour = 1.0, bg: Colour = 0.0,
         center: tuple[float, float] | None = None) -> np.ndarray:
    """A straight anti-aliased edge through ``center`` -> [size, size, 3]; at 0 degrees it is
    horizontal with ``fg`` above (on the side the orientation points to), period 360."""
    cx, cy = (size / 2.0, size / 2.0) if center is None else center
    x, y = _grid(size)
    ux, uy = direction(orientation)
    signed = (x[0] - cx) * ux + (y[0] - cy) * uy  # > 0 on the fg side
    alpha = _fill_coverage(-signed)[None]
    return _compose(bg, [(alpha, fg)], 1, size)[0]


def grating(orientation: float, frequency: float, size: int = 224, *, phase: float = 0.0,
            contrast: float = 1.0, square: bool = False, fg: Colour = 1.0, bg: Colour = 0.0,
            center: tuple[float, float] | None = None) -> np.ndarray:
    """A sinusoidal (or square-wave) grating -> [size, size, 3].

    ``frequency`` in cycles per image side; at orientation 0 the stripes are horizontal (the
    wave varies along the pointing direction), counter-clockwise positive, period 180. ``phase``
    in degrees; a peak (full ``fg``) lies on the line through ``center`` at phase 0.
    ``contrast`` in [0, 1] scales the modulation around the mean of ``fg`` and ``bg``.
    """
    cx, cy = (size / 2.0, size / 2.0) if center is None else center
    x, y = _grid(size)
    ux, uy = direction(orientation)
    along = (x[0] - cx) * ux + (y[0] - cy) * uy
    wave = np.cos(2 * np.pi * frequency * along / size + np.deg2rad(phase))
    if square:
        wave = np.clip(wave * size / (np.pi * max(frequency, 1e-9)), -1.0, 1.0)  # one-pixel ramp
    alpha = (0.5 + 0.5 * contrast * wave)[None].astype(np.float32)
    return _compose(bg, [(alpha, fg)], 1, size)[0]


# --------------------------------------------------------------------------- style

def parse_colour(text: str) -> tuple[float, float, float]:
    """A colour as written by a user: a grey level in [0, 1] (``0.5``), a name (``red``) or
    ``#rrggbb`` -> RGB in [0, 1]."""
    from PIL import ImageColor

    try:
        grey = float(text)
    except ValueError:
        try:
            rgb = ImageColor.getrgb(text.strip())
        except ValueError:
            raise UserError(f"unknown colour '{text}'; use a grey level 0-1, a name or #rrggbb") from None
        return tuple(round(v / 255.0, 6) for v in rgb[:3])  # type: ignore[return-value]
    if not 0.0 <= grey <= 1.0:
        raise UserError(f"a grey level is 0 (black) to 1 (white), not {text}")
    return (grey, grey, grey)


def texture(size: int, seed: int = 0) -> np.ndarray:
    """A grey low-pass noise texture [size, size, 3], mean about 0.75 (a textured background)."""
    rng = np.random.default_rng(seed)
    noise = rng.normal(size=(size // 4 + 1, size // 4 + 1, 3))
    coarse = np.kron(noise, np.ones((4, 4, 1)))[:size, :size]
    return np.clip(0.75 + 0.12 * coarse, 0.0, 1.0).astype(np.float32)


@dataclass(frozen=True)
class StimulusStyle:
    """How every stimulus of a sweep is drawn. ``fg`` / ``bg``: colours as :func:`parse_colour`
    reads them; ``invert``: the photographic negative (1 - each pixel), so dark on light becomes
    light on dark; ``width``: stroke width in pixels at the rendered size (None: :func:`default_width`);
    ``filled``: the region between the stroke and the chord joining its ends is painted too;
    ``texture``: the background colour multiplied by :func:`texture` (white becomes the texture)."""

    fg: str = "black"
    bg: str = "white"
    invert: bool = False
    width: float | None = None
    filled: bool = False
    texture: bool = False

    def __post_init__(self) -> None:
        for colour in (self.fg, self.bg):
            parse_colour(colour)  # a readable error now rather than in the middle of a sweep
        if self.width is not None and not 0.0 < self.width <= 64.0:
            raise UserError(f"the stroke width is more than 0 and at most 64 px, not {self.width:g}")

    @property
    def is_default(self) -> bool:
        return self == StimulusStyle()

    def arguments(self, size: int) -> dict[str, Any]:
        """Keyword arguments for the renderers (:func:`curves`, :func:`angles`,
        :func:`angle_to_curve_series`) at image side ``size``."""
        fg = np.array(parse_colour(self.fg), np.float32)
        bg = np.array(parse_colour(self.bg), np.float32)
        if self.texture:
            bg = bg * texture(size)
        if self.invert:
            fg, bg = 1.0 - fg, 1.0 - bg
        found: dict[str, Any] = {"fg": fg, "bg": bg, "filled": self.filled}
        if self.width is not None:
            found["width"] = self.width
        return found
