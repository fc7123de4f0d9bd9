"""siamese-siren encode|decode|info: the trained network as an audio codec.

Every path and number is checked before any work starts (training takes minutes to hours), and every file is
written atomically: on any failure, Ctrl-C included, nothing is left behind and an existing output is unchanged.
A failure prints one line on stderr naming the file or option and the fix.

Exit codes:
  0    success
  1    unusable input file: missing, a folder, a pipe, empty, unreadable, not audio, a damaged .ssr file
  2    bad command line: an option out of range, output same as input, an output extension that cannot be written
  3    training failed (diverged, or out of GPU memory)
  4    the output cannot be written: missing or read-only folder, permission denied, disk full
  130  interrupted (Ctrl-C)
"""

from __future__ import annotations

import argparse
import math
import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import soundfile as sf
import torch

from siamese_siren.analysis.rate_control import (
    DEFAULT_BITS,
    DEFAULT_WIDTHS,
    SearchSettings,
    Target,
    search,
    search_bound,
)
from siamese_siren.codec import bitstream, files
from siamese_siren.codec.audio import SAMPLE_RATE, AudioError, load_clip, output_format, write_audio_chunks
from siamese_siren.codec.bitstream import (
    MAX_SAMPLE_RATE,
    MAX_SECONDS,
    MIN_SAMPLE_RATE,
    MIN_SAMPLES,
    BitstreamError,
    CompressedClip,
)
from siamese_siren.codec.decode import DEFAULT_ALPHA, decoded_chunks, output_problem
from siamese_siren.codec.inits import InitError, load_init
from siamese_siren.codec.models import VARIANTS, get_variant, parameter_count, variant_name
from siamese_siren.codec.train import (
    KEEP,
    QAT_LR,
    SCHEDULES,
    TrainConfig,
    TrainingDiverged,
    TrainingOutOfMemory,
    load_model,
    qat_config,
    train,
)
from siamese_siren.metrics.vocabulary import TARGETABLE

from . import __version__

EXIT_OK, EXIT_BAD_INPUT, EXIT_USAGE, EXIT_TRAINING, EXIT_OUTPUT, EXIT_INTERRUPTED = 0, 1, 2, 3, 4, 130
MAX_STEPS = 1_000_000
MAX_SEED = 2**32 - 1


class UsageError(ValueError):
    """A command-line value is out of range or contradicts another; the message names the option and the fix."""


class OutputError(OSError):
    """The output cannot be written; the message names the file and the fix."""


def _input_file(path: str, error: type[Exception]) -> Path:
    problem = files.input_problem(path)
    if problem is not None:
        raise error(f"{path}: {problem}")
    return Path(path)


def _not_the_input(path: str, source: Path) -> None:
    """Refuse an output that is the input file, under any name (same inode: links, ./a and a)."""
    if os.path.exists(path) and os.path.samefile(path, source):
        raise UsageError(f"{path}: is the input file; writing it would destroy the input, give another output name")


def _output_file(path: str) -> Path:
    """``path`` checked as an output: in a folder a file can be created in, not a folder itself."""
    problem = files.output_problem(path)
    if problem is not None:
        raise OutputError(f"{path}: {problem}")
    return Path(path)


def _number(option: str, value: float | None, low: float, high: float = math.inf, unit: str = "") -> None:
    """Refuse a non-finite or out-of-range option value, naming the option and the range."""
    if value is not None and not (math.isfinite(value) and low <= value <= high):
        wanted = f"from {low:g} to {high:g}{unit}" if math.isfinite(high) else f"of at least {low:g}{unit}"
        raise UsageError(f"{option} {value}{unit} is out of range; give a finite number {wanted}")


def _sample_rate(option: str, rate: int | None) -> None:
    _number(option, rate, MIN_SAMPLE_RATE, MAX_SAMPLE_RATE, " Hz")


def _device(name: str | None) -> None:
    """Refuse a torch device that cannot hold a tensor here, before training tries to use it."""
    if name is None:
        return
    try:
        device = torch.device(name)
        if device.type == "meta":
            raise RuntimeError("a meta device holds no data")
        torch.zeros(1, device=device).cpu()
    except (RuntimeError, AssertionError) as err:
        raise UsageError(f"--device {name}: not usable here ({str(err).splitlines()[0]}); "
                         "leave it out to use CUDA when present, else the CPU") from err


