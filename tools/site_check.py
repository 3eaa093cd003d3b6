"""Open every page of the built book in headless Chromium and check what a reader would see.

    python tools/site_check.py                      # checks _build/html, writes _build/site-check/
    python tools/site_check.py /tmp/x/_build/html --out /tmp/x/check --narrow-width 0

The built site is served by a local http.server on 127.0.0.1 from a thread, not opened as
file://: readers get it over http, and Chromium gives file:// pages an opaque origin (no shared
localStorage, fetch/XHR refused), which would test something else. With an http origin,
"external" is simply any other host: every such request is aborted and counted, as the book
must work offline. One browser, one context, one tab per page.

Each page fails (one record: page, check, detail) on
  console        a console error, an uncaught page error, or a site file that did not load
                 (HTTP >= 400) other than an image
  external-request  a request to anything but the local server (blocked)
  tex            raw TeX left in the text after MathJax has typeset, or a MathJax error box
  image          an <img> that did not load (lazy images are forced to load first)
  link           an internal link whose file is missing from the build, or whose #fragment
                 names no id on the target page (external links are only counted)
  solution       a dropdown (sphinx-exercise solution, togglebutton) whose body is visible on
                 load, or an open <details> in the article
  overflow       the article (or the whole page) wider than the window, at 1280 px and at the
                 narrow width (400 px by default); scrolling boxes (wide tables, code) are fine
  page-load      a page that could not be opened or checked at all (e.g. a timeout)
A full-page screenshot of each page (1280 px wide) and report.json go to the output folder.
Exit code: 0 when no page fails, 1 when some do, 2 when the check cannot run (bad arguments,
no pages, no chromium).
"""

from __future__ import annotations

import argparse
import functools
import http.server
import json
import os
import re
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path
from typing import NamedTuple
from urllib.parse import unquote, urlsplit

WIDE = {"width": 1280, "height": 900}
# Folders of a Sphinx build that hold templates and page sources, not pages.
NOT_PAGES = {"_static", "_sources"}
TOLERANCE_PX = 2           # sub-pixel rounding of scrollWidth/clientWidth
PAGE_TIMEOUT_MS = 30_000

# ---------------------------------------------------------------------------------------------
# Raw TeX in text (pure functions: unit-tested without a browser)

_SYMBOLS = (
    "alpha beta gamma delta epsilon varepsilon zeta eta theta vartheta iota kappa lambda mu nu xi "
    "pi rho sigma tau upsilon phi varphi chi psi omega Gamma Delta Theta Lambda Xi Pi Sigma Phi "
    "Psi Omega sum prod int oint sqrt frac cdot cdots ldots dots times div pm mp leq geq le ge neq "
    "approx sim simeq propto infty in notin subset subseteq cup cap forall exists partial nabla "
    "log exp min max arg argmin argmax top mid Vert lVert rVert lvert rvert left right quad qquad "
    "to rightarrow leftarrow Rightarrow mapsto hat bar tilde vec mathbb mathbf mathrm mathcal "
    "operatorname text emph textbf lfloor rfloor lceil rceil langle rangle"
).split()

TEX_PATTERNS = (
    ("math delimiter", re.compile(r"\\[(\[]")),
    ("$$ display math", re.compile(r"\$\$")),
    # $...$ whose inside starts and ends with a non-space and holds \ ^ _ or { : "$x_i$" but not
    # prices such as "$5 and $10" (the inside "5 and " ends with a space).
    ("$...$ inline math", re.compile(r"(?<![\\\w$])\$(?=[^\s$])([^$\n]{1,300}?)(?<=\S)\$(?![\w$])")),
    ("TeX command", re.compile(r"\\[A-Za-z]+\s*\{")),
    ("TeX command", re.compile(r"\\(?:" + "|".join(_SYMBOLS) + r")(?![A-Za-z])")),
    ("TeX sub/superscript", re.compile(r"[\w)\]}][_^]\{")),
)


