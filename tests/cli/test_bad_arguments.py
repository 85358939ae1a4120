"""Hostile values for every option of every sub-command, generated from the parsers themselves.

The cases come from walking ``build_parser()``, so an option added later is covered, and an
option that takes a value without a validating type (from ``circuitloupe.cli.types``) or
choices fails :func:`test_every_value_is_validated`. Each case is run through ``main`` in
process: exit code 2, exactly one line on standard error, no traceback, and no existing file
touched. A value the parser accepts is not run (no model is loaded here); the values each type
must refuse are listed in :func:`must_reject`.
"""

from __future__ import annotations

import argparse
import math
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest
import torch

import circuitloupe.cli as cli
from circuitloupe.cli import build_parser, main, types

#: Tried on every option and positional, whatever its type.
HOSTILE = ("", " ", "nan", "inf", "-inf", "1e309", "-5", "0", "abc", "99999999999999999999999", "1.5", "\x00",
           "-", ",", "synthetic:0", "../" * 40 + "x")


@dataclass
class Case:
    command: tuple[str, ...]
    target: str  # the option string, or the positional's name
    value: str
    argv: list[str]
    must_fail: bool


class Files:
    """Paths the generated values point at; ``keep_*`` files must survive every case."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.folder = root / "folder"
        self.folder.mkdir()
        self.file = root / "input.txt"
        self.file.write_text("a: b\n")
        self.binary = root / "binary.labels"
        self.binary.write_bytes(bytes(range(256)) * 4)
        self.missing = root / "missing"
        self.kept: dict[Path, bytes] = {}

    def keep(self, name: str) -> str:
        path = self.root / name
        if path not in self.kept:
            self.kept[path] = f"precious {name}\n".encode()
            path.write_bytes(self.kept[path])
        return str(path)

    def lost(self) -> list[Path]:
        return [p for p, data in self.kept.items() if not p.is_file() or p.read_bytes() != data]


def parsers(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()) -> Iterator[tuple]:
    """(command words, parser) for the top-level parser and every sub-command, nested ones too."""
    yield prefix, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from parsers(sub, (*prefix, name))


def value_actions(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [a for a in parser._actions if a.nargs != 0 and not isinstance(a, (argparse._HelpAction,
                                                                              argparse._VersionAction))]


def valid_value(action: argparse.Action, files: Files) -> str:
    """A value the action accepts (outputs point at files that must not be touched)."""
    kind = action.type
    if action.choices is not None:
        return next(iter(action.choices))
    if isinstance(kind, types.Range):
        return str(kind.kind(kind.hi))
    return {
        types.output_file: files.keep("keep.out"), types.output_or_stdout: files.keep("keep.json"),
        types.png_or_folder: files.keep("keep.png"), types.output_folder: str(files.folder),
        types.input_file: str(files.file), types.input_folder: str(files.folder), types.label_set: "curve",
        types.stimuli: "synthetic", types.rot_mnist_data: "synthetic", types.device: "cpu",
        types.position: "max",
    }.get(kind, "conv2:1")


def must_reject(action: argparse.Action, files: Files) -> set[str]:
    """The values this action's type (or choices) must refuse."""
    kind = action.type
    if action.choices is not None:
        return {"", "abc", "nan"}
    if isinstance(kind, types.Range):
        step = 1 if kind.kind is int else max(1.0, abs(kind.hi))
        bad = {"", "abc", "nan", "inf", "-inf", "1e309", str(kind.kind(kind.hi + step))}
        bad |= {str(kind.lo)} if kind.open_low else {str(kind.kind(kind.lo - step))}
        if kind.kind is int:
            bad |= {"1.5", "99999999999999999999999"}
        return bad
    folder, file, missing = str(files.folder), str(files.file), str(files.missing / "x.png")
    return {
        types.output_file: {"", folder, missing, file + "/x.png"},
        types.output_or_stdout: {"", folder, missing, file + "/x.json"},
        types.png_or_folder: {"", folder + "/x.jpg", missing, str(files.missing / "sub")},
        types.output_folder: {"", file, str(files.missing / "sub")},
        types.input_file: {"", folder, str(files.missing)},
        types.input_folder: {"", file, str(files.missing)},
        types.label_set: {"", "nope", str(files.binary), str(files.missing)},
        types.stimuli: {"", "abc", str(files.missing)},
        types.rot_mnist_data: {"", "synthetic:abc", "synthetic:0", "synthetics"},
        types.device: {"", "quantum", "cuda:x", "nan"},
        types.position: {"", "abc", "1,2,3", "-1,2"},
        types.name_list: {"", " ", ",", "\x00"},
    }.get(kind, {"", " ", "\x00"})