def _whole_file_fits(source: Path, offset: float) -> None:
    """Refuse a whole-file encode longer than the bounds before reading hours of audio into memory."""
    try:
        seconds = sf.info(str(source)).duration - offset
    except (sf.LibsndfileError, RuntimeError, TypeError):
        return  # not audio: load_clip says so, with the fix
    if seconds > MAX_SECONDS:
        raise UsageError(f"{source}: {seconds:.0f} s after --offset, more than the {MAX_SECONDS} s a file can hold; "
                         "choose a part with --offset and --duration")


def _rate_control(args: argparse.Namespace) -> tuple[Target | None, SearchSettings | None]:
    """The rate-control target and search of ``--kbps``/``--quality`` (None, None without one), checked."""
    if args.kbps is None and args.quality is None:
        return None, None
    if args.kbps is not None and args.quality is not None:
        raise UsageError("--kbps and --quality both given; rate control meets one target, give one of them")
    chosen = [f"--{name}" for name in ("variant", "bits", "entropy") if getattr(args, name) is not None]
    if chosen:
        raise UsageError(f"{', '.join(chosen)} given with rate control, which chooses them; leave them out "
                         "(or set the candidates with --widths and --search-bits)")
    try:
        target = Target.of("kbps", args.kbps) if args.kbps is not None else Target.parse(args.quality)
        widths = tuple(w.strip() for w in args.widths.split(",") if w.strip())
        bits = tuple(int(b) for b in args.search_bits.split(","))
        kind = args.kind or ("speech" if target.name in ("pesq", "stoi", "estoi") else "music")
        settings = SearchSettings(widths=widths, bits=bits, qat_steps=args.qat_steps, qat_lr=args.qat_lr,
                                  objective=args.objective, kind=kind, alpha=args.alpha)
        settings.check()
    except (ValueError, KeyError) as err:
        raise UsageError(f"rate control: {err.args[0] if err.args else err}") from err
    if kind == "music" and target.name in ("pesq", "stoi", "estoi"):
        raise UsageError(f"--kind music: {target.name} scores speech only; use --kind speech or a visqol/cdpam target")
    return target, settings


def _encode(args: argparse.Namespace) -> int:
    _number("--steps", args.steps, 1, MAX_STEPS)
    _number("--seed", args.seed, 0, MAX_SEED)
    _sample_rate("--sample-rate", args.sample_rate)
    _number("--lr", args.lr, 1e-7, 1.0)
    _number("--warmup-steps", args.warmup_steps, 0, args.steps - 1)
    _number("--qat-steps", args.qat_steps, 0, MAX_STEPS)
    _number("--qat-lr", args.qat_lr, 1e-7, 1.0)
    _number("--offset", args.offset, 0, unit=" s")
    _number("--duration", args.duration, MIN_SAMPLES / args.sample_rate, MAX_SECONDS, " s")
    _number("--alpha", args.alpha, 0, math.inf)
    _device(args.device)
    target, search_settings = _rate_control(args)
    if args.init and target is not None:
        raise UsageError("--init starts one variant's training; rate control trains several widths, leave it out")
    source = _input_file(args.input, AudioError)
    _not_the_input(args.output, source)
    if Path(args.output).suffix.lower() != ".ssr":
        raise UsageError(f"{args.output}: encode writes a compressed .ssr file, so the name must end in .ssr; "
                         "to get audio back, run decode on the .ssr file")
    output = _output_file(args.output)
    if args.duration is None:
        _whole_file_fits(source, args.offset)
    clip = load_clip(source, sample_rate=args.sample_rate, offset=args.offset, duration=args.duration)
    bounds = bitstream.clip_bounds_problem(clip.sample_rate, len(clip.samples))
    if bounds is not None:
        raise AudioError(f"{source}: the clip cannot be encoded, {bounds}; choose --offset/--duration "
                         "(or --sample-rate) to fit")
    config = TrainConfig(steps=args.steps, seed=args.seed, device=args.device, progress=not args.quiet, keep=args.keep,
                         lr=args.lr, schedule=args.schedule, warmup_steps=args.warmup_steps)
    if target is not None:
        say = (lambda line: None) if args.quiet else (lambda line: print(f"  {line}", file=sys.stderr))
        bound = search_bound(search_settings, args.steps)
        say(f"rate control, {target}: at most {bound['trainings']} trainings, {bound['finetunings']} fine-tunings, "
            f"{bound['candidates']} candidates")
        try:
            compressed, choice, _ = search(clip.samples, clip.sample_rate, clip.peak, target, search_settings, config,
                                           label=source.name, progress=say)
        except ValueError as err:
            raise UsageError(f"{source}: {err}") from err
        size = _writing(output, lambda: bitstream.write(output, compressed))
        print(f"{output}: {size} bytes, {bitstream.kbps(size, clip.duration):.1f} kbps for {clip.duration:.2f} s; "
              f"{choice.reason()}")
        return EXIT_OK
    variant = get_variant(args.variant or "siamese-siren")
    init = load_init(_input_file(args.init, InitError), variant).state if args.init else None
    result = train(variant, clip.samples, config, label=source.name, init=init)
    bits = 8 if args.bits is None else args.bits
    state = result.state
    if args.qat_steps:
        qat = qat_config(config, bits, args.per_channel, args.qat_steps, args.qat_lr)
        state = train(variant, clip.samples, qat, label=f"{source.name} qat", init=state).state
    compressed = CompressedClip.from_model(
        load_model(variant, state), clip.sample_rate, len(clip.samples), clip.peak, bits, args.per_channel,
        args.entropy or "none",
    )
    size = _writing(output, lambda: bitstream.write(output, compressed))
    print(
        f"{output}: {size} bytes, {bitstream.kbps(size, clip.duration):.1f} kbps for {clip.duration:.2f} s "
        f"({variant.name}, {result.wall_seconds:.1f} s training on {result.device}, best loss {result.best_loss:.3e})"
    )
    return EXIT_OK