class TexHit(NamedTuple):
    kind: str      # which pattern matched, e.g. "TeX command"
    snippet: str   # the match with a little context


def find_tex(text: str, context: int = 25) -> list[TexHit]:
    """Raw TeX in a piece of rendered text, as (kind, snippet) in order of position.

    Overlapping matches are reported once (the earliest). Prose with dollar amounts, single
    backslashes or snake_case words gives nothing.
    """
    spans = []
    for kind, pattern in TEX_PATTERNS:
        for match in pattern.finditer(text):
            if kind.startswith("$...$") and not re.search(r"[\\^_{]", match.group(1)):
                continue
            spans.append((match.start(), match.end(), kind))
    hits, covered_to = [], -1
    for start, end, kind in sorted(spans):
        if start < covered_to:
            continue
        covered_to = end
        snippet = text[max(0, start - context):end + context]
        hits.append(TexHit(kind, " ".join(snippet.split())))
    return hits


# ---------------------------------------------------------------------------------------------
# JavaScript run in each page

# Text of the page outside code, scripts and typeset math, cut into runs: consecutive text nodes
# under the same block element form one run (so "$x" + <em>i</em> + "$" is seen whole), and an
# excluded element in the middle of a run leaves a space.
JS_TEXT_RUNS = r"""
() => {
  const EXCLUDED = 'pre, code, kbd, samp, tt, script, style, noscript, template, textarea, svg, '
                 + 'math, mjx-container, .highlight';
  const BLOCK = new Set(['P','LI','TD','TH','DT','DD','H1','H2','H3','H4','H5','H6','CAPTION',
    'FIGCAPTION','BLOCKQUOTE','DIV','SECTION','ARTICLE','MAIN','NAV','ASIDE','HEADER','FOOTER',
    'BODY','TABLE','TR','UL','OL','DL','FIGURE','SUMMARY','DETAILS','BUTTON','LABEL','FORM']);
  const where = (el) => {
    const section = el.closest('section[id], div[id], [id]');
    return el.tagName.toLowerCase() + (section ? ' in #' + section.id : '');
  };
  const runs = [];
  let block = null, parts = [];
  const flush = () => { if (parts.length) runs.push({where: where(block), text: parts.join('')}); parts = []; };
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const parent = node.parentElement;
    let b = parent;
    while (b && !BLOCK.has(b.tagName)) b = b.parentElement;
    if (b !== block) { flush(); block = b; }
    parts.push(parent.closest(EXCLUDED) ? ' ' : node.data);
  }
  flush();
  const errors = [...document.querySelectorAll('mjx-merror')].map(
    (e) => e.getAttribute('data-mjx-error') || e.textContent);
  return {runs: runs.filter((r) => r.text.trim()), mathErrors: errors,
          formulas: document.querySelectorAll('mjx-container').length};
}
"""

# Force lazy images to load, wait for every image to settle, then list the broken ones: loaded
# with naturalWidth 0 and refused by decode() (Chromium gives even a size-less SVG a width).
JS_BROKEN_IMAGES = r"""
async (timeoutMs) => {
  const images = [...document.images];
  for (const img of images) if (img.loading === 'lazy') img.loading = 'eager';
  const settle = (img) => img.complete ? Promise.resolve() : new Promise((resolve) => {
    img.addEventListener('load', resolve, {once: true});
    img.addEventListener('error', resolve, {once: true});
  });
  await Promise.race([Promise.all(images.map(settle)),
                      new Promise((resolve) => setTimeout(resolve, timeoutMs))]);
  const broken = [];
  for (const img of images) {
    if (img.complete && img.naturalWidth > 0) continue;
    if (img.complete) {
      try { await img.decode(); continue; } catch (e) { /* broken */ }
    }
    broken.push({src: img.getAttribute('src') || '', url: img.currentSrc || img.src,
                 alt: img.getAttribute('alt') || '', loaded: img.complete});
  }
  return {broken, total: images.length};
}
"""