def cases(files: Files) -> Iterator[Case]:
    for command, parser in parsers(build_parser()):
        actions = value_actions(parser)
        for target in actions:
            bad = must_reject(target, files)
            for value in sorted(set(HOSTILE) | bad):
                options, positionals = [], []
                for action in actions:
                    if isinstance(action, argparse._SubParsersAction):
                        continue  # the command words are the prefix
                    given = value if action is target else valid_value(action, files)
                    if action.option_strings:
                        if action is target or action.required:
                            options.append(f"{action.option_strings[-1]}={given}")
                    else:
                        positionals.append(given)
                if isinstance(target, argparse._SubParsersAction):
                    argv = [*command, *options, value]
                else:
                    argv = [*command, *options, *(["--", *positionals] if positionals else [])]
                name = target.option_strings[-1] if target.option_strings else (target.metavar or target.dest)
                yield Case(command, name, value, argv, value in bad)


def run_case(case: Case, parser: argparse.ArgumentParser, capsys) -> tuple[int | None, str]:
    """(exit code, standard error) of ``main``; (None, '') when the value parses (not run)."""
    try:
        parser.parse_args(case.argv)
    except SystemExit:
        capsys.readouterr()
        code = main(case.argv)
        return code, capsys.readouterr().err
    capsys.readouterr()
    return None, ""


def test_every_value_is_validated():
    """Every option or positional that takes a value has choices or a type from cli.types."""
    unchecked = [f"{' '.join(command) or 'circuitloupe'} {a.option_strings or a.dest}"
                 for command, parser in parsers(build_parser()) for a in value_actions(parser)
                 if a.choices is None and not (isinstance(a.type, types.Range)
                                               or getattr(a.type, "__module__", "") == types.__name__)]
    assert unchecked == []


def test_hostile_values_are_one_line_errors(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    parser = build_parser()
    monkeypatch.setattr(cli, "build_parser", lambda **_: parser)  # main parses with the same parser, built once
    files = Files(tmp_path)
    failures, refused, accepted = [], 0, 0
    for case in cases(files):
        code, err = run_case(case, parser, capsys)
        if code is None:
            accepted += 1
            if case.must_fail:
                failures.append(f"{case.argv}: accepted")
            continue
        refused += 1
        lines = err.splitlines()
        if code != 2 or len(lines) != 1 or "Traceback" in err or "error:" not in err:
            failures.append(f"{case.argv}: exit {code}, stderr {err!r}")
        elif case.must_fail and case.target not in lines[0]:
            failures.append(f"{case.argv}: the error does not name {case.target}: {lines[0]}")
    assert failures == []
    assert files.lost() == []
    assert refused > 1000 and accepted > 100  # the battery really ran


@pytest.mark.parametrize("argv, message", [
    (["featvis", "mixed3b:379", "--model", "bundled", "--size", "1", "--out", "x.png"], "argument --size"),
    (["attribute", "mixed3b:379", "sample:chelsea", "--model", "bundled", "--clip", "200"], "argument --clip"),
    (["equivariance", "c2:0,1", "--model", "p4cnn", "--transform", "rotate", "--steps", "100000",
      "--json", "-"], "argument --steps"),
    (["layers", "--model", "bundled", "--device", "quantum"], "argument --device"),
])
def test_the_installed_command_gives_one_line(argv, message, tmp_path):
    result = subprocess.run([sys.executable, "-m", "circuitloupe", *argv], capture_output=True, text=True,
                            cwd=tmp_path, timeout=120)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and message in result.stderr and "Traceback" not in result.stderr
    assert result.stdout == "" and list(tmp_path.iterdir()) == []


def test_ranges_refuse_nan_and_infinity():
    for bad in ("nan", "inf", "-inf", "1e309", "NaN"):
        with pytest.raises(argparse.ArgumentTypeError):
            types.number(-math.inf, math.inf)(bad)
    assert types.number(0, 1, open_low=True)("1") == 1.0
    with pytest.raises(argparse.ArgumentTypeError, match="above 0"):
        types.number(0, 1, open_low=True)("0")


@pytest.mark.skipif(bool(getattr(torch.backends, "mps", None)) and torch.backends.mps.is_available(),
                    reason="this machine has Apple's MPS")
def test_a_device_this_machine_lacks_is_one_line(capsys):
    assert main(["layers", "--model", "bundled", "--device", "mps"]) == 2
    assert capsys.readouterr().err == ("circuitloupe layers: error: argument --device: Apple's MPS is not available "
                                       "here; use cpu or auto\n")
