"""Publishing: the GitHub workflows, the Binder environment and the Colab install cell.

The workflows are validated offline against GitHub's workflow schema as vendored by
check-jsonschema; Binder's pins are held equal to constraints.txt; the install cell
(tools/colab_cell.py) is checked for what it says, where it sits, what --write changes (nothing
but the cell) and what it does: nothing outside Colab, and a working install in a fresh
environment when pointed at a checkout.
"""

from __future__ import annotations

import ast
import difflib
import importlib.metadata
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = ROOT / ".github" / "workflows"
BINDER = ROOT / "binder"
CHAPTERS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def load_colab_cell():
    """tools/colab_cell.py as a module (tools/ is not a package)."""
    spec = importlib.util.spec_from_file_location("colab_cell", ROOT / "tools" / "colab_cell.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


colab_cell = load_colab_cell()


# ------------------------------------------------------------------------------- workflows
def check_jsonschema(schema: str, *files: Path) -> subprocess.CompletedProcess:
    """check-jsonschema with one of its built-in (vendored, offline) schemas."""
    if importlib.util.find_spec("check_jsonschema") is None:
        pytest.fail("check-jsonschema is not installed: it is part of the book environment (requirements.txt)")
    return subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", schema, *map(str, files)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def workflow_files() -> list[Path]:
    files = sorted(p for p in WORKFLOWS.iterdir() if p.suffix in (".yml", ".yaml"))
    assert files, f"no workflow files in {WORKFLOWS}"
    return files


def test_workflows_match_githubs_schema():
    run = check_jsonschema("vendor.github-workflows", *workflow_files())
    assert run.returncode == 0, f"a workflow does not match GitHub's schema:\n{run.stdout}{run.stderr}"


def test_every_workflow_job_has_a_timeout():
    run = check_jsonschema("custom.github-workflows-require-timeout", *workflow_files())
    assert run.returncode == 0, f"every job needs timeout-minutes:\n{run.stdout}{run.stderr}"


@pytest.mark.parametrize(
    "text",
    [
        "on: 12\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo\n",
        "on: push\njobs:\n  a:\n    steps:\n      - run: echo\n",  # a job without runs-on
    ],
    ids=["on-is-a-number", "job-without-runs-on"],
)
def test_the_schema_check_rejects_an_invalid_workflow(tmp_path, text):
    broken = tmp_path / "broken.yml"
    broken.write_text(text)
    run = check_jsonschema("vendor.github-workflows", broken)
    assert run.returncode == 1, f"expected the schema check to reject:\n{text}\nit said:\n{run.stdout}{run.stderr}"
    assert "broken.yml" in run.stdout + run.stderr


def test_python_version_agrees_everywhere():
    """The workflows, Binder's runtime and the Python constraints.txt was locked on name one version."""
    locked = re.search(r"on Python (\d+\.\d+)", (ROOT / "constraints.txt").read_text()).group(1)
    assert (BINDER / "runtime.txt").read_text().strip() == f"python-{locked}"
    for path in workflow_files():
        versions = re.findall(r"python-version:\s*['\"]?([\d.]+)", path.read_text())
        assert versions and set(versions) == {locked}, f"{path.name}: python-version {versions}, constraints.txt was locked on {locked}"


# ---------------------------------------------------------------------------------- Binder
def pinned_lines(path: Path) -> dict[str, str]:
    """``{normalized name: version}`` of a requirements file's ``name==version`` lines."""
    return colab_cell.constraint_pins(path)


def test_binder_pins_equal_constraints():
    pins = pinned_lines(BINDER / "requirements.txt")
    locked = colab_cell.constraint_pins()
    assert "torch" in pins and pins["torch"].endswith("+cpu"), "Binder must install the CPU build of torch"
    different = {name: (version, locked.get(name)) for name, version in pins.items() if locked.get(name) != version}
    assert not different, (
        f"binder/requirements.txt pins differ from constraints.txt ({{name: (binder, constraints)}}): {different}; "
        "copy the versions from constraints.txt"
    )


def test_binder_installs_the_library_with_the_book_constraints_and_the_cpu_index():
    lines = [line.split("#", 1)[0].strip() for line in (BINDER / "requirements.txt").read_text().splitlines()]
    assert "-e ." in lines or "." in lines, "binder/requirements.txt must install the library itself (-e .)"
    assert "-c ../constraints.txt" in lines, "binder/requirements.txt must apply the book's constraints"
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in lines
    post_build = (BINDER / "postBuild").read_text()
    assert os.access(BINDER / "postBuild", os.X_OK), "binder/postBuild must be executable"
    assert "--no-deps -r requirements-torchrec.txt" in post_build


def notebook_imports() -> set[str]:
    """Top-level modules the chapters (and the script Chapter 8 runs) import, standard library aside."""
    sources = [(ROOT / "notebooks" / "torchrec_sharding.py").read_text()]
    for path in CHAPTERS:
        for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
            if cell["cell_type"] == "code":
                lines = "".join(cell["source"]).splitlines()
                sources.append("\n".join(line for line in lines if not line.lstrip().startswith(("%", "!"))))
    modules = set()
    for source in sources:
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Import):
                modules.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules.add(node.module.split(".")[0])
    return modules - set(sys.stdlib_module_names) - {"reccompress"}


