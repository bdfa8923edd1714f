"""Every notebook in notebooks/ runs top to bottom (nbclient, the venv's `python3` kernel),
in a temporary folder, with the session's specplan cache. Notebook 02 trains two tiny
strategies on `news` into a temporary results store (no SPECPLAN_STORAGE given), reusing
the session's tiny pretraining artifacts (SPECPLAN_ROOT)."""

from __future__ import annotations

from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
NAMES = sorted(p.name for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


def test_the_three_notebooks_exist() -> None:
    assert NAMES == ["01_decision_map.ipynb", "02_compare_strategies.ipynb",
                     "03_budget_what_ifs.ipynb"]


@pytest.mark.parametrize("name", NAMES)
def test_outputs_are_stripped(name: str) -> None:
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, name


@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                       tiny_ws) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("SPECPLAN_STORAGE", raising=False)
    # the session's tiny artifacts: `small`'s pretraining is shared with the other tests
    monkeypatch.setenv("SPECPLAN_ROOT", str(tiny_ws.root))
    monkeypatch.setenv("SPECPLAN_NOTEBOOK_SCALE", "tiny")
    monkeypatch.setenv("SPECPLAN_NOTEBOOK_GRID", "4")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("SPECPLAN_THREADS", "1")
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbformat.validate(nb)
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError naming the failing cell
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs
              if o.get("output_type") == "error"]
    assert errors == []
    images = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs
              if "image/png" in o.get("data", {})]
    assert images, f"{name} draws no figure"
