"""Render docs/images/curve_scene.png: a 128 px test scene for the bundled model's curve family.

Arcs at several orientations and radii (the shapes the bundled model was trained on, at its
scale: 24-32 px long, 2 px strokes), a closed circle, two straight lines and an angle, dark on
a light gradient. Used by the curve-extraction figure in the README's attribution section:

    python docs/images/make_curve_scene.py
    circuitloupe attribute conv4:26,63,... docs/images/curve_scene.png --model bundled --curves --size 128
"""

from pathlib import Path

import numpy as np

from circuitloupe.core import stimuli
from circuitloupe.core.figures import save_png, to_pil

SIZE = 128
ARCS = [  # (orientation degrees, radius px, centre x, y)
    (0, 14, 22, 22), (60, 10, 64, 20), (135, 18, 106, 24),
    (200, 12, 22, 64), (270, 16, 106, 66), (320, 22, 60, 106),
]
CIRCLE = (64, 62, 13)  # centre x, y and radius
LINES = [((8, 116), (36, 92)), ((86, 90), (122, 90))]
ANGLE = (0, 70, 26, (104, 104))  # orientation, opening, length, vertex


def scene() -> np.ndarray:
    """The scene as [SIZE, SIZE, 3] float32 in [0, 1]."""
    paths = [stimuli.arc_points(o, r, 28.0, (x, y)) for o, r, x, y in ARCS]
    cx, cy, r = CIRCLE
    t = np.linspace(0, 2 * np.pi, 97)
    paths.append(np.stack([cx + r * np.cos(t), cy + r * np.sin(t)], axis=1))
    paths += [np.array(line, dtype=float) for line in LINES]
    o, opening, length, centre = ANGLE
    paths.append(stimuli.angle_points(o, opening, length, centre, samples=3))
    ramp = np.linspace(0.95, 0.75, SIZE, dtype=np.float32)[None, :, None]
    background = np.broadcast_to(ramp * np.array([1.0, 0.97, 0.9], np.float32), (SIZE, SIZE, 3)).copy()
    strokes = stimuli.polylines(paths, SIZE, width=2.0, fg=0.0, bg=1.0).min(axis=0)
    return np.minimum(background, strokes + 0.15)


if __name__ == "__main__":
    out = Path(__file__).with_name("curve_scene.png")
    save_png(to_pil(scene()), out)
    print(f"wrote {out}")
