from pathlib import Path

from siamese_siren.analysis.figures.spectrograms import resolution
from siamese_siren.analysis.precision import Precision
from siamese_siren.codec import bitstream
from siamese_siren.codec.audio import write_audio
from siamese_siren.codec.decode import reconstruct
from siamese_siren.pipeline import jobs

sm = snakemake  # noqa: F821 (injected by Snakemake)
jobs.start(sm.log[0])
p = sm.params
precision = Precision.parse(p.spec["precision"])
ssr = Path(sm.input.compressed) / precision.setting / f"{p.clip}.ssr"
compressed = bitstream.read(ssr)
mode = precision.decode_mode
out = Path(sm.output.decoded)
out.mkdir(parents=True, exist_ok=True)
signals = {}
for rate in p.spec["rates"]:
    signals[rate] = reconstruct(compressed, rate, precision=mode)[:, 0]  # head a, no denoising
    write_audio(out / f"{p.clip}__{rate}.wav", signals[rate], rate, subtype="FLOAT")
    print(rate, len(signals[rate]))
resolution(signals, sm.output.figure,
           title=f"{p.clip}: one {p.spec['variant']} file ({p.spec['precision']}, "
                 f"{ssr.stat().st_size} bytes) decoded at several rates")
