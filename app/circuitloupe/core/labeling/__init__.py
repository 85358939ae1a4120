"""Human labeling of dataset examples and how labels relate to a unit's activation.

:mod:`.labelsets` (labels and rubric), :mod:`.sampling` (stratified by activation bin),
:mod:`.session` (the SQLite session and answer log), :mod:`.stats` (proportions,
expected-value shares, agreement, whether the bins support them), :mod:`.figures` (result plots),
:mod:`.controller` (one labeller's pass: answer, undo, move, export; what the pane shows) and
:mod:`.jobs` (the work the app runs on its inference thread).
"""

from circuitloupe.core.labeling.labelsets import (BUILTIN, CURVE_LABELS, PRESENCE_LABELS, Label, LabelSet,
                                                  label_set_named)
from circuitloupe.core.labeling.sampling import SamplingPlan, bin_of, stratified_sample
from circuitloupe.core.labeling.session import (DEFAULT_LABELLER, Answer, Item, LabelResults, LabelSession,
                                                SessionInfo, create_session, session_path)
from circuitloupe.core.labeling.stats import (DatasetBins, agreement, cohen_kappa, expected_value_shares,
                                              label_counts, proportions)

__all__ = [
    "BUILTIN", "CURVE_LABELS", "DEFAULT_LABELLER", "PRESENCE_LABELS", "Answer", "DatasetBins", "Item", "Label",
    "LabelResults", "LabelSession", "LabelSet", "SamplingPlan", "SessionInfo", "agreement", "bin_of", "cohen_kappa",
    "create_session", "expected_value_shares", "label_counts", "label_set_named", "proportions", "session_path",
    "stratified_sample",
]
