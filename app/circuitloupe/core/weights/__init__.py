"""Weights made readable: first-layer RGB filters, expanded weights and circuit grids.

Expanded weights (Distill "Visualizing Weights") are the spatial weights from each channel of an
earlier layer into one later unit's centre position, through everything in between as if it
were linear. Two methods, which agree where both apply:

* the general one, :func:`expanded_weights`: the gradient of the unit's centre value with
  respect to the earlier layer in a *linearised copy* of the model (:func:`linearised_copy`:
  ReLU-like activations -> identity, max pools -> average pools, local response norm ->
  identity). The earlier layer's activations are replaced by a zero leaf tensor, so the result
  does not depend on any input image; the kernel is cropped to the unit's receptive-field
  support in the earlier layer and centred (odd height and width);
* the exact one for InceptionV1 blocks, :func:`bottleneck_product`: the 1x1 bottleneck matrix
  times the 3x3/5x5 conv (and the 1x1 branch's own weights), ignoring the ReLU between them.

For p4 group CNNs, :func:`rotated_filter_copies` gives each filter of a lifting or group
convolution as the layer applies it for output rotations r = 0..3 (rotated by r * 90 degrees,
input-rotation axis rolled by r), drawn side by side by :func:`rotated_copies_figure`.

Figures (:func:`filter_grid_figure`, :func:`expanded_figure`, :func:`circuit_figure`,
:func:`rotated_copies_figure`) use the Circuits red/white/blue convention and are shared by the
CLI and the GUI's Export PNG.

The package: :mod:`.linear` (the linearised copy, default layers), :mod:`.expanded` (expanded
weights and circuits), :mod:`.filters` (first-layer filters, rotated copies) and :mod:`.figures`.
"""

from circuitloupe.core.weights.linear import (default_source_layer, default_target_layer, linearised_copy,
                                              source_layers, target_layers)
from circuitloupe.core.weights.expanded import (Ranked, bottleneck_applies, bottleneck_product, circuit_weights,
                                                expanded_weights, gradient_weights, kernels_json, output_norms,
                                                rank_by_norm, ranked_kernels, receptive_window, top_inputs, top_outputs)
from circuitloupe.core.weights.filters import (CopiesLayout, ROTATION_DEGREES, copies_layout, filter_grid_figure,
                                               first_layer_conv, first_layer_filters, group_layers, input_channel_note,
                                               is_group_layer, rotated_copies_figure, rotated_filter_copies,
                                               rotated_kernels, select_input_channel)
from circuitloupe.core.weights.figures import (FigureGrid, cached_thumbnails, circuit_figure, circuit_grid,
                                               expanded_figure, expanded_grid, featurevis_available, pending_tile,
                                               render_missing_thumbnails, weight_rgb)

__all__ = [
    "CopiesLayout", "FigureGrid", "ROTATION_DEGREES", "Ranked", "bottleneck_applies",
    "bottleneck_product", "cached_thumbnails", "circuit_figure", "circuit_grid", "circuit_weights",
    "copies_layout", "default_source_layer", "default_target_layer", "expanded_figure", "expanded_grid",
    "expanded_weights", "featurevis_available", "filter_grid_figure", "first_layer_conv", "first_layer_filters",
    "gradient_weights", "group_layers", "input_channel_note", "is_group_layer", "kernels_json", "linearised_copy",
    "output_norms", "pending_tile", "rank_by_norm", "ranked_kernels", "receptive_window",
    "render_missing_thumbnails", "rotated_copies_figure", "rotated_filter_copies", "rotated_kernels",
    "select_input_channel", "source_layers", "target_layers", "top_inputs", "top_outputs", "weight_rgb",
]
