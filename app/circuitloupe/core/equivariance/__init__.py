"""Natural equivariance: do a network's units form families that a transformation permutes?

After "Naturally Occurring Equivariance in Neural Networks" (Olah et al., Distill 2020). For a
list of units and a transformation family g^0, g^1, ..., g^{S-1} (rotation by 360/S degrees,
hue rotation by 360/S degrees, horizontal flip, or zoom), the stimuli are transformed by every
step and each unit's response is measured: ``F[s, n, u]`` (step, stimulus, unit).

Convention: the transformation maps unit i to unit π(i) when unit π(i) responds to ``g x``
as unit i responds to ``x``: ``F[s+1, :, π(i)] ≈ F[s, :, i]``. Responses are first
standardised per unit over all measurements (mean 0, standard deviation 1), so gains and
offsets do not matter. The **equivariance score** is the relative error
``||F(g x) - P_π F(x)|| / ||F(g x)||`` summed over consecutive step pairs (wrapping for cyclic
families), reported beside two baselines: the identity permutation and random permutations.
The best π is a Hungarian assignment that minimises exactly that error, in which a unit may
instead map to nothing, a **hole** (it then predicts zero, and the unit nobody maps to costs
``hole_threshold``² of its energy): so one missing member does not force a wrong permutation
on the others. With the default threshold of 1 a match is kept only when it predicts better
than nothing, and the score is never worse than the identity baseline.

Angles are in degrees, counter-clockwise on screen (``torch.rot90`` turns by +90). Images are
``[B, C, H, W]`` tensors in [0, 1].

A scale family may span layers (circles from small to large) and zoom up to 8x; the result says
which unit fits each zoom. **Hue and rotation jointly** (:mod:`.hue_rotation`): colour-contrast
units for which turning the hue by 180 degrees acts like rotating by 180 degrees.

The package: :mod:`.transforms` (transformations, stimuli), :mod:`.analysis` (responses,
permutation, score), :mod:`.hue_rotation`, :mod:`.symmetry` (weights), :mod:`.discovery`
(candidate families), :mod:`.figures` and :mod:`.attention` (attentive p4 CNNs).
"""

from circuitloupe.core.equivariance.transforms import (CYCLIC, DEFAULT_GRID, DEFAULT_STEPS, HUE_ROTATION,
                                                       LARGEST_SCALE, MAX_SCALE, REDUCTIONS, TRANSFORMS,
                                                       featurevis_stimuli, folder_stimuli, hue_rotate, opponent_edges,
                                                       prepare, rotate, synthetic_stimuli, transform, transform_values,
                                                       zoom)
from circuitloupe.core.equivariance.analysis import (EquivarianceResult, analyse, equivariance, measure, reduce_maps,
                                                     unit_responses)
from circuitloupe.core.equivariance.hue_rotation import (HueRotationResult, analyse_hue_rotation, grid_values,
                                                         hue_rotation)
from circuitloupe.core.equivariance.symmetry import (WeightSymmetry, symmetry_of_weights, transform_kernel,
                                                     weight_symmetry)
from circuitloupe.core.equivariance.discovery import Candidate, discover, save_family, saved_families
from circuitloupe.core.equivariance.figures import (hue_rotation_figure, permutation_figure, response_matrix_figure,
                                                    score_figure, summary_figure, weight_symmetry_figure)
from circuitloupe.core.equivariance.attention import AttentionView, attention_figure, attention_view

__all__ = [
    "AttentionView", "CYCLIC", "Candidate", "DEFAULT_GRID", "DEFAULT_STEPS", "EquivarianceResult", "HUE_ROTATION",
    "HueRotationResult", "LARGEST_SCALE", "MAX_SCALE", "REDUCTIONS", "TRANSFORMS", "WeightSymmetry", "analyse",
    "analyse_hue_rotation", "attention_figure", "attention_view", "discover", "equivariance", "featurevis_stimuli",
    "folder_stimuli", "grid_values", "hue_rotate", "hue_rotation", "hue_rotation_figure", "measure",
    "opponent_edges", "permutation_figure", "prepare", "reduce_maps",
    "response_matrix_figure", "rotate", "save_family", "saved_families", "score_figure", "summary_figure",
    "symmetry_of_weights", "synthetic_stimuli", "transform", "transform_kernel", "transform_values",
    "unit_responses", "weight_symmetry", "weight_symmetry_figure", "zoom",
]
