"""siamese-siren encode|decode|info: the trained network as an audio codec; compare|mushra: checking results.

Every path and number is checked before any work starts (training takes minutes to hours), and every file is
written atomically: on any failure, Ctrl-C included, nothing is left behind and an existing output is unchanged.
A failure prints one line on stderr naming the file or option and the fix.

Exit codes:
  0    success; for compare: the two folders hold the same results
  1    unusable input: a file that is missing, a folder, a pipe, empty, unreadable, not audio, a damaged .ssr
       file, not webMUSHRA's ratings; a results folder that is missing or is a file
  2    bad command line: an option out of range, output same as input, an output extension that cannot be
       written, a command whose optional packages are not installed
  3    training failed (diverged, or out of GPU memory)
  4    the output cannot be written: missing or read-only folder, permission denied, disk full
  5    compare only: the results differ (each difference is printed on a DIFFERENT: line)
  130  interrupted (Ctrl-C); 143 terminated (SIGTERM), 129 hung up (SIGHUP): 128 + the signal's number, as a
       shell reports a process the signal stopped. Wherever it lands (start-up included), no traceback is
       printed and nothing is left behind
  141  whoever read the standard output stopped reading (siamese-siren info x.ssr | head -1): the command stops
       quietly, as a program that SIGPIPE stops does; a file it had already written stays
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import math
import os
import signal
import stat
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

# Start-up imports only what every command needs: --help, --version, info, compare and mushra must not wait seconds
# for torch. Each command imports the rest where it runs (encode and decode: the codec, hence torch).
from siamese_siren.codec import files

from . import __version__

if TYPE_CHECKING:
    from siamese_siren.analysis.rate_control import SearchSettings, Target
    from siamese_siren.codec.variants import Variant

EXIT_OK, EXIT_BAD_INPUT, EXIT_USAGE, EXIT_TRAINING, EXIT_OUTPUT, EXIT_INTERRUPTED = 0, 1, 2, 3, 4, 130
EXIT_DIFFERENT = 5  # compare: the results differ (not a failure of the command: the answer "no")
EXIT_STDOUT_CLOSED = 128 + 13  # 141: SIGPIPE's number; signal.SIGPIPE does not exist on Windows
#: Signals that stop a command as Ctrl-C does: their temporary files removed, the exit code 128 + the number.
STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))
MAX_STEPS = 1_000_000
MAX_SEED = 2**32 - 1


class UsageError(ValueError):
    """A command-line value is out of range or contradicts another; the message names the option and the fix."""


class OutputError(OSError):
    """The output cannot be written; the message names the file and the fix."""


class InputError(ValueError):
    """An input file or folder of compare or mushra cannot be used; the message names it and the fix."""


class StdoutClosed(Exception):
    """Whoever read the standard output has stopped reading (``| head``): not a failure of the command."""


def _out(text: str) -> None:
    """Print a line of the command's result; a reader that has gone ends the command quietly (see main)."""
    try:
        print(text)
    except BrokenPipeError:
        raise StdoutClosed from None


def _flush_stdout() -> None:
    """Write out what is still buffered (a pipe's buffer is written at exit otherwise, past any handling)."""
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        raise StdoutClosed from None


def _loaded(*names: str) -> tuple[type[BaseException], ...]:
    """The exception classes ``module:Class`` of the modules already imported. An error of a module that was never
    imported cannot have been raised, and telling a failure's kind must not import torch into a command that
    needs none (info, compare, mushra)."""
    found = []
    for name in names:
        module, _, attribute = name.partition(":")
        if module in sys.modules:
            found.append(getattr(sys.modules[module], attribute))
    return tuple(found)


#: What each kind of failure is, by the module that raises it (see _loaded).
_BAD_INPUT = ("siamese_siren.codec.audio:AudioError", "siamese_siren.codec.bitstream:BitstreamError",
              "siamese_siren.codec.inits:InitError")
_TRAINING_FAILED = ("siamese_siren.codec.train:TrainingDiverged", "siamese_siren.codec.train:TrainingOutOfMemory")


