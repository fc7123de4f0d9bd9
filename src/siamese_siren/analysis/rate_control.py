"""Rate control: which compressed file of a clip meets a target, a bitrate (``kbps=24``) or a quality
(``visqol=3.5``, ``pesq=2.5``, ``cdpam=0.2``...).

The rule, one for the codec and the workflow (:func:`choose`):

* a **kbps** target keeps the files at or under the bitrate and picks the one that scores best on the objective
  (default SNR, which costs nothing to measure); when none fits, the smallest file, marked as not met;
* a **quality** target keeps the files that reach it and picks the smallest; when none does, the best one,
  marked as not met.

The codec's search (:func:`search`) makes the candidates for one clip: it trains each network width once, writes
its file at every bit depth (entropy coding ``auto``: the smallest coding), decodes and measures each, and
optionally fine-tunes quantization-aware (``qat_steps``) where that can change the choice. Its cost is bounded
before it starts (:func:`search_bound`): at most one training per width and one fine-tuning per width and bit
depth, plus a decode and a measurement per candidate; widths that cannot matter are skipped (a kbps target
skips widths whose smallest possible file is over the budget; a quality target stops growing the width once a
file reaches the target and the next width's smallest possible file is larger).

The workflow (rate_distortion ``control``) applies :func:`choose` per clip to the files it already made (every
variant x precision of the rate-distortion points, with their scores), so its INR curve has one point per target.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from siamese_siren.codec import bitstream
from siamese_siren.codec.bitstream import RATE_CONTROL_BYTES, CompressedClip, RateControl
from siamese_siren.codec.decode import denoise, reconstruct
from siamese_siren.codec.models import Variant, get_variant, parameter_count
from siamese_siren.codec.quantize import SUPPORTED_BITS
from siamese_siren.codec.train import QAT_LR, TrainConfig, load_model, qat_config, train
from siamese_siren.metrics import score_pair, snr_db
from siamese_siren.metrics.vocabulary import TARGETABLE, metric

#: The codec's default search: the library's Siamese SIREN sizes, small to large, and every bit depth down to 3.
DEFAULT_WIDTHS = ("siamese-2x64+1x32", "siamese-2x128+1x64", "siamese-siren")
DEFAULT_BITS = (8, 7, 6, 5, 4, 3)
#: The least an entropy coding leaves of a bit-packed payload, measured on trained networks
#: (docs/experiments/bits.md); a width whose payload times this is over a kbps budget cannot fit it at any bit depth.
MIN_CODED_FRACTION = 0.5
#: The largest kbps target: 1e9 kbps (1 Tbit/s). The largest file the format can hold (sixteen 4096-wide head
#: layers at 8 bits, about 505 MB) over its shortest clip (1024 samples at 192 kHz, 5.3 ms) is about 7.6e8 kbps, so
#: every file fits this budget and a larger one would mean nothing more; it must also be finite and fit the file's
#: float32 rate-control record (3.4e38), which ``inf`` and ``1e39`` do not.
MAX_KBPS = 1e9
_FLOAT32_MAX = float(np.finfo(np.float32).max)
_TARGET = re.compile(r"(?P<name>[a-z]+)\s*=\s*(?P<value>[-+0-9.eE]+)")


@dataclass(frozen=True)
class Target:
    """``kbps`` and its budget, or a quality metric and the value to reach."""

    name: str
    value: float

    @classmethod
    def parse(cls, text: str) -> Target:
        """``kbps=24``, ``visqol=3.5``, ``pesq=2.5``, ``cdpam=0.2`` (lower is better), ``snr=20``, ..."""
        match = _TARGET.fullmatch(text.strip())
        if not match or not math.isfinite(float(match["value"])):
            raise ValueError(f"{text!r} is not a target; write kbps=K or METRIC=Q with METRIC one of "
                             f"{', '.join(TARGETABLE)}")
        return cls.of(match["name"], float(match["value"]))

    @classmethod
    def of(cls, name: str, value: float) -> Target:
        """A target checked against what its quantity can take: a kbps budget in (0, MAX_KBPS], a metric value
        within the metric's range (:mod:`siamese_siren.metrics.vocabulary`); every one finite and a float32, as
        the file's record stores it. Checked here, before any search: a target nothing can meet is a typo."""
        if name != "kbps" and name not in TARGETABLE:
            raise ValueError(f"unknown target {name!r}; use kbps or one of {', '.join(TARGETABLE)}")
        value = float(value)
        if name == "kbps":
            if not (math.isfinite(value) and 0 < value <= MAX_KBPS):
                raise ValueError(f"kbps {value:g} is out of range; give a finite bitrate above 0 and at most "
                                 f"{MAX_KBPS:g} kbps (more than any file's rate)")
            return cls(name, value)
        m = metric(name)
        if not (math.isfinite(value) and m.in_range(value) and abs(value) <= _FLOAT32_MAX):
            unit = f" {m.unit}" if m.unit else ""
            low = f"{m.low:g}" if math.isfinite(m.low) else f"{-_FLOAT32_MAX:.3g}"
            high = f"{m.high:g}" if math.isfinite(m.high) else f"{_FLOAT32_MAX:.3g}"
            raise ValueError(f"{name} {value:g} is outside the range of {m.label}, {low} to {high}{unit}; give a "
                             "target within it")
        return cls(name, value)

    @property
    def is_rate(self) -> bool:
        return self.name == "kbps"

    def __str__(self) -> str:
        if self.is_rate:
            return f"at most {self.value:g} kbps"
        return f"{self.name} {'>=' if metric(self.name).higher_is_better else '<='} {self.value:g}"


