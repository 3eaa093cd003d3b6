"""tools/site_check.py: the TeX detector on strings, then the browser checks on tiny sites.

The browser tests need Debian's `chromium` on PATH (CI installs it) and are skipped without it.
Two tiny Jupyter Books are built with the real book's parser and extension settings (read from
_config.yml): one with exactly three known faults, one clean.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
TOOL = ROOT / "tools" / "site_check.py"

needs_chromium = pytest.mark.skipif(
    shutil.which("chromium") is None,
    reason="the site check drives Debian's chromium: `apt-get install chromium` to run these tests")


def load_tool():
    spec = importlib.util.spec_from_file_location("site_check", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --------------------------------------------------------------------------------------------
# The TeX detector (no browser)

@pytest.mark.parametrize("text", [
    r"the score \(x_i\) of item i",
    r"\[ r = p^\top q \]",
    "$$ a + b $$",
    r"the loss $\sum_i x_i$ falls",
    "with $x_i$ and $y^2$",
    r"a raw \frac{a}{b} fraction",
    r"in \mathrm{bytes}",
    r"a rate \alpha and a weight \lambda",
    "the matrix R_{ui} of ratings",
    r"$\alpha$",
])
def test_find_tex_flags_raw_tex(text):
    assert load_tool().find_tex(text), f"no TeX found in {text!r}"


@pytest.mark.parametrize("text", [
    "It costs $5 and $10 a month.",
    "Prices: $5, $10, $1,000.",
    "from $3.50 to $4",
    r"split the line on \n and write C:\Users\me",
    "snake_case names like user_items and n_items",
    "a backslash \\ alone, a caret ^ and braces {a}",
    "100% of $20 is $20",
    "",
])
def test_find_tex_ignores_prose(text):
    assert load_tool().find_tex(text) == []


def test_find_tex_reports_each_place_once_with_context():
    hits = load_tool().find_tex(r"before $\frac{a}{b}$ after, then \alpha")
    assert [hit.kind for hit in hits] == ["$...$ inline math", "TeX command"]
    assert r"\frac{a}{b}" in hits[0].snippet and "before" in hits[0].snippet


# --------------------------------------------------------------------------------------------
# Running the tool

def run_site_check(html: Path, out: Path, *extra: str) -> tuple[int, dict, str]:
    """Run the tool as CI does; returns (exit code, report, printed output)."""
    done = subprocess.run([sys.executable, str(TOOL), str(html), "--out", str(out), *extra],
                          capture_output=True, text=True, timeout=300)
    report_path = out / "report.json"
    assert report_path.exists(), f"no report written; output:\n{done.stdout}\n{done.stderr}"
    return done.returncode, json.loads(report_path.read_text()), done.stdout + done.stderr


def kinds(report: dict) -> list[str]:
    return sorted(failure["check"] for failure in report["failures"])


def test_usage_errors_exit_2(tmp_path):
    done = subprocess.run([sys.executable, str(TOOL), str(tmp_path / "nowhere")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "no built site" in done.stderr


@needs_chromium
def test_browser_checks_on_a_handwritten_page(tmp_path):
    """Console error, external request, visible solution, open <details>, overflow: once each."""
    site = tmp_path / "html"
    site.mkdir()
    (site / "index.html").write_text("""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>t</title></head>
<body><main><article class="bd-article">
<p id="top-para">Prices $5 and $10 are prose. <code>$x_i$</code> is code.</p>
<a href="#top-para">fine</a> <a href="https://example.org/">external, only counted</a>
<details open><summary>Answer</summary>shown</details>
<div class="admonition dropdown"><p class="admonition-title">Solution</p><p>visible</p></div>
<div style="width: 3000px">too wide</div>
<div style="overflow-x: auto"><div style="width: 3000px">wide but scrolls in its box</div></div>
<script>console.error("boom"); fetch("http://example.com/data.json").catch(() => {});</script>
</article></main></body></html>
""")
    code, report, output = run_site_check(site, tmp_path / "out", "--narrow-width", "0")
    assert code == 1, output
    assert kinds(report) == ["console", "external-request", "overflow", "solution", "solution"], output
    assert report["external_links"]["total"] == 1
    assert report["blocked_external_requests"] == 1
    assert (tmp_path / "out" / "screenshots" / "index.png").stat().st_size > 0


# --------------------------------------------------------------------------------------------
# Tiny Jupyter Books built with the real book's settings

def tiny_png() -> bytes:
    """A valid 4x4 grey PNG."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    rows = b"".join(b"\x00" + b"\x80" * 4 for _ in range(4))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 4, 4, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


INTRO = """# Tiny book

A clean first page; the [next page](page.md) follows.
"""

BROKEN = r"""# Broken page

Raw TeX that MathJax never sees: \\frac{a}{b} is left as text.

<img src="no-such-image.png" alt="missing picture">

<p><a href="intro.html#no-such-anchor">a link to an anchor that does not exist</a></p>
"""

