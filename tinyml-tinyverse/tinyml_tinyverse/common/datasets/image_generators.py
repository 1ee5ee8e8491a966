"""Small image classification datasets drawn offline with Pillow (deterministic for a seed).

- ``digits``: ``classes/<0..9>/*.png``, 28 x 28 grey handwriting-like digits: Pillow's built-in
  font at a random size, stroke width, slant, rotation and position, blurred, on a noisy background.
- ``shapes``: ``classes/<circle|square|triangle|cross>/*.png``, 32 x 32 bright colour shapes of
  random size, position, rotation and hue, filled or outlined, on a noisy dark background.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

DIGITS = tuple(str(d) for d in range(10))
SHAPES = ("circle", "square", "triangle", "cross")


def _save_png(img: Image.Image, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    img.save(tmp, format="PNG")
    os.replace(tmp, path)


def _noisy(arr: np.ndarray, rng: np.random.Generator, sigma: float) -> Image.Image:
    arr = arr.astype(np.float64) + rng.normal(0, sigma, arr.shape)
    return Image.fromarray(np.clip(np.round(arr), 0, 255).astype(np.uint8))


def draw_digit(rng: np.random.Generator, digit: str, size: int = 28) -> Image.Image:
    """One grey ``size`` x ``size`` image of ``digit``: white on black, as MNIST."""
    big = size * 3
    canvas = Image.new("L", (big, big), 0)
    font = ImageFont.load_default(size=int(rng.uniform(1.4, 2.2) * size))
    draw = ImageDraw.Draw(canvas)
    stroke = int(rng.integers(0, 4))
    draw.text(
        (big / 2, big / 2), digit, fill=255, font=font, anchor="mm", stroke_width=stroke, stroke_fill=255
    )
    shear = rng.uniform(-0.3, 0.3)  # slant, as handwriting
    canvas = canvas.transform(canvas.size, Image.Transform.AFFINE, (1, shear, -shear * big / 2, 0, 1, 0))
    canvas = canvas.rotate(rng.uniform(-15, 15), resample=Image.Resampling.BILINEAR)
    box = canvas.getbbox() or (0, 0, big, big)
    glyph = canvas.crop(box)
    scale = rng.uniform(0.55, 0.8) * size / max(glyph.size)
    glyph = glyph.resize(
        (max(1, round(glyph.width * scale)), max(1, round(glyph.height * scale))), Image.Resampling.LANCZOS
    )
    out = Image.new("L", (size, size), 0)
    x = int(rng.integers(0, size - glyph.width + 1))
    y = int(rng.integers(0, size - glyph.height + 1))
    out.paste(glyph, (x, y))
    out = out.filter(ImageFilter.GaussianBlur(rng.uniform(0.0, 0.7)))
    return _noisy(np.asarray(out) * rng.uniform(0.7, 1.0), rng, rng.uniform(2, 12))


def _polygon(
    cx: float, cy: float, r: float, angle: float, points: list[tuple[float, float]]
) -> list[tuple[float, float]]:
    c, s = math.cos(angle), math.sin(angle)
    return [(cx + r * (px * c - py * s), cy + r * (px * s + py * c)) for px, py in points]


def draw_shape(rng: np.random.Generator, shape: str, size: int = 32) -> Image.Image:
    """One RGB ``size`` x ``size`` image of ``shape`` (circle, square, triangle, cross)."""
    scale = 4  # draw large, then shrink: smooth edges
    big = size * scale
    background = rng.integers(0, 90, 3)  # a dark background of any hue
    colour = rng.integers(150, 256, 3)  # a bright shape of any hue
    img = Image.new("RGB", (big, big), tuple(int(v) for v in background))
    draw = ImageDraw.Draw(img)
    r = rng.uniform(0.22, 0.4) * big
    cx, cy = rng.uniform(r, big - r), rng.uniform(r, big - r)
    angle = rng.uniform(0, 2 * math.pi)
    fill = tuple(int(v) for v in colour)
    width = int(rng.integers(2, 5)) * scale
    outlined = rng.random() < 0.3
    kw = {"outline": fill, "width": width} if outlined else {"fill": fill}
    if shape == "circle":
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), **kw)
    elif shape == "square":
        draw.polygon(
            _polygon(cx, cy, r, angle, [(-0.75, -0.75), (0.75, -0.75), (0.75, 0.75), (-0.75, 0.75)]), **kw
        )
    elif shape == "triangle":
        corners = [(math.cos(a), math.sin(a)) for a in (-math.pi / 2, math.pi / 6, 5 * math.pi / 6)]
        draw.polygon(_polygon(cx, cy, r, angle, corners), **kw)
    elif shape == "cross":
        t = 0.3
        arm = [
            (-t, -1),
            (t, -1),
            (t, -t),
            (1, -t),
            (1, t),
            (t, t),
            (t, 1),
            (-t, 1),
            (-t, t),
            (-1, t),
            (-1, -t),
            (-t, -t),
        ]
        draw.polygon(_polygon(cx, cy, r, angle, arm), **kw)
    else:
        raise ValueError(f"unknown shape {shape!r}; use one of {SHAPES}")
    img = img.resize((size, size), Image.Resampling.LANCZOS)
    return _noisy(np.asarray(img), rng, rng.uniform(3, 15))


def _write_classes(out_dir: str | Path, classes, draw, files_per_class: int, seed: int, size: int) -> Path:
    """``out_dir/classes/<class>/<class>_<i>.png`` drawn by ``draw(rng, class, size)``."""
    out = Path(out_dir)
    rng = np.random.default_rng(seed)
    for label in classes:
        for i in range(files_per_class):
            _save_png(draw(rng, label, size), out / "classes" / label / f"{label}_{i:04d}.png")
    return out


def generate_digits(out_dir: str | Path, *, seed: int = 0, files_per_class: int = 30, size: int = 28) -> Path:
    """Write ``out_dir/classes/<digit>/<digit>_<i>.png`` (grey, ``size`` x ``size``)."""
    return _write_classes(out_dir, DIGITS, draw_digit, files_per_class, seed, size)


def generate_shapes(out_dir: str | Path, *, seed: int = 0, files_per_class: int = 30, size: int = 32) -> Path:
    """Write ``out_dir/classes/<shape>/<shape>_<i>.png`` (RGB, ``size`` x ``size``)."""
    return _write_classes(out_dir, SHAPES, draw_shape, files_per_class, seed, size)
