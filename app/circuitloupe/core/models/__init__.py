"""Model zoo, loaders and the LoadedModel every analysis works on."""

from circuitloupe.core.models.base import LoadedModel, Preprocessing
from circuitloupe.core.models.zoo import ZooEntry, default_model_spec, entries, find_entry, load_model, pick_device

__all__ = ["LoadedModel", "Preprocessing", "ZooEntry", "default_model_spec", "entries", "find_entry",
           "load_model", "pick_device"]
