"""The notebook API: ``import circuitloupe as cl``, ``m = cl.load("bundled")``,
``cl.featvis(m, "conv4:26", steps=64)``. Each function is named after its CLI sub-command, takes
the same parameters as its Request (positional arguments first) and returns the task's Result,
which shows its figure in Jupyter."""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any, Callable

from circuitloupe.core.jobs import ProgressFn
from circuitloupe.core.models import LoadedModel, load_model, pick_device
from circuitloupe.tasks import REQUESTS, Request, Result, TaskContext, run
from circuitloupe.tasks.base import is_positional


def load(spec: str, weights: str | None = None, device: str = "auto") -> LoadedModel:
    """A model as on the command line: ``--model SPEC [--weights W] [--device D]``."""
    return load_model(spec, weights, device=pick_device(device))


def _function_for(request_type: type[Request]) -> Callable[..., Result]:
    fields = [f for f in dataclasses.fields(request_type) if f.init]
    # The command's positional arguments (and any field without a default) may be given by position.
    positionals = [f for f in fields if is_positional(f) or f.default is dataclasses.MISSING]
    takes_model = request_type.needs_model
    name = request_type.command.replace("-", "_").replace(" ", "_")

    def call(*args: Any, progress: ProgressFn | None = None, **kwargs: Any) -> Result:
        model = None
        if takes_model:
            if not args or not isinstance(args[0], LoadedModel):
                raise TypeError(f"{name}() takes a model first: {name}(cl.load('bundled'), ...)")
            model, args = args[0], args[1:]
        if len(args) > len(positionals):
            raise TypeError(f"{name}() takes {len(positionals)} positional argument(s)"
                            + (" after the model" if takes_model else ""))
        for f, value in zip(positionals, args):
            if f.name in kwargs:
                raise TypeError(f"{name}() got two values for '{f.name}'")
            kwargs[f.name] = value
        context = TaskContext(model, progress) if progress else TaskContext(model)
        return run(context, request_type(**kwargs))

    parameters = [inspect.Parameter("model", inspect.Parameter.POSITIONAL_ONLY, annotation=LoadedModel)] \
        if takes_model else []
    parameters += [inspect.Parameter(f.name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=_default(f))
                   for f in positionals]
    parameters += [inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=_default(f))
                   for f in fields if f not in positionals]
    parameters.append(inspect.Parameter("progress", inspect.Parameter.KEYWORD_ONLY, default=None))
    call.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    call.__name__ = call.__qualname__ = name
    call.__doc__ = f"Run ``circuitloupe {request_type.command}``" + (" on ``model``" if takes_model else "") + \
        f". {request_type.__doc__ or ''}"
    return call


def _default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
        return f.default_factory()  # type: ignore[misc]
    return inspect.Parameter.empty


globals().update({name.replace("-", "_").replace(" ", "_"): _function_for(request_type)
                  for name, request_type in REQUESTS.items()})

__all__ = ["load", *(name.replace("-", "_").replace(" ", "_") for name in REQUESTS)]
