"""Reading images from disk into float arrays, and resizing them for a model."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps, UnidentifiedImageError

from circuitloupe.core.errors import ImageError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif"}


def load_image(path: str | os.PathLike, channels: int = 3) -> np.ndarray:
    """Decode an image file to float32 [H, W, channels] in [0, 1].

    EXIF orientation is applied; palette, RGBA (composited on white), CMYK, grayscale and
    16-bit images are converted. An unreadable or truncated file raises :class:`ImageError`.
    """
    path = Path(path)
    try:
        with Image.open(path) as image:
            image.load()
            image = ImageOps.exif_transpose(image)
            return pil_to_array(image, channels)
    except FileNotFoundError:
        raise ImageError(f"image {path} does not exist") from None
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError, ValueError,
            EOFError) as error:
        raise ImageError(f"cannot read image {path}: {error}") from None


def pil_to_array(image: Image.Image, channels: int = 3) -> np.ndarray:
    """A PIL image of any mode -> float32 [H, W, channels] in [0, 1].

    16-bit and 32-bit integer images are scaled by 65535 (or 255 when no value exceeds it);
    float images by 1, 255 or 65535, whichever their maximum fits; Lab goes through an sRGB
    transform; images with alpha (RGBA, LA, PA, premultiplied RGBa) are composited on white.
    """
    if image.mode in _SINGLE_CHANNEL_WIDE:
        values = np.asarray(image, dtype=np.float32)
        top = float(values.max(initial=0))
        scale = 1.0 if image.mode == "F" and top <= 1.0 else 255.0 if top <= 255 else 65535.0
        gray = np.clip(values / scale, 0, 1)
        array = np.repeat(gray[..., None], 3, axis=2)
    else:
        if image.mode == "LAB":
            image = _lab_to_srgb(image)
        if image.mode in _ALPHA_MODES or (image.mode == "P" and "transparency" in image.info):
            rgba = image.convert("RGBA")
            background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            image = Image.alpha_composite(background, rgba)
        array = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
    if channels == 1:
        return (array @ np.array([0.299, 0.587, 0.114], dtype=np.float32))[..., None]
    return np.ascontiguousarray(array)


_SINGLE_CHANNEL_WIDE = {"I;16", "I;16B", "I;16L", "I;16N", "I", "F"}
_ALPHA_MODES = {"RGBA", "LA", "PA", "RGBa"}


def _lab_to_srgb(image: Image.Image) -> Image.Image:
    from PIL import ImageCms

    transform = ImageCms.buildTransformFromOpenProfiles(
        ImageCms.createProfile("LAB"), ImageCms.createProfile("sRGB"), "LAB", "RGB")
    return ImageCms.applyTransform(image, transform)


def to_batch(images: list[np.ndarray] | np.ndarray, size: tuple[int, int] | None = None) -> torch.Tensor:
    """[H, W, C] arrays in [0, 1] -> a [B, C, h, w] tensor, resized only where they differ.

    Resizing is bilinear with antialiasing on the whole image (no crop).
    """
    tensors = []
    for array in images:
        tensor = torch.as_tensor(np.asarray(array, dtype=np.float32)).permute(2, 0, 1)[None]
        if size is not None and tuple(tensor.shape[-2:]) != tuple(size):
            tensor = F.interpolate(tensor, size=size, mode="bilinear", antialias=True, align_corners=False)
        tensors.append(tensor.clamp(0, 1))
    return torch.cat(tensors)