JS_LINKS_AND_IDS = r"""
() => ({
  links: [...document.querySelectorAll('a[href]')].map((a) => ({raw: a.getAttribute('href'), url: a.href})),
  ids: [...document.querySelectorAll('[id]')].map((e) => e.id)
       .concat([...document.querySelectorAll('a[name]')].map((a) => a.getAttribute('name'))),
})
"""

# Dropdowns: togglebutton hides every child of a .dropdown/.toggle admonition after its title
# (sphinx-exercise solutions with :class: dropdown are `div.solution.dropdown.admonition`).
# Elements that are not admonitions togglebutton wraps in a <details>, closed unless toggle-shown.
JS_VISIBLE_SOLUTIONS = r"""
() => {
  const shown = (el) => {
    const r = el.getBoundingClientRect();
    return r.width > 0 && r.height > 0
        && el.checkVisibility({opacityProperty: true, visibilityProperty: true});
  };
  const label = (el) => (el.id ? '#' + el.id : el.tagName.toLowerCase())
        + (el.className ? ' (' + el.className + ')' : '');
  const problems = [];
  const boxes = document.querySelectorAll('.admonition.dropdown, .admonition.toggle');
  for (const box of boxes) {
    if (box.classList.contains('toggle-shown')) continue;
    const title = box.querySelector(':scope > .admonition-title');
    const body = [...box.children].filter((child) => child !== title && !child.matches('button.toggle-button'));
    const visible = body.filter(shown);
    if (visible.length)
      problems.push(label(box) + ' "' + (title ? title.textContent.trim() : '') + '": body visible on load ('
                    + visible.map((el) => el.tagName.toLowerCase()).join(', ') + ')');
  }
  const article = document.querySelector('article.bd-article, main, [role=main]') || document.body;
  for (const details of article.querySelectorAll('details[open]'))
    problems.push('<details> ' + label(details) + ' "' + (details.querySelector('summary')?.textContent.trim() || '')
                  + '" is open on load');
  return {problems, dropdowns: boxes.length, solutions: document.querySelectorAll('.solution').length};
}
"""

# How far the article and the page are wider than their boxes, and which elements stick out
# (outermost first, not counting those inside a box that clips or scrolls).
JS_OVERFLOW = r"""
(tolerance) => {
  const doc = document.scrollingElement || document.documentElement;
  const content = document.querySelector('article.bd-article') || document.querySelector('main, [role=main]') || document.body;
  const describe = (el) => {
    let s = el.tagName.toLowerCase();
    if (el.id) s += '#' + el.id;
    else if (el.classList.length) s += '.' + [...el.classList].slice(0, 3).join('.');
    const section = el.closest('section[id]');
    return s + (section ? ' in section#' + section.id : '');
  };
  const clips = (el) => ['auto', 'scroll', 'hidden', 'clip'].includes(getComputedStyle(el).overflowX);
  const offenders = (root, right) => {
    const found = [];
    const visit = (el) => {
      for (const child of el.children) {
        const r = child.getBoundingClientRect();
        if (r.width > 0 && r.right > right + tolerance) {
          found.push(describe(child) + ' reaches ' + Math.round(r.right - right) + ' px past the edge');
          continue;   // report the outermost element only
        }
        if (!clips(child)) visit(child);
      }
    };
    if (!clips(root) || root === document.body) visit(root);
    return found.slice(0, 5);
  };
  const result = {
    contentName: describe(content),
    content: content.scrollWidth - content.clientWidth,
    page: doc.scrollWidth - doc.clientWidth,
  };
  result.contentOffenders = result.content > tolerance ? offenders(content, content.getBoundingClientRect().right) : [];
  result.pageOffenders = result.page > tolerance ? offenders(document.body, doc.clientWidth) : [];
  return result;
}
"""

JS_FRAME = "() => new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve)))"


