"""The atlas: every unit of chosen layers summarised over any number of images.

:mod:`.summary` holds the per-unit streaming statistics and their exact merge, :mod:`.build`
the (resumable, torchrun-sharded) pass over the images, :mod:`.distributed` the process group,
:mod:`.store` the folder format and reading a unit back, :mod:`.featvis` the feature
visualisations, :mod:`.html` the static website and :mod:`.figures` a unit's figure.
"""

from circuitloupe.core.atlas.build import BuildReport, BuildSettings, build_atlas, layer_specs
from circuitloupe.core.atlas.store import Atlas, Example, UnitSummary

__all__ = ["Atlas", "BuildReport", "BuildSettings", "Example", "UnitSummary", "build_atlas", "layer_specs"]
