"""Render resources/icons/circuitloupe.svg to the PNG sizes desktops and PyInstaller use.

Run from the repository root after editing the SVG:  python packaging/render_icons.py
Writes resources/icons/circuitloupe-{16,24,32,48,64,128,256,512}.png.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

SIZES = (16, 24, 32, 48, 64, 128, 256, 512)
ICONS = Path(__file__).resolve().parents[1] / "resources" / "icons"


def render(svg: Path = ICONS / "circuitloupe.svg", sizes: tuple[int, ...] = SIZES) -> list[Path]:
    """Draw the SVG at each size with Qt's SVG renderer; returns the PNG paths."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication, QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])
    renderer = QSvgRenderer(str(svg))
    if not renderer.isValid():
        raise SystemExit(f"cannot read {svg}")
    written = []
    for size in sizes:
        image = QImage(size, size, QImage.Format.Format_ARGB32)
        image.fill(Qt.GlobalColor.transparent)
        painter = QPainter(image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        renderer.render(painter)
        painter.end()
        path = svg.with_name(f"{svg.stem}-{size}.png")
        if not image.save(str(path)):
            raise SystemExit(f"cannot write {path}")
        written.append(path)
    del app
    return written


if __name__ == "__main__":
    for path in render():
        print(path)