def dependency_closure(names) -> set[str]:
    """The distributions that installing ``names`` brings, read from this environment's metadata."""
    seen, todo = set(), [colab_cell.normalize(name) for name in names]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = importlib.metadata.requires(name) or []
        except importlib.metadata.PackageNotFoundError:
            continue  # e.g. fbgemm-gpu, which torchrec names and fbgemm-gpu-cpu provides
        for line in requires:
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(colab_cell.normalize(requirement.name))
    return seen


def providers(module: str) -> list[str]:
    found = importlib.metadata.packages_distributions().get(module)
    if not found:
        pytest.fail(f"the chapters import {module!r}, which no installed package provides; install the book environment")
    return [colab_cell.normalize(name) for name in found]


def test_binder_provides_every_package_the_chapters_import():
    installed = dependency_closure(
        [*pinned_lines(BINDER / "requirements.txt"), *pinned_lines(ROOT / "requirements-torchrec.txt"), "reccompress"]
    )
    missing = {module: providers(module) for module in notebook_imports() if not set(providers(module)) & installed}
    assert not missing, f"Binder would lack these imports of the chapters (module: packages): {missing}; add them to binder/requirements.txt"


def test_colab_cell_covers_every_package_the_chapters_import():
    covered = dependency_closure([*colab_cell.COLAB_EXTRAS, *colab_cell.COLAB_SHIPS, "reccompress"])
    left_out = {colab_cell.normalize(name) for name in colab_cell.NOT_ON_COLAB}
    missing = {
        module: providers(module)
        for module in notebook_imports()
        if not set(providers(module)) & (covered | left_out)
    }
    assert not missing, f"the Colab cell installs none of these imports of the chapters: {missing}; add them to COLAB_EXTRAS in tools/colab_cell.py"


# ------------------------------------------------------------------------- the install cell
def run_cell_as_if_on_colab(monkeypatch, source: str) -> tuple[list[list[str]], list[str]]:
    """Execute the cell with a stand-in ``google.colab`` module; record its commands, run none."""
    commands, moves = [], []
    monkeypatch.delenv(colab_cell.INSTALL_FROM_VARIABLE, raising=False)
    monkeypatch.setitem(sys.modules, "google.colab", type(sys)("google.colab"))
    monkeypatch.setattr(subprocess, "run", lambda command, **kwargs: commands.append(command))
    monkeypatch.setattr(os, "chdir", moves.append)
    exec(compile(source, "<install cell>", "exec"), {})
    return commands, moves


def test_the_cell_clones_the_configured_repository_and_installs_pinned_extras(monkeypatch):
    config = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]
    commands, moves = run_cell_as_if_on_colab(monkeypatch, colab_cell.cell_source())
    clone, install = commands
    assert clone[:2] == ["git", "clone"] and config["url"].rstrip("/") in clone
    assert f"--branch={config.get('branch', 'main')}" in clone
    checkout = clone[-1]
    assert install[:4] == [sys.executable, "-m", "pip", "install"] and checkout in install
    locked = colab_cell.constraint_pins()
    extras = [argument for argument in install if "==" in argument]
    assert extras and all(locked[colab_cell.normalize(e.split("==")[0])] == e.split("==")[1] for e in extras)
    assert {colab_cell.normalize(e.split("==")[0]) for e in extras} == {colab_cell.normalize(n) for n in colab_cell.COLAB_EXTRAS}
    assert moves == [os.path.join(checkout, "notebooks")]


