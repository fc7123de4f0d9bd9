"""The documentation holds together: its relative links and anchors resolve, and the README's commands are the ones CI
and the tests run. Quick tier: nothing is executed, files are only read."""

import re
from bisect import bisect_right
from pathlib import Path
from urllib.parse import unquote

ROOT = Path(__file__).resolve().parents[1]

FENCE = re.compile(r"^\s*(`{3,}|~{3,})(.*)$")
CODE_SPAN = re.compile(r"(?<!`)(`+)(?!`)((?:(?!\n[ \t]*\n).)+?)(?<!`)\1(?!`)", re.DOTALL)
HTML_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
# [text](target "title") and ![alt](target); link text may hold one level of brackets (an image inside a link).
# Wrapped in a lookahead so that an image nested in a link's text is found as well as the link.
INLINE_LINK = re.compile(
    r"(?=!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*(<[^>\n]*>|[^\s()]*(?:\([^\s()]*\)[^\s()]*)*)"
    r"(?:\s+(?:\"[^\"]*\"|'[^']*'|\([^)]*\)))?\s*\))"
)
LINK_DEFINITION = re.compile(r"^ {0,3}\[[^\]]+\]:[ \t]*(<[^>\n]*>|\S+)", re.MULTILINE)
ATX_HEADING = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
SETEXT_UNDERLINE = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
HTML_ANCHOR = re.compile(r"<a\s[^>]*\b(?:id|name)\s*=\s*[\"']([^\"']+)[\"']", re.IGNORECASE)
SKIPPED_SCHEMES = ("http:", "https:", "mailto:")


def doc_files(root: Path) -> list[Path]:
    """README.md, config/README.md, profiles/README.md and docs/**/*.md of a tree."""
    files = [root / "README.md", root / "config" / "README.md", root / "profiles" / "README.md"]
    return [f for f in files if f.is_file()] + sorted((root / "docs").rglob("*.md"))


def fenced_blocks(text: str) -> list[tuple[str, list[tuple[int, str]]]]:
    """Each fenced code block as (info string, [(line number, line)]); an unclosed fence runs to the end."""
    blocks, current, closer = [], None, None
    for number, line in enumerate(text.splitlines(), 1):
        if current is None:
            match = FENCE.match(line)
            if match and not (match.group(1)[0] == "`" and "`" in match.group(2)):
                closer, current = match.group(1), (match.group(2).strip(), [])
                blocks.append(current)
        elif re.fullmatch(rf"\s*{re.escape(closer[0])}{{{len(closer)},}}\s*", line):
            current = None
        else:
            current[1].append((number, line))
    return blocks


def _blank(match: re.Match) -> str:
    return re.sub(r"[^\n]", " ", match.group(0))


