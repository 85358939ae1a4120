"""Segment files of the activation cache: writing them without memory maps, and checking them.

A segment's arrays are ``.npy`` files allocated at their full size (sparse) and filled with
plain positioned writes, so a full disk is an ``OSError`` (ENOSPC), reported in one line,
rather than a SIGBUS from a memory-mapped page. Before a segment is allocated the free space
is checked. Every image row carries a CRC-32 of its path and its arrays' bytes, stored in the
index, so zeroed data or index rows pointing at the wrong row are found and rescanned.
"""

from __future__ import annotations

import errno
import os
import shutil
import sqlite3
import zlib
from pathlib import Path
from typing import BinaryIO

import numpy as np

from circuitloupe.core.errors import UserError

SUMMARY_FIELDS = ("pre_max", "pre_mean", "pre_centre", "post_max", "post_mean", "post_centre")
SPARE_BYTES = 32 * 2**20  # room left for the index and its journal


class DiskFullError(UserError):
    """The disk holding the cache has no room for what a scan has to write."""


def segment_file(folder: Path, segment: int, kind: str) -> Path:
    """``segN.KIND.npy`` in a cache folder (kind ``pre``, ``post`` or ``summary``)."""
    return folder / f"seg{segment}.{kind}.npy"


def free_bytes(folder: Path) -> int:
    """Bytes free for this user on the disk holding ``folder``."""
    return shutil.disk_usage(folder).free


def is_disk_full(error: BaseException) -> bool:
    """Whether an error from writing a file or the SQLite index means the disk is full."""
    if isinstance(error, OSError):
        return error.errno in (errno.ENOSPC, errno.EDQUOT)
    return isinstance(error, sqlite3.OperationalError) and "full" in str(error)


def row_checksum(relpath: str, rows: list[np.ndarray]) -> int:
    """CRC-32 of an image's path and its row of each array (pre, [post,] summary)."""
    crc = zlib.crc32(relpath.encode("utf-8"))
    for row in rows:
        crc = zlib.crc32(np.ascontiguousarray(row, np.float32).data, crc)
    return crc


class SegmentWriter:
    """Writes one segment's rows in place; the caller commits index rows after :meth:`write`."""

    def __init__(self, folder: Path, segment: int, rows: int, shape: tuple[int, ...], has_post: bool) -> None:
        self.folder, self.segment = folder, segment
        kinds = {"pre": (rows, *shape), **({"post": (rows, *shape)} if has_post else {}),
                 "summary": (rows, shape[0], len(SUMMARY_FIELDS))}
        self._files: dict[str, tuple[BinaryIO, int, int]] = {}  # kind -> (file, data offset, bytes per row)
        try:
            for kind, full in kinds.items():
                self._files[kind] = _allocate(segment_file(folder, segment, kind), full)
        except BaseException:
            self.close()
            raise
        self.next_row = 0

    @staticmethod
    def bytes_needed(rows: int, shape: tuple[int, ...], has_post: bool) -> int:
        """Disk bytes a segment of ``rows`` images of ``shape`` (channels, H, W) takes."""
        per_row = int(np.prod(shape)) * (2 if has_post else 1) + shape[0] * len(SUMMARY_FIELDS)
        return 4 * rows * per_row

    def write(self, relpaths: list[str], arrays: dict[str, np.ndarray]) -> list[tuple[int, int]]:
        """Write a batch (``arrays``: kind -> [B, ...] float32) to the next rows, durably;
        returns (row, checksum) per image."""
        start = self.next_row
        for kind, (file, offset, row_bytes) in self._files.items():
            _write_at(file, offset + start * row_bytes, np.ascontiguousarray(arrays[kind], np.float32).tobytes())
        self.next_row = start + len(relpaths)
        return [(start + i, row_checksum(r, [arrays[k][i] for k in self._files])) for i, r in enumerate(relpaths)]

    def close(self) -> None:
        for file, _, _ in self._files.values():
            file.close()
        self._files.clear()


def _allocate(path: Path, shape: tuple[int, ...]) -> tuple[BinaryIO, int, int]:
    """Create a sparse ``.npy`` file of float32 ``shape``; returns (file, data offset, bytes per row)."""
    file = open(path, "w+b")
    try:
        np.lib.format.write_array_header_1_0(file, {"descr": np.lib.format.dtype_to_descr(np.dtype(np.float32)),
                                                    "fortran_order": False, "shape": tuple(shape)})
        offset = file.tell()
        row_bytes = 4 * int(np.prod(shape[1:]))
        file.truncate(offset + shape[0] * row_bytes)
    except BaseException:
        file.close()
        raise
    return file, offset, row_bytes


def _write_at(file: BinaryIO, position: int, data: bytes) -> None:
    """Write ``data`` at ``position`` and onto the disk; a full disk raises OSError (ENOSPC)."""
    file.seek(position)
    file.write(data)
    file.flush()
    os.fsync(file.fileno())


def summarise(pre: np.ndarray, post: np.ndarray) -> np.ndarray:
    """[B, C, H, W] pre and post values -> [B, C, 6]: max, mean and centre of each."""
    h, w = pre.shape[2] // 2, pre.shape[3] // 2
    columns = []
    for array in (pre, post):
        columns += [array.max(axis=(2, 3)), array.mean(axis=(2, 3)), array[:, :, h, w]]
    return np.stack(columns, axis=2).astype(np.float32)


def check_space(folder: Path, needed: int, rows: int) -> None:
    """Raise :class:`DiskFullError` when ``folder``'s disk cannot take ``needed`` more bytes."""
    free = free_bytes(folder)
    if free < needed + SPARE_BYTES:
        raise DiskFullError(f"the activation cache needs {needed / 1e6:.0f} MB for {rows} images but the disk "
                            f"holding {folder} has {free / 1e6:.0f} MB free; free some space and scan again")
