# Beyond the paper: hear what the tables score. A static page of audio players (results/listen/index.html) and a
# blind MUSHRA test kit (results/listen/mushra/), both from files the run already made (no decoding of their own).

from siamese_siren.pipeline.targets import listen as listening_page


rule listen:
    """The listening page of listen.clips clips per dataset, and the MUSHRA kit of listen.mushra.clips of them."""
    input:
        unpack(lambda wc: listening_page.inputs(PLAN, CLIPS, BATCHES)),
    output:
        index=report(L.listen("index.html"), caption="../report/listen.rst", category="Listen"),
        media=directory(L.listen("media")),
        mushra=directory(L.listen("mushra")),
    params:
        plan=lambda wc: listening_page.params(PLAN, CLIPS, BATCHES),
        spec=config.get("listen"),
        seconds=config["clip"]["seconds"],
        sample_rate=config["clip"]["sample_rate"],
    log:
        L.log("listen", "page"),
    benchmark:
        L.benchmark("listen", "page")
    conda:
        "../../envs/report.yaml"
    script:
        "../scripts/listen.py"
