"""Image folders: walking them, and decoding their files into model-sized tensors.

``walk_folder`` lists every image file under a folder (recursively, hidden entries skipped)
with its size and modification time, so a cache can tell new and changed files from known
ones; entries it cannot list (a symlink loop, a name that is not UTF-8) are skipped and listed.
:class:`ImageFolderData` is the torch ``Dataset`` a scan's DataLoader workers decode from; a
file that cannot be decoded becomes an item with an error instead of an exception;
:func:`readable_batches` reads a folder's files a batch at a time in-process, skipping unreadable ones.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from circuitloupe.core.errors import ImageError, UserError
from circuitloupe.core.images import IMAGE_SUFFIXES, is_transient, load_image
from circuitloupe.core.jobs import StopFn, check_stop

RESIZE_MODES = ("squash", "crop")


@dataclass(frozen=True)
class FileEntry:
    """One file under a dataset folder: path relative to the folder, size in bytes, mtime in ns."""

    relpath: str
    size: int
    mtime_ns: int


@dataclass(frozen=True)
class FolderListing:
    """What a walk found: image files (sorted by path), other files that were ignored, and
    (relpath, reason) of image entries that could not be listed."""

    images: list[FileEntry]
    ignored: list[str]
    skipped: list[tuple[str, str]] = field(default_factory=list)


def walk_folder(root: str | os.PathLike) -> FolderListing:
    """All image files under ``root`` (recursive; hidden files and folders are skipped).

    Files whose suffix is not an image suffix are listed in ``ignored``; image entries that
    cannot be stat'ed (a symlink loop, a dangling link) or whose name is not UTF-8 in ``skipped``.
    """
    root = Path(root)
    if not root.is_dir():
        raise UserError(f"{root} is not a folder of images")
    images: list[FileEntry] = []
    ignored: list[str] = []
    skipped: list[tuple[str, str]] = []
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            ignored.append(printable(str(Path(folder).relative_to(root))) + "/")
            continue
        for entry in entries:
            if entry.name.startswith("."):
                continue
            if entry.is_dir(follow_symlinks=False):
                stack.append(Path(entry.path))
                continue
            relpath = Path(entry.path).relative_to(root).as_posix()
            if Path(entry.name).suffix.lower() not in IMAGE_SUFFIXES:
                ignored.append(printable(relpath))
                continue
            try:
                relpath.encode("utf-8")
            except UnicodeEncodeError:
                skipped.append((printable(relpath), "the file name is not valid UTF-8; rename it to scan it"))
                continue
            try:
                if not entry.is_file():
                    ignored.append(relpath)
                    continue
                stat = entry.stat()
            except OSError as error:
                skipped.append((relpath, f"cannot read the file entry: {error.strerror or error}"))
                continue
            images.append(FileEntry(relpath, stat.st_size, stat.st_mtime_ns))
    images.sort(key=lambda e: e.relpath)
    return FolderListing(images, sorted(ignored), sorted(skipped))


def readable_batches(folder: str | os.PathLike, relpaths: Sequence[str], batch_size: int, channels: int = 3,
                     should_stop: StopFn | None = None) -> Iterator[tuple[int, list[str], list[np.ndarray]]]:
    """``relpaths`` under ``folder`` read ``batch_size`` files at a time, unreadable files skipped:
    (the chunk's index, the relpaths read, their [H, W, channels] images in [0, 1]). A chunk with no
    readable file yields nothing; ``should_stop`` is checked before each chunk."""
    for index, start in enumerate(range(0, len(relpaths), batch_size)):
        check_stop(should_stop)
        names, arrays = [], []
        for relpath in relpaths[start:start + batch_size]:
            try:
                arrays.append(load_image(Path(folder) / relpath, channels))
            except ImageError:
                continue
            names.append(relpath)
        if arrays:
            yield index, names, arrays


def printable(name: str) -> str:
    """A file name as text that can be printed and stored: undecodable bytes as ``\\xff``."""
    return os.fsencode(name).decode("utf-8", "backslashreplace")


def prepare_pixels(pixels: np.ndarray, size: tuple[int, int], resize: str = "squash") -> np.ndarray:
    """Resize a decoded image [H, W, C] in [0, 1] the way a scan feeds it to the model.

    ``squash`` resizes the whole image to ``size`` (no crop, aspect ratio not kept);
    ``crop`` scales the shorter side to fit and cuts out the centre. Bilinear, antialiased.
    Returns float32 [h, w, C] in [0, 1].
    """
    if resize not in RESIZE_MODES:
        raise UserError(f"resize must be one of {', '.join(RESIZE_MODES)}, not '{resize}'")
    tensor = torch.as_tensor(np.asarray(pixels, dtype=np.float32)).permute(2, 0, 1)[None]
    h, w = tensor.shape[-2:]
    if resize == "crop":
        factor = max(size[0] / h, size[1] / w)
        inner = (max(size[0], round(h * factor)), max(size[1], round(w * factor)))
        tensor = _resize(tensor, inner)
        top, left = (inner[0] - size[0]) // 2, (inner[1] - size[1]) // 2
        tensor = tensor[..., top:top + size[0], left:left + size[1]]
    else:
        tensor = _resize(tensor, size)
    return tensor[0].clamp(0, 1).permute(1, 2, 0).contiguous().numpy()


def _resize(tensor: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    if tuple(tensor.shape[-2:]) == tuple(size):
        return tensor
    return F.interpolate(tensor, size=size, mode="bilinear", antialias=True, align_corners=False)


class ImageFolderData(Dataset):
    """Decodes ``root/relpath`` files into [C, h, w] float tensors for a DataLoader.

    Item ``i`` is ``(i, tensor, "", False)`` or, for a file that cannot be read,
    ``(i, empty, error, transient)``; ``transient`` when the read may work next time (permissions, I/O).
    Picklable, so DataLoader workers of any start method can use it.
    """

    def __init__(self, root: str | os.PathLike, relpaths: list[str], size: tuple[int, int],
                 resize: str = "squash", channels: int = 3) -> None:
        self.root = Path(root)
        self.relpaths = list(relpaths)
        self.size = tuple(size)
        self.resize = resize
        self.channels = channels

    def __len__(self) -> int:
        return len(self.relpaths)

    def __getitem__(self, index: int) -> tuple[int, torch.Tensor, str, bool]:
        try:
            pixels = load_image(self.root / self.relpaths[index], self.channels)
            array = prepare_pixels(pixels, self.size, self.resize)
        except ImageError as error:
            return index, torch.empty(0), str(error), is_transient(error)
        except Exception as error:  # image plugins raise many types for garbage input
            text = f"cannot read image {self.relpaths[index]}: {type(error).__name__}: {error}"
            return index, torch.empty(0), text, is_transient(error)
        return index, torch.from_numpy(array).permute(2, 0, 1).contiguous(), "", False


def collate_decoded(items: list[tuple[int, torch.Tensor, str, bool]]) -> tuple[
        list[int], torch.Tensor | None, list[tuple[int, str, bool]]]:
    """Batch decoded items: (indices of good images, [B, C, h, w] or None, [(index, error, transient)])."""
    good = [(i, t) for i, t, error, _ in items if not error]
    bad = [(i, error, transient) for i, _, error, transient in items if error]
    batch = torch.stack([t for _, t in good]) if good else None
    return [i for i, _ in good], batch, bad
