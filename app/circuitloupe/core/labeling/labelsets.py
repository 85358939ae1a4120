"""Label sets: the answers a labeller can give, each with a rubric line and a colour.

The default set is the Curve Detectors article's four labels with its rubric. A set is
edited as text, one label per line: ``name: description`` (a ``*`` before the name marks a
label that counts as "the feature is there", e.g. curve and imperfect curve).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from circuitloupe.core.errors import UserError

# Colours for labels without one: Circuits red, light red, grey, blue, then tab10.
PALETTE = ("#ca0020", "#f4a582", "#bababa", "#0571b0", "#92c5de", "#2ca02c", "#9467bd", "#8c564b", "#e377c2")
MAX_LABELS = 9  # keys 1-9


@dataclass(frozen=True)
class Label:
    """One answer. ``positive`` labels are summed in the "feature present" share."""

    name: str
    description: str = ""
    colour: str = ""
    positive: bool = False


@dataclass(frozen=True)
class LabelSet:
    """Labels in key order (key 1 is the first)."""

    name: str
    labels: tuple[Label, ...]

    def __post_init__(self) -> None:
        names = [label.name for label in self.labels]
        if not 1 <= len(names) <= MAX_LABELS:
            raise UserError(f"a label set needs 1 to {MAX_LABELS} labels, not {len(names)}")
        if len(set(names)) != len(names) or any(not n.strip() for n in names):
            raise UserError("label names must be distinct and not empty")

    @property
    def names(self) -> list[str]:
        return [label.name for label in self.labels]

    def colour(self, name: str) -> str:
        index = self.names.index(name)
        return self.labels[index].colour or PALETTE[index % len(PALETTE)]

    def positive_names(self) -> list[str]:
        return [label.name for label in self.labels if label.positive]

    def to_text(self) -> str:
        """The editable text form: one ``[*]name: description`` line per label."""
        return "\n".join(f"{'*' if l.positive else ''}{l.name}: {l.description}" for l in self.labels)

    @classmethod
    def from_text(cls, text: str, name: str = "custom", colours: dict[str, str] | None = None) -> LabelSet:
        """Parse the text form (blank lines ignored); ``colours`` keeps colours of known names."""
        labels = []
        for line in text.splitlines():
            if not line.strip():
                continue
            head, _, description = line.partition(":")
            positive = head.strip().startswith("*")
            label_name = head.strip().lstrip("*").strip()
            labels.append(Label(label_name, description.strip(), (colours or {}).get(label_name, ""), positive))
        return cls(name, tuple(labels))

    def to_json(self) -> dict:
        return {"name": self.name, "labels": [{"name": l.name, "description": l.description, "colour": l.colour,
                                               "positive": l.positive} for l in self.labels]}

    @classmethod
    def from_json(cls, data: dict) -> LabelSet:
        return cls(data["name"], tuple(Label(d["name"], d.get("description", ""), d.get("colour", ""),
                                             bool(d.get("positive", False))) for d in data["labels"]))


CURVE_LABELS = LabelSet("curve", (
    Label("curve", "A curve with the feature visualisation's orientation, spanning most of the image width.",
          "#ca0020", True),
    Label("imperfect curve", "A curve with at least one defect: too flat, an angle in it, or its orientation "
                             "slightly off.", "#f4a582", True),
    Label("unrelated", "No curve.", "#bababa"),
    Label("opposing curve", "A curve more than 45 degrees from the preferred orientation.", "#0571b0"),
))

PRESENCE_LABELS = LabelSet("presence", (
    Label("present", "The feature (as in the unit's feature visualisation) is clearly there.", "#ca0020", True),
    Label("partial", "Part of the feature, or a weak or distorted version of it.", "#f4a582", True),
    Label("absent", "Nothing like the feature.", "#bababa"),
))

BUILTIN = {s.name: s for s in (CURVE_LABELS, PRESENCE_LABELS)}


def label_set_named(name: str) -> LabelSet:
    """A built-in label set by name (``curve``, ``presence``)."""
    if name not in BUILTIN:
        raise UserError(f"no label set called '{name}'; built-in sets are {', '.join(BUILTIN)}")
    return BUILTIN[name]


def read_label_set(text: str) -> LabelSet:
    """``--labels``: a built-in set's name or a UTF-8 text file of ``[*]name: description`` lines."""
    if text in BUILTIN:
        return label_set_named(text)
    path = Path(text)
    if not path.is_file():
        raise UserError(f"--labels is a built-in set ({', '.join(BUILTIN)}) or a text file; {text} is neither")
    try:
        return LabelSet.from_text(path.read_text(encoding="utf-8"), name=path.stem)
    except UnicodeDecodeError:
        raise UserError(f"{text} is not a UTF-8 text file of '[*]name: description' lines") from None
    except OSError as error:
        raise UserError(f"cannot read {text}: {error.strerror or error}") from None
