"""AppState: what every pane shares (model, current unit, current image) and its signals.

Selecting a unit anywhere calls :meth:`AppState.set_unit`; every pane follows
``sigUnitChanged``. Panes never talk to each other directly.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal

from circuitloupe.core.errors import UserError
from circuitloupe.core.units import UnitRef

if TYPE_CHECKING:  # numpy and torch load after the window shows (see MainWindow)
    import numpy as np

    from circuitloupe.core.models import LoadedModel


@dataclass(frozen=True)
class OpenImage:
    """An image the user opened: its name (path or sample name) and pixels [H, W, 3] in [0, 1]."""

    name: str
    pixels: np.ndarray


class AppState(QObject):
    sigModelChanged = Signal(object)  # LoadedModel
    sigUnitChanged = Signal(object)  # UnitRef
    sigUnitActivated = Signal(object)  # UnitRef: "open this unit in every pane" (Enter)
    sigImageChanged = Signal(object)  # OpenImage
    sigDatasetScanned = Signal(object)  # UnitRef: a dataset scan wrote new caches for its layer
    sigMessage = Signal(str)  # one line for the status bar and the log
    sigAtlasChanged = Signal(object)  # core.atlas.Atlas or None

    def __init__(self) -> None:
        super().__init__()
        self.model: LoadedModel | None = None
        self.unit: UnitRef | None = None
        self.image: OpenImage | None = None
        self.folder: str | None = None  # the image folder last scanned (or opened from its cache)
        self.atlas = None  # the open core.atlas.Atlas: per-unit statistics and examples, instantly

    def set_model(self, model: LoadedModel) -> None:
        """Switch models; a current unit the new model lacks gives way to the model's default unit,
        chosen before ``sigModelChanged`` so that panes see a valid unit when they rebuild."""
        self.model = model
        previous = self.unit
        try:
            self.unit = model.catalogue.unit(self.unit) if self.unit is not None else default_unit(model)
        except UserError:
            self.unit = default_unit(model)
        self.sigModelChanged.emit(model)
        if self.unit is not None and self.unit != previous:
            self.sigUnitChanged.emit(self.unit)

    def set_unit(self, unit: UnitRef | str) -> None:
        """Make ``unit`` the app-wide current unit (validated against the model when one is open)."""
        ref = UnitRef.parse(unit) if isinstance(unit, str) else unit
        if self.model is not None:
            ref = self.model.catalogue.unit(ref)
        if ref != self.unit:
            self.unit = ref
            self.sigUnitChanged.emit(ref)

    def activate_unit(self, unit: UnitRef | str) -> None:
        self.set_unit(unit)
        self.sigUnitActivated.emit(self.unit)

    def set_image(self, image: OpenImage) -> None:
        self.image = image
        self.sigImageChanged.emit(image)

    def open_image_file(self, path: str | Path) -> OpenImage:
        """Read an image file (raises ImageError) and make it the current image."""
        from circuitloupe.core.images import load_image

        image = OpenImage(str(path), load_image(path))
        self.set_image(image)
        return image

    def open_atlas(self, folder: str | Path):
        """Open an atlas folder (raises UserError) and make it the app's atlas."""
        from circuitloupe.core.atlas import Atlas

        self.atlas = Atlas(folder)
        self.sigAtlasChanged.emit(self.atlas)
        return self.atlas

    def close_atlas(self) -> None:
        """No atlas (a project without one); panes fall back to their own caches."""
        if self.atlas is not None:
            self.atlas = None
            self.sigAtlasChanged.emit(None)

    def message(self, text: str) -> None:
        self.sigMessage.emit(text)


def default_unit(model: LoadedModel) -> UnitRef | None:
    """Where a newly opened model starts: the first unit of its first family preset, else
    channel 0 of its first post-ReLU spatial layer."""
    for units in model.families.values():
        if units:
            return model.catalogue.unit(units[0])
    spatial = [info for info in model.catalogue if info.shape[1] > 1]
    first = next((info for info in spatial if not info.is_pre_relu), spatial[0] if spatial else None)
    return UnitRef(first.name, 0) if first is not None else None
