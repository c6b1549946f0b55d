"""The class design of ``synthetic100``: which shape, texture and palette each of the 100 classes has.

Layout (follows the recipe of the prototype recorded in docs/design.md §6):

* 20 coarse groups of 5 fine classes. A group owns one colour palette (two object colours), so colour tells
  at most the group, never the fine class.
* Inside a group, classes 0/1 share shape A and classes 2/3 share shape B, each pair differing only in a
  texture *detail* (a finer period or a small added motif); class 4 has shape C. Shapes and texture families
  are reused across groups, so neither shape nor texture alone names a class.
* Textures live in the object's own coordinates (they turn and scale with it); their periods are 2.5–9 pixels
  at 32×32, which is what a coarse JPEG/HEVC quantizer removes first: the bandwidth trade-off.

Shape functions map object coordinates ``u, v`` float32 ``[N, S, S]`` (unit = object radius) to a bool mask;
texture functions map them to a float32 pattern in [0, 1].
"""

from __future__ import annotations

import colorsys
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from kbsc.util import Registry

__all__ = ["SHAPES", "TEXTURES", "ClassSpec", "class_design", "N_CLASSES", "N_COARSE", "PER_GROUP"]

N_COARSE = 20
PER_GROUP = 5
N_CLASSES = N_COARSE * PER_GROUP

ShapeFn = Callable[[np.ndarray, np.ndarray], np.ndarray]
TextureFn = Callable[..., np.ndarray]
SHAPES: Registry[ShapeFn] = Registry("synthetic shape")
TEXTURES: Registry[TextureFn] = Registry("synthetic texture")

TAU = np.float32(2 * np.pi)


