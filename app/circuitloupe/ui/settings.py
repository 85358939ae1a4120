"""The app's settings file (window layout, theme, last model, welcome screen) in the user's data folder."""

from __future__ import annotations

from PySide6.QtCore import QSettings

from circuitloupe.core.paths import data_dir


def settings() -> QSettings:
    """Window layout, theme and last model, stored in the user's data folder."""
    return QSettings(str(data_dir() / "settings.ini"), QSettings.Format.IniFormat)