# ---------------------------------------------------------------------------------------------
# The site, its server, and what is collected


class Failure(NamedTuple):
    page: str
    check: str
    detail: str


class _IdCollector(HTMLParser):
    """Ids (and <a name>) of an HTML file that was not opened in the browser."""

    def __init__(self):
        super().__init__()
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if attributes.get("id"):
            self.ids.add(attributes["id"])
        if tag == "a" and attributes.get("name"):
            self.ids.add(attributes["name"])


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 (the base class's name)
        pass


def site_pages(root: Path) -> list[str]:
    """Every .html page of the build, as '/'-separated paths relative to root, sorted."""
    return sorted(
        path.relative_to(root).as_posix()
        for path in root.rglob("*.html")
        if path.relative_to(root).parts[0] not in NOT_PAGES
    )


def refresh_target(html: str) -> str | None:
    """The url of a <meta http-equiv="refresh"> redirect page (like Jupyter Book's index.html)."""
    match = re.search(r"""<meta[^>]+http-equiv=["']?refresh["']?[^>]*content=["']?\d+\s*;\s*url=([^"'>\s]+)""",
                      html, re.IGNORECASE)
    return match.group(1) if match else None


def atomic_write(path: Path, data: bytes) -> None:
    """Write a file whole or not at all: a temporary file in the same folder, then os.replace."""
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", delete=False) as tmp:
        tmp.write(data)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp.name, 0o666 & ~umask)   # as an ordinary new file, not the temp file's 0600
    os.replace(tmp.name, path)