def _decode(args: argparse.Namespace) -> int:
    _sample_rate("--sample-rate", args.sample_rate)
    _number("--alpha", args.alpha, 0, math.inf)
    source = _input_file(args.input, BitstreamError)
    _not_the_input(args.output, source)
    output = _output_file(args.output)
    compressed = bitstream.read(source)
    rate = args.sample_rate or compressed.sample_rate
    try:
        output_format(output, rate)
    except AudioError as err:
        raise UsageError(str(err)) from err
    has_twin_heads = bool(compressed.variant.siam)
    denoised = has_twin_heads if args.denoise is None else args.denoise
    if denoised and not has_twin_heads:
        raise UsageError(f"{source}: this model has one head, siamese denoising needs two; use --no-denoise")
    problem = output_problem(compressed, rate, denoised, args.paper_mode)
    if problem is not None:
        raise UsageError(f"{source}: {problem}")
    chunks = decoded_chunks(compressed, rate, denoised, args.alpha, args.paper_mode)
    samples = _writing(output, lambda: write_audio_chunks(output, chunks, rate))
    print(f"{output}: {samples} samples at {rate} Hz, {'denoised' if denoised else 'not denoised'}")
    return EXIT_OK


def _writing(output: Path, write: Callable[[], int]) -> int:
    """Run ``write``, turning a failed write (full disk, permissions) into an :class:`OutputError` naming the file."""
    try:
        return write()
    except (OSError, sf.LibsndfileError) as err:
        cause = err if isinstance(err, OSError) else OSError(str(err))
        raise OutputError(f"{output}: cannot write ({cause.strerror or cause}); {files.os_error_fix(cause)}; "
                          "nothing was written") from err


