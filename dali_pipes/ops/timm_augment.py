"""`TrainTransform.timm_augment`: timm's auto-augmentations by their config strings, meaning what
they mean in timm: RandAugment ("rand-m9-mstd0.5-inc1": timm's op set, each layer applied with
probability p, magnitude on timm's 0-10 scale with Gaussian noise `mstd`, `mmax`, the increasing
variants `inc1`, weighted choice `tweights`), AutoAugment ("original", "originalr", "v0", "v0r") and
3-Augment ("3a").

timm parses the string itself (`timm.data.auto_augment`: its op lists, policy tables and
magnitudes are read from the transform it builds); each sample's ops, apply coins, magnitudes, signs
and filters are drawn here from the op's own counter stream with timm's sampling (the Gaussian by
Box-Muller from two uniforms), and turned into each op's parameter by timm's level rules. Both CPU
backends apply them with timm's own PIL calls (`kernels.policy`); the GPU graph with DALI
operators (`ops.policy_graph`, within docs/parity.md's bounds). timm applies these before the colour
jitter, grayscale and blur; so does the registry.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from ..checks import require
from ..errors import ConfigError
from ..kernels import policy as kernels
from .base import Feed
from .policy import Plan, PolicyOp, draw_layers
from .policy_geometry import layer_maps, pil_edge

# timm's ops, in the order of the fed ids (pinned by tests/test_pinned_seeds.py)
OPS = ("Identity", "AutoContrast", "Equalize", "Invert", "Rotate", "Posterize", "Solarize", "SolarizeAdd",
       "Color", "Contrast", "Brightness", "Sharpness", "ShearX", "ShearY", "TranslateX", "TranslateY",
       "GaussianBlur")
OP_ID = {name: k for k, name in enumerate(OPS)}
GEOMETRIC = kernels.GEOMETRIC
RESAMPLE = kernels.FILTERS  # the geometric ops' filters, by the id fed with each layer
RESAMPLE_IDS = tuple(RESAMPLE)
INTERPOLATIONS = ("random",) + RESAMPLE_IDS  # timm's 'random': bilinear or bicubic, per op application
MAX_LAYERS = 16
PER_LAYER = 7  # uniforms per layer: choice, apply, Gaussian (2), sign, filter, blur radius
LEVEL_DENOM = 10.0  # timm's magnitude scale
DEFAULT_FILL = (124, 116, 104)  # timm: the ImageNet mean in 0-255
TORCHVISION_ONLY = ("ta_wide", "trivialaugment")  # no such timm policy: torchvision's TrivialAugmentWide


@dataclass(frozen=True)
class TimmAugment:
    """timm's auto-augment `spec` ("rand-m9-mstd0.5-inc1", "original", "v0r", "3a", ...). `fill`:
    the geometric ops' fill (timm: the normalization mean x 255, rounded); `interpolation`: their
    filter ("random": bilinear or bicubic per application, timm's default; or one of them, or
    "nearest"); `translate_const`: AutoAugment's absolute translations in pixels (None: timm's
    45% of the image side). Needs timm (it parses the string)."""

    spec: str = "rand-m9-mstd0.5-inc1"
    fill: tuple[int, int, int] = DEFAULT_FILL
    interpolation: str = "random"
    translate_const: int | None = None

    def __post_init__(self):
        require(isinstance(self.spec, str) and self.spec, "TimmAugment.spec", f"a timm auto-augment string, got "
                f"{self.spec!r}")
        require(self.interpolation in INTERPOLATIONS, "TimmAugment.interpolation",
                f"must be one of {INTERPOLATIONS}, got {self.interpolation!r}")
        fill = tuple(self.fill) if isinstance(self.fill, (tuple, list)) else ()
        require(len(fill) == 3 and all(isinstance(v, int) and 0 <= v <= 255 for v in fill), "TimmAugment.fill",
                f"three integers in [0, 255], got {self.fill!r}")
        object.__setattr__(self, "fill", fill)
        require(self.translate_const is None or (isinstance(self.translate_const, int) and self.translate_const >= 0),
                "TimmAugment.translate_const", f"None or an integer >= 0, got {self.translate_const!r}")


class OpSpec(NamedTuple):
    """One of timm's AugmentOps: its name (timm's, e.g. "PosterizeIncreasing"), apply probability,
    magnitude, magnitude noise (std; inf: uniform in [0, magnitude]) and upper bound, and the
    translations' hparams."""

    name: str
    prob: float
    magnitude: float
    mstd: float
    mmax: float
    translate_const: float
    translate_pct: float


