"""The project's documentation is self-contained: every cited anchor exists, nothing points outside.

* Every ``docs/<file>.md#<label>`` cited in a ``.py`` or ``.md`` file of the repository names an
  existing file under ``docs/`` that holds an explicit ``<a id="<label>"></a>`` anchor, and every
  relative link ``[..](<file>.md#<label>)`` / ``[..](#<label>)`` inside ``docs/`` resolves the
  same way.
* Anchors are lower-case words joined by dashes and unique within their file.
* No file of the project mentions the builders' notes (their file names) or a folder outside the
  repository that holds them.

The checkers are plain functions of ``{path: text}`` so that the last tests can show they report a
made-up label, a missing file and a forbidden mention (a checker that finds nothing proves nothing).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"

# Paths (prefixes, relative to the repository root) left out of the check for mentions of the
# builders' notes while they are being rewritten. Empty it once they are clean.
NOT_YET_CHECKED_FOR_NOTES: tuple[str, ...] = ()

# Written in pieces so that this file does not itself mention what it forbids.
FORBIDDEN = ("MATH" + ".md", "DESIGN" + ".md", "../" + "shared", "/work/" + "shared")

D = "docs" + "/"  # the citation prefix, split so that the examples below are not citations of this file
CITATION = re.compile(r"(?<![\w-])docs/([\w./-]+?\.md)#([\w-]+)")
RELATIVE_LINK = re.compile(r"\]\(([\w./-]*?\.md)?#([\w-]+)\)")
ANCHOR = re.compile(r"""<a\s+id=["']([^"']+)["']\s*>\s*</a>""")
LABEL = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
SKIP_DIRS = {".git", ".hypothesis", ".pytest_cache", "__pycache__", "build", "dist", ".venv", "results",
             "report", "out", ".ipynb_checkpoints"}


def _project_files() -> list[str]:
    """Paths (relative, POSIX) of the repository's files: tracked plus untracked-but-not-ignored.

    Outside a git checkout (an unpacked source archive) every file below the root is taken,
    minus caches and build outputs.
    """
    try:
        out = subprocess.run(
            ["git", "-C", str(ROOT), "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
            capture_output=True, check=True, timeout=60,
        ).stdout.decode()
        paths = [p for p in out.split("\0") if p]
    except (OSError, subprocess.SubprocessError):
        paths = [
            p.relative_to(ROOT).as_posix()
            for p in ROOT.rglob("*")
            if p.is_file() and not (set(p.relative_to(ROOT).parts[:-1]) & SKIP_DIRS)
            and not p.name.endswith(".egg-info")
        ]
    return sorted(p for p in paths if (ROOT / p).is_file())


def _read_text(path: Path) -> str | None:
    """The file's text, or ``None`` for a binary file (NUL bytes or not UTF-8)."""
    data = path.read_bytes()
    if b"\0" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def anchors_of(text: str) -> list[str]:
    """Every explicit anchor label ``<a id="label"></a>`` in a Markdown text, in order."""
    return ANCHOR.findall(text)


def citations_of(path: str, text: str) -> list[tuple[str, str]]:
    """``(docs file, label)`` pairs cited in ``text``, the docs file relative to the repository root.

    ``docs/<file>.md#<label>`` anywhere; inside ``docs/`` also relative Markdown links
    ``](<file>.md#<label>)`` and same-page links ``](#<label>)`` that stay inside ``docs/``.
    """
    found = [(f"docs/{name}", label) for name, label in CITATION.findall(text)]
    if path.startswith("docs/") and path.endswith(".md"):
        here = Path(path).parent
        for target, label in RELATIVE_LINK.findall(text):
            resolved = _normalise(Path(path) if not target else here / target)
            if resolved.startswith("docs/"):  # links out of docs/ (e.g. to ../README.md) are not checked
                found.append((resolved, label))
    return found


def _normalise(p: Path) -> str:
    parts: list[str] = []
    for part in p.as_posix().split("/"):
        if part == "..":
            if parts:
                parts.pop()
        elif part not in ("", "."):
            parts.append(part)
    return "/".join(parts)


def missing_citations(texts: dict[str, str]) -> list[str]:
    """``"path: docs/<file>.md#<label> (why)"`` for every citation in ``texts`` that does not resolve.

    ``texts`` maps repository paths to file contents; cited docs files are looked up in ``texts``.
    """
    anchors = {p: set(anchors_of(t)) for p, t in texts.items() if p.startswith("docs/") and p.endswith(".md")}
    problems = []
    for path, text in texts.items():
        if not path.endswith((".py", ".md")):
            continue
        for doc, label in citations_of(path, text):
            if doc not in anchors:
                problems.append(f"{path}: {doc}#{label} (no such file)")
            elif label not in anchors[doc]:
                problems.append(f"{path}: {doc}#{label} (no anchor {label!r} in {doc})")
    return problems


