"""Image parameterisations: the learnable tensors an optimised image is made from.

Each parameterisation is a small ``nn.Module`` whose ``forward()`` returns images
[B, C, H, W] in [0, 1] (C = 3, or 4 with alpha, or 1 for grayscale). As in Lucid, colours are
optimised in a decorrelated space: the square root of ImageNet's colour correlation matrix,
normalised by its largest column norm, maps the three learnt channels to RGB before a sigmoid.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from circuitloupe.core.errors import UserError

# Lucid's ``color_correlation_svd_sqrt`` (ImageNet colour statistics).
COLOR_CORRELATION_SVD_SQRT = np.array([[0.26, 0.09, 0.02],
                                       [0.27, 0.00, -0.05],
                                       [0.27, -0.09, 0.03]], dtype=np.float32)
COLOR_CORRELATION = COLOR_CORRELATION_SVD_SQRT / np.max(np.linalg.norm(COLOR_CORRELATION_SVD_SQRT, axis=0))

PARAMS = ("fourier", "pixel")


def rfft2d_freqs(h: int, w: int) -> np.ndarray:
    """Spatial frequency magnitude (cycles per pixel) of each ``rfft2`` coefficient: [h, w//2+1]."""
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.rfftfreq(w)[None, :]
    return np.sqrt(fx * fx + fy * fy)


def decorrelate_colors(t: torch.Tensor) -> torch.Tensor:
    """[B, 3, H, W] in decorrelated space -> [B, 3, H, W] in (pre-sigmoid) RGB space."""
    matrix = torch.as_tensor(COLOR_CORRELATION, dtype=t.dtype, device=t.device)
    return torch.einsum("ij,bjhw->bihw", matrix, t)


class FourierImage(nn.Module):
    """A batch of images stored as their 2-D Fourier spectra, scaled by 1/f (``decay_power``).

    With the orthonormal inverse FFT, the 1/f scaling makes every frequency band equally easy to
    change, so the optimiser finds natural-looking, low-noise images (Lucid's ``fft_image``).
    """

    def __init__(self, batch: int, channels: int, size: tuple[int, int], sd: float = 0.01,
                 decay_power: float = 1.0, generator: torch.Generator | None = None) -> None:
        super().__init__()
        h, w = size
        self.size = size
        freqs = rfft2d_freqs(h, w)
        scale = 1.0 / np.maximum(freqs, 1.0 / max(h, w)) ** decay_power
        self.register_buffer("scale", torch.as_tensor(scale, dtype=torch.float32)[None, None])
        init = torch.randn(batch, channels, *freqs.shape, 2, generator=generator) * sd
        self.spectrum = nn.Parameter(init)

    def forward(self) -> torch.Tensor:
        """Unconstrained image values [B, C, H, W] (before colour mapping and sigmoid)."""
        spectrum = torch.view_as_complex(self.spectrum) * self.scale
        image = torch.fft.irfft2(spectrum, s=self.size, norm="ortho")
        return image / 4.0  # Lucid's constant: keeps the initial image grey and unsaturated


class PixelImage(nn.Module):
    """A batch of images stored as raw (pre-sigmoid) pixel values."""

    def __init__(self, batch: int, channels: int, size: tuple[int, int], sd: float = 0.01,
                 generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.pixels = nn.Parameter(torch.randn(batch, channels, *size, generator=generator) * sd)

    def forward(self) -> torch.Tensor:
        return self.pixels


class ImageParam(nn.Module):
    """Learnt images in [0, 1]: a spatial parameterisation, colour decorrelation and a sigmoid.

    ``channels`` is the model's input channel count (3 for RGB, 1 for grayscale models).
    ``grayscale`` makes RGB images with equal channels. ``alpha`` adds a learnt opacity
    channel: :meth:`forward` then returns [B, channels + 1, H, W] with alpha last.
    """

    def __init__(self, batch: int, size: int | tuple[int, int], kind: str = "fourier", channels: int = 3,
                 grayscale: bool = False, alpha: bool = False, decorrelate: bool = True,
                 generator: torch.Generator | None = None) -> None:
        super().__init__()
        if kind not in PARAMS:
            raise UserError(f"unknown image parameterisation '{kind}'; use one of {', '.join(PARAMS)}")
        size = (size, size) if isinstance(size, int) else tuple(size)
        self.channels, self.grayscale, self.alpha = channels, grayscale, alpha
        self.decorrelate = decorrelate and channels == 3 and not grayscale
        learnt = (1 if grayscale else channels) + (1 if alpha else 0)
        if kind == "fourier":
            self.image = FourierImage(batch, learnt, size, generator=generator)
        else:
            self.image = PixelImage(batch, learnt, size, generator=generator)

    def forward(self) -> torch.Tensor:
        """Images [B, C(+1 alpha), H, W] with values in [0, 1]."""
        raw = self.image()
        colour, opacity = (raw[:, :-1], raw[:, -1:]) if self.alpha else (raw, None)
        if self.decorrelate:
            colour = decorrelate_colors(colour)
        colour = torch.sigmoid(colour)
        if self.grayscale and self.channels > 1:
            colour = colour.expand(-1, self.channels, -1, -1)
        if opacity is None:
            return colour
        return torch.cat([colour, torch.sigmoid(opacity)], dim=1)