@functools.lru_cache(maxsize=64)
def plan(spec: str, translate_const: int) -> Plan:
    """timm's own parse of `spec` (ConfigError naming the string where timm refuses it)."""
    try:
        from timm.data import auto_augment as aa
    except ImportError:
        raise ImportError("TimmAugment needs timm to read its augmentation strings: pip install 'dali-pipes[timm]' "
                          "(or pip install timm)") from None
    hparams = {"translate_const": translate_const, "img_mean": DEFAULT_FILL}
    if spec.startswith("augmix"):
        raise ConfigError(f"TimmAugment.spec {spec!r}: AugMix mixes several augmented copies of each image "
                          "(and timm pairs it with a JSD loss over splits); not provided")
    try:
        if spec.startswith("rand"):
            built = aa.rand_augment_transform(spec, dict(hparams))
            groups, layers = (tuple(_spec(op) for op in built.ops),), built.num_layers
            weights = None if built.choice_weights is None else tuple(float(w) for w in built.choice_weights)
            if weights is not None and layers > len(groups[0]):
                raise ConfigError(f"TimmAugment.spec {spec!r}: {layers} layers drawn without replacement from "
                                  f"{len(groups[0])} ops")
            plan_ = Plan("rand", groups, layers, weights)
        else:
            built = aa.auto_augment_transform(spec, dict(hparams))
            groups = tuple(tuple(_spec(op) for op in sub) for sub in built.policy)
            plan_ = Plan("auto", groups, max(len(g) for g in groups), None)
    except ConfigError:
        raise
    except (AssertionError, KeyError, ValueError) as err:
        raise ConfigError(f"TimmAugment.spec {spec!r}: timm does not accept it ({type(err).__name__}: {err})") from None
    unknown = sorted({op.name for group in plan_.groups for op in group} - set(LEVELS))
    if unknown:
        raise ConfigError(f"TimmAugment.spec {spec!r}: timm ops {unknown} are not provided")
    if plan_.layers > MAX_LAYERS:
        raise ConfigError(f"TimmAugment.spec {spec!r}: at most {MAX_LAYERS} layers, got {plan_.layers}")
    return plan_


def _spec(op) -> OpSpec:
    mstd = float(op.magnitude_std or 0.0)
    return OpSpec(op.name, float(op.prob), float(op.magnitude), mstd, float(op.magnitude_max or LEVEL_DENOM),
                  float(op.hparams.get("translate_const", 250)), float(op.hparams.get("translate_pct", 0.45)))


def from_transform(transform) -> TimmAugment:
    """The TimmAugment a built timm RandAugment / AutoAugment object is: the spec string whose parse
    (`plan`) gives its very ops, probabilities, magnitudes, noise, bounds and weights, with its fill,
    filter and translation from the ops' hparams (ConfigError where no spec string gives it)."""
    kind = type(transform).__name__
    ops = list(transform.ops) if kind == "RandAugment" else [op for sub in transform.policy for op in sub]
    if not ops:
        raise ConfigError(f"timm {kind} without ops")
    hparams = ops[0].hparams
    const = int(hparams.get("translate_const", 250))
    if kind == "RandAugment":
        groups = (tuple(_spec(op) for op in ops),)
        weights = None if transform.choice_weights is None else tuple(float(w) for w in transform.choice_weights)
        target = Plan("rand", groups, transform.num_layers, weights)
    else:
        target = Plan("auto", tuple(tuple(_spec(op) for op in sub) for sub in transform.policy),
                      max(len(sub) for sub in transform.policy), None)
    for spec in _candidate_specs(kind, ops, getattr(transform, "num_layers", 0)):
        try:
            if plan(spec, const) == target:
                interp = hparams.get("interpolation")
                name = "random" if interp is None or isinstance(interp, (tuple, list)) else \
                    {v: k for k, v in RESAMPLE.items()}.get(interp, "random")
                fill = tuple(int(v) for v in hparams.get("img_mean", DEFAULT_FILL))
                return TimmAugment(spec, fill=fill, interpolation=name, translate_const=const)
        except ConfigError:
            continue
    raise ConfigError(f"timm {kind}: no auto-augment string of timm's gives these ops")


