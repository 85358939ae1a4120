"""Export of a pane that shows a task Result: its figure is the Result's, and "Copy as CLI command"
is the Result's Request on the current model's command-line spelling."""

from __future__ import annotations

from PIL import Image

from circuitloupe import tasks
from circuitloupe.core.ablation import is_edited
from circuitloupe.tasks import Result

EDITED_NOTE = " (on the edited model: no CLI command reproduces it)"


def edited_note(result: Result) -> str:
    """What to add to a pane's info line for ``result``: a note when the model was edited."""
    return EDITED_NOTE if is_edited(result.weights_id) else ""


class ResultExport:
    """Mixed into a Pane (before it) whose ``result`` is the Result it shows, or None."""

    result: Result | None

    def figure(self, scale: float = 1.0) -> Image.Image | None:
        return self.result.figure(scale) if self.result is not None else None

    def cli_command(self) -> str | None:
        # The CLI cannot apply the Edits pane's edits: no command reproduces a result of an edited model.
        model = self.state.model  # type: ignore[attr-defined]
        if self.result is None or model is None or is_edited(self.result.weights_id):
            return None
        return tasks.command_line(self.result.request, tasks.model_arguments(model), {"out": "FIG.png"})