def _info(args: argparse.Namespace) -> int:
    source = _input_file(args.input, BitstreamError)
    compressed = bitstream.read(source)
    size = source.stat().st_size
    v = compressed.variant
    print(f"file:        {source}")
    omegas = f"{v.omega_first:g}/{v.omega_hidden:g}"
    print(f"variant:     {variant_name(v)} ({v.label}, PE L={v.pe_frequencies}, omega {omegas})")
    print(f"parameters:  {parameter_count(v)}")
    print(f"weights:     {compressed.bits}-bit, {'per-channel' if compressed.per_channel else 'per-tensor'} scales")
    print(f"entropy:     {compressed.entropy}")
    print(f"bytes:       {size}")
    print(f"duration:    {compressed.duration:.3f} s ({compressed.num_samples} samples at {compressed.sample_rate} Hz)")
    print(f"kbps:        {bitstream.kbps(size, compressed.duration):.2f}")
    if compressed.rate_control is not None:
        print(f"rate control: {compressed.rate_control.summary()}")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    summary, details = __doc__.split("\n", 1)
    parser = argparse.ArgumentParser(prog="siamese-siren", description=summary, epilog=details.strip(),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    rates = f"{MIN_SAMPLE_RATE}..{MAX_SAMPLE_RATE}"

    enc = sub.add_parser("encode", help="train a network on an audio file and write it as a .ssr file")
    enc.add_argument("input", help="any audio file soundfile reads (wav, flac, ogg, mp3, au); not a pipe")
    enc.add_argument("output", help="the .ssr file to write (must end in .ssr; must not be the input)")
    enc.add_argument("--variant", default=None, choices=list(VARIANTS), metavar="NAME",
                     help="model variant (default siamese-siren; one of: %(choices)s)")
    enc.add_argument("--steps", type=int, default=2500, help=f"training steps, 1..{MAX_STEPS} (default 2500)")
    enc.add_argument("--seed", type=int, default=0,
                     help=f"seed of the network's initialisation, 0..{MAX_SEED} (default 0); "
                          "the same seed on the same machine gives the same file")
    enc.add_argument("--init", default=None, metavar="FILE",
                     help="start from a learned initialisation (.init.pt, made by the workflow's meta_init rule) of "
                          "the variant; the .ssr still decodes alone (default: SIREN's random initialisation)")
    enc.add_argument("--lr", type=float, default=1e-4, help="Adam learning rate (1e-4, the paper's)")
    enc.add_argument("--schedule", default="constant", choices=SCHEDULES,
                     help="learning rate over the run: constant (the paper's) or cosine decay to 0")
    enc.add_argument("--warmup-steps", type=int, default=0, help="linear warm-up steps before the schedule (0)")
    enc.add_argument("--bits", type=int, default=None, choices=range(2, 9), metavar="2..8", help="weight bits (8)")
    enc.add_argument("--per-channel", action="store_true", help="one weight scale per output channel")
    enc.add_argument("--entropy", default=None, choices=bitstream.ENTROPY_CODINGS,
                     help="payload entropy coding (none): " + ", ".join(bitstream.ENTROPY_CODINGS) + "; auto keeps "
                          "the smallest; all decode to the same weights")
    enc.add_argument("--qat-steps", type=int, default=0,
                     help="quantization-aware fine-tuning steps after training, at the file's bits (0: none)")
    enc.add_argument("--qat-lr", type=float, default=QAT_LR, help=f"peak learning rate of the fine-tuning ({QAT_LR:g})")
    control = enc.add_argument_group(
        "rate control", "choose the width, bit depth, scales and entropy coding for this clip; "
        "the search is bounded: one training per width, one file per bit depth, see README 'Rate control'")
    control.add_argument("--kbps", type=float, default=None, help="the best file at or under this bitrate")
    control.add_argument("--quality", default=None, metavar="METRIC=Q",
                         help="the smallest file reaching this quality, e.g. visqol=3.5, pesq=2.5, cdpam=0.2 "
                              f"(metrics: {', '.join(TARGETABLE)})")
    control.add_argument("--widths", default=",".join(DEFAULT_WIDTHS),
                         help="variants tried, comma-separated (default %(default)s)")
    control.add_argument("--search-bits", default=",".join(map(str, DEFAULT_BITS)),
                         help="bit depths tried (default %(default)s)")
    control.add_argument("--objective", default="snr", choices=list(TARGETABLE),
                         help="what a kbps target maximises (snr: free to measure)")
    control.add_argument("--kind", default=None, choices=["speech", "music"],
                         help="metric modes of a quality target (default: speech for pesq/stoi/estoi, else music)")
    control.add_argument("--alpha", type=float, default=DEFAULT_ALPHA,
                         help="denoising gain the candidates are measured with, as decode plays them (1)")
    enc.add_argument("--sample-rate", type=int, default=SAMPLE_RATE, help=f"rate the network learns, {rates} (22050)")
    enc.add_argument("--offset", type=float, default=0.0, help="start, in seconds (>= 0)")
    enc.add_argument("--duration", type=float, default=None,
                     help=f"seconds to keep, at most {MAX_SECONDS}, zero-padded if the file is shorter (default: the "
                          "whole file; the paper uses 10)")
    enc.add_argument("--keep", default="best", choices=KEEP, help="weights stored: lowest loss or last step (best)")
    enc.add_argument("--device", default=None, help="torch device (default: CUDA when present)")
    enc.add_argument("--quiet", action="store_true",
                     help="no progress bar (the bar and its loss advance every 50 steps, the loss is that step's)")
    enc.set_defaults(run=_encode)

    dec = sub.add_parser("decode", help="play a .ssr file back into an audio file")
    dec.add_argument("input", help="a .ssr file")
    dec.add_argument("output", help="audio file to write; the extension picks the format (.wav, .flac, .ogg, .mp3, "
                                    "... as soundfile writes them); must not be the input")
    dec.add_argument("--sample-rate", type=int, default=None, help=f"output rate, {rates} (default: the encoded rate)")
    dec.add_argument("--denoise", action=argparse.BooleanOptionalAction, default=None,
                     help="siamese denoising (default: on when the model has two heads); it holds the whole output "
                          "in memory, so it is limited to 28,800,000 samples (10 min at 48 kHz)")
    dec.add_argument("--alpha", type=float, default=DEFAULT_ALPHA, help="gain of the noise estimate, >= 0 (1)")
    dec.add_argument("--paper-mode", action="store_true",
                     help="also quantize activations, as the paper's PyTorch dynamic quantization did (one call over "
                          "the whole output: 262,144 samples at most for the 256-wide variants)")
    dec.set_defaults(run=_decode)

    inf = sub.add_parser("info", help="describe a .ssr file")
    inf.add_argument("input", help="a .ssr file: prints its variant, parameters, size, duration and kbps")
    inf.set_defaults(run=_info)
    return parser


_EXPECTED_FAILURES = (UsageError, AudioError, BitstreamError, InitError, OutputError, OSError, TrainingDiverged,
                      TrainingOutOfMemory)


def _failure(command: str, err: BaseException) -> tuple[int, str]:
    """The exit code and the one line for a failure."""
    if isinstance(err, UsageError):
        return EXIT_USAGE, f"siamese-siren {command}: error: {err}"
    if isinstance(err, (AudioError, BitstreamError, InitError)):
        return EXIT_BAD_INPUT, f"siamese-siren: error: {err}"
    if isinstance(err, OutputError):
        return EXIT_OUTPUT, f"siamese-siren: error: {err}"
    if isinstance(err, OSError):  # a file other than the output, e.g. a temporary one of a library; name what we know
        return EXIT_OUTPUT, (f"siamese-siren: error: {err.filename or 'a file'}: {err.strerror or err}; "
                             f"{files.os_error_fix(err)}")
    if isinstance(err, (TrainingDiverged, TrainingOutOfMemory)):
        return EXIT_TRAINING, f"siamese-siren: training failed: {err}"
    return EXIT_INTERRUPTED, "siamese-siren: interrupted; nothing was written"


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code (argparse's own errors included) instead of exiting."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as done:  # --help, --version, or argparse's usage error (code 2), already printed
        return int(done.code or 0)
    # Ctrl-C can land inside a C library's callback (libsndfile writing through Python), which turns the
    # KeyboardInterrupt into a write error: remember it, so that whatever error follows is reported as the interrupt.
    interrupted = []

    def on_interrupt(signum: int, frame: object) -> None:
        interrupted.append(signum)
        raise KeyboardInterrupt

    def quiet_interrupts(unraisable: object) -> None:  # the callback's interrupt is reported below, once
        if not isinstance(getattr(unraisable, "exc_value", None), KeyboardInterrupt):
            unraisable_hook(unraisable)

    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, on_interrupt) if in_main_thread else None
    unraisable_hook, sys.unraisablehook = sys.unraisablehook, quiet_interrupts
    try:
        return args.run(args)
    except (KeyboardInterrupt, Exception) as err:  # libraries may raise anything once interrupted (soundfile asserts)
        expected = not isinstance(err, Exception) or isinstance(err, _EXPECTED_FAILURES)
        if not (interrupted or expected):
            raise  # a bug: its traceback is what a report needs
        code, message = _failure(args.command, KeyboardInterrupt() if interrupted else err)
        print(message, file=sys.stderr)
        return code
    finally:
        sys.unraisablehook = unraisable_hook
        if previous is not None:
            signal.signal(signal.SIGINT, previous)


if __name__ == "__main__":
    sys.exit(main())
