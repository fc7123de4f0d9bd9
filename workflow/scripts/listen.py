import time
from pathlib import Path

import pandas as pd

from siamese_siren.analysis.listen import build_page, clip_players, kit_trial
from siamese_siren.analysis.mushra import write_kit
from siamese_siren.analysis.reference_codecs import codec
from siamese_siren.pipeline import jobs
from siamese_siren.pipeline.layout import Layout, spread

sm = snakemake  # noqa: F821 (injected by Snakemake)
jobs.start(sm.log[0])
p = sm.params
layout = Layout(p.plan["results"])


def records(paths: list[str]) -> pd.DataFrame:
    """Every CSV of ``paths`` as one table (an empty one with the key columns when there is none)."""
    frames = [pd.read_csv(f) for f in paths]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["dataset", "clip"])


started = time.monotonic()
scores, codec_scores = records(sm.input.scores), records(sm.input.codec_scores)
sizes = records([str(Path(folder) / "sizes.csv") for folder in sm.input.compressed])
extensions = {name: codec(name).extension for name in codec_scores.get("codec", pd.Series(dtype=str)).unique()}
page = {dataset: {clip: clip_players(layout, dataset, clip, batch, p.plan["entries"][dataset], scores, sizes,
                                     codec_scores, p.plan["float_bytes"], extensions, p.seconds)
                  for clip, batch in clips.items()}
        for dataset, clips in p.plan["clips"].items()}
clips_rule = ("every clip" if p.spec["clips"] is None else
              f"at most {p.spec['clips']} clips per dataset, evenly spaced through its sorted clip ids")
note = (f"{clips_rule}. Each clip: the reference, the tables' variants at the tables' precision and denoising "
        "(tags name the tables), the float and not-denoised versions the run made, and the codec baselines, by kbps "
        "(.ssr: the whole file; codecs: their payload). Players: 24-bit FLAC of the decoded audio; "
        "<b>wav</b> is the exact file scored, <b>ssr/opus/mp3</b> the compressed file. Log-mel thumbnails: 0 dB "
        "(bright) is the reference's loudest band, black is -80 dB.")
seconds = build_page(Path(sm.output.index), Path(sm.output.media), page,
                     {Path(f).stem: pd.read_csv(f) for f in sm.input.tables}, p.sample_rate,
                     "siamese-siren: listen", note)
media_bytes = sum(f.stat().st_size for f in Path(sm.output.media).rglob("*") if f.is_file())
print(f"page: {len(seconds)} players, {media_bytes / 1e6:.1f} MB of media, {time.monotonic() - started:.1f} s")

kit = p.spec["mushra"]
trials = [kit_trial(dataset, clip, page[dataset][clip], kit["codecs"], p.sample_rate)
          for dataset, clips in page.items() for clip in spread(list(clips), kit["clips"])]
write_kit(Path(sm.output.mushra), trials, kit["seconds"], "siamese-siren: blind listening test")
print(f"MUSHRA kit: {len(trials)} trials, {time.monotonic() - started:.1f} s in all")
