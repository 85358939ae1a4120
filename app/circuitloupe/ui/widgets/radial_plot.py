"""Radial tuning curves on a pyqtgraph circle (the Tuning and Curve finder panes): the angle is the
stimulus orientation (0 up, counter-clockwise), each curve scaled to its peak and coloured by its
preferred orientation, as in :func:`circuitloupe.core.tuning.radial_tuning_figure`."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pyqtgraph as pg

from circuitloupe.core import tuning


def polar_xy(angles_deg: np.ndarray, radius: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Plot coordinates (y up) for orientations in degrees: 0 up, counter-clockwise."""
    theta = np.deg2rad(angles_deg)
    return -radius * np.sin(theta), radius * np.cos(theta)


def hue_rgb(orientation: float) -> tuple[int, int, int]:
    """The 0-255 colour of a preferred orientation (:func:`tuning.hue_colour`)."""
    r, g, b = tuning.hue_colour(orientation)
    return int(r * 255), int(g * 255), int(b * 255)


def new_radial_plot(tip: str) -> pg.PlotWidget:
    """A square plot without axes for :func:`draw_radial`."""
    plot = pg.PlotWidget()
    plot.setToolTip(tip)
    plot.setAspectLocked(True)
    plot.hideAxis("bottom")
    plot.hideAxis("left")
    return plot


def draw_radial(plot: pg.PlotWidget, tunings: Sequence[tuning.RadialTuning]) -> None:
    """Replace ``plot``'s contents with a polar grid and ``tunings``, each labelled with its channel."""
    plot.clear()
    grey = pg.mkPen(150, 150, 150, 90)
    circle = np.linspace(0, 360, 181)
    for radius in (0.5, 1.0):
        plot.plot(*polar_xy(circle, np.full_like(circle, radius)), pen=grey)
    for spoke in range(0, 360, 45):
        plot.plot(*polar_xy(np.array([spoke, spoke]), np.array([0.0, 1.05])), pen=grey)
        label = pg.TextItem(f"{spoke}°", color=(120, 120, 120), anchor=(0.5, 0.5))
        label.setPos(*(float(v[0]) for v in polar_xy(np.array([spoke]), np.array([1.25]))))
        plot.addItem(label)
    for radial in tunings:
        peak = radial.peak if radial.peak > 0 else 1.0
        angles = np.append(radial.angles, radial.angles[0])
        colour = hue_rgb(radial.preferred)
        plot.plot(*polar_xy(angles, np.append(radial.profile, radial.profile[0]) / peak),
                  pen=pg.mkPen(*colour, width=2), name=radial.unit)
        if not np.isnan(radial.preferred):
            label = pg.TextItem(radial.unit.rsplit(":", 1)[1], color=colour, anchor=(0.5, 0.5))
            label.setPos(*(float(v[0]) for v in polar_xy(np.array([radial.preferred]), np.array([1.12]))))
            plot.addItem(label)
    plot.autoRange()
