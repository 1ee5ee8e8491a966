"""Read one image file (PNG, JPEG, BMP with Pillow; ``.npy`` arrays) as float32 pixels in [0, 1].

Every way a file can be bad (not an image, truncated, a decompression bomb, an array of the wrong
shape or type) is a :class:`DataError` that names the file and says what to do.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".npy")
COLOR_MODES = {"grayscale": 1, "rgb": 3}
DEFAULT_MAX_IMAGE_PIXELS = int(Image.MAX_IMAGE_PIXELS or 89_478_485)  # Pillow's decompression bomb limit
LUMA = np.array([0.299, 0.587, 0.114], np.float32)  # ITU-R 601-2, as Pillow's convert("L")


def _too_large(path: Path, w: int, h: int, limit: int) -> DataError:
    return DataError(
        f"{path}: {w} x {h} = {w * h} pixels is more than max_image_pixels ({limit}); it may be a "
        "decompression bomb. Shrink the image, or raise max_image_pixels if you trust it"
    )


def _from_pillow(path: Path, mode: str, max_pixels: int) -> np.ndarray:
    """(H, W, C) float32 in [0, 1] of an image file Pillow reads."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our own limit decides
            with Image.open(path) as img:
                w, h = img.size
                if w * h > max_pixels:
                    raise _too_large(path, w, h, max_pixels)
                img.load()
                img = ImageOps.exif_transpose(img)  # a phone photo's orientation
                if img.mode in ("I", "I;16", "I;16B", "I;16L", "F"):  # 16-bit / float grey
                    arr = np.asarray(img, np.float32)
                    top = 65535.0 if img.mode != "F" and arr.max(initial=0) > 255 else 255.0
                    arr = np.clip(arr / (1.0 if img.mode == "F" else top), 0.0, 1.0)[..., None]
                    return arr if mode == "grayscale" else np.repeat(arr, 3, axis=-1)
                img = img.convert("L" if mode == "grayscale" else "RGB")
                arr = np.asarray(img, np.uint8)
    except DataError:
        raise
    except Image.DecompressionBombError as exc:
        raise DataError(
            f"{path}: refused by Pillow as a possible decompression bomb ({exc}); shrink the image if you trust it"
        ) from None
    except UnidentifiedImageError:
        raise DataError(
            f"{path}: not an image Pillow can read (the file is damaged or has the wrong suffix); "
            "remove it or replace it with a PNG / JPEG / BMP"
        ) from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise DataError(
            f"{path}: cannot decode the image ({exc}); it is truncated or damaged. Remove it or re-export it"
        ) from None
    arr = arr.astype(np.float32) / np.float32(255.0)
    return arr[..., None] if arr.ndim == 2 else arr


def _from_npy(path: Path, mode: str, max_pixels: int) -> np.ndarray:
    """(H, W, C) float32 in [0, 1] of a ``.npy`` array: (H, W), (H, W, C) or (C, H, W), C in 1, 3, 4;
    uint8 / uint16 scaled by their range, floats taken as [0, 1]."""
    try:
        arr = np.load(path, allow_pickle=False, mmap_mode="r")
    except (ValueError, OSError, EOFError) as exc:
        raise DataError(f"{path}: not a readable .npy array ({exc}); save it with numpy.save") from None
    if arr.ndim == 3 and arr.shape[0] in (1, 3, 4) and arr.shape[-1] not in (1, 3, 4):
        arr = np.moveaxis(arr, 0, -1)  # (C, H, W) -> (H, W, C)
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.ndim != 3 or arr.shape[-1] not in (1, 3, 4) or min(arr.shape[:2]) < 1:
        raise DataError(
            f"{path}: an image array must be (H, W), (H, W, C) or (C, H, W) with C = 1, 3 or 4; got shape "
            f"{arr.shape}"
        )
    if arr.shape[0] * arr.shape[1] > max_pixels:
        raise _too_large(path, arr.shape[1], arr.shape[0], max_pixels)
    if arr.dtype == np.uint8:
        out = np.asarray(arr, np.float32) / np.float32(255.0)
    elif arr.dtype == np.uint16:
        out = np.asarray(arr, np.float32) / np.float32(65535.0)
    elif arr.dtype == np.bool_ or np.issubdtype(arr.dtype, np.floating):
        out = np.asarray(arr, np.float32)
        if not np.isfinite(out).all():
            raise DataError(f"{path}: the image array holds NaN or infinite values")
        if out.min(initial=0) < 0 or out.max(initial=0) > 1:
            raise DataError(
                f"{path}: a float image array must hold values in [0, 1], found [{out.min():g}, {out.max():g}]; "
                "divide by its full scale (e.g. 255) before saving"
            )
    else:
        raise DataError(f"{path}: image arrays must be uint8, uint16, bool or float, got {arr.dtype}")
    out = out[..., :3] if out.shape[-1] == 4 else out  # drop alpha
    if mode == "grayscale" and out.shape[-1] == 3:
        out = (out @ LUMA)[..., None]
    elif mode == "rgb" and out.shape[-1] == 1:
        out = np.repeat(out, 3, axis=-1)
    return np.ascontiguousarray(out, np.float32)


def _resize(arr: np.ndarray, height: int, width: int, resize_mode: str) -> np.ndarray:
    """(H, W, C) -> (height, width, C): stretched, or (``pad``) scaled to fit and padded with black."""
    h, w = arr.shape[:2]
    if (h, w) == (height, width):
        return arr
    if resize_mode == "pad":
        scale = min(height / h, width / w)
        nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
        inner = _resize(arr, nh, nw, "stretch")
        out = np.zeros((height, width, arr.shape[-1]), np.float32)
        top, left = (height - nh) // 2, (width - nw) // 2
        out[top : top + nh, left : left + nw] = inner
        return out
    channels = [
        np.asarray(
            Image.fromarray(np.ascontiguousarray(arr[..., c])).resize(
                (width, height), Image.Resampling.BILINEAR
            )
        )
        for c in range(arr.shape[-1])
    ]
    return np.stack(channels, axis=-1).astype(np.float32)


def load_image(
    path: str | Path, color_mode: str = "grayscale", max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS
) -> np.ndarray:
    """The image at ``path`` at its own size: float32 ``(H, W, C)`` in [0, 1], C = 1 or 3."""
    path = Path(path)
    if color_mode not in COLOR_MODES:
        raise DataError(f"color_mode must be one of {', '.join(COLOR_MODES)}, got {color_mode!r}")
    if path.suffix.lower() == ".npy":
        return _from_npy(path, color_mode, max_pixels)
    return _from_pillow(path, color_mode, max_pixels)


def read_image(
    path: str | Path,
    height: int,
    width: int,
    color_mode: str = "grayscale",
    resize_mode: str = "stretch",
    max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS,
) -> np.ndarray:
    """The image at ``path`` as float32 ``(C, height, width)`` in [0, 1], C = 1 (grayscale) or 3 (rgb)."""
    arr = _resize(load_image(path, color_mode, max_pixels), height, width, resize_mode)
    return np.ascontiguousarray(np.clip(arr, 0.0, 1.0).transpose(2, 0, 1), np.float32)