CLEAN = r"""# Clean page

Inline math $\hat r_{ui} = p_u^\top q_i$ and $\frac{a}{b}$, then a display:

$$
\mathrm{NDCG@}k = \frac{1}{Z} \sum_{j=1}^{k} \frac{\mathrm{rel}_j}{\log_2(j + 1)}
$$

Prices written \$5 and \$10 stay prose (escaped, so dollarmath leaves them alone).

![a small grey square](pixel.png)

(tiny-target)=
## A section to link to

Back to [the section](#tiny-target) and to [the first page](intro.md).

```{exercise}
:label: ex-tiny-1

Compute $\sqrt{4}$.
```

```{solution} ex-tiny-1
:class: dropdown

It is $2$.
```

```{exercise-start}
:label: ex-tiny-2
```
Add one and one.
```{exercise-end}
```

```{solution-start} ex-tiny-2
:class: dropdown
```
Two.
```{solution-end}
```
"""


def tiny_book_config() -> dict:
    """The real _config.yml's parser, extensions, Sphinx settings and buttons, for a tiny book.

    Settings that name files of the real book (static files, CSS) and the bibliography's (its
    extension loads only with a .bib file) are left out; local extensions load from the real
    book's folders.
    """
    real = yaml.safe_load((ROOT / "_config.yml").read_text())
    sphinx = real.get("sphinx", {})
    config = {
        "title": "Tiny book",
        "only_build_toc_files": True,
        "execute": {"execute_notebooks": "off"},
        "parse": real.get("parse", {}),
        "sphinx": {
            "extra_extensions": sphinx.get("extra_extensions", []),
            "local_extensions": {name: str(ROOT / folder)
                                 for name, folder in (sphinx.get("local_extensions") or {}).items()},
            "config": {key: value for key, value in (sphinx.get("config") or {}).items()
                       if key not in {"html_static_path", "html_css_files", "html_js_files"}
                       and not key.startswith("bibtex_")},
        },
    }
    for key in ("html", "repository", "launch_buttons"):
        if key in real:
            config[key] = real[key]
    return config


def build_tiny_book(folder: Path, page: str, strict: bool) -> Path:
    """Write and build a two-page book with the real book's settings (tiny_book_config)."""
    config = tiny_book_config()
    assert "sphinx-mathjax-offline" in config["sphinx"]["extra_extensions"]
    assert "sphinx_exercise" in config["sphinx"]["extra_extensions"]
    folder.mkdir()
    (folder / "_config.yml").write_text(yaml.safe_dump(config))
    (folder / "_toc.yml").write_text("format: jb-book\nroot: intro\nchapters:\n  - file: page\n")
    (folder / "intro.md").write_text(INTRO)
    (folder / "page.md").write_text(page)
    (folder / "pixel.png").write_bytes(tiny_png())
    jupyter_book = Path(sys.executable).with_name("jupyter-book")
    command = [str(jupyter_book if jupyter_book.exists() else "jupyter-book"), "build", str(folder),
               "--path-output", str(folder)] + (["-W", "-n"] if strict else [])
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"the tiny book did not build:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return folder / "_build" / "html"


@needs_chromium
def test_tiny_broken_book_fails_exactly_three_times(tmp_path):
    html = build_tiny_book(tmp_path / "book", BROKEN, strict=False)
    code, report, output = run_site_check(html, tmp_path / "out", "--narrow-width", "0")
    assert code == 1, output
    assert kinds(report) == ["image", "link", "tex"], output
    assert {failure["page"] for failure in report["failures"]} == {"page.html"}, output
    details = {failure["check"]: failure["detail"] for failure in report["failures"]}
    assert r"\frac{a}{b}" in details["tex"]
    assert "no-such-image.png" in details["image"]
    assert "no-such-anchor" in details["link"]


@needs_chromium
def test_tiny_clean_book_passes(tmp_path):
    html = build_tiny_book(tmp_path / "book", CLEAN, strict=True)
    page = (html / "page.html").read_text()
    assert page.count('class="solution dropdown') == 2, "the solutions are not sphinx-exercise dropdowns"
    code, report, output = run_site_check(html, tmp_path / "out")
    assert code == 0, output
    assert report["failures"] == []
    assert report["pages_checked"] >= 3   # intro, page, and Sphinx's genindex/search
    assert "mathjax" in page.lower()
    assert sum(entry.get("dropdowns", 0) for entry in report["pages"]) == 2

    # Without togglebutton's script the same two solutions are open on load: check 5 sees it.
    script = re.search(r'<script src="[^"]*togglebutton\.js[^"]*"></script>', page)
    assert script, "togglebutton.js is not loaded by page.html"
    (html / "page.html").write_text(page.replace(script.group(0), ""))
    code, report, output = run_site_check(html, tmp_path / "out-no-toggle", "--narrow-width", "0")
    assert code == 1, output
    assert kinds(report) == ["solution", "solution"], output
    assert all("Solution to" in failure["detail"] for failure in report["failures"]), output
