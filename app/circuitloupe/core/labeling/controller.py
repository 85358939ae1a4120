"""One labeller's pass through a session, without Qt: the current item, answers, undo, moving,
break reminders, the texts the pane shows, results and export.

The Labeling pane holds one :class:`LabelingController` and only shows what it says; tests
drive it directly. Answers go to the session file at once (see :mod:`.session`).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

from circuitloupe.core.labeling.figures import positive_summary, support
from circuitloupe.core.labeling.labelsets import LabelSet
from circuitloupe.core.labeling.stats import BinSupport
from circuitloupe.core.labeling.session import (DEFAULT_LABELLER, Answer, Item, LabelResults, LabelSession,
                                                session_path)


class LabelingController:
    """The open ``session`` as labeller ``labeller`` sees it; ``index`` is the shown item (None
    when every item has an answer). ``clock`` (seconds) times each answer from :meth:`shown`."""

    def __init__(self, session: LabelSession, labeller: str = DEFAULT_LABELLER,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.session = session
        self.labeller = labeller or DEFAULT_LABELLER
        self.since_break = 0
        self._clock = clock
        self._shown_at = clock()
        self.index: int | None = session.next_open(self.labeller)

    @classmethod
    def open(cls, path: str | Path, labeller: str = DEFAULT_LABELLER) -> LabelingController:
        """Open a session by name or path (raises UserError) at the labeller's first open item."""
        return cls(LabelSession(session_path(path)), labeller)

    def close(self) -> None:
        self.session.close()

    # ------------------------------------------------------------------ the current item
    @property
    def items(self) -> list[Item]:
        return self.session.items

    @property
    def current(self) -> Item | None:
        return None if self.index is None else self.items[self.index]

    def answer_to(self, item: Item | None) -> Answer | None:
        """The labeller's current answer to ``item`` (None: not answered, or undone)."""
        return None if item is None else self.session.answers(self.labeller).get(item.id)

    def shown(self) -> None:
        """The current item is on screen: the next answer's seconds count from now."""
        self._shown_at = self._clock()

    def set_labeller(self, name: str) -> None:
        """Switch labeller and go to their first open item."""
        self.labeller = name.strip() or DEFAULT_LABELLER
        self.since_break = 0
        self.index = self.session.next_open(self.labeller)

    # ------------------------------------------------------------------ answering and moving
    def answer(self, k: int) -> Answer | None:
        """Give label number ``k`` (0-based) to the current item and move on to the next open
        one; None (nothing written) without a current item or such a label."""
        item, names = self.current, self.session.label_set.names
        if item is None or not 0 <= k < len(names):
            return None
        return self._advance(self.session.answer(item.id, names[k], self._seconds(), self.labeller))

    def skip(self) -> Answer | None:
        """Record a skip of the current item and move on."""
        item = self.current
        return None if item is None else self._advance(self.session.skip(item.id, self._seconds(), self.labeller))

    def undo(self) -> Item | None:
        """Undo the labeller's latest answer and show its item again, unanswered (None: nothing to undo)."""
        item = self.session.undo(self.labeller)
        if item is not None:
            self.since_break = max(0, self.since_break - 1)
            self.index = self.items.index(item)
        return item

    def move(self, step: int) -> None:
        """Show the item ``step`` places on (clamped to the session)."""
        if not self.items:
            return
        start = self.index if self.index is not None else len(self.items) - 1
        self.index = min(max(start + step, 0), len(self.items) - 1)

    def break_due(self, every: int) -> bool:
        """Whether ``every`` answers (0: never) have passed since the last break; restarts the count."""
        if every and self.since_break >= every:
            self.since_break = 0
            return True
        return False

    def _seconds(self) -> float:
        return self._clock() - self._shown_at

    def _advance(self, answer: Answer) -> Answer:
        self.since_break += 1
        self.index = self.session.next_open(self.labeller, self.index + 1)
        return answer

    # ------------------------------------------------------------------ texts
    def caption(self) -> str:
        """``item 3 of 96 · not answered`` (or the answer given)."""
        item = self.current
        if item is None:
            return ""
        answer = self.answer_to(item)
        state = "not answered" if answer is None else ("skipped" if answer.label is None else
                                                       f"your answer: {answer.label}")
        return f"item {item.order + 1} of {len(self.items)} · {state}"

    def summary(self) -> tuple[str, str]:
        """(one line of rich text, details) describing the session, for the pane's header."""
        session, info = self.session, self.session.info
        text = (f"<b>{session.path.stem}</b>: {info.unit}, {len(self.items)} items, {Path(info.dataset).name} · "
                f"labeller {self.labeller}")
        return text, (f"{session.path}\nmodel {info.model} ({info.weights_id})\ndataset {info.dataset}\nbins of "
                      f"{info.plan.bin_width:g}, {info.plan.per_bin} per bin, seed {info.plan.seed}")

    def progress_text(self) -> str:
        labelled, skipped, total = self.session.progress(self.labeller)
        rate = self.session.rate(self.labeller)
        return (f"{labelled} labelled · {skipped} skipped · {total - labelled - skipped} to go"
                + (f" · {rate:.1f} per minute" if rate else ""))

    def confirmation(self, answer: Answer) -> str:
        """What the pane says right after an answer is saved."""
        item = self.item(answer.item)
        return f"✓ item {item.order + 1}: {answer.label or 'skipped'} (saved)"

    def reveal_text(self, item: Item) -> str:
        """The item's activation and bin, and the labeller's answer (show only after answering)."""
        answer = self.answer_to(item)
        width = self.session.info.plan.bin_width
        label = "skipped" if answer is None or answer.label is None else answer.label
        return (f"Item {item.order + 1}: activation <b>{item.value:.4g}</b> (bin {item.bin * width:g} .. "
                f"{(item.bin + 1) * width:g}); your answer: {label}")

    def item(self, item_id: int) -> Item:
        """The session's item with this id."""
        return next(item for item in self.items if item.id == item_id)

    # ------------------------------------------------------------------ results, export
    def results(self) -> LabelResults:
        return self.session.results(self.labeller)

    def headline(self, results: LabelResults) -> str:
        """``me: 120 labelled. curve + imperfect curve = 55%`` (no share when the bins do not support one)."""
        return (f"{self.labeller}: {int(results.counts.sum())} labelled. "
                + positive_summary(results, self.session.label_set))

    def support(self, results: LabelResults) -> BinSupport:
        """Whether the bins carry the shares, and the warnings (bins too coarse, too few labels)."""
        return support(results)

    def export_csv(self, path: str | Path) -> int:
        """Every labeller's answers as CSV, as ``circuitloupe label export SESSION --csv`` writes them."""
        return self.session.export_csv(path)

    def edit_labels(self, text: str) -> None:
        """Replace the label set from its text form; lines are matched to the old labels by
        position, so a renamed label keeps its answers and colour (raises UserError)."""
        old = self.session.label_set
        names = LabelSet.from_text(text, old.name).names
        renames = {a: b for a, b in zip(old.names, names) if a != b and a not in names}
        colours = {renames.get(label.name, label.name): label.colour for label in old.labels}
        self.session.set_label_set(LabelSet.from_text(text, old.name, colours), renames)