def _candidate_specs(kind: str, ops, layers: int):
    """The strings that could have built these ops (the first op's settings are every op's)."""
    op = ops[0]
    mstd = op.magnitude_std or 0.0
    noise = "" if not mstd else "-mstd101" if mstd == float("inf") else f"-mstd{mstd:g}"
    if kind != "RandAugment":
        yield from (f"{policy}{noise}" for policy in ("original", "originalr", "v0", "v0r", "3a"))
        return
    bound = f"-mmax{int(op.magnitude_max)}" if op.magnitude_max is not None else ""
    base = f"rand-m{op.magnitude:g}-n{layers}{noise}{bound}-p{op.prob:g}"
    for inc in ("-inc0", "-inc1"):
        for choice in ("", "-tweights", "-t3a", "-t3aw"):
            yield base + inc + choice


def translate_const(cfg_timm: TimmAugment, size: int) -> int:
    return cfg_timm.translate_const if cfg_timm.translate_const is not None else int(size * 0.45)


# timm's level rules: magnitude (clipped to [0, mmax]) -> (kernel op, parameter); `neg` the sign
# coins (True: negate), `u` the blur radius uniform. The arithmetic is timm's, in its order (float64).
def _signed(v, neg):
    return np.where(neg, -v, v)


def _enhance_increasing(m, neg):
    return np.maximum(0.1, 1.0 + _signed((m / LEVEL_DENOM) * .9, neg))


def _minmax(m, lo, hi):
    return np.clip(lo + (hi - lo) * (m / LEVEL_DENOM), lo, hi)


def _relative(m, spec, neg):
    return _signed((m / LEVEL_DENOM) * spec.translate_pct, neg)


def _enhance(m):
    return (m / LEVEL_DENOM) * 1.8 + 0.1


def _posterize(m):
    return np.floor((m / LEVEL_DENOM) * 4)


def _solarize(m):
    return np.minimum(256, np.floor((m / LEVEL_DENOM) * 256))


