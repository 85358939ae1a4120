"""The reference image beside each labeling item: by default the unit's feature visualisation.

It shows the labeller the unit's preferred orientation without giving away any item's
activation. A session can name an image file instead (``LabelSession.reference``), which wins.
"""

from __future__ import annotations

import numpy as np

from circuitloupe.core.errors import UserError
from circuitloupe.core.featurevis import cache
from circuitloupe.core.jobs import ProgressFn, StopFn
from circuitloupe.core.labeling.session import SessionInfo
from circuitloupe.core.models.base import LoadedModel
from circuitloupe.core.units import UnitRef

#: Size (px) and optimisation steps of a reference rendered when none is cached: the app's
#: thumbnail settings, so the unit grids and the labeling tool share one cached image.
REFERENCE_SIZE = 64
REFERENCE_STEPS = 64


def is_session_model(model: LoadedModel | None, info: SessionInfo) -> bool:
    """Whether ``model`` is the model (and weights) the session was sampled with."""
    return model is not None and (model.spec, model.weights_id) == (info.model, info.weights_id)


def _unit(model: LoadedModel, info: SessionInfo) -> UnitRef:
    if not is_session_model(model, info):
        raise UserError(f"this session was sampled with {info.model} ({info.weights_id}); load that model "
                        "to see its unit's feature visualisation")
    return model.catalogue.unit(UnitRef.parse(info.unit))


def cached_reference(model: LoadedModel, info: SessionInfo) -> np.ndarray | None:
    """The session unit's cached feature visualisation ([H, W, 3] in [0, 1], any settings, the
    plain channel objective preferred), or None when none is cached. Reads files only."""
    return cache.thumbnail(model, _unit(model, info))


def render_reference(model: LoadedModel, info: SessionInfo, size: int | None = None, steps: int | None = None,
                     progress: ProgressFn | None = None, should_stop: StopFn | None = None) -> np.ndarray:
    """The session unit's feature visualisation, from the cache or rendered (and cached) now at
    ``size`` px with ``steps`` steps (default :data:`REFERENCE_SIZE`, :data:`REFERENCE_STEPS`):
    [H, W, 3] in [0, 1]. Runs the model: call it from a job."""
    unit = _unit(model, info)
    found = cache.thumbnail(model, unit)
    if found is not None:
        return found
    return cache.render_thumbnails(model, [unit], size=REFERENCE_SIZE if size is None else size,
                                   steps=REFERENCE_STEPS if steps is None else steps,
                                   progress=progress, should_stop=should_stop)[unit]
