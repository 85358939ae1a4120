"""Zoo entry for Lucid's InceptionV1: weights downloaded once, a local file, or seeded random."""

from __future__ import annotations

from circuitloupe.core.models import inceptionv1 as iv1
from circuitloupe.core.models import weights_io
from circuitloupe.core.models.base import LUCID_INCEPTION, LoadedModel
from circuitloupe.core.models.entry import DownloadProgress, ZooEntry, seeded

OFFLINE_HINT = (
    f"Get {iv1.WEIGHTS_FILENAME} from {iv1.WEIGHTS_URL} on a machine with network and pass it with "
    "--weights PATH (or File > Open weights…); the bundled model works offline."
)


def build(net: iv1.InceptionV1, weights_id: str, description: str) -> LoadedModel:
    return LoadedModel(
        name="inceptionv1",
        net=net,
        input_size=(224, 224),
        preprocessing=LUCID_INCEPTION,
        hook_points=iv1.hook_points(net),
        weights_id=weights_id,
        weights_description=description,
        layer_parts=iv1.layer_parts(),
        layer_groups=iv1.layer_groups(),
        aliases=dict(iv1.ALIASES),
        families={name: list(units) for name, units in iv1.FAMILIES.items()},
        bottleneck_path=iv1.bottleneck_path,
        default_circuit=iv1.CURVE_CIRCUIT,
        trace_presets=dict(iv1.TRACE_PRESETS),
    )


def load(weights: str | None, progress: DownloadProgress | None = None) -> LoadedModel:
    seed = weights_io.parse_random_spec(weights)
    if seed is not None:
        return build(seeded(iv1.InceptionV1, seed), f"random:{seed}", f"seeded random weights (seed {seed})")
    if weights is None:
        path = weights_io.download(iv1.WEIGHTS_URL, iv1.WEIGHTS_FILENAME, iv1.WEIGHTS_SHA256,
                                   progress, offline_hint=OFFLINE_HINT)
    else:
        path = weights
    net = iv1.InceptionV1()
    weights_io.load_into(net, weights_io.read_state_dict(path), path)
    return build(net, weights_io.weights_id_for_file(path), f"pretrained ({path})")


def _cached() -> bool:
    return weights_io.hub_checkpoint_path(iv1.WEIGHTS_FILENAME).is_file()


ZOO = [ZooEntry("inceptionv1", "Lucid's InceptionV1 (inception5h), the Circuits network",
                load, offline=False, default_weights_available=_cached)]

__all__ = ["ZOO"]