def test_the_cell_url_follows_config(tmp_path, monkeypatch):
    config = tmp_path / "_config.yml"
    config.write_text("repository:\n  url: https://example.org/someone/fork/\n  branch: draft\n")
    commands, _ = run_cell_as_if_on_colab(monkeypatch, colab_cell.cell_source(config))
    assert "https://example.org/someone/fork" in commands[0] and "--branch=draft" in commands[0]
    config.write_text("repository:\n  branch: main\n")
    with pytest.raises(ValueError, match="repository: url"):
        colab_cell.cell_source(config)


def test_the_cell_does_nothing_outside_colab(monkeypatch, capsys):
    monkeypatch.delenv(colab_cell.INSTALL_FROM_VARIABLE, raising=False)
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)

    def refuse(*args, **kwargs):
        raise AssertionError("the install cell ran a command outside Colab")

    monkeypatch.setattr(subprocess, "run", refuse)
    monkeypatch.setattr(os, "chdir", refuse)
    code = compile(colab_cell.cell_source(), "<install cell>", "exec")
    start = time.perf_counter()
    exec(code, {})
    elapsed = time.perf_counter() - start
    assert capsys.readouterr() == ("", "")
    assert elapsed < 0.05, f"the install cell took {elapsed:.3f} s outside Colab; it should only test a condition"


def tagged(notebook: dict) -> list[int]:
    return colab_cell.install_cell_indices(notebook)


@pytest.fixture
def chapter_copy(tmp_path) -> Path:
    """A copy of Chapter 1 without any install cell."""
    notebook = json.loads(CHAPTERS[0].read_text(encoding="utf-8"))
    notebook["cells"] = [cell for index, cell in enumerate(notebook["cells"]) if index not in tagged(notebook)]
    path = tmp_path / CHAPTERS[0].name
    path.write_text(colab_cell.dumps(notebook), encoding="utf-8")
    return path


def test_check_fails_without_the_cell_and_passes_after_write(chapter_copy, capsys):
    assert colab_cell.main(["--check", str(chapter_copy)]) == 1
    assert "no install cell" in capsys.readouterr().err
    assert colab_cell.main(["--write", str(chapter_copy)]) == 0
    assert colab_cell.main(["--check", str(chapter_copy)]) == 0


def test_write_changes_nothing_but_the_inserted_cell(chapter_copy):
    before = chapter_copy.read_text(encoding="utf-8")
    colab_cell.main(["--write", str(chapter_copy)])
    after = chapter_copy.read_text(encoding="utf-8")
    changes = difflib.SequenceMatcher(None, before.splitlines(True), after.splitlines(True), autojunk=False).get_opcodes()
    assert [tag for tag, *_ in changes if tag != "equal"] == ["insert"], "--write changed lines besides inserting the cell"
    notebook = json.loads(after)
    (index,) = tagged(notebook)
    cell = notebook["cells"][index]
    assert cell["metadata"]["tags"] == ["remove-cell", "colab-install"] and cell["outputs"] == []
    assert index == colab_cell.first_code_index(notebook["cells"]), "the install cell must be the first code cell"
    del notebook["cells"][index]
    assert colab_cell.dumps(notebook) == before
    assert not [p for p in chapter_copy.parent.iterdir() if p.name.endswith(".tmp")], "a temporary file was left behind"
    colab_cell.main(["--write", str(chapter_copy)])
    assert chapter_copy.read_text(encoding="utf-8") == after, "a second --write changed the notebook"


def test_write_refreshes_a_stale_cell_in_place(chapter_copy, tmp_path, capsys):
    colab_cell.main(["--write", str(chapter_copy)])
    notebook = json.loads(chapter_copy.read_text(encoding="utf-8"))
    notebook["cells"][tagged(notebook)[0]]["execution_count"] = 1
    chapter_copy.write_text(colab_cell.dumps(notebook), encoding="utf-8")
    moved = tmp_path / "_config.yml"
    moved.write_text("repository:\n  url: https://example.org/moved/book\n")
    assert colab_cell.main(["--check", "--config", str(moved), str(chapter_copy)]) == 1
    assert "stale" in capsys.readouterr().err
    assert colab_cell.main(["--write", "--config", str(moved), str(chapter_copy)]) == 0
    refreshed = json.loads(chapter_copy.read_text(encoding="utf-8"))
    (index,) = tagged(refreshed)
    assert "https://example.org/moved/book" in "".join(refreshed["cells"][index]["source"])
    assert refreshed["cells"][index]["execution_count"] == 1, "refreshing the cell must keep the notebook's run valid"
    assert colab_cell.main(["--check", "--config", str(moved), str(chapter_copy)]) == 0


