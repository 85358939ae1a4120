"""Export of a pane that shows a task Result: its figure is the Result's, and "Copy as CLI command"
is the Result's Request on the current model's command-line spelling."""

from __future__ import annotations

from PIL import Image

from circuitloupe import tasks
from circuitloupe.core.ablation import is_edited
from circuitloupe.tasks import Result
from circuitloupe.tasks.base import uses_memory

EDITED_NOTE = " (on the edited model: no CLI command reproduces it)"


def edited_note(result: Result) -> str:
    """What to add to a pane's info line for ``result``: a note when the model was edited."""
    return EDITED_NOTE if is_edited(result.weights_id) else ""


def reproducible(result: Result) -> bool:
    """Whether a command can reproduce ``result``: not when the Edits pane's edits made it (the CLI
    cannot apply them), nor when its request carries a GUI-only value (an image no file holds)."""
    return not is_edited(result.weights_id) and not uses_memory(result.request)


class ResultExport:
    """Mixed into a Pane (before it) whose ``result`` is the Result it shows, or None."""

    result: Result | None

    def figure(self, scale: float = 1.0) -> Image.Image | None:
        result = self.result
        return result.figure(scale) if result is not None else None

    def model_args(self) -> list[str]:
        """The command line's model options (``--model``, ``--weights``) for the current model."""
        model = self.state.model  # type: ignore[attr-defined]
        return tasks.model_arguments(model) if model is not None else []

    def cli_command(self) -> str | None:
        result = self.result
        if result is None or self.state.model is None or not reproducible(result):  # type: ignore[attr-defined]
            return None
        return tasks.command_line(result.request, self.model_args(), {"out": "FIG.png"})
