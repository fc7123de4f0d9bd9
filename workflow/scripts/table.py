from pathlib import Path

import pandas as pd

from siamese_siren.analysis.paper import PaperMatch
from siamese_siren.analysis.tables import build_table, write_table
from siamese_siren.codec.models import Variant
from siamese_siren.metrics.vocabulary import COLUMNS
from siamese_siren.pipeline import jobs

sm = snakemake  # noqa: F821 (injected by Snakemake)
jobs.start(sm.log[0])
p = sm.params
scores = pd.concat([pd.read_csv(f) for f in sm.input.scores], ignore_index=True)
wanted = scores["precision"].eq(p.spec["precision"]) & scores.apply(
    lambda row: row["denoise"] == p.denoise[row["variant"]], axis=1
)
sizes = pd.concat([pd.read_csv(Path(folder) / "sizes.csv") for folder in sm.input.compressed], ignore_index=True)
sizes = sizes[sizes["setting"] == p.setting]
variants = {name: Variant.from_dict(spec) for name, spec in p.variants.items()}
table = build_table(scores[wanted], sizes, variants, list(COLUMNS), PaperMatch(sm.wildcards.name, **p.paper))
caption = f"{p.spec['caption']} ({p.paper['scaled']})" if p.paper["scaled"] else p.spec["caption"]
write_table(table, sm.output.csv, sm.output.md, sm.output.tex, caption=caption)
