"""Errors a user can cause, each carrying one readable sentence.

The CLI prints the message of a :class:`UserError` on one line and exits non-zero; the GUI
shows it in the status bar and log pane. Anything else is a bug and keeps its traceback.
"""


class UserError(Exception):
    """A mistake in what the user asked for: bad unit name, missing file, unknown model."""


class WeightsError(UserError):
    """A weights file that is missing, unreadable, truncated or does not fit the model."""


class ImageError(UserError):
    """An image file that cannot be read or decoded."""


class WriteError(UserError, OSError):
    """A file that cannot be written: its folder is missing or read-only, the disk is full, or
    the path names a folder. Also an OSError, so handlers written for failed writes still catch it."""
