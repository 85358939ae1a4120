"""RequestForm: a form generated from a Request type's fields, so a pane offers exactly what the
CLI sub-command takes.

Each field gets a control by its type (int: spin box, float: double spin box, bool: check box,
str: line edit, a tuple of values: a comma-separated line edit), labelled with the field's name.
Ranges and help come from the sub-command's argparse definition (the one place they are
written), the tooltip starts with the CLI spelling. :meth:`RequestForm.request` builds the
Request; a validation error is shown in one line under the form.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any

from PySide6.QtWidgets import (QCheckBox, QDoubleSpinBox, QFileDialog, QGridLayout, QHBoxLayout, QLabel, QLineEdit,
                               QPushButton, QSpinBox, QVBoxLayout, QWidget)

from circuitloupe.cli import command_parser
from circuitloupe.core.errors import UserError
from circuitloupe.tasks.base import _ARG, Request  # _ARG: the metadata key of a field's CLI spelling

INT_RANGE, FLOAT_RANGE = (0, 100_000), (-1000.0, 1000.0)  # when the CLI gives no bounds
#: Field names whose value is a folder to read: they get a Browse… button.
FOLDER_FIELDS = ("images", "folder")


def cli_arguments(command: str) -> dict[str, Any]:
    """The argparse actions of sub-command ``command`` by destination."""
    parser = command_parser(command)
    return {a.dest: a for a in parser._actions} if parser is not None else {}


def _positional(f: dataclasses.Field) -> bool:
    return f.metadata[_ARG].flag is None


def _many(f: dataclasses.Field) -> bool:
    """Whether the field holds several values (a tuple)."""
    return f.metadata[_ARG].many


def _value_type(hint: Any) -> Any:
    """``int`` for ``int`` and ``int | None``; None for anything that is not one plain type."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        kinds = [a for a in typing.get_args(hint) if a is not type(None)]
        return kinds[0] if len(kinds) == 1 else None
    return hint


def _split(f: dataclasses.Field, text: str) -> tuple[str, ...]:
    """A tuple field's text as the CLI reads it: positional values are separate arguments (so
    ``conv4:2,7`` stays one, as in a shell), an option's value is split at commas."""
    parts = text.split() if _positional(f) else text.split(",")
    return tuple(p.strip() for p in parts if p.strip())


def _spelling(f: dataclasses.Field) -> str:
    spelling = f.metadata.get(_ARG)
    if spelling is None or spelling.flag is None:
        return f"{f.name.upper()} (positional)"
    return spelling.flag if spelling.is_switch else f"{spelling.flag} {f.name.upper()}"


