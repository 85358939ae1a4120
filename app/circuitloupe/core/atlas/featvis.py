"""Feature visualisations of every unit of an atlas, rendered many units per step and sharded.

Each unit gets its channel-objective and its centre-neuron visualisation, rendered through the
feature-visualisation cache (:func:`~circuitloupe.core.featurevis.cache.visualise_units`, so
images already rendered with the same settings are reused) and copied into the atlas as
``featvis/LAYER/CHANNEL-OBJECTIVE.png``. Under torchrun each rank renders a contiguous share
of the units; a unit whose files exist is skipped, so an interrupted run continues.
"""

from __future__ import annotations

from pathlib import Path
from circuitloupe.core.atlas.distributed import Group, shard
from circuitloupe.core.atlas.figures import save_image
from circuitloupe.core.atlas.store import featvis_path
from circuitloupe.core.atlas.summary import LayerSpec
from circuitloupe.core.jobs import ProgressFn, StopFn, check_stop
from circuitloupe.core.models.base import LoadedModel
from circuitloupe.core.units import UnitRef

OBJECTIVES = ("channel", "neuron")


def render_featvis(model: LoadedModel, folder: Path, specs: list[LayerSpec], size: int = 128, steps: int = 256,
                   seed: int = 0, per_step: int = 32, group: Group = Group(), progress: ProgressFn | None = None,
                   should_stop: StopFn | None = None) -> None:
    """Render this rank's share of the units' visualisations into ``folder``."""
    from circuitloupe.core.featurevis.cache import Settings, visualise_units

    units = [UnitRef(s.name, c) for s in specs for c in range(s.channels)]
    mine = [units[i] for i in shard(len(units), group.rank, group.world)]
    jobs = [(objective, u) for objective in OBJECTIVES for u in mine
            if not featvis_path(folder, u, objective).is_file()]
    done = 0
    for objective in OBJECTIVES:
        todo = [u for o, u in jobs if o == objective]
        settings = Settings(size=size, steps=steps, seed=seed, objective=objective)
        for start in range(0, len(todo), per_step):
            check_stop(should_stop)
            chunk = todo[start:start + per_step]
            for vis in visualise_units(model, chunk, settings, should_stop=should_stop):
                save_image(vis.images[0], featvis_path(folder, vis.unit, objective))
            done += len(chunk)
            if progress is not None:
                progress(done, len(jobs))
