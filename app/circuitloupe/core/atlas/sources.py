"""The images an atlas summarises: a folder (recursive) or a text file listing paths.

The list is sorted by path, so the same images in any order make the same atlas. A file in a
sub-folder takes the sub-folder's name as its class (ImageNet-style ``n01440764/x.JPEG``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np

from circuitloupe.core.dataset.folder import walk_folder
from circuitloupe.core.errors import UserError
from circuitloupe.core.images import IMAGE_SUFFIXES


@dataclass(frozen=True)
class ImageList:
    """Sorted ``paths`` (relative to ``root``, or absolute), their ``classes`` ("" when none),
    and non-image files that were ``ignored``."""

    root: Path
    paths: list[str]
    classes: list[str]
    ignored: list[str]


def list_images(source: str | Path) -> ImageList:
    """The images of a folder, or of a text file with one path per line (relative paths are
    relative to the text file's folder; blank lines and lines starting with # are skipped)."""
    source = Path(source)
    if source.is_dir():
        listing = walk_folder(source)
        paths, ignored, root = [e.relpath for e in listing.images], listing.ignored, source.resolve()
    elif source.is_file():
        lines = [line.strip() for line in source.read_text(encoding="utf-8", errors="replace").splitlines()]
        named = sorted({line for line in lines if line and not line.startswith("#")})
        paths = [p for p in named if Path(p).suffix.lower() in IMAGE_SUFFIXES]
        ignored, root = sorted(set(named) - set(paths)), source.resolve().parent
    else:
        raise UserError(f"{source} is neither a folder of images nor a text file listing images")
    if not paths:
        raise UserError(f"{source} has no images")
    return ImageList(root, paths, [class_of(p) for p in paths], ignored)


def class_of(path: str) -> str:
    """The name of the folder holding ``path`` when it is in a sub-folder, else ""."""
    parent = PurePosixPath(path.replace("\\", "/")).parent
    return "" if str(parent) in (".", "/", "") else parent.name


def file_keys(seed: int, paths: list[str]) -> np.ndarray:
    """A 64-bit key per path for seeded sampling: BLAKE2b of ``seed`` and the path (uint64 [N])."""
    return np.array([int.from_bytes(hashlib.blake2b(f"{seed}\0{p}".encode(), digest_size=8).digest(), "little")
                     for p in paths], dtype=np.uint64)