def prose(text: str, inline_code: bool = False) -> str:
    """The text with fenced code blocks (fences included), HTML comments and (unless ``inline_code``) inline code
    blanked out; every character keeps its offset, so line numbers still hold."""
    lines = text.split("\n")
    in_code = {n - 1 for _, block in fenced_blocks(text) for n, _ in block}
    for i, line in enumerate(lines):
        if FENCE.match(line) or i in in_code:
            lines[i] = " " * len(line)
    out = "\n".join(lines)
    out = HTML_COMMENT.sub(_blank, out)
    return out if inline_code else CODE_SPAN.sub(_blank, out)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: its rendered text lowercased, characters other than letters, digits, spaces,
    '-' and '_' removed, each space turned into '-'."""
    spans: list[str] = []

    def keep_code(match: re.Match) -> str:
        spans.append(match.group(2).strip())
        return f"\0{len(spans) - 1}\0"

    text = CODE_SPAN.sub(keep_code, heading.strip())
    text = re.sub(r"!?\[((?:[^\[\]]|\[[^\[\]]*\])*)\]\([^)]*\)", r"\1", text)  # links and images: their text
    text = re.sub(r"<[^>]+>", "", text)  # HTML tags
    text = re.sub(r"\\([^\w\s])", r"\1", text)  # backslash escapes
    text = re.sub(r"(?<![^\W_])_+|_+(?![^\W_])", "", text)  # '_' emphasis delimiters (not intra-word underscores)
    text = re.sub(r"\0(\d+)\0", lambda m: spans[int(m.group(1))], text)
    text = re.sub(r"[^\w\- ]", "", text.lower())
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """The anchors GitHub gives a Markdown file: its headings' slugs (duplicates get -1, -2, ...) and explicit
    <a id=...>/<a name=...>."""
    text = path.read_text(encoding="utf-8")
    headings, previous = [], ""
    for line in prose(text, inline_code=True).split("\n"):
        atx, setext = ATX_HEADING.match(line), SETEXT_UNDERLINE.match(line)
        if atx:
            headings.append(atx.group(2) or "")
            line = ""
        elif setext and previous.strip() and not re.match(r"^\s*([-*+>|]|\d+[.)])(\s|$)", previous):
            headings.append(previous)
            line = ""
        previous = line
    seen: dict[str, int] = {}
    found = set()
    for heading in headings:
        base = slug(heading)
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    found.update(m.group(1) for m in HTML_ANCHOR.finditer(prose(text)))
    return found


def links(path: Path) -> list[tuple[int, str]]:
    """Every link and image target of a Markdown file outside code, as (line number, target)."""
    text = prose(path.read_text(encoding="utf-8"))
    starts = [0] + [i + 1 for i, c in enumerate(text) if c == "\n"]
    found = {}
    for pattern, group in ((INLINE_LINK, 1), (LINK_DEFINITION, 1)):
        for match in pattern.finditer(text):
            target = match.group(group)
            if target.startswith("<") and target.endswith(">"):
                target = target[1:-1]
            found[match.start(group)] = (bisect_right(starts, match.start(group)), target.strip())
    return [found[offset] for offset in sorted(found)]


def broken_links(root: Path, files: list[Path]) -> list[str]:
    """`file:line: target (why)` for every relative link of ``files`` that does not resolve inside ``root``."""
    root = root.resolve()
    problems, anchor_cache = [], {}
    for doc in files:
        doc = doc.resolve()
        for line, target in links(doc):
            where = f"{doc.relative_to(root)}:{line}: {target or '(empty)'}"
            if target.lower().startswith(SKIPPED_SCHEMES):
                continue
            if not target:
                problems.append(f"{where} (empty link)")
                continue
            path_part, _, anchor = target.partition("#")
            path_part = unquote(path_part.split("?")[0])
            if not path_part:
                resolved = doc
            elif path_part.startswith("/"):  # GitHub resolves these from the repository's root
                resolved = (root / path_part.lstrip("/")).resolve()
            else:
                resolved = (doc.parent / path_part).resolve()
            if not resolved.is_relative_to(root):
                problems.append(f"{where} (outside the repository)")
                continue
            if not resolved.exists():
                problems.append(f"{where} (no such file or folder: {resolved.relative_to(root)})")
                continue
            if anchor and resolved.is_file() and resolved.suffix.lower() == ".md":
                if resolved not in anchor_cache:
                    anchor_cache[resolved] = anchors(resolved)
                if unquote(anchor) not in anchor_cache[resolved]:
                    problems.append(f"{where} (no heading in {resolved.relative_to(root)} has the anchor #{anchor})")
    return problems


def test_link_checker_on_a_tiny_tree(tmp_path):
    """The checker finds a missing file and a missing anchor, accepts good links and folders, and ignores code."""
    (tmp_path / "docs" / "sub").mkdir(parents=True)
    (tmp_path / "docs" / "guide.md").write_text(
        "# Guide\n\n## Step 1: run `snakemake`, (then) stop.\n\n## Step 1: run `snakemake`, (then) stop.\n\n"
        "## C++ & Python's API\n\nOther\n---\n\n[self](#guide) [dup](#step-1-run-snakemake-then-stop-1)\n"
    )
    (tmp_path / "README.md").write_text(
        "# Top\n\n"
        "[good](docs/guide.md#step-1-run-snakemake-then-stop) ![img](docs/sub) [api](docs/guide.md#c--pythons-api)\n"
        "[missing file](docs/nowhere.md) [setext](docs/guide.md#other) [escape](../elsewhere.md)\n"
        "[missing anchor](docs/guide.md#no-such-heading) [web](https://example.org/x) [top](#top)\n"
        "```bash\necho [in code](docs/absent.md)\n```\n"
        "Inline `[in code](docs/absent2.md)` is ignored, [rooted](/docs/guide.md) resolves from the root.\n"
    )
    problems = broken_links(tmp_path, doc_files(tmp_path))
    assert problems == [
        "README.md:4: docs/nowhere.md (no such file or folder: docs/nowhere.md)",
        "README.md:4: ../elsewhere.md (outside the repository)",
        "README.md:5: docs/guide.md#no-such-heading (no heading in docs/guide.md has the anchor #no-such-heading)",
    ], problems
    assert slug("Step 1: run `snakemake`, (then) stop.") == "step-1-run-snakemake-then-stop"
    assert slug("The `.ssr` file, v1.0 [spec](x.md) *now*") == "the-ssr-file-v10-spec-now"


def test_every_relative_link_in_the_docs_resolves():
    files = doc_files(ROOT)
    assert ROOT / "README.md" in files and len(files) > 3, files
    assert sum(len(links(f)) for f in files) > 0, "no links found: the checker would pass vacuously"
    problems = broken_links(ROOT, files)
    assert not problems, f"{len(problems)} broken link(s):\n" + "\n".join(problems)


def readme_bash_lines() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return [line for info, block in fenced_blocks(text) if info.split()[:1] in (["bash"], ["sh"], ["shell"])
            for _, line in block]


def test_the_readmes_test_command_is_what_ci_runs():
    commands = [line for line in readme_bash_lines() if "python -m pytest" in line and "ruff check" in line]
    assert commands, "README.md has no fenced bash line with both `python -m pytest` and `ruff check`"
    ci = [line.rstrip() for line in (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()]
    missing = [c for c in commands if c.rstrip() not in ci]
    assert not missing, f"README.md's test command is not a line of .ci/run: {missing}"


def test_the_readmes_demo_and_quick_commands():
    """tests/test_workflow.py (slow) runs every README line that starts with `snakemake --profile profiles/demo `;
    here only: the README has such commands, none hides where that selection cannot see it, and it gives the quick
    loop."""
    prefix = "snakemake --profile profiles/demo "
    lines = readme_bash_lines()
    assert any(line.startswith(prefix) for line in lines), f"README.md has no fenced bash line starting {prefix!r}"
    # a demo command with arguments after `&&` or indented would escape test_workflow's selection
    hidden = [line for line in lines if re.search(r"snakemake --profile profiles/demo\s+[^\s#]", line)
              and not line.startswith(prefix)]
    assert not hidden, f"demo commands tests/test_workflow.py does not run (they must start a line): {hidden}"
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    quick = 'python -m pytest -m "not slow"'
    assert quick in readme, f"README.md lacks the quick loop `{quick}`"
