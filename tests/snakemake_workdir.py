"""Where the tests run the real Snakemake: a working directory beside the run's results, never the repository.

Snakemake keeps its bookkeeping in ``.snakemake/`` of its working directory (metadata of every output it wrote,
locks, incomplete markers, logs, the scripts it runs): with the repository as working directory, every test run
would leave records of its temporary paths there. The workflow itself is the repository's (``--snakefile``); what
it reads relative to its working directory (the ``configfile: "config.yaml"`` directive, config.yaml's datasets
under ``resources/``) is linked into the working directory, so it resolves to the same files.
"""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SNAKEFILE = ROOT / "Snakefile"
LINKED = ("config.yaml", "resources")


def workdir(results: Path) -> Path:
    """The working directory of every Snakemake run into ``results``, beside it (the same one each time, so that
    a second run sees what the first recorded)."""
    work = results.parent / f".{results.name}.snakemake-workdir"
    work.mkdir(parents=True, exist_ok=True)
    for name in LINKED:
        if not (work / name).is_symlink():
            (work / name).symlink_to(ROOT / name)
    return work