def start_server(root: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    """Serve root on a free port of 127.0.0.1 from a daemon thread; returns (server, origin)."""
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def resolve_internal(root: Path, url_path: str) -> Path | None:
    """The build file an internal url path serves, or None if there is none."""
    relative = unquote(url_path).lstrip("/")
    target = (root / relative).resolve()
    if not target.is_relative_to(root):
        return None
    if target.is_dir():
        target = target / "index.html"
    return target if target.is_file() else None


# ---------------------------------------------------------------------------------------------
# Checking


class SiteCheck:
    """Runs every check on every page; failures, link and id tables accumulate here."""

    def __init__(self, root: Path, out: Path, origin: str, narrow_width: int):
        self.root, self.out, self.origin, self.narrow_width = root, out, origin, narrow_width
        self.local_host = urlsplit(origin).netloc
        self.failures: list[Failure] = []
        self.ids: dict[str, set[str]] = {}                 # page -> ids seen in the browser
        self.links: list[tuple[str, str, str]] = []       # (page, raw href, absolute url)
        self.external = Counter()                          # host (or "mailto") -> links
        self.blocked: list[tuple[str, str]] = []          # (page, url) of aborted requests
        self.current = ""                                  # the page being checked
        self.stats: dict[str, dict] = {}                   # page -> what was found on it

    def fail(self, page: str, check: str, detail: str) -> None:
        self.failures.append(Failure(page, check, detail))

    def page_name(self, url: str) -> str:
        return urlsplit(url).path.lstrip("/") if urlsplit(url).netloc == self.local_host else url

    # -- network -----------------------------------------------------------------------------
    def route(self, route) -> None:
        """Let requests to the local server through; abort (and record) every other one."""
        url = route.request.url
        if urlsplit(url).scheme in ("data", "blob", "about") or urlsplit(url).netloc == self.local_host:
            route.continue_()
            return
        self.blocked.append((self.current, url))
        self.fail(self.current, "external-request", f"blocked request to {url} ({route.request.resource_type})")
        route.abort("blockedbyclient")

    def watch(self, page, name: str) -> None:
        """Record console errors, uncaught errors and site files that failed to load."""
        def on_console(message):
            # Chromium also logs every failed request as "Failed to load resource"; those are
            # reported once each, by on_response (site files), the image check or route().
            if message.type == "error" and not message.text.startswith("Failed to load resource"):
                where = message.location.get("url", "")
                line = message.location.get("lineNumber")
                self.fail(name, "console", f"console error: {message.text}"
                          + (f" (at {self.page_name(where)}:{line})" if where else ""))

        def on_response(response):
            request = response.request
            if (response.status >= 400 and urlsplit(response.url).netloc == self.local_host
                    and request.resource_type != "image"):
                self.fail(name, "console", f"HTTP {response.status} for {self.page_name(response.url)} "
                                           f"({request.resource_type})")

        def on_request_failed(request):
            if urlsplit(request.url).netloc == self.local_host and request.resource_type != "image":
                self.fail(name, "console", f"request failed: {self.page_name(request.url)} ({request.failure})")

        page.on("console", on_console)
        page.on("pageerror", lambda error: self.fail(name, "console", f"uncaught error: {error}"))
        page.on("response", on_response)
        page.on("requestfailed", on_request_failed)

    # -- one page ----------------------------------------------------------------------------
    def check_page(self, context, name: str) -> None:
        """Open one page at 1280 px, run the checks, screenshot it, then measure it narrow."""
        self.current = name
        self.stats[name] = {}
        page = context.new_page()
        self.watch(page, name)
        try:
            url = f"{self.origin}/{name}"
            html = (self.root / name).read_text(encoding="utf-8", errors="replace")
            target = refresh_target(html)
            if target is not None:
                self.check_redirect(page, name, url, target)
                return
            page.goto(url, wait_until="load", timeout=PAGE_TIMEOUT_MS)
            self.wait_for_mathjax(page, name)
            self.check_tex(page, name)
            self.check_images(page, name)
            self.collect_links(page, name)
            solutions = page.evaluate(JS_VISIBLE_SOLUTIONS)
            for problem in solutions["problems"]:
                self.fail(name, "solution", problem)
            self.stats[name].update(dropdowns=solutions["dropdowns"], solutions=solutions["solutions"])
            self.check_overflow(page, name, WIDE["width"])
            shot = self.out / "screenshots" / (name.removesuffix(".html").replace("/", "__") + ".png")
            atomic_write(shot, page.screenshot(full_page=True, animations="disabled"))
            if self.narrow_width:
                page.set_viewport_size({"width": self.narrow_width, "height": WIDE["height"]})
                page.evaluate(JS_FRAME)
                self.check_overflow(page, name, self.narrow_width)
        finally:
            page.close()

    def check_redirect(self, page, name: str, url: str, target: str) -> None:
        """A meta-refresh page: its target must exist, and the browser must arrive there."""
        self.links.append((name, target, f"{url.rsplit('/', 1)[0]}/{target}"))
        page.goto(url, wait_until="commit", timeout=PAGE_TIMEOUT_MS)
        try:
            page.wait_for_url(lambda now: now != url, timeout=5_000)
            page.wait_for_load_state("load")
        except Exception:  # playwright's TimeoutError: the redirect never happened
            self.fail(name, "link", f'meta refresh to "{target}" did not navigate within 5 s')

    def wait_for_mathjax(self, page, name: str) -> None:
        """If the page loads MathJax, wait until its first typesetting pass has finished."""
        if not page.evaluate("() => [...document.scripts].some((s) => /mathjax/i.test(s.src))"):
            return
        try:
            page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise",
                                   timeout=PAGE_TIMEOUT_MS)
            page.evaluate("() => MathJax.startup.promise")
        except Exception as error:  # a timeout or a rejected promise: MathJax did not finish
            self.fail(name, "tex", f"MathJax did not finish typesetting: {str(error).splitlines()[0]}")

    def check_tex(self, page, name: str) -> None:
        found = page.evaluate(JS_TEXT_RUNS)
        self.stats[name]["formulas"] = found["formulas"]
        for error in found["mathErrors"]:
            self.fail(name, "tex", f"MathJax error: {error}")
        for run in found["runs"]:
            for hit in find_tex(run["text"]):
                self.fail(name, "tex", f'{hit.kind} in {run["where"]}: "{hit.snippet}"')

    def check_images(self, page, name: str) -> None:
        images = page.evaluate(JS_BROKEN_IMAGES, 10_000)
        self.stats[name]["images"] = images["total"]
        for image in images["broken"]:
            state = "did not load" if image["loaded"] else "still loading after 10 s"
            self.fail(name, "image", f'<img src="{image["src"]}" alt="{image["alt"]}"> {state} '
                                     f"({self.page_name(image['url'])})")

    def collect_links(self, page, name: str) -> None:
        found = page.evaluate(JS_LINKS_AND_IDS)
        self.ids[name] = set(found["ids"])
        self.stats[name]["links"] = len(found["links"])
        for link in found["links"]:
            self.links.append((name, link["raw"], link["url"]))

    def check_overflow(self, page, name: str, width: int) -> None:
        """One failure per window width: the article wider than its box and/or the page."""
        measured = page.evaluate(JS_OVERFLOW, TOLERANCE_PX)
        problems = []
        if measured["content"] > TOLERANCE_PX:
            problems.append(f"{measured['contentName']} is {measured['content']} px wider than its box "
                            f"({'; '.join(measured['contentOffenders']) or 'no single child sticks out'})")
        if measured["page"] > TOLERANCE_PX:
            problems.append(f"the page scrolls sideways by {measured['page']} px "
                            f"({'; '.join(measured['pageOffenders']) or 'no single child sticks out'})")
        if problems:
            self.fail(name, "overflow", f"at {width} px, " + "; and ".join(problems))

    # -- after all pages ---------------------------------------------------------------------
    def check_links(self) -> int:
        """Resolve every internal link against the build and the ids seen; returns how many."""
        checked, seen = 0, set()
        for page, raw, url in self.links:
            parts = urlsplit(url)
            if parts.scheme == "mailto":
                self.external["mailto"] += 1
                continue
            if parts.scheme in ("http", "https") and parts.netloc != self.local_host:
                self.external[parts.netloc] += 1
                continue
            if parts.netloc != self.local_host or (page, raw) in seen:
                continue   # javascript:, tel: and the like; a repeated link on the same page
            seen.add((page, raw))
            checked += 1
            target = resolve_internal(self.root, parts.path)
            if target is None:
                self.fail(page, "link", f'href="{raw}": {unquote(parts.path).lstrip("/") or "/"} is not in the build')
                continue
            fragment = unquote(parts.fragment)
            if not fragment or fragment == "top" or target.suffix != ".html":
                continue
            target_name = target.relative_to(self.root).as_posix()
            if target_name not in self.ids:
                collector = _IdCollector()
                collector.feed(target.read_text(encoding="utf-8", errors="replace"))
                self.ids[target_name] = collector.ids
            if fragment not in self.ids[target_name]:
                self.fail(page, "link", f'href="{raw}": no element with id "{fragment}" on {target_name}')
        return checked


