"""The dock panes, one module each, listed in ``PANES``.

The main window makes a dock for every entry at once but builds a pane (importing its module,
and with it pyqtgraph and the analyses) only when the pane is first shown or asked for, so a start
builds just the panes on screen (see :class:`circuitloupe.ui.lazy_panes.LazyPanes`).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass


@dataclass(frozen=True)
class PaneEntry:
    """A pane's ``name`` (its object name: settings, projects, the layout), dock ``title``, View
    ``shortcut``, and ``location``, "module:Class" under circuitloupe.ui.panes."""

    name: str
    title: str
    shortcut: str | None
    location: str

    def load(self) -> type:
        """The pane class (importing its module)."""
        module_name, class_name = self.location.split(":")
        return getattr(importlib.import_module(f"circuitloupe.ui.panes.{module_name}"), class_name)


PANES = (
    PaneEntry("activations", "Activations", "Ctrl+1", "activations:ActivationsPane"),
    PaneEntry("browser", "Browser", "Ctrl+2", "browser:BrowserPane"),
    PaneEntry("weights", "Weights", "Ctrl+3", "weights:WeightsPane"),
    PaneEntry("featurevis", "Feature visualisation", "Ctrl+4", "featurevis:FeatureVisPane"),
    PaneEntry("attribution", "Attribution", "Ctrl+5", "attribution:AttributionPane"),
    PaneEntry("equivariance", "Equivariance", "Ctrl+8", "equivariance:EquivariancePane"),
    PaneEntry("dataset", "Dataset", "Ctrl+7", "dataset:DatasetPane"),
    PaneEntry("tuning", "Tuning", "Ctrl+6", "tuning:TuningPane"),
    PaneEntry("curve_finder", "Curve finder", "Ctrl+0", "curve_finder:CurveFinderPane"),
    PaneEntry("labeling", "Labeling", "Ctrl+9", "labeling:LabelingPane"),
    PaneEntry("experiments", "Experiments", None, "experiments:ExperimentsPane"),
    PaneEntry("compare", "Compare", None, "compare:ComparePane"),
    PaneEntry("edits", "Edits", None, "edits:EditsPane"),
    PaneEntry("log", "Log", None, "log:LogPane"),
    PaneEntry("notes", "Notes", "Ctrl+Shift+N", "notes:NotesPane"),
)
ENTRIES = {entry.name: entry for entry in PANES}
#: Built with the window, shown or not: the Log keeps every message from the start, the Notes
#: are part of the project's title (edited or not). Both are cheap.
EAGER = ("log", "notes")
