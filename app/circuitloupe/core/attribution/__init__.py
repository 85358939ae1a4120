"""Attribution: which pixels (input attribution) and which earlier units (w * x) drive a unit.

One call shape for every input-attribution method (as in Captum, which computes them):
``attribute(model, image, target, method=..., **options) -> np.ndarray``.
"""

from circuitloupe.core.attribution.circuits import (Contribution, Contributions, attributed_layer,
                                                    earlier_contributions, family_activation_map)
from circuitloupe.core.attribution.curves import CurveExtraction, canny_edges, extract_curves
from circuitloupe.core.attribution.input import (BASELINES, METHOD_NAMES, METHODS, AttributionResult, attribute,
                                                 attribute_details, canonical_method, default_gradcam_layer,
                                                 make_baseline)
from circuitloupe.core.attribution.targets import (ClassTarget, DirectionTarget, FamilyTarget, Target, TargetModule,
                                                   UnitTarget, direction_target, family_target, parse_position,
                                                   parse_target, resolve_position)

__all__ = [
    "BASELINES", "METHODS", "METHOD_NAMES", "AttributionResult", "ClassTarget", "Contribution", "Contributions",
    "CurveExtraction", "DirectionTarget", "FamilyTarget", "Target", "TargetModule", "UnitTarget", "attribute",
    "attribute_details", "attributed_layer", "canny_edges", "canonical_method", "default_gradcam_layer",
    "direction_target", "earlier_contributions", "extract_curves", "family_activation_map", "family_target",
    "make_baseline", "parse_position", "parse_target", "resolve_position",
]