class RequestForm(QWidget):
    """Controls for every command-line field of ``request_type``; positional fields first. Fields
    named in ``hidden`` keep a control (set by the pane) but are not shown; ``columns`` pairs of
    label and control share a row, to keep the form short."""

    def __init__(self, request_type: type[Request], hidden: tuple[str, ...] = (), columns: int = 1,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.request_type = request_type
        self.fields = [f for f in dataclasses.fields(request_type) if _ARG in f.metadata]
        self.fields.sort(key=lambda f: not _positional(f))  # stable: positional fields first
        self.types = typing.get_type_hints(request_type)
        arguments = cli_arguments(request_type.command)
        self.controls: dict[str, QWidget] = {}
        layout = QGridLayout()
        layout.setContentsMargins(0, 0, 0, 0)
        for column in range(columns):
            layout.setColumnStretch(2 * column + 1, 1)
        shown = 0
        for f in self.fields:
            control = self._control(f, arguments.get(f.name))
            tip = _spelling(f) + (f": {arguments[f.name].help}" if f.name in arguments and arguments[f.name].help
                                  else "")
            control.setToolTip(tip)
            self.controls[f.name] = control
            row: QWidget = control
            if f.name in FOLDER_FIELDS and isinstance(control, QLineEdit):
                row = self._with_browse(control)
            if f.name in hidden:
                row.setParent(self)
                row.hide()
                continue
            label = QLabel(f.name.replace("_", " "))
            label.setToolTip(tip)
            position, column = divmod(shown, columns)
            layout.addWidget(label, position, 2 * column)
            layout.addWidget(row, position, 2 * column + 1)
            shown += 1
        self.error = QLabel("")
        self.error.setObjectName("form_error")
        self.error.setStyleSheet("color: #c0392b")
        self.error.setWordWrap(True)
        self.error.hide()
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addLayout(layout)
        outer.addWidget(self.error)
        self.set_values(self._defaults())

    # ------------------------------------------------------------------ controls
    def _control(self, f: dataclasses.Field, action: Any) -> QWidget:
        kind = _value_type(self.types.get(f.name))
        bounds = (getattr(action, "type", None) and getattr(action.type, "lo", None) is not None)
        if _many(f) or kind not in (bool, int, float):
            control = QLineEdit()
            if _many(f):
                control.setPlaceholderText("space-separated, as on the command line" if _positional(f)
                                           else "comma-separated")
            return control
        if kind is bool:
            return QCheckBox()
        if kind is int:
            control = QSpinBox()
            low, high = (action.type.lo, action.type.hi) if bounds else INT_RANGE
            control.setRange(int(low), int(min(high, 2**31 - 1)))
        else:
            control = QDoubleSpinBox()
            low, high = (action.type.lo, action.type.hi) if bounds else FLOAT_RANGE
            control.setDecimals(3)
            control.setRange(float(low), float(high))
            control.setSingleStep(0.05 if high - low <= 2 else 1.0)
        return control

    def _with_browse(self, edit: QLineEdit) -> QWidget:
        button = QPushButton("Browse…")
        button.setToolTip("Choose a folder")

        def browse() -> None:
            folder = QFileDialog.getExistingDirectory(self, "Choose a folder", edit.text())
            if folder:
                edit.setText(folder)

        button.clicked.connect(browse)
        box = QWidget()
        row = QHBoxLayout(box)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(edit, 1)
        row.addWidget(button)
        return box

    def _defaults(self) -> dict[str, Any]:
        values = {}
        for f in self.fields:
            if f.default is not dataclasses.MISSING:
                values[f.name] = f.default
            elif f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
                values[f.name] = f.default_factory()  # type: ignore[misc]
        return values

    # ------------------------------------------------------------------ values
    def values(self) -> dict[str, Any]:
        """What the controls hold, as Request field values (tuples split at commas)."""
        values: dict[str, Any] = {}
        for f in self.fields:
            control = self.controls[f.name]
            if isinstance(control, QLineEdit):
                text = control.text().strip()
                if not text and f.default is None:  # an optional value left out
                    values[f.name] = None
                else:
                    values[f.name] = _split(f, text) if _many(f) else text
            elif isinstance(control, QCheckBox):
                values[f.name] = control.isChecked()
            else:
                values[f.name] = control.value()
        return values

    def _field(self, name: str) -> dataclasses.Field:
        return next(f for f in self.fields if f.name == name)

    def set_values(self, values: dict[str, Any]) -> None:
        """Fill the named controls (others keep their value)."""
        for name, value in values.items():
            control = self.controls.get(name)
            if control is None or value is None:
                continue
            if isinstance(control, QLineEdit):
                if isinstance(value, (tuple, list)):
                    value = (" " if _positional(self._field(name)) else ",").join(map(str, value))
                control.setText(str(value))
            elif isinstance(control, QCheckBox):
                control.setChecked(bool(value))
            else:
                control.setValue(value)

    def request(self, quiet: bool = False) -> Request | None:
        """The Request the form describes, or None (and, unless ``quiet``, the reason shown under
        the form)."""
        try:
            request = self.request_type(**self.values())
        except UserError as error:
            if quiet:
                return None
            self.error.setText(" ".join(str(error).split()))
            self.error.show()
            return None
        self.error.hide()
        return request

    def set_request(self, request: Request) -> None:
        self.set_values({f.name: getattr(request, f.name) for f in self.fields})


def request_from_argv(request_type: type[Request], argv: list[str]) -> Request:
    """The Request a saved ``to_argv()`` list describes (read with the sub-command's own parser);
    a bad or stale list raises :class:`UserError`."""
    import argparse
    import contextlib
    import io

    arguments = cli_arguments(request_type.command)
    command = request_type.command.split()
    if not arguments or list(argv[:len(command)]) != command:
        raise UserError(f"not a saved '{request_type.command}' command: {' '.join(map(str, argv))}")
    extra = ["--model", "-"] if getattr(arguments.get("model"), "required", False) else []
    parser = command_parser(request_type.command)
    stderr = io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr):
            args = parser.parse_args([*map(str, argv[len(command):]), *extra])
    except SystemExit:
        raise UserError(" ".join(stderr.getvalue().split()) or "cannot read the saved command") from None
    assert isinstance(args, argparse.Namespace)
    return request_type.from_args(args)