def launch_chromium(playwright):
    """Debian's chromium (Playwright cannot download its own browser here)."""
    executable = shutil.which("chromium")
    if executable is None:
        raise SystemExit("site_check: no `chromium` on PATH. Install Debian's browser with "
                         "`apt-get install chromium` (Playwright's own browser download is not used).")
    return playwright.chromium.launch(executable_path=executable, args=["--no-sandbox", "--disable-gpu"])


def run(root: Path, out: Path, narrow_width: int) -> dict:
    """Check every page of the build at root; returns the report (also written to out)."""
    from playwright.sync_api import sync_playwright

    started = time.perf_counter()
    pages = site_pages(root)
    (out / "screenshots").mkdir(parents=True, exist_ok=True)
    server, origin = start_server(root)
    check = SiteCheck(root, out, origin, narrow_width)
    timings = {}
    try:
        with sync_playwright() as playwright:
            browser = launch_chromium(playwright)
            context = browser.new_context(viewport=WIDE, service_workers="block")
            context.route("**/*", check.route)
            for number, name in enumerate(pages, 1):
                page_started, before = time.perf_counter(), len(check.failures)
                try:
                    check.check_page(context, name)
                except Exception as error:  # a page that cannot be checked fails, the run goes on
                    check.fail(name, "page-load", f"page could not be checked: {str(error).splitlines()[0]}")
                timings[name] = round(time.perf_counter() - page_started, 2)
                new = len(check.failures) - before
                print(f"[{number:>2}/{len(pages)}] {name:<48} {'ok' if not new else f'{new} failure(s)':<14} "
                      f"{timings[name]:5.1f} s", flush=True)
            browser.close()
    finally:
        server.shutdown()
        server.server_close()
    internal_links = check.check_links()
    report = {
        "site": str(root),
        "pages_checked": len(pages),
        "pages": [{"page": name, "seconds": timings.get(name),
                   "failures": sum(f.page == name for f in check.failures), **check.stats.get(name, {})}
                  for name in pages],
        "viewports": [WIDE["width"]] + ([narrow_width] if narrow_width else []),
        "failure_count": len(check.failures),
        "failures_by_check": dict(Counter(f.check for f in check.failures)),
        "failures": [f._asdict() for f in check.failures],
        "internal_links_checked": internal_links,
        "external_links": {"total": sum(check.external.values()), "distinct_hosts": len(check.external),
                           "by_host": dict(check.external.most_common())},
        "blocked_external_requests": len(check.blocked),
        "seconds": round(time.perf_counter() - started, 1),
    }
    atomic_write(out / "report.json", (json.dumps(report, indent=2) + "\n").encode())
    return report