@dataclass(frozen=True)
class Candidate:
    """One compressed file of a clip: what it is, its size and what it scored."""

    label: str  # e.g. "siamese-siren int5-pc" or the workflow's variant and precision
    bytes: int
    seconds: float
    scores: Mapping[str, float] = field(default_factory=dict)

    @property
    def kbps(self) -> float:
        return bitstream.kbps(self.bytes, self.seconds)

    def value(self, name: str) -> float:
        return self.kbps if name == "kbps" else float(self.scores.get(name, math.nan))


@dataclass(frozen=True)
class Choice:
    """The chosen candidate, whether it meets the target, and what was chosen from."""

    candidate: Candidate
    target: Target
    objective: str
    met: bool
    considered: int

    @property
    def got(self) -> float:
        """The chosen file's value of the target's quantity (its kbps, or its score)."""
        return self.candidate.value(self.target.name)

    def reason(self) -> str:
        c, t = self.candidate, self.target
        if t.is_rate:
            how = (f"the best {self.objective} ({c.value(self.objective):.2f}) of the files at or under the budget"
                   if self.met else "no file fits the budget: the smallest")
        else:
            how = (f"the smallest file that reaches it ({t.name} {self.got:.2f})" if self.met
                   else f"no file reaches it: the best one ({t.name} {self.got:.2f})")
        return f"asked {t}; chose {c.label}, {c.kbps:.1f} kbps: {how}, of {self.considered} candidates"

    def record(self) -> RateControl:
        """What the file stores of this choice, for ``siamese-siren info``."""
        return RateControl(target=self.target.name, asked=self.target.value, got=self.got, met=self.met,
                           candidates=self.considered, objective=self.objective,
                           objective_value=self.candidate.value(self.objective))


def _better(name: str, a: float, b: float) -> bool:
    """Whether score ``a`` beats ``b`` on metric ``name`` (NaN never beats anything)."""
    return metric(name).better(a, b)


def meets(candidate: Candidate, target: Target) -> bool:
    got = candidate.value(target.name)
    if target.is_rate:
        return got <= target.value + 1e-9
    return metric(target.name).reaches(got, target.value)


