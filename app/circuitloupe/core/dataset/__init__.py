"""Image folders through a model: scanning, the activation cache, statistics and crops.

- :mod:`.folder` walks folders and decodes images; :mod:`.scan` runs them through a model
  into :mod:`.cache` (memory-mapped arrays + SQLite index per key); :mod:`.receptive`
  measures receptive fields and cuts crops; :mod:`.stats` and :mod:`.report` compute what
  the dataset views show, and :mod:`.figures` draws it.

Repairs of a damaged cache are logged as warnings on this package's logger (the app's log pane
shows them) and returned in :attr:`ScanResult.warnings` (the CLI prints them).
"""

import logging

from circuitloupe.core.dataset.cache import (CacheKey, DatasetCache, ImageRecord, drop_cache, find_cache,
                                            list_caches)
from circuitloupe.core.dataset.folder import FileEntry, FolderListing, prepare_pixels, walk_folder
from circuitloupe.core.dataset.receptive import ReceptiveField, crop, receptive_field, receptive_field_centre
from circuitloupe.core.dataset.report import (CropLoader, Example, UnitReport, top_examples, unit_distribution,
                                              unit_report)
from circuitloupe.core.dataset.scan import (ScanResult, ScanSettings, ScanTarget, cache_key, open_dataset,
                                            resolve_target, scan)
from circuitloupe.core.dataset.stats import (ExponentialFit, Position, describe, expected_value_density,
                                             exponential_tail_fit, extreme_positions, histogram, quilt_positions)

logging.getLogger(__name__).addHandler(logging.NullHandler())  # the CLI prints warnings itself

__all__ = [
    "CacheKey", "CropLoader", "DatasetCache", "Example", "ExponentialFit", "FileEntry", "FolderListing",
    "ImageRecord", "Position", "ReceptiveField", "ScanResult", "ScanSettings", "ScanTarget", "UnitReport",
    "cache_key", "crop", "describe", "drop_cache", "expected_value_density", "exponential_tail_fit", "extreme_positions",
    "find_cache", "histogram", "list_caches", "open_dataset", "prepare_pixels", "quilt_positions",
    "receptive_field", "receptive_field_centre", "resolve_target", "scan", "top_examples", "unit_distribution",
    "unit_report", "walk_folder",
]