def _polar(u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.hypot(u, v), np.arctan2(v, u)


def _frac(x: np.ndarray) -> np.ndarray:
    return x - np.floor(x)


def _polygon_radius(theta: np.ndarray, k: int) -> np.ndarray:
    """Boundary radius of a regular k-gon with circumradius 1 at polar angle ``theta``."""
    sector = np.float32(TAU / k)
    local = np.mod(theta, sector) - sector / 2
    return np.float32(np.cos(np.pi / k)) / np.cos(local)


# ---------------------------------------------------------------- shapes (u, v → bool mask)
@SHAPES.register("disk")
def _disk(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    return u * u + v * v < 0.85


@SHAPES.register("square")
def _square(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    return np.maximum(np.abs(u), np.abs(v)) < 0.78


@SHAPES.register("triangle")
def _triangle(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    rho, theta = _polar(u, v)
    return rho < 1.05 * _polygon_radius(theta + np.float32(np.pi / 2), 3)


@SHAPES.register("hexagon")
def _hexagon(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    rho, theta = _polar(u, v)
    return rho < 0.95 * _polygon_radius(theta, 6)


@SHAPES.register("star")
def _star(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    rho, theta = _polar(u, v)
    tri = np.abs(2 * _frac(theta * np.float32(5 / TAU)) - 1)
    return rho < 0.5 + 0.55 * tri**2


@SHAPES.register("plus")
def _plus(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    au, av = np.abs(u), np.abs(v)
    return ((au < 0.36) & (av < 0.95)) | ((av < 0.36) & (au < 0.95))


@SHAPES.register("ring")
def _ring(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    r2 = u * u + v * v
    return (r2 < 0.95) & (r2 > 0.25)


@SHAPES.register("crescent")
def _crescent(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    return (u * u + v * v < 0.95) & ((u - 0.5) ** 2 + v * v > 0.55)


@SHAPES.register("ellipse")
def _ellipse(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    return u * u + (v / 0.5) ** 2 < 1.0


@SHAPES.register("diamond")
def _diamond(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    return np.abs(u) + 0.75 * np.abs(v) < 0.95


@SHAPES.register("flower")
def _flower(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    rho, theta = _polar(u, v)
    return rho < 0.72 + 0.25 * np.cos(6 * theta)


@SHAPES.register("frame")
def _frame(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    m = np.maximum(np.abs(u), np.abs(v))
    return (m < 0.85) & (m > 0.42)


@SHAPES.register("tee")
def _tee(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    au = np.abs(u)
    return ((v < -0.45) & (v > -0.95) & (au < 0.95)) | ((au < 0.3) & (v > -0.95) & (v < 0.95))


@SHAPES.register("arrow")
def _arrow(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    head = (u > 0.05) & (np.abs(v) < 0.95 - u)
    shaft = (u <= 0.05) & (u > -0.95) & (np.abs(v) < 0.3)
    return head | shaft


# ---------------------------------------------------------------- textures (u, v, period → [0, 1])
def _bars(x: np.ndarray, period: float, duty: float = 0.5) -> np.ndarray:
    return (_frac(x / np.float32(period)) < duty).astype(np.float32)


@TEXTURES.register("stripes")
def _stripes(u: np.ndarray, v: np.ndarray, period: float) -> np.ndarray:
    return _bars(u, period)


@TEXTURES.register("diagonal")
def _diagonal(u: np.ndarray, v: np.ndarray, period: float) -> np.ndarray:
    return _bars((u + v) * np.float32(0.7071), period)


@TEXTURES.register("checker")
def _checker(u: np.ndarray, v: np.ndarray, period: float) -> np.ndarray:
    return np.abs(_bars(u, period) - _bars(v, period))


@TEXTURES.register("dots")
def _dots(u: np.ndarray, v: np.ndarray, period: float) -> np.ndarray:
    du = _frac(u / np.float32(period)) - 0.5
    dv = _frac(v / np.float32(period)) - 0.5
    return (du * du + dv * dv < 0.09).astype(np.float32)


@TEXTURES.register("rings")
def _rings_tex(u: np.ndarray, v: np.ndarray, period: float) -> np.ndarray:
    return _bars(np.hypot(u, v), period)


@TEXTURES.register("spokes")
def _spokes(u: np.ndarray, v: np.ndarray, period: float) -> np.ndarray:
    n = max(3, round(2.4 / period))  # about one spoke per period along the unit circle
    return _bars(np.arctan2(v, u) * np.float32(n / TAU), 1.0)


@TEXTURES.register("grid")
def _grid(u: np.ndarray, v: np.ndarray, period: float) -> np.ndarray:
    return np.maximum(_bars(u, period, 0.3), _bars(v, period, 0.3))


@TEXTURES.register("zigzag")
def _zigzag(u: np.ndarray, v: np.ndarray, period: float) -> np.ndarray:
    tri = np.abs(2 * _frac(v / np.float32(2 * period)) - 1)
    return _bars(u + np.float32(period) * tri, period)


@TEXTURES.register("hatch")
def _hatch(u: np.ndarray, v: np.ndarray, period: float) -> np.ndarray:
    s = np.float32(0.7071)
    return np.maximum(_bars((u + v) * s, period, 0.3), _bars((u - v) * s, period, 0.3))


@TEXTURES.register("halves")
def _halves(u: np.ndarray, v: np.ndarray, period: float) -> np.ndarray:
    """Two-tone object (left/right halves) with thin bars of the given period on one half."""
    return np.where(u < 0, np.float32(1), _bars(v, period, 0.35))


# Detail variants that turn texture T into its "sibling" T': same family, one detail changed.
def _variant(family: str, period: float, which: int) -> tuple[str, float, str | None]:
    if which == 0:
        return family, period * 0.68, None  # finer
    return family, period, "speckle"  # same pattern with a small dot motif overlaid


@dataclass(frozen=True)
class ClassSpec:
    """How one fine class looks.

    palette: two object colours, RGB in [0, 1] (shared by the whole coarse group)
    overlay: optional small motif drawn on top of the texture ("speckle")
    """

    label: int
    coarse: int
    shape: str
    texture: str
    period: float
    overlay: str | None
    palette: tuple[tuple[float, float, float], tuple[float, float, float]] = field(repr=False)

    @property
    def name(self) -> str:
        extra = f"-{self.overlay}" if self.overlay else ""
        return f"g{self.coarse:02d}-{self.shape}-{self.texture}{self.period:.2f}{extra}"


def _palette(group: int, rng: np.random.Generator) -> tuple[tuple[float, float, float], ...]:
    """Two object colours for a group: one of 10 hues (36° apart) in one of 2 styles.

    Style 0 (groups 0-9): a saturated bright colour on a dark one of nearly the same hue. Style 1 (groups
    10-19, hues shifted by 18°): a pale colour on a saturated mid-dark one. Groups whose hues are close thus
    differ in style (saturation/brightness), which survives a codec's chroma subsampling. The texture's
    contrast is mostly in brightness, as in natural images.
    """
    style = group // (N_COARSE // 2)
    hue = ((group % (N_COARSE // 2)) / (N_COARSE // 2) + style * 0.05 + rng.uniform(-0.01, 0.01)) % 1.0
    hue2 = (hue + rng.uniform(-0.03, 0.03)) % 1.0
    if style == 0:
        c1 = colorsys.hsv_to_rgb(hue, rng.uniform(0.75, 0.95), rng.uniform(0.8, 0.95))
        c2 = colorsys.hsv_to_rgb(hue2, rng.uniform(0.5, 0.9), rng.uniform(0.12, 0.3))
    else:
        c1 = colorsys.hsv_to_rgb(hue, rng.uniform(0.25, 0.4), rng.uniform(0.9, 1.0))
        c2 = colorsys.hsv_to_rgb(hue2, rng.uniform(0.75, 0.95), rng.uniform(0.35, 0.5))
    return (tuple(map(float, c1)), tuple(map(float, c2)))


def class_design(seed: int = 0) -> list[ClassSpec]:
    """The 100 class specifications for generator seed ``seed`` (label = 5·group + index in group)."""
    rng = np.random.default_rng([0xC1A55, int(seed)])
    shapes, textures = SHAPES.names(), TEXTURES.names()
    specs: list[ClassSpec] = []
    for group in range(N_COARSE):
        palette = _palette(group, rng)
        a, b, c = rng.choice(len(shapes), size=3, replace=False)
        fams = rng.choice(len(textures), size=3, replace=False)
        plan = []
        for shape, fam in ((a, fams[0]), (b, fams[1])):
            period = float(rng.uniform(0.5, 0.75))
            which = int(rng.integers(2))
            plan.append((shapes[shape], textures[fam], period, None))
            plan.append((shapes[shape], *_variant(textures[fam], period, which)))
        plan.append((shapes[c], textures[fams[2]], float(rng.uniform(0.45, 0.75)), None))
        for j, (shape, tex, period, overlay) in enumerate(plan):
            specs.append(
                ClassSpec(
                    label=group * PER_GROUP + j,
                    coarse=group,
                    shape=shape,
                    texture=tex,
                    period=period,
                    overlay=overlay,
                    palette=palette,
                )
            )
    return specs
