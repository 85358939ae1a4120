"""Light and dark themes: follow the system's colour scheme, or a View > Theme override.

The system's choice is read from ``QStyleHints.colorScheme()`` and followed live through
``colorSchemeChanged``. Widgets use the Fusion style with a light or dark palette; pyqtgraph's
default background and foreground follow, and plots already on screen are recoloured (a plot
whose background a pane set on purpose is left alone). Exported figures are drawn by core and
do not depend on the theme.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication

if TYPE_CHECKING:
    import pyqtgraph as pg

MODES = ("system", "light", "dark")

_DARK = {
    "window": "#2b2b2b", "base": "#1e1e1e", "alternate": "#262626", "text": "#e6e6e6", "button": "#353535",
    "highlight": "#2f65ca", "disabled": "#7a7a7a", "link": "#6ea8fe", "tooltip": "#3a3a3a", "mid": "#454545",
}
PLOT_COLOURS = {False: ("#ffffff", "#333333"), True: ("#1e1e1e", "#d0d0d0")}  # dark? -> (background, foreground)


def dark_palette() -> QPalette:
    """A Fusion-friendly dark palette with readable disabled text and links."""
    c = {key: QColor(value) for key, value in _DARK.items()}
    palette = QPalette()
    role = QPalette.ColorRole
    for r, colour in ((role.Window, c["window"]), (role.WindowText, c["text"]), (role.Base, c["base"]),
                      (role.AlternateBase, c["alternate"]), (role.ToolTipBase, c["tooltip"]),
                      (role.ToolTipText, c["text"]), (role.PlaceholderText, c["disabled"]),
                      (role.Text, c["text"]), (role.Button, c["button"]), (role.ButtonText, c["text"]),
                      (role.BrightText, QColor("#ff6b6b")), (role.Link, c["link"]),
                      (role.Highlight, c["highlight"]), (role.HighlightedText, QColor("#ffffff")),
                      (role.Mid, c["mid"]), (role.Dark, QColor("#1a1a1a")), (role.Light, QColor("#505050")),
                      (role.Midlight, QColor("#404040")), (role.Shadow, QColor("#000000"))):
        palette.setColor(r, colour)
    disabled = QPalette.ColorGroup.Disabled
    for r in (role.WindowText, role.Text, role.ButtonText):
        palette.setColor(disabled, r, c["disabled"])
    palette.setColor(disabled, role.Highlight, QColor("#505050"))
    return palette


def system_prefers_dark() -> bool:
    """True when the platform reports a dark colour scheme (Unknown counts as light)."""
    return QGuiApplication.styleHints().colorScheme() == Qt.ColorScheme.Dark


class ThemeManager(QObject):
    """Applies the light or dark theme to the application and keeps plots in step.

    ``mode`` is "system" (follow the platform), "light" or "dark". ``sigChanged(dark)`` fires
    after every change of the effective theme.
    """

    sigChanged = Signal(bool)

    def __init__(self, app: QApplication, mode: str = "system") -> None:
        super().__init__(app)
        self.app = app
        self.mode = "system"
        self.dark = False
        if app.style().name() != "fusion":  # setting a style restyles every live widget
            app.setStyle("Fusion")
        self._light_palette = app.style().standardPalette()
        QGuiApplication.styleHints().colorSchemeChanged.connect(self._on_system_changed)
        self.set_mode(mode)

    def set_mode(self, mode: str) -> None:
        """Switch to "system", "light" or "dark" and apply it at once."""
        if mode not in MODES:
            raise ValueError(f"theme must be one of {', '.join(MODES)}, not {mode!r}")
        self.mode = mode
        self.apply(system_prefers_dark() if mode == "system" else mode == "dark")

    def apply(self, dark: bool) -> None:
        """Set the palette and recolour pyqtgraph to light (False) or dark (True)."""
        old_background = PLOT_COLOURS[self.dark][0]
        self.dark = dark
        palette = dark_palette() if dark else self._light_palette
        if self.app.palette() != palette:  # setting even an equal palette sends every live widget a change
            self.app.setPalette(palette)
        background, foreground = PLOT_COLOURS[dark]
        pg = self.configure_plots()
        if pg is None or background == old_background:  # the plots have these colours (new ones take the options)
            self.sigChanged.emit(dark)
            return
        for widget in self.app.allWidgets():
            if isinstance(widget, pg.GraphicsView):
                recolour_plot(widget, old_background, background, foreground)
        self.sigChanged.emit(dark)

    def configure_plots(self) -> Any:
        """Give new pyqtgraph plots the theme's colours; pyqtgraph, or None while it is not imported
        (no plots yet: call again once it is)."""
        if "pyqtgraph" not in sys.modules:
            return None
        # the inference worker may be importing it (the panes' modules, in the background): the
        # import statement waits for that import to finish, sys.modules would give it half-made
        import pyqtgraph as pg

        pg.setConfigOptions(background=PLOT_COLOURS[self.dark][0], foreground=PLOT_COLOURS[self.dark][1])
        return pg

    def _on_system_changed(self, _scheme) -> None:
        if self.mode == "system":
            self.apply(system_prefers_dark())


def recolour_plot(view: pg.GraphicsView, old_background: str, background: str, foreground: str) -> None:
    """Give ``view`` the new theme's background (if it had the old theme's) and axis colours."""
    current = view.backgroundBrush().color()
    if not current.isValid() or current.name() in (QColor(old_background).name(), "#000000"):
        view.setBackground(background)
    scene = view.scene()
    if scene is None:
        return
    import pyqtgraph as pg

    pen = pg.mkPen(foreground)
    for item in scene.items():
        if isinstance(item, pg.AxisItem):
            item.setPen(pen)
            item.setTextPen(pen)
        elif isinstance(item, pg.LabelItem):
            item.setAttr("color", foreground)
            item.setText(item.text)
