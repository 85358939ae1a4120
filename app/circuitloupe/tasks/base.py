"""The use-case layer's shapes: a frozen, validated Request, ``run(ctx, request) -> Result``.

A **Request** holds every parameter of one analysis, validated when it is made. Its fields carry
their command-line spelling (:func:`positional`, :func:`option`, :func:`flag`), so
``to_argv()`` writes the sub-command that reproduces it and ``from_args()`` reads the parsed
namespace back; the CLI's argparse definitions and the Request are tested against each other.

A **Result** draws its figure (``figure(scale)``), serialises itself (``to_json()``), saves
(``save(path)``: ``.png`` or ``.json``) and shows itself in Jupyter (``_repr_png_``).

``run(ctx, request)`` finds the function registered for the request's type with :func:`task`.
``ctx`` is anything with ``model``, ``progress(step, total, preview)`` and ``should_stop()``:
the inference service's job context in the GUI, :class:`TaskContext` in the CLI and notebooks.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import os
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Protocol, TypeVar

from circuitloupe.core.errors import UserError
from circuitloupe.core.jobs import ProgressFn, StopFn, never_stop, no_progress

if TYPE_CHECKING:
    from PIL import Image

    from circuitloupe.core.models import LoadedModel

_ARG = "circuitloupe.arg"
_MEMORY = "circuitloupe.in_memory"


@dataclass(frozen=True)
class _Spelling:
    """How a Request field is written on the command line."""

    flag: str | None  # "--steps"; None for a positional argument
    is_switch: bool = False  # a store_true flag: written when the value is true
    many: bool = False  # nargs="+" positional, or a comma-joined option


def positional(*, many: bool = False, **kwargs: Any) -> Any:
    """A positional command-line argument (``many``: one or more values)."""
    return field(metadata={_ARG: _Spelling(None, many=many)}, **kwargs)


def option(flag: str, *, many: bool = False, **kwargs: Any) -> Any:
    """An option ``--name VALUE`` (``many``: a tuple written as ``a,b,c``)."""
    return field(metadata={_ARG: _Spelling(flag, many=many)}, **kwargs)


def flag(name: str, **kwargs: Any) -> Any:
    """A switch ``--name``, true when given."""
    kwargs.setdefault("default", False)
    return field(metadata={_ARG: _Spelling(name, is_switch=True)}, **kwargs)


def in_memory(**kwargs: Any) -> Any:
    """A value only the GUI passes (e.g. an image's pixels that no file holds): not on the command
    line, not in the JSON, not compared. A request using one has no command line."""
    return field(default=None, compare=False, repr=False, metadata={_MEMORY: True}, **kwargs)


def uses_memory(request: Request) -> bool:
    """Whether ``request`` carries an :func:`in_memory` value (so no command reproduces it)."""
    return any(f.metadata.get(_MEMORY) and getattr(request, f.name) is not None for f in dataclasses.fields(request))


def is_positional(f: dataclasses.Field) -> bool:
    """Whether a Request field is a positional command-line argument."""
    spelling = f.metadata.get(_ARG)
    return spelling is not None and spelling.flag is None


class Context(Protocol):
    """What a task runs with: the model and the progress / stop callbacks."""

    model: LoadedModel | None  # None only for tasks with ``needs_model = False``
    progress: ProgressFn
    should_stop: StopFn


@dataclass
class TaskContext:
    """A :class:`Context` for the CLI, notebooks and tests."""

    model: LoadedModel | None
    progress: ProgressFn = no_progress
    should_stop: StopFn = never_stop


@dataclass(frozen=True)
class Request:
    """Every parameter of one analysis. Subclasses are frozen dataclasses whose fields use
    :func:`positional`, :func:`option` or :func:`flag`, and set ``command``."""

    command: ClassVar[str] = ""
    #: False for a task that works on saved files only (``label stats``): it runs without a model.
    needs_model: ClassVar[bool] = True

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            object.__setattr__(self, f.name, _normalised(f, getattr(self, f.name)))
        self.validate()

    def validate(self) -> None:
        """Raise :class:`UserError` (one readable line) when a parameter is out of range."""

    def to_argv(self) -> list[str]:
        """The sub-command and arguments that make this request (defaults left out)."""
        positionals: list[str] = []
        options: list[str] = []
        for f in dataclasses.fields(self):
            spelling = f.metadata.get(_ARG)
            if spelling is None:
                continue
            value = getattr(self, f.name)
            if spelling.flag is None:
                if value is None:  # an optional positional left out
                    continue
                positionals.extend(map(str, value) if spelling.many else [str(value)])
            elif _is_default(f, value) or value is None:
                continue
            elif spelling.is_switch:
                options.append(spelling.flag)
            else:
                options += [spelling.flag, ",".join(map(str, value)) if spelling.many else _text(value)]
        return [*self.command.split(), *positionals, *options]

    @classmethod
    def from_args(cls: type[R], args: argparse.Namespace) -> R:
        """The request a parsed command line asks for (fields read by name from ``args``)."""
        # An option left out (None) keeps the field's default.
        return cls(**{f.name: getattr(args, f.name) for f in dataclasses.fields(cls)
                      if _ARG in f.metadata and getattr(args, f.name, None) is not None})


R = TypeVar("R", bound=Request)


def _normalised(f: dataclasses.Field, value: Any) -> Any:
    """Paths as the text a command line shows; a field of several values as a tuple (an option's
    ``"a,b"`` split at its commas, one value for a positional wrapped)."""
    spelling = f.metadata.get(_ARG)
    if spelling is not None and spelling.many and value is not None:
        items = value if isinstance(value, (list, tuple)) else [value]
        items = [os.fspath(v) if isinstance(v, os.PathLike) else v for v in items]
        return tuple(items) if spelling.flag is None else tuple(_split_many(items))
    return os.fspath(value) if isinstance(value, os.PathLike) else value


def _is_default(f: dataclasses.Field, value: Any) -> bool:
    if f.default is not dataclasses.MISSING:
        return value == f.default
    if f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
        return value == f.default_factory()  # type: ignore[misc]
    return False


def _text(value: Any) -> str:
    return repr(value) if isinstance(value, float) else str(value)


def _split_many(value: Any) -> list[str]:
    items = value if isinstance(value, (list, tuple)) else [value]
    return [part.strip() for item in items for part in str(item).split(",") if part.strip()]


@dataclass
class Result:
    """What an analysis returns. Subclasses add their data and implement :meth:`figure` and
    :meth:`data` (the JSON body)."""

    request: Request
    model_spec: str
    weights_id: str

    def figure(self, scale: float = 1.0) -> Image.Image:
        """The Result's figure; Results that are only numbers (a whole-layer scan) have none."""
        raise UserError(f"this {self.request.command} result has no figure; save its numbers as .json")

    def data(self) -> dict[str, Any]:
        """The analysis's own JSON fields (without model and request)."""
        return {}

    def lines(self) -> list[str]:
        """A short text summary: what the command prints."""
        return []

    def to_json(self) -> dict[str, Any]:
        return {"command": self.request.command, "model": self.model_spec, "weights": self.weights_id,
                "request": request_fields(self.request), **self.data()}

    def save(self, path: str | Path, scale: float = 1.0) -> Path:
        """Write the figure (``.png``) or the JSON (``.json``) to ``path``."""
        from circuitloupe.core.figures import save_png
        from circuitloupe.core.paths import atomic_write_text

        path = Path(path)
        suffix = path.suffix.lower()
        if suffix == ".png":
            save_png(self.figure(scale), path)
        elif suffix == ".json":
            atomic_write_text(path, json.dumps(self.to_json(), indent=2, default=jsonable) + "\n")
        else:
            raise UserError(f"{path}: save as .png (the figure) or .json (the numbers)")
        return path

    def _repr_png_(self) -> bytes:
        buffer = io.BytesIO()
        self.figure().save(buffer, format="PNG")
        return buffer.getvalue()


def request_fields(request: Request) -> dict[str, Any]:
    return {f.name: getattr(request, f.name) for f in dataclasses.fields(request) if not f.metadata.get(_MEMORY)}


def jsonable(value: Any) -> Any:
    """``json.dumps`` default for numpy values, paths and unit references."""
    import numpy as np

    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return str(value)


_RUNNERS: dict[type[Request], Callable[[Context, Any], Result]] = {}

F = TypeVar("F", bound=Callable[..., Result])


def task(request_type: type[Request]) -> Callable[[F], F]:
    """Register ``fn(ctx, request) -> Result`` as the way to run ``request_type``."""

    def register(fn: F) -> F:
        _RUNNERS[request_type] = fn
        return fn

    return register


def run(ctx: Context, request: Request) -> Result:
    """Run ``request`` with ``ctx``'s model, reporting progress and honouring cancel."""
    try:
        runner = _RUNNERS[type(request)]
    except KeyError:
        raise TypeError(f"no task is registered for {type(request).__name__}") from None
    return runner(ctx, request)


def model_arguments(model: LoadedModel) -> list[str]:
    """The ``--model`` / ``--weights`` arguments that load ``model`` on the command line."""
    argv = ["--model", model.spec]
    if model.weights_spec:  # random:SEED or a weights file; None loads the default weights
        argv += ["--weights", model.weights_spec]
    return argv


def command_line(request: Request, model_args: list[str], outputs: dict[str, str] | None = None) -> str:
    """The full shell command reproducing ``request`` on a model, e.g. for "Copy as CLI command"."""
    argv = ["circuitloupe", *request.to_argv(), *model_args]
    for name, value in (outputs or {}).items():
        argv += [f"--{name}", value]
    return shlex.join(argv)
