"""Tuning of units to synthetic stimuli: response maps, radial and joint tuning curves.

* :func:`response_maps` sweeps curves (orientation x radius) or angles (orientation x opening)
  through a model and records each unit's value at the centre position: a grid [M, N] with
  orientations along N. Stimuli are drawn on the receptive-field centre of that position
  (:func:`~circuitloupe.core.dataset.receptive_field_centre`), which with TensorFlow "same"
  padding lies several pixels off the image centre. Values are optionally expressed in standard deviations of the unit's
  dataset distribution when a dataset cache exists.
* :func:`radial_tuning` takes the positive part of a response map, averages it over curvature
  and wraps it around the circle (720 samples, 0.5-degree steps), giving each unit's preferred
  orientation and tuning width (full width at half maximum).
* :func:`joint_tuning` rotates images (by default each unit's best synthetic stimuli) through
  0-360 degrees about the source unit's receptive-field centre, records every family member,
  aligns the sources by their preferred orientations and averages: one bump per member over
  absolute orientation.

Curve-detector families are found by :mod:`circuitloupe.core.curve_finder`.

Orientations follow :mod:`circuitloupe.core.stimuli`: degrees, 0 = a curve bulging upward,
counter-clockwise positive. Long functions take ``progress(step, total, preview)`` and
``should_stop()``; figures (matplotlib, imported lazily) take ``scale``.

The package: :mod:`.sweeps` (response maps, radial tuning), :mod:`.joint` (joint tuning) and
:mod:`.figures`.
"""

from circuitloupe.core.tuning.sweeps import (JointTuning, OPENING_RANGE, RADIAL_SAMPLES, RADIUS_RANGE, RadialTuning,
                                             ResponseMap, STIMULI, default_parameters, family_radial_tuning,
                                             model_batch, radial_from_map, radial_tuning, render, resolve_units,
                                             response_map, response_maps, stimulus_centre, sweep, unit_summary)
from circuitloupe.core.tuning.joint import best_stimuli, dataset_examples, joint_tuning, rotate_images
from circuitloupe.core.tuning.figures import (hue_colour, joint_tuning_figure, param_label, radial_tuning_figure,
                                              response_map_figure, summary_figure)

__all__ = [
    "JointTuning", "OPENING_RANGE", "RADIAL_SAMPLES", "RADIUS_RANGE", "RadialTuning", "ResponseMap", "STIMULI",
    "best_stimuli", "dataset_examples", "default_parameters", "family_radial_tuning", "hue_colour", "joint_tuning",
    "joint_tuning_figure", "model_batch", "param_label", "radial_from_map", "radial_tuning", "radial_tuning_figure",
    "render", "resolve_units", "response_map", "response_map_figure", "response_maps", "rotate_images",
    "stimulus_centre", "summary_figure", "sweep", "unit_summary",
]
