"""Reading, checking, downloading and seeding weights. A weights file never runs code.

Files are read with ``torch.load(..., weights_only=True)`` or safetensors; every failure
becomes a :class:`WeightsError` naming the file and what is wrong with it.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import re
import urllib.error
import urllib.request
import zipfile
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from circuitloupe.core import filehash
from circuitloupe.core.errors import WeightsError

StateDict = dict[str, torch.Tensor]
#: torch.manual_seed takes seeds from 0 to 2**64 - 1.
MAX_SEED = 2**64 - 1
_RANDOM_SPEC = re.compile(r"random(?::([0-9]+))?")


def read_state_dict(path: str | os.PathLike) -> StateDict:
    """Read a state dict from a ``.pth``/``.pt`` (weights only) or ``.safetensors`` file.

    A checkpoint that wraps the state dict under ``state_dict`` or ``model`` is unwrapped.
    """
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weights file {path} does not exist")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            loaded = load_file(str(path), device="cpu")
        else:
            loaded = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, zipfile.BadZipFile, EOFError) as error:
        raise WeightsError(f"{path} is not a readable weights file ({_first_line(error)})") from None
    except RuntimeError as error:
        text = str(error)
        reason = "it is truncated or damaged" if ("failed finding central directory" in text
                                                  or "PytorchStreamReader" in text) else _first_line(error)
        raise WeightsError(f"{path} is not a readable weights file: {reason}") from None
    except Exception as error:  # safetensors and pickle raise many types for garbage input
        raise WeightsError(f"{path} is not a readable weights file ({_first_line(error)})") from None
    for wrapper in ("state_dict", "model"):
        if isinstance(loaded, dict) and isinstance(loaded.get(wrapper), dict):
            loaded = loaded[wrapper]
    if not isinstance(loaded, dict) or not all(isinstance(v, torch.Tensor) for v in loaded.values()):
        raise WeightsError(f"{path} holds a {type(loaded).__name__}, not a state dict of tensors")
    return loaded


def load_into(net: nn.Module, state: StateDict, source: str | os.PathLike) -> None:
    """Load ``state`` into ``net`` strictly; a mismatch names the file and the first differences."""
    expected = net.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    wrong = [f"{k} is {_shape(state[k])} in the file but {_shape(expected[k])} in the model"
             for k in expected if k in state and state[k].shape != expected[k].shape]
    problems = []
    if missing:
        problems.append(f"missing keys {_few(missing)}")
    if unexpected:
        problems.append(f"unexpected keys {_few(unexpected)}")
    if wrong:
        problems.append(_few(wrong))
    if problems:
        raise WeightsError(f"{source} does not fit this model: " + "; ".join(problems))
    net.load_state_dict(state, strict=True)


def weights_id_for_file(path: str | os.PathLike) -> str:
    """A cache key for a weights file: the SHA-256 of its content (computed once per version of the file)."""
    return f"sha256:{filehash.sha256(path)}"


def hub_checkpoint_path(filename: str) -> Path:
    """Where a downloaded checkpoint lives: torch hub's cache folder."""
    return Path(torch.hub.get_dir()) / "checkpoints" / filename


def download(url: str, filename: str, sha256: str | None = None,
             progress: Callable[[int, int], None] | None = None, offline_hint: str = "") -> Path:
    """Download ``url`` into the torch hub cache once; later calls return the cached file.

    ``sha256`` is the expected digest, or its leading hex digits (torch hub file names carry
    some). ``progress(bytes_done, bytes_total)`` is called as data arrives. The file is written
    to a temporary name and renamed when complete and verified, so a broken download leaves
    nothing; a cached file is checked as well, so one changed after its download is refused.
    """
    target = hub_checkpoint_path(filename)
    if target.is_file():
        if sha256 and not filehash.sha256(target).startswith(sha256):
            raise WeightsError(f"{target} is not the file published at {url} (its SHA-256 differs); "
                               "delete it to download it again")
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(target.suffix + ".partial")
    try:
        with urllib.request.urlopen(url, timeout=30) as response, open(partial, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0)
            done = 0
            digest = hashlib.sha256()
            while chunk := response.read(1 << 16):
                out.write(chunk)
                digest.update(chunk)
                done += len(chunk)
                if progress:
                    progress(done, total)
    except (urllib.error.URLError, OSError, TimeoutError) as error:
        partial.unlink(missing_ok=True)
        raise WeightsError(f"could not download {url} ({_first_line(error)}). {offline_hint}".strip()) from None
    if sha256 and not digest.hexdigest().startswith(sha256):
        partial.unlink(missing_ok=True)
        raise WeightsError(f"the file downloaded from {url} has the wrong SHA-256; it was discarded")
    os.replace(partial, target)
    return target


def parse_random_spec(weights: str | None) -> int | None:
    """The seed when ``weights`` asks for seeded random weights, else None (a file, or the default).

    Only ``random`` (seed 0) and ``random:SEED`` (SEED a whole number from 0 to MAX_SEED) mean
    random weights; anything else is a weights file path, ``random_trained.safetensors`` too.
    ``random:`` followed by anything else is an error, unless a file of that name exists.
    """
    if weights is None:
        return None
    match = _RANDOM_SPEC.fullmatch(weights)
    if match and len(match.group(1) or "") <= 20 and int(match.group(1) or 0) <= MAX_SEED:
        return int(match.group(1) or 0)
    if weights.startswith("random:") and not os.path.lexists(weights):
        raise WeightsError(f"{_clip(repr(weights))} is neither random:SEED (SEED a whole number from 0 to {MAX_SEED}) "
                           "nor an existing weights file")
    return None


def canonical_spec(weights: str | None) -> str | None:
    """What ``--weights`` takes to load the same weights again: None (the default),
    ``random:SEED``, or the weights file's absolute path."""
    seed = parse_random_spec(weights)
    if seed is not None:
        return f"random:{seed}"
    return None if weights is None else str(Path(weights).resolve())


def _shape(tensor: torch.Tensor) -> str:
    return "x".join(map(str, tensor.shape)) or "scalar"


def _few(items: list[str], limit: int = 3) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" (+{len(items) - limit} more)" if len(items) > limit else "")


def _clip(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__