def _input_file(path: str, error: type[Exception]) -> Path:
    problem = files.input_problem(path)
    if problem is not None:
        raise error(f"{path}: {problem}")
    return Path(path)


def _input_folder(path: str) -> Path:
    """``path`` checked as a folder to read: it exists, is a folder, and its entries can be listed."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise InputError(f"{path}: no such folder; check the path") from None
    except OSError as err:
        raise InputError(f"{path}: cannot be looked at ({err.strerror}); check the path and its folders' "
                         "permissions") from err
    if not stat.S_ISDIR(info.st_mode):
        raise InputError(f"{path}: is a file, not a folder; give a results folder (e.g. results/)")
    try:
        with os.scandir(path):
            pass
    except OSError as err:
        fix = "change its permissions (chmod u+rx)" if err.errno in (errno.EACCES, errno.EPERM) else "check the path"
        raise InputError(f"{path}: cannot be read ({err.strerror or err}); {fix}") from err
    return Path(path)


@contextlib.contextmanager
def _optional_packages(command: str) -> Iterator[None]:
    """Imports of a command that needs packages the codec does not (pandas, tabulate): one line if missing."""
    try:
        yield
    except ModuleNotFoundError as err:
        if (err.name or "").startswith("siamese_siren"):
            raise  # a bug, not a missing package
        raise UsageError(f"{command} needs the Python package {err.name}, which is not installed; "
                         'install the report extra: pip install "siamese-siren[report]"') from err


def _not_the_input(path: str, source: Path) -> None:
    """Refuse an output that is the input file, under any name (same inode: links, ./a and a)."""
    if os.path.exists(path) and os.path.samefile(path, source):
        raise UsageError(f"{path}: is the input file; writing it would destroy the input, give another output name")


def _output_file(path: str) -> Path:
    """``path`` checked as an output: not a FIFO or device (a wrong name, like the input's: exit 2), in a folder a
    file can be created in, not a folder itself."""
    special = files.special_file_problem(path)
    if special is not None:
        raise UsageError(f"{path}: {special}")
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
    from siamese_siren.codec.bitstream import MAX_SAMPLE_RATE, MIN_SAMPLE_RATE

    _number(option, rate, MIN_SAMPLE_RATE, MAX_SAMPLE_RATE, " Hz")


def _device(name: str | None) -> None:
    """Refuse a torch device that cannot hold a tensor here, before training tries to use it."""
    if name is None:
        return
    import torch

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
    import soundfile as sf

    from siamese_siren.codec.bitstream import MAX_SECONDS

    try:
        seconds = sf.info(str(source)).duration - offset
    except (sf.LibsndfileError, RuntimeError, TypeError):
        return  # not audio: load_clip says so, with the fix
    if seconds > MAX_SECONDS:
        raise UsageError(f"{source}: {seconds:.0f} s after --offset, more than the {MAX_SECONDS} s a file can hold; "
                         "choose a part with --offset and --duration")


def _rate_control(args: argparse.Namespace) -> tuple[Target | None, SearchSettings | None]:
    """The rate-control target and search of ``--kbps``/``--quality`` (None, None without one), checked: the
    target against what its quantity can take (Target.of: the metric's range from the metric vocabulary)."""
    from siamese_siren.analysis.rate_control import SearchSettings, Target

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
    except ValueError as err:
        option = f"--kbps {args.kbps:g}" if args.kbps is not None else f"--quality {args.quality}"
        raise UsageError(f"{option}: {err}") from err
    try:
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
    from siamese_siren.analysis.rate_control import search, search_bound
    from siamese_siren.codec import bitstream
    from siamese_siren.codec.audio import AudioError, load_clip
    from siamese_siren.codec.bitstream import MAX_SECONDS, MIN_SAMPLES, CompressedClip
    from siamese_siren.codec.decode import MAX_ALPHA
    from siamese_siren.codec.inits import InitError, load_init
    from siamese_siren.codec.train import TrainConfig, load_model, qat_config, train
    from siamese_siren.codec.variants import get_variant

    _number("--steps", args.steps, 1, MAX_STEPS)
    _number("--seed", args.seed, 0, MAX_SEED)
    _sample_rate("--sample-rate", args.sample_rate)
    _number("--lr", args.lr, 1e-7, 1.0)
    _number("--warmup-steps", args.warmup_steps, 0, args.steps - 1)
    _number("--qat-steps", args.qat_steps, 0, MAX_STEPS)
    _number("--qat-lr", args.qat_lr, 1e-7, 1.0)
    _number("--offset", args.offset, 0, unit=" s")
    _number("--duration", args.duration, MIN_SAMPLES / args.sample_rate, MAX_SECONDS, " s")
    _number("--alpha", args.alpha, 0, MAX_ALPHA)
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
        _out(f"{output}: {size} bytes, {bitstream.kbps(size, clip.duration):.1f} kbps for {clip.duration:.2f} s; "
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
    _out(
        f"{output}: {size} bytes, {bitstream.kbps(size, clip.duration):.1f} kbps for {clip.duration:.2f} s "
        f"({variant.name}, {result.wall_seconds:.1f} s training on {result.device}, best loss {result.best_loss:.3e})"
    )
    return EXIT_OK


def _decode(args: argparse.Namespace) -> int:
    from siamese_siren.codec import bitstream
    from siamese_siren.codec.audio import AudioError, output_format, write_audio_chunks
    from siamese_siren.codec.bitstream import BitstreamError
    from siamese_siren.codec.decode import MAX_ALPHA, decoded_chunks, heads_identical, output_problem

    _sample_rate("--sample-rate", args.sample_rate)
    _number("--alpha", args.alpha, 0, MAX_ALPHA)
    _number("--max-work", args.max_work, 1)
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
    if denoised and (args.alpha == 0 or heads_identical(compressed)):
        why = "--alpha 0 makes" if args.alpha == 0 else "its two heads are identical, which makes"
        print(f"siamese-siren: {source}: {why} the noise estimate zero, so denoising removes nothing; decoding "
              "without it", file=sys.stderr)
        denoised = False
    problem = output_problem(compressed, rate, denoised, args.paper_mode, args.max_work)
    if problem is not None:
        raise UsageError(f"{source}: {problem}")
    chunks = decoded_chunks(compressed, rate, denoised, args.alpha, args.paper_mode, args.max_work)
    samples = _writing(output, lambda: write_audio_chunks(output, chunks, rate))
    _out(f"{output}: {samples} samples at {rate} Hz, {'denoised' if denoised else 'not denoised'}")
    return EXIT_OK


def _writing(output: Path, write: Callable[[], int]) -> int:
    """Run ``write``, turning a failed write (full disk, permissions) into an :class:`OutputError` naming the file."""
    try:
        return write()
    except (OSError, *_loaded("soundfile:LibsndfileError")) as err:
        cause = err if isinstance(err, OSError) else OSError(str(err))
        raise OutputError(f"{output}: cannot write ({cause.strerror or cause}); {files.os_error_fix(cause)}; "
                          "nothing was written") from err


def _info(args: argparse.Namespace) -> int:
    # the reader and the variant's plain data only: info runs no network, so it never imports torch
    from siamese_siren.codec import bitstream
    from siamese_siren.codec.bitstream import BitstreamError
    from siamese_siren.codec.variants import parameter_count, variant_name

    source = _input_file(args.input, BitstreamError)
    compressed = bitstream.read(source)
    size = source.stat().st_size
    v = compressed.variant
    _out(f"file:        {source}")
    _out(f"format:      version {bitstream.format_version(v)}")
    _out(f"variant:     {variant_name(v)} ({v.label})")
    _out(f"activation:  {_activation_text(v)}")
    _out(f"encoding:    {_encoding_text(v)}")
    _out(f"parameters:  {parameter_count(v)}")
    _out(f"weights:     {compressed.bits}-bit, {'per-channel' if compressed.per_channel else 'per-tensor'} scales")
    _out(f"entropy:     {compressed.entropy}")
    _out(f"bytes:       {size}")
    _out(f"duration:    {compressed.duration:.3f} s ({compressed.num_samples} samples at {compressed.sample_rate} Hz)")
    _out(f"kbps:        {bitstream.kbps(size, compressed.duration):.2f}")
    if compressed.rate_control is not None:
        _out(f"rate control: {compressed.rate_control.summary()}")
    return EXIT_OK


def _activation_text(v: Variant) -> str:
    """The layers' family and its parameters, as ``info`` prints them."""
    omegas = f"omega {v.omega_first:g}/{v.omega_hidden:g} (first/other layers)"
    if v.activation == "sine":
        return f"sine, {omegas}"
    if v.activation == "finer":
        k = v.finer_bias_scale
        return f"finer, {omegas}, first-layer biases from {'PyTorch default' if k is None else f'U(-{k:g}, {k:g})'}"
    if v.activation == "gauss":
        return f"gauss, sigma {v.gauss_sigma:g}"
    return f"gabor, {omegas}, scale {v.gabor_scale:g}"


def _encoding_text(v: Variant) -> str:
    """How the time enters the network, as ``info`` prints it."""
    if v.time_encoding == "none":
        return "none (the raw time)"
    if v.time_encoding == "positional":
        return f"positional, L={v.pe_frequencies}, scale {v.pe_scale:g}"
    return f"fourier, {v.fourier_features} features, sigma {v.fourier_sigma:g}, seed {v.fourier_seed}"


def _compare(args: argparse.Namespace) -> int:
    _number("--rtol", args.rtol, 0)
    _number("--atol", args.atol, 0)
    with _optional_packages("compare"):
        from siamese_siren.analysis.compare import compare_results
    a, b = _input_folder(args.a), _input_folder(args.b)
    try:
        result = compare_results(a, b, args.rtol, args.atol)
    except OSError as err:  # a file inside a folder that cannot be read
        fix = "change its permissions (chmod u+r)" if err.errno in (errno.EACCES, errno.EPERM) else "check the file"
        raise InputError(f"{err.filename or 'a file'}: cannot be read ({err.strerror or err}); {fix}") from err
    for line in result.report():
        _out(line)
    return EXIT_OK if result.identical else EXIT_DIFFERENT


def _mushra(args: argparse.Namespace) -> int:
    with _optional_packages("mushra"):
        import tabulate  # noqa: F401  (pandas' to_markdown prints with it)

        from siamese_siren.analysis import statistics  # noqa: F401  (scipy: the confidence intervals)
        from siamese_siren.analysis.mushra import RatingsError, ratings_table, read_ratings, screen
    source = _input_file(args.ratings, InputError)
    output = None
    if args.out is not None:
        _not_the_input(args.out, source)
        output = _output_file(args.out)
    try:
        ratings = read_ratings(source)
    except RatingsError as err:
        raise InputError(str(err)) from err
    if args.listener is not None:
        if args.listener not in ratings.columns:
            columns = ", ".join(str(c) for c in ratings.columns)
            raise UsageError(f"--listener {args.listener}: {source} has no such column; give the one naming the "
                             f"listener (a questionnaire field of the test), one of: {columns}")
        ratings, excluded = screen(ratings, args.listener)
        _out(f"post-screening excluded {len(excluded)} listener(s): {', '.join(excluded) or 'none'}")
        if ratings.empty:
            raise InputError(f"{source}: post-screening excluded every listener, no ratings are left; check that "
                             f"--listener {args.listener} names the listener, or leave it out to see all scores")
    table = ratings_table(ratings)
    _out(table.to_markdown(index=False, floatfmt=".1f"))
    if output is not None:
        _writing(output, lambda: files.write_bytes(output, table.to_csv(index=False).encode()))
    return EXIT_OK


def _encode_arguments(enc: argparse.ArgumentParser) -> None:
    from siamese_siren.analysis.rate_control import DEFAULT_BITS, DEFAULT_WIDTHS
    from siamese_siren.codec import bitstream
    from siamese_siren.codec.audio import SAMPLE_RATE
    from siamese_siren.codec.bitstream import MAX_SAMPLE_RATE, MAX_SECONDS, MIN_SAMPLE_RATE
    from siamese_siren.codec.decode import DEFAULT_ALPHA, MAX_ALPHA
    from siamese_siren.codec.train import KEEP, QAT_LR, SCHEDULES
    from siamese_siren.codec.variants import VARIANTS
    from siamese_siren.metrics.vocabulary import TARGETABLE

    rates = f"{MIN_SAMPLE_RATE}..{MAX_SAMPLE_RATE}"
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
        "the search is bounded: one training per width, one file per bit depth, see docs/codec.md")
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
                         help=f"denoising gain the candidates are measured with, as decode plays them, "
                              f"0..{MAX_ALPHA:g} (1)")
    enc.add_argument("--sample-rate", type=int, default=SAMPLE_RATE, help=f"rate the network learns, {rates} (22050)")
    enc.add_argument("--offset", type=float, default=0.0, help="start, in seconds (>= 0)")
    enc.add_argument("--duration", type=float, default=None,
                     help=f"seconds to keep, at most {MAX_SECONDS}, zero-padded if the file is shorter (default: the "
                          "whole file; the paper uses 10)")
    enc.add_argument("--keep", default="best", choices=KEEP, help="weights stored: lowest loss or last step (best)")
    enc.add_argument("--device", default=None, help="torch device (default: CUDA when present)")
    enc.add_argument("--quiet", action="store_true",
                     help="no progress bar (the bar and its loss advance every 50 steps, the loss is that step's)")


def _decode_arguments(dec: argparse.ArgumentParser) -> None:
    from siamese_siren.codec.bitstream import MAX_SAMPLE_RATE, MIN_SAMPLE_RATE
    from siamese_siren.codec.decode import DEFAULT_ALPHA, MAX_ALPHA, MAX_WORK

    rates = f"{MIN_SAMPLE_RATE}..{MAX_SAMPLE_RATE}"
    dec.add_argument("input", help="a .ssr file")
    dec.add_argument("output", help="audio file to write; the extension picks the format (.wav, .flac, .ogg, .mp3, "
                                    "... as soundfile writes them); must not be the input")
    dec.add_argument("--sample-rate", type=int, default=None, help=f"output rate, {rates} (default: the encoded rate)")
    dec.add_argument("--denoise", action=argparse.BooleanOptionalAction, default=None,
                     help="siamese denoising (default: on when the model has two heads); it holds the whole output "
                          "in memory, so it is limited to 28,800,000 samples (10 min at 48 kHz)")
    dec.add_argument("--alpha", type=float, default=DEFAULT_ALPHA,
                     help=f"gain of the noise estimate, 0..{MAX_ALPHA:g} (1; the paper's text says 2)")
    dec.add_argument("--max-work", type=float, default=MAX_WORK, metavar="N",
                     help=f"the most multiply-adds the decode may take, output samples x the network's per sample "
                          f"(default {MAX_WORK:.0e}: the paper's largest model for an hour at 192 kHz, some hours of "
                          "CPU); a file asking for more is refused, so that a tiny hostile file cannot ask for weeks")
    dec.add_argument("--paper-mode", action="store_true",
                     help="also quantize activations, as the paper's PyTorch dynamic quantization did (one call over "
                          "the whole output: 262,144 samples at most for the 256-wide variants)")


def build_parser(commands: Iterable[str] | None = None) -> argparse.ArgumentParser:
    """The command line; with ``commands``, only those subcommands get their options (the others are listed, with
    their help). encode's and decode's options take their bounds and defaults from the codec, which imports torch
    (seconds): --help, --version, info, compare and mushra do not wait for it."""
    summary, details = __doc__.split("\n", 1)
    parser = argparse.ArgumentParser(prog="siamese-siren", description=summary, epilog=details.strip(),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    enc = sub.add_parser("encode", help="train a network on an audio file and write it as a .ssr file")
    enc.set_defaults(run=_encode)
    if commands is None or "encode" in commands:
        _encode_arguments(enc)

    dec = sub.add_parser("decode", help="play a .ssr file back into an audio file")
    dec.set_defaults(run=_decode)
    if commands is None or "decode" in commands:
        _decode_arguments(dec)

    inf = sub.add_parser("info", help="describe a .ssr file")
    inf.add_argument("input", help="a .ssr file: prints its variant, parameters, size, duration and kbps")
    inf.set_defaults(run=_info)

    cmp = sub.add_parser(
        "compare", help="do two results folders hold the same results? (exit 0: yes, 5: no)",
        description="Compare every result of folder A with folder B: .ssr bytes, audio samples (not headers), "
                    "Ogg packets, CSV values (rows in any order), trained weights, JSON records. Logs, "
                    "benchmarks, the training cache and timings are not results; figures (PNG) are listed apart "
                    "and do not count as a difference. Exit 0: identical results; 5: the results differ, each "
                    "difference printed on a DIFFERENT: line; 1: a folder cannot be read; 2: a bad option.")
    cmp.add_argument("a", metavar="A", help="a results folder (e.g. before a change)")
    cmp.add_argument("b", metavar="B", help="another results folder (e.g. after it)")
    cmp.add_argument("--rtol", type=float, default=0.0,
                     help="relative tolerance for numbers in CSV files, >= 0 (default 0: exactly equal; ViSQOL and "
                          "CDPAM scores change in their last bits from run to run, 1e-9 admits that)")
    cmp.add_argument("--atol", type=float, default=0.0,
                     help="absolute tolerance for numbers in CSV files, >= 0 (default 0; ESTOI moves by up to about "
                          "1e-6 between two runs on the same audio, 1e-5 admits that)")
    cmp.set_defaults(run=_compare)

    mus = sub.add_parser(
        "mushra", help="webMUSHRA ratings -> mean score and 95%% CI per condition",
        description="Summarise the ratings of the MUSHRA kit (results/listen/mushra/) that webMUSHRA wrote: one "
                    "row per condition, best first, with mean score, 95% confidence interval (Student t) and N.")
    mus.add_argument("ratings", metavar="RATINGS.csv",
                     help="the CSV webMUSHRA wrote (results/<testId>/mushra.csv): columns rating_stimulus, "
                          "rating_score, ...")
    mus.add_argument("--listener", default=None, metavar="COLUMN",
                     help="the column naming the listener (a questionnaire field of the test); enables ITU-R "
                          "BS.1534-3 post-screening: a listener who rates the hidden reference below 90 in more "
                          "than 15%% of their trials is left out (default: no screening)")
    mus.add_argument("--out", default=None, metavar="FILE", help="also write the table as CSV to this file")
    mus.set_defaults(run=_mushra)
    return parser


def _expected_failures() -> tuple[type[BaseException], ...]:
    return (UsageError, InputError, OutputError, OSError, *_loaded(*_BAD_INPUT, *_TRAINING_FAILED))


_STOPPED = {"SIGINT": "interrupted", "SIGTERM": "terminated (SIGTERM)", "SIGHUP": "hung up (SIGHUP)"}


def _stopped(signum: int) -> tuple[int, str]:
    """The exit code and the one line for a command a signal stopped."""
    name = signal.Signals(signum).name
    return 128 + signum, f"siamese-siren: {_STOPPED.get(name, name)}; nothing was written"


def _failure(command: str, err: BaseException) -> tuple[int, str]:
    """The exit code and the one line for a failure."""
    if isinstance(err, UsageError):
        return EXIT_USAGE, f"siamese-siren {command}: error: {err}"
    if isinstance(err, (InputError, *_loaded(*_BAD_INPUT))):
        return EXIT_BAD_INPUT, f"siamese-siren: error: {err}"
    if isinstance(err, OutputError):
        return EXIT_OUTPUT, f"siamese-siren: error: {err}"
    if isinstance(err, OSError):  # a file other than the output, e.g. a temporary one of a library; name what we know
        return EXIT_OUTPUT, (f"siamese-siren: error: {err.filename or 'a file'}: {err.strerror or err}; "
                             f"{files.os_error_fix(err)}")
    if isinstance(err, _loaded(*_TRAINING_FAILED)):
        return EXIT_TRAINING, f"siamese-siren: training failed: {err}"
    return _stopped(signal.SIGINT)


def _stdout_closed() -> int:
    """Whoever read the standard output has gone (``| head -1``). Unix programs stop quietly then (SIGPIPE stops
    them; Python ignores it and raises BrokenPipeError instead), with SIGPIPE's status, 141. Later writes, Python's
    own flush at exit included, go to /dev/null, so that nothing complains about the closed pipe."""
    with contextlib.suppress(OSError, ValueError, AttributeError):  # no file descriptor: a test's captured stdout
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    return EXIT_STDOUT_CLOSED


def _command_in(argv: list[str]) -> str | None:
    """The subcommand a command line names: its first word that is not an option (the program's own options,
    --help and --version, take no value)."""
    return next((word for word in argv if not word.startswith("-")), None)


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code (argparse's own errors included) instead of exiting."""
    argv = sys.argv[1:] if argv is None else list(argv)
    # Ctrl-C (or SIGTERM, SIGHUP) can land anywhere: in start-up (the imports of torch take seconds), in training,
    # or inside a C library's callback (libsndfile writing through Python), which turns the KeyboardInterrupt into
    # a write error. Remember it, so that whatever error follows is reported as the signal, with its exit code.
    stopped_by: list[int] = []

    def on_signal(signum: int, frame: object) -> None:
        stopped_by.append(signum)
        raise KeyboardInterrupt

    def quiet_interrupts(unraisable: object) -> None:  # the callback's interrupt is reported below, once
        if not isinstance(getattr(unraisable, "exc_value", None), KeyboardInterrupt):
            unraisable_hook(unraisable)

    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = {signum: signal.signal(signum, on_signal) for signum in STOP_SIGNALS} if in_main_thread else {}
    unraisable_hook, sys.unraisablehook = sys.unraisablehook, quiet_interrupts
    started = False
    try:
        try:
            args = build_parser([_command_in(argv) or ""]).parse_args(argv)
        except SystemExit as done:  # --help, --version, or argparse's usage error (code 2), already printed
            _flush_stdout()
            return int(done.code or 0)
        started = True
        code = args.run(args)
        _flush_stdout()  # a reader that has gone shows here, not in Python's flush at exit
        return code
    except StdoutClosed:
        return _stdout_closed()
    except BrokenPipeError as err:  # in start-up only the help can write, to stdout; later, another pipe (a tool's)
        return _report(args.command, err, stopped_by) if started else _stdout_closed()
    except (KeyboardInterrupt, Exception) as err:  # libraries may raise anything once interrupted (soundfile asserts)
        if not started:  # start-up: the imports, the command line; nothing was begun, so nothing to say
            if stopped_by or isinstance(err, KeyboardInterrupt):
                return 128 + (stopped_by[0] if stopped_by else signal.SIGINT)
            raise
        return _report(args.command, err, stopped_by)
    finally:
        sys.unraisablehook = unraisable_hook
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _report(command: str, err: BaseException, stopped_by: list[int]) -> int:
    """Print the one line of a failure (or a stop by a signal) and return its exit code; a bug is re-raised."""
    expected = not isinstance(err, Exception) or isinstance(err, _expected_failures())
    if not (stopped_by or expected):
        raise err  # a bug: its traceback is what a report needs
    code, message = _stopped(stopped_by[0]) if stopped_by else _failure(command, err)
    with contextlib.suppress(OSError):  # stderr gone too (SIGHUP: the terminal closed): the exit code still says it
        print(message, file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
