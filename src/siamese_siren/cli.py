"""``siamese-siren encode|decode|info``: the trained network as an audio codec.

Exit codes: 0 success, 1 unusable input file (message names it), 2 bad command line, 3 training failed
(diverged, or out of GPU memory).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import __version__, bitstream
from .audio import SAMPLE_RATE, AudioError, load_clip, write_audio
from .bitstream import BitstreamError, CompressedClip
from .decode import DEFAULT_ALPHA, denoise, reconstruct
from .models import VARIANTS, get_variant, parameter_count, variant_name
from .train import TrainConfig, TrainingDiverged, TrainingOutOfMemory, load_model, train

EXIT_BAD_INPUT, EXIT_USAGE, EXIT_TRAINING = 1, 2, 3


def _encode(args: argparse.Namespace) -> int:
    variant = get_variant(args.variant)
    clip = load_clip(args.input, sample_rate=args.sample_rate, offset=args.offset, duration=args.duration)
    config = TrainConfig(steps=args.steps, seed=args.seed, device=args.device, progress=not args.quiet)
    result = train(variant, clip.samples, config, label=Path(args.input).name)
    compressed = CompressedClip.from_model(
        load_model(variant, result.state), clip.sample_rate, len(clip.samples), clip.peak, args.bits, args.per_channel,
        args.entropy,
    )
    size = bitstream.write(args.output, compressed)
    print(
        f"{args.output}: {size} bytes, {bitstream.kbps(size, clip.duration):.1f} kbps for {clip.duration:.2f} s "
        f"({variant.name}, {result.wall_seconds:.1f} s training on {result.device}, best loss {result.best_loss:.3e})"
    )
    return 0


def _decode(args: argparse.Namespace) -> int:
    compressed = bitstream.read(args.input)
    rate = args.sample_rate or compressed.sample_rate
    heads = reconstruct(compressed, rate, precision="int8-paper" if args.paper_mode else "int8")
    has_twin_heads = bool(compressed.variant.siam)
    want_denoise = has_twin_heads if args.denoise is None else args.denoise
    if want_denoise and not has_twin_heads:
        raise BitstreamError(f"{args.input}: this model has one head, siamese denoising needs two; use --no-denoise")
    signal = denoise(heads, rate, "siamese" if want_denoise else "none", alpha=args.alpha)
    write_audio(args.output, signal * compressed.peak, rate)
    print(f"{args.output}: {len(signal)} samples at {rate} Hz, {'denoised' if want_denoise else 'not denoised'}")
    return 0


def _info(args: argparse.Namespace) -> int:
    compressed = bitstream.read(args.input)
    size = Path(args.input).stat().st_size
    v = compressed.variant
    print(f"file:        {args.input}")
    omegas = f"{v.omega_first:g}/{v.omega_hidden:g}"
    print(f"variant:     {variant_name(v)} ({v.label}, PE L={v.pe_frequencies}, omega {omegas})")
    print(f"parameters:  {parameter_count(v)}")
    print(f"weights:     {compressed.bits}-bit, {'per-channel' if compressed.per_channel else 'per-tensor'} scales")
    print(f"entropy:     {compressed.entropy}")
    print(f"bytes:       {size}")
    print(f"duration:    {compressed.duration:.3f} s ({compressed.num_samples} samples at {compressed.sample_rate} Hz)")
    print(f"kbps:        {bitstream.kbps(size, compressed.duration):.2f}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="siamese-siren", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    enc = sub.add_parser("encode", help="train a network on an audio file and write it as a .ssr file")
    enc.add_argument("input", help="any audio file soundfile reads (wav, flac, ogg, mp3, au)")
    enc.add_argument("output", help="the .ssr file to write")
    enc.add_argument("--variant", default="siamese-siren", choices=list(VARIANTS), metavar="NAME",
                     help="model variant (default siamese-siren; one of: %(choices)s)")
    enc.add_argument("--steps", type=int, default=2500, help="training steps (default 2500)")
    enc.add_argument("--seed", type=int, default=0)
    enc.add_argument("--bits", type=int, default=8, choices=range(2, 9), metavar="2..8", help="weight bits (8)")
    enc.add_argument("--per-channel", action="store_true", help="one weight scale per output channel")
    enc.add_argument("--entropy", default="none", choices=bitstream.ENTROPY_CODINGS,
                     help="payload entropy coding: none, zstd or rans (smallest); all decode to the same weights")
    enc.add_argument("--sample-rate", type=int, default=SAMPLE_RATE, help="rate the network learns (22050)")
    enc.add_argument("--offset", type=float, default=0.0, help="start, in seconds")
    enc.add_argument("--duration", type=float, default=None,
                     help="seconds to keep, zero-padded if the file is shorter (default: the whole file; "
                          "the paper uses 10)")
    enc.add_argument("--device", default=None, help="torch device (default: CUDA when present)")
    enc.add_argument("--quiet", action="store_true", help="no progress bar")
    enc.set_defaults(run=_encode)

    dec = sub.add_parser("decode", help="play a .ssr file back into an audio file")
    dec.add_argument("input", help="a .ssr file")
    dec.add_argument("output", help="audio file to write (format from the extension, e.g. .wav or .flac)")
    dec.add_argument("--sample-rate", type=int, default=None, help="output rate (default: the encoded rate)")
    dec.add_argument("--denoise", action=argparse.BooleanOptionalAction, default=None,
                     help="siamese denoising (default: on when the model has two heads)")
    dec.add_argument("--alpha", type=float, default=DEFAULT_ALPHA, help="gain of the noise estimate (1)")
    dec.add_argument("--paper-mode", action="store_true",
                     help="also quantize activations, as the paper's PyTorch dynamic quantization did")
    dec.set_defaults(run=_decode)

    inf = sub.add_parser("info", help="describe a .ssr file")
    inf.add_argument("input")
    inf.set_defaults(run=_info)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "steps", 1) < 1:
        parser.error("--steps must be at least 1")
    try:
        return args.run(args)
    except (AudioError, BitstreamError) as err:
        print(f"siamese-siren: error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (TrainingDiverged, TrainingOutOfMemory) as err:
        print(f"siamese-siren: training failed: {err}", file=sys.stderr)
        return EXIT_TRAINING


if __name__ == "__main__":
    sys.exit(main())