def test_write_refuses_a_notebook_in_another_layout(chapter_copy, capsys):
    reformatted = json.dumps(json.loads(chapter_copy.read_text(encoding="utf-8")), indent=2)
    chapter_copy.write_text(reformatted, encoding="utf-8")
    assert colab_cell.main(["--write", str(chapter_copy)]) == 1
    assert "not stored in Jupyter's layout" in capsys.readouterr().err
    assert chapter_copy.read_text(encoding="utf-8") == reformatted


def test_check_flags_a_cell_that_runs_too_late(chapter_copy, capsys):
    colab_cell.main(["--write", str(chapter_copy)])
    notebook = json.loads(chapter_copy.read_text(encoding="utf-8"))
    cell = notebook["cells"].pop(tagged(notebook)[0])
    notebook["cells"].append(cell)
    chapter_copy.write_text(colab_cell.dumps(notebook), encoding="utf-8")
    assert colab_cell.main(["--check", str(chapter_copy)]) == 1
    assert "it must run first" in capsys.readouterr().err


def test_every_chapter_has_the_current_install_cell():
    assert colab_cell.main(["--check", *map(str, CHAPTERS)]) == 0, (
        "run: python tools/colab_cell.py --write notebooks/*.ipynb (then re-run the notebooks)"
    )


def test_nbval_runs_the_install_cell_without_output(tmp_path):
    """A notebook holding the install cell passes strict nbval: the cell runs and prints nothing."""
    notebook = {
        "cells": [
            colab_cell.install_cell(colab_cell.cell_source()),
            {
                "cell_type": "code",
                "execution_count": 2,
                "id": "after",
                "metadata": {},
                "outputs": [{"name": "stdout", "output_type": "stream", "text": ["True\n"]}],
                "source": ["import os, sys\n", "print('google.colab' not in sys.modules and os.getcwd() == START)"],
            },
        ],
        "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    notebook["cells"][1]["source"].insert(0, f"START = {str(tmp_path)!r}\n")
    path = tmp_path / "install_cell.ipynb"
    path.write_text(colab_cell.dumps(notebook), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != colab_cell.INSTALL_FROM_VARIABLE}
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "--nbval", "--nbval-current-env", "-p", "no:cacheprovider", "-q", path.name],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0 and "2 passed" in run.stdout, run.stdout + run.stderr


@pytest.mark.slow
def test_the_cell_installs_the_library_into_a_fresh_environment(tmp_path):
    """The cell, pointed at a checkout, pip-installs the library and its dependencies from scratch.

    The checkout is a copy of this repository (pip builds in the source folder); versions follow
    constraints.txt (PIP_CONSTRAINT), as in the book environment. About a minute with a warm pip
    cache.
    """
    checkout = tmp_path / "checkout"
    shutil.copytree(
        ROOT,
        checkout,
        ignore=shutil.ignore_patterns(".git", ".venv", "venv", "_build", "build", "*.egg-info", "__pycache__", ".ruff_cache", ".pytest_cache"),
    )
    environment = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(environment)], check=True, timeout=120)
    python = environment / "bin" / "python"
    env = {
        **os.environ,
        colab_cell.INSTALL_FROM_VARIABLE: str(checkout),
        "PIP_CONSTRAINT": str(ROOT / "constraints.txt"),
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    }
    env.pop("VIRTUAL_ENV", None)
    cell = colab_cell.cell_source() + "\nprint(os.getcwd())\n"
    run = subprocess.run([str(python), "-c", cell], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, f"the install cell failed:\n{run.stdout}\n{run.stderr[-3000:]}"
    assert run.stdout.strip().splitlines()[-1] == str(checkout / "notebooks")

    probe = (
        "import faiss, implicit, myst_nb, torch, reccompress\n"
        "from reccompress import data, metrics, models, presets\n"
        "from reccompress.compress import quantize\n"
        "print(reccompress.__file__)"
    )
    run = subprocess.run([str(python), "-c", probe], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, f"the freshly installed library does not import:\n{run.stderr[-3000:]}"
    assert Path(run.stdout.strip()).is_relative_to(environment), f"reccompress imported from {run.stdout.strip()}, not the new environment"
