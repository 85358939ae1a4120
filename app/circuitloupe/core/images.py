"""Reading images from disk into float arrays, and resizing them for a model.

Only regular files are read (a FIFO or device would block or never end). An image whose
decoded size exceeds :func:`max_pixels` (``$CIRCUITLOUPE_MAX_PIXELS``, default 50 million) is
refused from its header, before any pixels are decoded; JPEGs larger than needed are decoded
at a reduced scale (PIL ``draft``) so that the longer side keeps at least ``DRAFT_SIDE`` pixels.
"""

from __future__ import annotations

import errno
import os
import stat
import warnings
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps

from circuitloupe.core.errors import ImageError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif"}
MAX_PIXELS_ENV = "CIRCUITLOUPE_MAX_PIXELS"
DEFAULT_MAX_PIXELS = 50_000_000
DRAFT_SIDE = 2048
# errno values of a read that may work next time (permissions, I/O, a file on a flaky mount)
TRANSIENT_ERRNOS = {errno.EACCES, errno.EPERM, errno.EIO, errno.EAGAIN, errno.EBUSY, errno.EINTR, errno.ENOMEM,
                    errno.ETIMEDOUT, errno.ESTALE, errno.EMFILE, errno.ENFILE}


# The cap below replaces PIL's decompression-bomb warning, which would only add noise to its message.
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)


class ImageReadError(ImageError):
    """The file could not be read (permissions, I/O): trying again later may work."""


def max_pixels() -> int:
    """The most pixels (width x height) an image may decode to: ``$CIRCUITLOUPE_MAX_PIXELS``
    (a positive integer) or :data:`DEFAULT_MAX_PIXELS`."""
    text = os.environ.get(MAX_PIXELS_ENV, "").strip()
    if not text:
        return DEFAULT_MAX_PIXELS
    try:
        value = int(float(text))
    except ValueError:
        value = 0
    if value < 1:
        raise ImageError(f"{MAX_PIXELS_ENV} must be a positive number of pixels, not '{text}'")
    return value


def is_transient(error: BaseException) -> bool:
    """Whether a failed read may work when tried again (as opposed to a file that cannot be decoded)."""
    return isinstance(error, ImageReadError) or (isinstance(error, OSError) and error.errno in TRANSIENT_ERRNOS)


def open_regular(path: str | os.PathLike) -> BinaryIO:
    """Open a regular file for reading; anything else (FIFO, device, folder) raises ImageError
    at once instead of blocking."""
    nonblocking = getattr(os, "O_NONBLOCK", 0)  # so opening a FIFO does not wait for a writer
    fd = os.open(path, os.O_RDONLY | nonblocking | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ImageError(f"image {path} is not a regular file")
        if nonblocking:
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def load_image(path: str | os.PathLike, channels: int = 3) -> np.ndarray:
    """Decode an image file to float32 [H, W, channels] in [0, 1].

    EXIF orientation is applied; palette, RGBA (composited on white), CMYK, grayscale and
    16-bit images are converted. An unreadable, truncated or oversized file (see
    :func:`max_pixels`) raises :class:`ImageError`; :class:`ImageReadError` when the read
    itself failed (permissions, I/O) and may work later.
    """
    path = Path(path)
    try:
        with open_regular(path) as file, Image.open(file) as image:
            _reduce(image, path)
            image.load()
            image = ImageOps.exif_transpose(image)
            return pil_to_array(image, channels)
    except FileNotFoundError:
        raise ImageError(f"image {path} does not exist") from None
    except OSError as error:
        if is_transient(error):
            raise ImageReadError(f"cannot read image {path}: {error.strerror or error}") from None
        raise ImageError(f"cannot read image {path}: {error}") from None
    except (Image.DecompressionBombError, SyntaxError, ValueError, EOFError) as error:
        raise ImageError(f"cannot read image {path}: {error}") from None


def _reduce(image: Image.Image, path: Path) -> None:
    """Ask a JPEG decoder for a reduced scale when the image is larger than needed, then
    refuse (before decoding) what is still over the pixel cap."""
    if image.format == "JPEG" and max(image.size) > 2 * DRAFT_SIDE:
        scale = DRAFT_SIDE / max(image.size)
        image.draft(image.mode, (max(1, round(image.size[0] * scale)), max(1, round(image.size[1] * scale))))
    width, height = image.size
    cap = max_pixels()
    if width * height > cap:
        raise ImageError(f"image {path} is {width}x{height} pixels ({width * height / 1e6:.0f} Mpx), over the "
                         f"{cap / 1e6:g} Mpx limit (set {MAX_PIXELS_ENV} to raise it)")


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
