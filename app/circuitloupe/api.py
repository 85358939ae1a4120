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
from circuitloupe.tasks.base import is_many


def load(spec: str, weights: str | None = None, device: str = "auto") -> LoadedModel:
    """A model as on the command line: ``--model SPEC [--weights W] [--device D]``."""
    return load_model(spec, weights, device=pick_device(device))


def _function_for(request_type: type[Request]) -> Callable[..., Result]:
    fields = [f for f in dataclasses.fields(request_type) if f.init]
    positionals = [f for f in fields if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]

    def call(model: LoadedModel, *args: Any, progress: ProgressFn | None = None, **kwargs: Any) -> Result:
        if len(args) > len(positionals):
            raise TypeError(f"{request_type.command}() takes {len(positionals)} positional argument(s) after the model")
        for f, value in zip(positionals, args):
            if not is_many(f):
                kwargs[f.name] = value
            else:
                kwargs[f.name] = tuple(value) if isinstance(value, (list, tuple)) else (value,)
        context = TaskContext(model, progress) if progress else TaskContext(model)
        return run(context, request_type(**kwargs))

    parameters = [inspect.Parameter("model", inspect.Parameter.POSITIONAL_ONLY, annotation=LoadedModel)]
    parameters += [inspect.Parameter(f.name, inspect.Parameter.POSITIONAL_OR_KEYWORD) for f in positionals]
    parameters += [inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=f.default)
                   for f in fields if f not in positionals]
    parameters.append(inspect.Parameter("progress", inspect.Parameter.KEYWORD_ONLY, default=None))
    call.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    call.__name__ = call.__qualname__ = request_type.command.replace("-", "_").replace(" ", "_")
    call.__doc__ = f"Run ``circuitloupe {request_type.command}`` on ``model``. {request_type.__doc__ or ''}"
    return call


globals().update({name.replace("-", "_").replace(" ", "_"): _function_for(request_type)
                  for name, request_type in REQUESTS.items()})

__all__ = ["load", *(name.replace("-", "_").replace(" ", "_") for name in REQUESTS)]