LEVELS = {
    "AutoContrast": ("AutoContrast", lambda m, s, neg, u, size: np.zeros_like(m)),
    "Equalize": ("Equalize", lambda m, s, neg, u, size: np.zeros_like(m)),
    "Invert": ("Invert", lambda m, s, neg, u, size: np.zeros_like(m)),
    "Rotate": ("Rotate", lambda m, s, neg, u, size: _signed((m / LEVEL_DENOM) * 30., neg)),
    "Posterize": ("Posterize", lambda m, s, neg, u, size: _posterize(m)),
    "PosterizeIncreasing": ("Posterize", lambda m, s, neg, u, size: 4 - _posterize(m)),
    "PosterizeOriginal": ("Posterize", lambda m, s, neg, u, size: _posterize(m) + 4),
    "Solarize": ("Solarize", lambda m, s, neg, u, size: _solarize(m)),
    "SolarizeIncreasing": ("Solarize", lambda m, s, neg, u, size: 256 - _solarize(m)),
    "SolarizeAdd": ("SolarizeAdd", lambda m, s, neg, u, size: np.minimum(128, np.floor((m / LEVEL_DENOM) * 110))),
    "Color": ("Color", lambda m, s, neg, u, size: _enhance(m)),
    "ColorIncreasing": ("Color", lambda m, s, neg, u, size: _enhance_increasing(m, neg)),
    "Contrast": ("Contrast", lambda m, s, neg, u, size: _enhance(m)),
    "ContrastIncreasing": ("Contrast", lambda m, s, neg, u, size: _enhance_increasing(m, neg)),
    "Brightness": ("Brightness", lambda m, s, neg, u, size: _enhance(m)),
    "BrightnessIncreasing": ("Brightness", lambda m, s, neg, u, size: _enhance_increasing(m, neg)),
    "Sharpness": ("Sharpness", lambda m, s, neg, u, size: _enhance(m)),
    "SharpnessIncreasing": ("Sharpness", lambda m, s, neg, u, size: _enhance_increasing(m, neg)),
    "ShearX": ("ShearX", lambda m, s, neg, u, size: _signed((m / LEVEL_DENOM) * 0.3, neg)),
    "ShearY": ("ShearY", lambda m, s, neg, u, size: _signed((m / LEVEL_DENOM) * 0.3, neg)),
    "TranslateX": ("TranslateX", lambda m, s, neg, u, size: _signed((m / LEVEL_DENOM) * s.translate_const, neg)),
    "TranslateY": ("TranslateY", lambda m, s, neg, u, size: _signed((m / LEVEL_DENOM) * s.translate_const, neg)),
    # the relative translations: pct x the image side, in pixels
    "TranslateXRel": ("TranslateX", lambda m, s, neg, u, size: _relative(m, s, neg) * size),
    "TranslateYRel": ("TranslateY", lambda m, s, neg, u, size: _relative(m, s, neg) * size),
    "Desaturate": ("Color", lambda m, s, neg, u, size: np.clip(1. - _minmax(m, 0.5, 1.0), 0., 1.)),
    "GaussianBlur": ("GaussianBlur", lambda m, s, neg, u, size: _minmax(m, 0.1, 2.0)),
    # timm's random.uniform(0.1, 2.0 * factor)
    "GaussianBlurRand": ("GaussianBlur", lambda m, s, neg, u, size: 0.1 + (2.0 * _minmax(m, 0., 1.) - 0.1) * u),
}


def draw_timm(cfg_timm: TimmAugment, size: int, u: np.ndarray):
    """(ops (n, layers, 2) int32: the op id (`OPS`, Identity where nothing applies) and the filter id
    (`RESAMPLE_IDS`); args (n, layers) float64: the op's parameter) from uniforms `u` (n, 1 +
    PER_LAYER * MAX_LAYERS) with timm's sampling: u[:, 0] picks AutoAugment's sub-policy, then per
    layer k the 7 columns from 1 + 7k (choice, apply, Gaussian u1, u2, sign, filter, radius)."""

    def level(spec: OpSpec, c: np.ndarray):
        m = np.full(len(c), spec.magnitude)
        if spec.mstd == float("inf"):
            m = spec.magnitude * c[:, 2]  # random.uniform(0, magnitude)
        elif spec.mstd > 0:
            m = spec.magnitude + spec.mstd * np.sqrt(-2.0 * np.log1p(-c[:, 2])) * np.cos(2.0 * np.pi * c[:, 3])
        op, rule = LEVELS[spec.name]
        filters = _filters(cfg_timm.interpolation, c[:, 5]) if op in GEOMETRIC else 0
        return op, rule(np.maximum(0., np.minimum(m, spec.mmax)), spec, c[:, 4] > 0.5, c[:, 6], float(size)), filters

    return draw_layers(plan(cfg_timm.spec, translate_const(cfg_timm, size)), u, PER_LAYER, level, OP_ID)


def _filters(interpolation: str, u: np.ndarray) -> np.ndarray:
    if interpolation == "random":  # random.choice((BILINEAR, BICUBIC))
        return np.where(u < 0.5, RESAMPLE_IDS.index("bilinear"), RESAMPLE_IDS.index("bicubic"))
    return np.full(len(u), RESAMPLE_IDS.index(interpolation))


