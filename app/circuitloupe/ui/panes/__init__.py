"""The dock panes, one module each; the main window builds them from ``PANE_CLASSES``."""

from __future__ import annotations

import importlib

# "module:Class" under circuitloupe.ui.panes, in the order the View menu lists them.
PANE_CLASSES = (
    "activations:ActivationsPane",
    "browser:BrowserPane",
    "weights:WeightsPane",
    "featurevis:FeatureVisPane",
    "attribution:AttributionPane",
    "equivariance:EquivariancePane",
    "dataset:DatasetPane",
    "tuning:TuningPane",
    "curve_finder:CurveFinderPane",
    "labeling:LabelingPane",
    "experiments:ExperimentsPane",
    "compare:ComparePane",
    "edits:EditsPane",
    "log:LogPane",
    "notes:NotesPane",
)


def pane_classes() -> list[type]:
    classes = []
    for entry in PANE_CLASSES:
        module_name, class_name = entry.split(":")
        module = importlib.import_module(f"circuitloupe.ui.panes.{module_name}")
        classes.append(getattr(module, class_name))
    return classes