def choose(candidates: Sequence[Candidate], target: Target, objective: str = "snr") -> Choice:
    """The file rate control picks for ``target`` (see the module's rule)."""
    if not candidates:
        raise ValueError("rate control needs at least one candidate file")
    if objective not in TARGETABLE:
        raise ValueError(f"unknown objective {objective!r}; use one of {', '.join(TARGETABLE)}")
    fit = [c for c in candidates if meets(c, target)]
    measure = objective if target.is_rate else target.name
    pool = fit or candidates
    if target.is_rate and fit:
        best = pool[0]
        for c in pool[1:]:
            if _better(measure, c.value(measure), best.value(measure)):
                best = c
    elif target.is_rate:
        best = min(pool, key=lambda c: c.bytes)
    elif fit:
        best = min(pool, key=lambda c: c.bytes)
    else:
        best = pool[0]
        for c in pool[1:]:
            if _better(measure, c.value(measure), best.value(measure)):
                best = c
    return Choice(best, target, objective, bool(fit), len(candidates))


# ---- the codec's search -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SearchSettings:
    """What the codec's search may vary and how it measures."""

    widths: tuple[str, ...] = DEFAULT_WIDTHS
    bits: tuple[int, ...] = DEFAULT_BITS
    scales: tuple[bool, ...] = (True, False)  # per channel, per tensor: per tensor codes smaller, rounds coarser
    entropy: str = "auto"
    qat_steps: int = 0
    qat_lr: float = QAT_LR
    objective: str = "snr"
    kind: str = "speech"  # which metric modes score a quality target (siamese_siren.metrics kinds)
    denoised: bool = True  # measure the file as decode plays it: siamese denoising when it has two heads
    alpha: float = 1.0

    def check(self) -> None:
        for name in self.widths:
            get_variant(name)
        if not self.widths or not self.bits or not self.scales:
            raise ValueError("the search needs at least one width, one bit depth and one kind of scales")
        if bad := [b for b in self.bits if b not in SUPPORTED_BITS]:
            raise ValueError(f"bit depths {bad} outside 2..8")
        if self.objective not in TARGETABLE:
            raise ValueError(f"unknown objective {self.objective!r}; use one of {', '.join(TARGETABLE)}")
        if self.qat_steps < 0:
            raise ValueError(f"qat_steps must be >= 0, got {self.qat_steps}")


def smallest_file(variant: Variant, bits: Sequence[int], scales: Sequence[bool] = (True, False)) -> float:
    """A lower bound of a width's file size in bytes: its lowest bit depth and fewest scales, entropy coded as well
    as it gets, with the rate-control record."""
    return MIN_CODED_FRACTION * min(bitstream.file_size(variant, min(bits), pc) for pc in scales) + RATE_CONTROL_BYTES


def search_bound(settings: SearchSettings, steps: int) -> dict[str, int]:
    """The most work a search can do: trainings, training steps (fine-tunings included), candidates measured."""
    widths, bits = len(settings.widths), len(settings.bits) * len(settings.scales)
    finetunes = widths * bits if settings.qat_steps else 0
    return {"trainings": widths, "finetunings": finetunes, "steps": widths * steps + finetunes * settings.qat_steps,
            "candidates": widths * bits * (2 if settings.qat_steps else 1)}


def _widths_in_order(settings: SearchSettings) -> list[Variant]:
    return sorted((get_variant(n) for n in settings.widths), key=parameter_count)