def inverse_maps(ops: np.ndarray, args: np.ndarray, size: int, flips: np.ndarray) -> np.ndarray:
    """timm's geometric ops' PIL maps (`policy_geometry.layer_maps`; `ops` (n, layers, 2): op, filter)."""
    return layer_maps(ops[..., 0], args, flips, size, OPS, pil_edge)


def apply(image, op: str, arg: float, resample: str = "bilinear", fill: tuple[int, ...] = (128, 128, 128)):
    """timm's op with its parameter on a (3, H, W) uint8 tensor: PIL's arithmetic (`kernels.policy`)."""
    return kernels.apply(image, op, arg, "pil", resample, fill)


def apply_layer(images, op, arg, affine, device: str, t: TimmAugment, size: int):
    """A layer of timm's policies in a DALI graph (`policy_graph.select_layer`); `t`: its fill and filter."""
    from .policy_graph import select_layer

    return select_layer(OPS, "pil", PolicyOp.param, images, op, arg, affine, device, size, t)


class TimmAugmentOp(PolicyOp):
    """`timm_ops` (n, layers, 2) op and filter ids, `timm_args` (n, layers) parameters (`draw_timm`),
    `timm_affine` (n, layers, 2, 3) the geometric ops' maps for DALI's warp_affine, mirrored for the
    flipped samples. Both CPU backends run timm's own PIL calls (`kernels.policy`, style "pil")."""

    field, config = "timm_augment", TimmAugment
    stream, draws = 5, 1 + PER_LAYER * MAX_LAYERS
    feeds = (Feed("timm_ops", "int32", (-1, 2)), Feed("timm_args", "float64", (-1,)),
             Feed("timm_affine", "float32", (-1, 2, 3)))
    ops_feed, args_feed, affine_feed = "timm_ops", "timm_args", "timm_affine"
    names, style = OPS, "pil"
    timm_args = ("auto_augment",)
    CPU_MS = {"rand": (0.39, 0.30), "auto": (0.47, 0.29)}  # benchmarks/augment_cost.py (RESULTS.md)

    def _plan(self, cfg) -> Plan:
        return plan(cfg.timm_augment.spec, translate_const(cfg.timm_augment, cfg.size))

    def cpu_cost(self, cfg):
        return self.CPU_MS[self._plan(cfg).kind]

    def check(self, cfg):
        self._plan(cfg)
        require(cfg.auto_augment is None, "TrainTransform.timm_augment",
                "timm's augmentation and a torchvision auto_augment policy together: choose one")

    def layers(self, cfg):
        return self._plan(cfg).layers

    def draw(self, cfg, hw, u):
        ops, args = draw_timm(cfg.timm_augment, cfg.size, u)
        return {"timm_ops": ops, "timm_args": args}

    inverse_maps = staticmethod(inverse_maps)

    @staticmethod
    def op_id(op):
        return op[0]  # (op, filter) per layer

    def filter_and_fill(self, op, cfg):
        return RESAMPLE_IDS[op[1]], cfg.timm_augment.fill

    def add_arguments(self, parser):
        parser.add_argument("--timm-augment", default=None, metavar="SPEC",
                            help="timm's auto-augment string, e.g. rand-m9-mstd0.5-inc1, original, 3a (needs timm)")

    def from_arguments(self, args):
        return TimmAugment(args.timm_augment) if args.timm_augment else None

    def from_timm(self, args):
        """Every timm policy string but TrivialAugment's (timm has none; see AutoAugmentOp.from_timm).
        `Preprocess.from_timm` sets the fill and filter from the model's mean and train_interpolation."""
        spec = args.get("auto_augment")
        if not spec or spec in TORCHVISION_ONLY:
            return None
        try:
            plan(spec, 100)  # timm's own parse: a string it refuses is refused here, naming the argument
            return TimmAugment(spec)
        except ConfigError as err:
            raise ConfigError(f"auto_augment={spec!r}: {err}") from None

