"""LazyPanes: the window's panes by name, each built the first time it is needed.

A pane is built when its dock first shows (a start builds only the raised tab of each dock
group), when it is asked for (``panes[name]``: a shortcut, the View menu, a project restoring its
settings, a script), or by :meth:`LazyPanes.build_all`. Until then its dock holds an empty scroll
area and its module is not imported: the panes behind tabs, pyqtgraph and most analyses cost a
start nothing. A pane built late reads the app state in its constructor (the model, unit and
image already open), as every pane does.
"""

from __future__ import annotations

from typing import Callable, Iterator

from circuitloupe.ui.panes import PaneEntry
from circuitloupe.ui.widgets.pane import Pane


class LazyPanes:
    """Panes by name: ``name in panes`` and iteration cover every pane added; ``panes[name]`` builds
    it on first use with ``make(entry)``; :meth:`built` gives the ones that exist."""

    def __init__(self, make: Callable[[PaneEntry], Pane]) -> None:
        self._make = make
        self._entries: dict[str, PaneEntry] = {}
        self._built: dict[str, Pane] = {}
        self._building: set[str] = set()
        self.on_built: list[Callable[[str, Pane], None]] = []

    def add(self, entry: PaneEntry) -> None:
        """Make ``entry`` available (built when first needed)."""
        self._entries[entry.name] = entry

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __getitem__(self, name: str) -> Pane:
        pane = self._built.get(name)
        if pane is not None:
            return pane
        entry = self._entries[name]  # KeyError: no such pane
        if name in self._building:  # asked for again while its constructor runs (a dock shown meanwhile)
            raise RuntimeError(f"the {name} pane is being built")
        self._building.add(name)
        try:
            pane = self._make(entry)
        finally:
            self._building.discard(name)
        self._built[name] = pane
        for callback in self.on_built:
            callback(name, pane)
        return pane

    def ensure(self, name: str) -> None:
        """Build ``name`` unless it is built or being built (a dock that shows while it is)."""
        if name not in self._built and name not in self._building:
            self[name]

    def get_built(self, name: str) -> Pane | None:
        """The pane ``name`` if it has been built, without building it."""
        return self._built.get(name)

    def built(self) -> dict[str, Pane]:
        """The panes built so far, by name, in the order they were built."""
        return dict(self._built)

    def build_all(self) -> None:
        for name in self._entries:
            self[name]
