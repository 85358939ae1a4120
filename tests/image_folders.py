"""Image folders for dataset and labeling tests: good files of every supported kind plus broken ones."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

GOOD = ("a.png", "b.jpg", "nested/deep/c.webp", "nested/d.bmp", "e.tiff", "rgba.png", "palette.png", "gray.png",
        "cmyk.jpg", "sixteen.png", "exif.jpg")
BAD = ("corrupt.jpg", "fake.png", "truncated.jpg")
IGNORED = ("data.csv", "notes.txt")


def pattern(h: int, w: int, seed: int) -> np.ndarray:
    """A smooth random RGB uint8 image [h, w, 3]: blobs, so the network responds differently per image."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (max(2, h // 8), max(2, w // 8), 3), dtype=np.uint8)
    return np.asarray(Image.fromarray(small).resize((w, h), Image.BILINEAR))


def make_mixed_folder(root: Path) -> Path:
    """Write :data:`GOOD`, :data:`BAD` and :data:`IGNORED` files (and a hidden one) under ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "nested" / "deep").mkdir(parents=True, exist_ok=True)
    Image.fromarray(pattern(40, 48, 1)).save(root / "a.png")
    Image.fromarray(pattern(48, 40, 2)).save(root / "b.jpg", quality=95)
    Image.fromarray(pattern(36, 36, 3)).save(root / "nested/deep/c.webp")
    Image.fromarray(pattern(30, 50, 4)).save(root / "nested/d.bmp")
    Image.fromarray(pattern(44, 44, 5)).save(root / "e.tiff")
    rgba = np.dstack([pattern(40, 40, 6), np.full((40, 40), 255, np.uint8)])
    rgba[:, :20, 3] = 0  # left half fully transparent: composited on white
    Image.fromarray(rgba).save(root / "rgba.png")
    palette = Image.fromarray(pattern(32, 32, 7)).convert("P", palette=Image.ADAPTIVE, colors=16)
    palette.info["transparency"] = 0
    palette.save(root / "palette.png", transparency=0)
    Image.fromarray(np.ascontiguousarray(pattern(40, 40, 8)[..., 0])).save(root / "gray.png")
    Image.fromarray(pattern(40, 40, 9)).convert("CMYK").save(root / "cmyk.jpg", quality=95)
    sixteen = (np.linspace(0, 65535, 40 * 40).reshape(40, 40)).astype(np.uint16)
    Image.fromarray(sixteen).save(root / "sixteen.png")
    exif = Image.fromarray(pattern(20, 40, 10))
    info = exif.getexif()
    info[0x0112] = 6  # rotate 90 degrees clockwise on display
    exif.save(root / "exif.jpg", exif=info.tobytes(), quality=95)
    (root / "corrupt.jpg").write_bytes(np.random.default_rng(0).integers(0, 256, 600, dtype=np.uint8).tobytes())
    (root / "fake.png").write_text("this is not a picture")
    buffer = io.BytesIO()
    Image.fromarray(pattern(64, 64, 11)).save(buffer, format="JPEG", quality=95)
    (root / "truncated.jpg").write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    (root / "notes.txt").write_text("not an image")
    (root / "data.csv").write_text("a,b\n1,2\n")
    Image.fromarray(pattern(20, 20, 12)).save(root / ".hidden.png")
    return root


def make_plain_folder(root: Path, count: int, size: int = 48, seed: int = 0) -> Path:
    """``count`` good PNGs named img000.png ... under ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        Image.fromarray(pattern(size, size, seed * 1000 + i)).save(root / f"img{i:03d}.png")
    return root