def bad_anchors(texts: dict[str, str]) -> list[str]:
    """Anchors in ``docs/*.md`` that are not lower-case-with-dashes, or repeated within a file."""
    problems = []
    for path, text in texts.items():
        if not (path.startswith("docs/") and path.endswith(".md")):
            continue
        seen: set[str] = set()
        for label in anchors_of(text):
            if not LABEL.fullmatch(label):
                problems.append(f"{path}: anchor {label!r} is not lower-case words joined by dashes")
            if label in seen:
                problems.append(f"{path}: anchor {label!r} appears twice")
            seen.add(label)
    return problems


def forbidden_mentions(texts: dict[str, str], skip: tuple[str, ...] = NOT_YET_CHECKED_FOR_NOTES) -> list[str]:
    """``"path:line: word"`` for every mention of the builders' notes outside the ``skip`` prefixes."""
    problems = []
    for path, text in texts.items():
        if path.startswith(skip):
            continue
        for number, line in enumerate(text.splitlines(), 1):
            for word in FORBIDDEN:
                if word in line:
                    problems.append(f"{path}:{number}: {word}")
    return problems


@pytest.fixture(scope="module")
def texts() -> dict[str, str]:
    out = {}
    for p in _project_files():
        text = _read_text(ROOT / p)
        if text is not None:
            out[p] = text
    return out


def test_the_docs_exist(texts):
    """The pages that docstrings cite are part of the repository and carry anchors."""
    for name in ("README.md", "architecture.md", "sensing.md", "randfeat.md", "bounds.md"):
        assert f"docs/{name}" in texts, name
    for name in ("architecture.md", "sensing.md", "randfeat.md", "bounds.md"):
        assert anchors_of(texts[f"docs/{name}"]), name


def test_every_cited_anchor_exists(texts):
    cited = [c for p, t in texts.items() if p.endswith((".py", ".md")) for c in citations_of(p, t)]
    # the scan must see the library's citations: 44 of them in 35 .py files when written (33 in the
    # library, tests and benchmarks alone), so fewer than 30 means the scan, not the docs, is broken
    assert sum(1 for p, t in texts.items() if p.endswith(".py") for _ in CITATION.finditer(t)) >= 30
    assert cited
    assert missing_citations(texts) == []


def test_anchors_are_well_formed_and_unique(texts):
    assert bad_anchors(texts) == []


def test_no_file_mentions_the_builders_notes(texts):
    assert forbidden_mentions(texts) == []


def test_checker_reports_a_made_up_label_and_a_missing_file():
    page = ('<a id="real-label"></a>\n## Real\n\nSee [x](#real-label), [y](#made-up-here), [z](other.md#gone)'
            ' and [w](../README.md#outside).\n')
    texts = {
        f"{D}page.md": page,
        "pkg/mod.py": f'"""See {D}page.md#real-label and {D}page.md#made-up-label and {D}none.md#x."""\n',
    }
    assert sorted(missing_citations(texts)) == sorted([
        f"{D}page.md: {D}page.md#made-up-here (no anchor 'made-up-here' in {D}page.md)",
        f"{D}page.md: {D}other.md#gone (no such file)",
        f"pkg/mod.py: {D}page.md#made-up-label (no anchor 'made-up-label' in {D}page.md)",
        f"pkg/mod.py: {D}none.md#x (no such file)",
    ])
    # and the real repository's pages report a made-up label too
    real = {f"{D}sensing.md": (DOCS / "sensing.md").read_text()}
    real["tests/fake.py"] = f"# {D}sensing.md#symmetric-gd, {D}sensing.md#no-such-label-here\n"
    assert missing_citations(real) == [
        f"tests/fake.py: {D}sensing.md#no-such-label-here (no anchor 'no-such-label-here' in {D}sensing.md)"
    ]


def test_checker_reports_bad_anchors_and_forbidden_mentions():
    assert bad_anchors({"docs/p.md": '<a id="Upper_Case"></a>\n<a id="twice"></a>\n<a id="twice"></a>\n'}) == [
        "docs/p.md: anchor 'Upper_Case' is not lower-case words joined by dashes",
        "docs/p.md: anchor 'twice' appears twice",
    ]
    texts = {
        "a.py": "ok\n# see " + FORBIDDEN[0] + " section 1\n",
        "b.md": "notes in " + FORBIDDEN[2] + "/x\n",
        "overparam/studies/c.py": FORBIDDEN[1] + "\n",
    }
    assert forbidden_mentions(texts, skip=("overparam/studies/",)) == [f"a.py:2: {FORBIDDEN[0]}", f"b.md:1: {FORBIDDEN[2]}"]
    assert forbidden_mentions(texts) == [
        f"a.py:2: {FORBIDDEN[0]}", f"b.md:1: {FORBIDDEN[2]}", f"overparam/studies/c.py:1: {FORBIDDEN[1]}"
    ]