def print_summary(report: dict, out: Path) -> None:
    print()
    print(f"{report['pages_checked']} pages, {report['internal_links_checked']} internal links checked, "
          f"{report['external_links']['total']} external links (not followed) to "
          f"{report['external_links']['distinct_hosts']} hosts, "
          f"{report['blocked_external_requests']} external requests blocked, {report['seconds']} s")
    totals = Counter()
    for page in report["pages"]:
        totals.update({key: page.get(key, 0) for key in ("formulas", "images", "dropdowns")})
    print(f"seen: {totals['formulas']} typeset formulas, {totals['images']} images, "
          f"{totals['dropdowns']} dropdowns (solutions and other toggles)")
    if not report["failures"]:
        print("site check passed: no failures")
    else:
        print(f"site check FAILED: {report['failure_count']} failure(s) "
              + ", ".join(f"{check} {n}" for check, n in sorted(report["failures_by_check"].items())))
        for failure in report["failures"]:
            print(f"  {failure['page']}  [{failure['check']}]  {failure['detail']}")
    print(f"report: {out / 'report.json'}   screenshots: {out / 'screenshots'}/")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("html", nargs="?", default="_build/html", type=Path,
                        help="the built site (default: _build/html)")
    parser.add_argument("--out", type=Path, default=None,
                        help="where screenshots and report.json go (default: site-check/ beside the html folder)")
    parser.add_argument("--narrow-width", type=int, default=400,
                        help="also check overflow at this window width, px (0: skip; default 400)")
    args = parser.parse_args(argv)
    root = args.html.resolve()
    if not root.is_dir() or not site_pages(root):
        parser.print_usage(sys.stderr)
        print(f"site_check: {args.html} holds no built site (no .html pages). Build the book first, e.g. "
              "`jupyter-book build .`, and pass its _build/html folder.", file=sys.stderr)
        return 2
    if args.narrow_width < 0:
        parser.error("--narrow-width must be 0 (skip) or a width in px")
    out = (args.out or root.parent / "site-check").resolve()
    try:
        report = run(root, out, args.narrow_width)
    except SystemExit as error:  # no chromium
        print(error, file=sys.stderr)
        return 2
    print_summary(report, out)
    return 1 if report["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
