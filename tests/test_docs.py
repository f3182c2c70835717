"""The documentation: the CLI reference matches the parser, the READMEs stay short, links resolve, MkDocs builds.

None of these starts Ray; together they take a few seconds.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = os.path.join(ROOT, "docs")
#: README.md is a quickstart, bench/README.md a summary of the benchmarks: the reference lives in docs/
WORD_LIMITS = {"README.md": 1500, "bench/README.md": 3400}


def _gen_cli():
    spec = importlib.util.spec_from_file_location("gen_cli", os.path.join(DOCS, "gen_cli.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _read(path: str) -> str:
    with open(path, encoding="utf-8") as f:
        return f.read()


def _markdown_files() -> list[str]:
    pages = sorted(os.path.join(DOCS, name) for name in os.listdir(DOCS) if name.endswith(".md"))
    return [os.path.join(ROOT, "README.md"), *pages]


def test_cli_reference_is_generated_from_the_parser():
    written = _read(os.path.join(DOCS, "cli.md"))
    assert written == _gen_cli().render(), (
        "docs/cli.md differs from the CLI's parser (raynas.cli.parser()); regenerate it with "
        "`python docs/gen_cli.py` and commit docs/cli.md"
    )


@pytest.mark.parametrize("path", sorted(WORD_LIMITS))
def test_readme_word_count(path):
    words = len(_read(os.path.join(ROOT, path)).split())  # as `wc -w` counts them
    limit = WORD_LIMITS[path]
    assert words <= limit, (
        f"{path} has {words} words, more than {limit}; move the reference material to docs/ (README.md) or drop "
        "history and superseded runs (bench/README.md: git keeps them)"
    )


LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
CODE_SPAN = re.compile(r"`[^`\n]*`")


def relative_links(text: str) -> list[str]:
    """The targets of the Markdown links and images of ``text`` that are paths in the repository (no URL, no
    anchor of the same page), without their ``#anchor``; links inside code are not links.

    Example:
        >>> relative_links("[a](docs/cli.md#search) [b](https://x.org) ![c](p.png) `[d](no.md)` [e](#top)")
        ['docs/cli.md', 'p.png']
    """
    text = CODE_SPAN.sub("", FENCE.sub("", text))
    targets = []
    for target in LINK.findall(text):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE) or target.startswith("#"):
            continue  # a URL (https:, mailto:) or an anchor of this page
        targets.append(target.split("#", 1)[0])
    return targets


def test_relative_links_point_at_files():
    assert relative_links("[a](docs/cli.md#search) [b](https://x.org) ![c](p.png) `[d](no.md)` [e](#top)") == [
        "docs/cli.md",
        "p.png",
    ]
    broken = []
    for path in _markdown_files():
        for target in relative_links(_read(path)):
            if not os.path.exists(os.path.normpath(os.path.join(os.path.dirname(path), target))):
                broken.append(f"{os.path.relpath(path, ROOT)}: {target}")
    assert not broken, "links to files that do not exist:\n" + "\n".join(broken)


def test_every_page_is_in_the_nav():
    text = _read(os.path.join(ROOT, "mkdocs.yml"))
    pages = sorted(name for name in os.listdir(DOCS) if name.endswith(".md"))
    missing = [page for page in pages if not re.search(rf":\s*{re.escape(page)}\s*$", text, re.MULTILINE)]
    assert not missing, f"pages of docs/ missing from the nav of mkdocs.yml: {', '.join(missing)}"


def test_mkdocs_build_strict(tmp_path):
    if importlib.util.find_spec("mkdocs") is None:
        pytest.skip('mkdocs is not installed: pip install -e ".[dev]" installs it')
    run = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, f"mkdocs build --strict failed:\n{run.stdout}\n{run.stderr}"
    assert (tmp_path / "site" / "cli" / "index.html").is_file()