def search(samples: np.ndarray, sample_rate: int, peak: float, target: Target, settings: SearchSettings,
           config: TrainConfig, label: str = "clip",
           progress: Callable[[str], None] = lambda line: None) -> tuple[CompressedClip, Choice, list[Candidate]]:
    """Rate control for one clip (peak-normalised ``samples``): every candidate measured, the one :func:`choose`
    picks, its compressed file carrying the choice (``rate_control``), and all candidates in search order.

    ``config`` is the training recipe of each width; ``progress`` receives one line per candidate.
    """
    settings.check()
    seconds = len(samples) / sample_rate
    candidates: list[Candidate] = []
    files: dict[str, CompressedClip] = {}
    wanted = sorted({settings.objective, *([] if target.is_rate else [target.name])} - {"snr"})

    def measure(compressed: CompressedClip, name: str) -> Candidate:
        heads = reconstruct(compressed)
        played = denoise(heads, sample_rate, "siamese" if settings.denoised and compressed.variant.siam else "none",
                         settings.alpha)
        scores = {"snr": snr_db(samples, played)}
        if wanted:
            record = score_pair((samples, sample_rate), (played, sample_rate), settings.kind, metrics=wanted)
            scores.update({m: float(record[m]) for m in wanted})
        data, coding = bitstream.encode(compressed)
        candidate = Candidate(name, len(data) + RATE_CONTROL_BYTES, seconds, scores)  # as written: with the record
        candidates.append(candidate)
        files[name] = dataclasses.replace(compressed, entropy=coding)  # auto resolved: written again the same
        progress(f"{name}: {candidate.kbps:.1f} kbps, " + ", ".join(f"{k} {v:.2f}" for k, v in scores.items()))
        return candidate

    def file_of(model, bits: int, per_channel: bool) -> CompressedClip:
        return CompressedClip.from_model(model, sample_rate, len(samples), peak, bits, per_channel, settings.entropy)

    best_bytes = math.inf
    for variant in _widths_in_order(settings):
        floor = smallest_file(variant, settings.bits, settings.scales)
        if target.is_rate and bitstream.kbps(floor, seconds) > target.value:
            progress(f"{variant.name}: skipped, its smallest possible file ({bitstream.kbps(floor, seconds):.1f} kbps) "
                     "is over the budget")
            continue
        if not target.is_rate and floor > best_bytes:
            progress(f"{variant.name}: skipped, its smallest possible file is larger than the chosen one")
            break
        trained = load_model(variant, train(variant, samples, config, label=f"{label} {variant.name}").state)
        for per_channel in settings.scales:
            name = f"{variant.name} int{{bits}}{'-pc' if per_channel else ''}"
            plain = [measure(file_of(trained, bits, per_channel), name.format(bits=bits)) for bits in settings.bits]
            for bits in _worth_finetuning(plain, settings.bits, target) if settings.qat_steps else ():
                qat = qat_config(config, bits, per_channel, settings.qat_steps, settings.qat_lr)
                state = train(variant, samples, qat, label=f"{label} {variant.name} qat{bits}",
                              init=trained.state_dict()).state
                tuned = measure(file_of(load_model(variant, state), bits, per_channel),
                                name.format(bits=bits) + " qat")
                if not target.is_rate and not meets(tuned, target):
                    break  # fewer bits will not reach it either
        reached = [c for c in candidates if meets(c, target)]
        if reached:
            best_bytes = min(c.bytes for c in reached)
    if not candidates:
        raise ValueError(f"{target}: even the smallest width's smallest possible file is over the budget; "
                         f"ask for more kbps or add a smaller width")
    choice = choose(candidates, target, settings.objective)
    compressed = dataclasses.replace(files[choice.candidate.label], rate_control=choice.record())
    return compressed, choice, candidates


def _worth_finetuning(width: Sequence[Candidate], bits: Sequence[int], target: Target) -> list[int]:
    """Bit depths of one width whose fine-tuning can change the choice: under a kbps budget, the deepest that fits
    (fine-tuning keeps the size and can only raise its score); for a quality target, the depths below the
    shallowest that already reaches it, deepest first (fine-tuning may let a smaller file reach it)."""
    if target.is_rate:
        fitting = [b for b, c in zip(bits, width, strict=True) if meets(c, target)]
        return [max(fitting)] if fitting else []
    reaching = [b for b, c in zip(bits, width, strict=True) if meets(c, target)]
    low = min(reaching) if reaching else max(bits) + 1
    return sorted((b for b in bits if b < low), reverse=True)
