"""The notebooks: each runs top to bottom headless, and the committed files carry no outputs.

Every notebook is executed in a temporary copy with nbclient on the ``python3`` kernel of
the interpreter running the tests (the project's .venv), with ``ESTIME_NOTEBOOK_SMALL=1``
so that notebook 07 runs on 200k events instead of 1M. Each notebook ends with a cell of
``assert`` checks, so a broken notebook fails here.
"""

from __future__ import annotations

import re
import shutil
import sys
import types
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
NAMES = [
    "01-event-sourcing-101",
    "02-time-travel-and-diffs",
    "03-what-if-branches",
    "04-root-cause-agent-rollback",
    "05-schema-evolution",
    "06-bring-your-own-log",
    "07-a-million-events",
]
KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}
CELL_TIMEOUT = 180  # seconds per cell; the slowest cell (07's generator) takes a few seconds


def _read(name: str) -> nbformat.NotebookNode:
    return nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)


def test_every_notebook_is_there() -> None:
    assert sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb")) == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_committed_notebook_has_no_outputs_and_a_kernelspec(name: str) -> None:
    nb = _read(name)
    nbformat.validate(nb)
    assert dict(nb.metadata.get("kernelspec", {})) == KERNELSPEC
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code, "a notebook without code"
    for i, cell in enumerate(code):
        assert cell.get("outputs") == [], f"code cell {i} of {name} has saved outputs"
        assert cell.get("execution_count") is None, f"code cell {i} of {name} was executed"
    # teaching: the first cell explains; checks: the last code cell asserts
    assert nb.cells[0].cell_type == "markdown"
    assert "assert " in code[-1].source


def _missing_public_names(nb: nbformat.NotebookNode) -> list[str]:
    """The ``es.NAME`` the notebook uses that ``import estime as es`` does not provide."""
    import estime as es

    used = set()
    for cell in nb.cells:
        if cell.cell_type == "code":
            used.update(re.findall(r"\bes\.([A-Za-z_][A-Za-z0-9_]*)", cell.source))
    return sorted(n for n in used
                  if not hasattr(es, n) or isinstance(getattr(es, n), types.ModuleType))


@pytest.mark.parametrize("name", NAMES)
def test_notebook_uses_only_public_names(name: str) -> None:
    missing = _missing_public_names(_read(name))
    assert not missing, (f"{name} uses es.{', es.'.join(missing)}, which `import estime as es` "
                         "does not provide (estime/__init__.py)")


def _outputs_text(nb: nbformat.NotebookNode) -> str:
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream":
                parts.append(out.get("text", ""))
    return "".join(parts)


@pytest.mark.notebook
@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs_top_to_bottom(name: str, tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    work = tmp_path / "work"
    work.mkdir()
    copy = work / f"{name}.ipynb"
    shutil.copy(NOTEBOOKS / f"{name}.ipynb", copy)
    monkeypatch.setenv("ESTIME_NOTEBOOK_SMALL", "1")
    for var in ("JUPYTER_RUNTIME_DIR", "IPYTHONDIR", "MPLCONFIGDIR"):
        (tmp_path / var).mkdir()
        monkeypatch.setenv(var, str(tmp_path / var))
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")
    nb = nbformat.read(copy, as_version=4)
    client = nbclient.NotebookClient(
        nb, timeout=CELL_TIMEOUT, kernel_name="python3", allow_errors=False,
        resources={"metadata": {"path": str(work)}})
    client.execute()
    assert "all checks passed" in _outputs_text(nb)
    # the copy ran; the committed file is untouched
    assert all(c.get("outputs") == [] for c in _read(name).cells if c.cell_type == "code")


def test_kernel_resolves_to_this_interpreter() -> None:
    from jupyter_client.manager import KernelManager

    km = KernelManager(kernel_name="python3")
    cmd = km.format_kernel_cmd()
    assert Path(cmd[0]).resolve() == Path(sys.executable).resolve(), cmd
