"""The house rules, read from the code itself (ast over every module of the three packages):

- data flows one way: domains -> strategies -> planner; inside planner, nothing outside
  `planner.cli` imports the CLI;
- no private (underscore) name crosses a room border (a planner subpackage, the eight
  strategies, the strategies' machinery, domains);
- each room re-exports its public API (`__all__`), and `planner` re-exports every room's
  lazily: ``import planner`` imports no room and no torch;
- the names the issue found defined twice are defined once.
"""

from __future__ import annotations

import ast
import functools
import importlib
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("domains", "strategies", "planner")
ROOMS = ("planner.costing", "planner.reference", "planner.performance", "planner.search",
         "planner.experiments", "planner.reports")
LAZY_ROOMS = ("planner.experiments", "planner.reports")


@dataclass(frozen=True)
class Import:
    """One ``from X import name`` (or ``import X``) of a project module."""

    source: str      # the importing module, e.g. planner.reports.html
    line: int
    target: str      # the imported module, e.g. planner.reports.formatting
    name: str | None  # the imported name (None for ``import X``)


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_imports() -> Iterator[Import]:
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            source = module_name(path)
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    if node.module.split(".")[0] in PACKAGES:
                        for alias in node.names:
                            yield Import(source, node.lineno, node.module, alias.name)
                elif isinstance(node, ast.Import):
                    for alias in node.names:
                        if alias.name.split(".")[0] in PACKAGES:
                            yield Import(source, node.lineno, alias.name, None)


def room(module: str) -> str:
    """The room a module lives in: a planner subpackage (or the planner root), the
    strategies' machinery, the strategy files, domains."""
    parts = module.split(".")
    if parts[0] == "planner":
        sub = ".".join(parts[:2])
        return sub if sub in (*ROOMS, "planner.cli") else "planner"
    if parts[0] == "strategies":
        return "strategies.machinery" if parts[1:2] == ["machinery"] else "strategies"
    return parts[0]


IMPORTS = list(project_imports())


def test_the_scan_sees_the_imports() -> None:
    """Guards the tests below against passing because nothing was read."""
    assert len(IMPORTS) > 200
    assert any(i.source == "planner.reports.html" and i.target == "planner.reports.formatting"
               for i in IMPORTS)


def test_data_flows_one_way() -> None:
    layer = {"domains": 0, "strategies": 1, "planner": 2}
    upward = [i for i in IMPORTS
              if layer[i.target.split(".")[0]] > layer[i.source.split(".")[0]]]
    assert not upward, [f"{i.source}:{i.line} imports {i.target}" for i in upward]


#: the planner's rooms from the ground up: a room imports only rooms below it
FLOW = ("planner.reference", "planner.costing", "planner.performance", "planner.search",
        "planner.reports", "planner.experiments", "planner.cli")
#: known ties against the flow (docs/architecture.md): `recommend` reads measured runs
#: from the results store when given a storage URL
AGAINST_THE_FLOW = {("planner.search", "planner.experiments")}


def test_planner_rooms_flow_one_way() -> None:
    rank = {name: i for i, name in enumerate(FLOW)}
    upward = sorted({(room(i.source), room(i.target), f"{i.source}:{i.line}") for i in IMPORTS
                     if room(i.source) in rank and room(i.target) in rank
                     and rank[room(i.target)] > rank[room(i.source)]
                     and (room(i.source), room(i.target)) not in AGAINST_THE_FLOW})
    assert not upward, upward


def test_no_library_module_imports_the_cli() -> None:
    bad = [i for i in IMPORTS if i.target.startswith("planner.cli")
           and not i.source.startswith("planner.cli")]
    assert not bad, [f"{i.source}:{i.line} imports {i.target}" for i in bad]


def test_no_private_name_crosses_a_room_border() -> None:
    bad = []
    for i in IMPORTS:
        if room(i.source) == room(i.target):
            continue
        private_module = any(p.startswith("_") for p in i.target.split("."))
        if private_module or (i.name is not None and i.name.startswith("_")):
            bad.append(f"{i.source}:{i.line} imports {i.target}.{i.name}")
    assert not bad, bad


def test_rooms_resolve_room_borders() -> None:
    """The border test's notion of a room matches the folders."""
    assert room("planner.reports.html") == "planner.reports"
    assert room("planner.exceptions") == "planner"
    assert room("strategies.machinery.training") == "strategies.machinery"
    assert room("strategies.mixture") == "strategies"


@pytest.mark.parametrize("name", ROOMS)
def test_each_room_exports_its_public_api(name: str) -> None:
    module = importlib.import_module(name)
    exported = list(module.__all__)
    assert exported and len(set(exported)) == len(exported)
    for public in exported:
        assert getattr(module, public) is not None, public
    if name in LAZY_ROOMS:
        assert set(module._EXPORTS) == set(exported)
    # an exported name must not hide a module of the room (``planner.search.recommend``)
    folder = ROOT / Path(*name.split("."))
    submodules = {p.stem for p in folder.glob("*.py")} | {p.name for p in folder.iterdir()
                                                          if (p / "__init__.py").exists()}
    assert not (set(exported) & submodules), set(exported) & submodules


def test_planner_reexports_every_room() -> None:
    import planner

    expected = {"recommend"}  # `planner.search.recommend.recommend`, which the room cannot
    for name in (*ROOMS, "planner.exceptions"):
        expected |= set(importlib.import_module(name).__all__)
    expected -= {"search"}  # `planner.search` is the room itself
    assert set(planner.__all__) == expected == set(planner._EXPORTS)
    from planner.search.recommend import recommend

    assert planner.recommend is recommend


def test_import_planner_is_lazy_and_planning_names_need_no_torch() -> None:
    """A fresh interpreter: `import planner` loads no room; every public name resolves
    without torch or transformers (the planning paths and `specplan recommend` stay fast)."""
    code = (
        "import sys, planner\n"
        "rooms = sorted(m for m in sys.modules if m.startswith('planner.'))\n"
        "for name in planner.__all__:\n"
        "    getattr(planner, name)\n"
        "print(rooms, sorted(m for m in ('torch', 'transformers') if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[] []"


@functools.cache
def _module_bodies() -> tuple[tuple[str, tuple[ast.stmt, ...]], ...]:
    return tuple((module_name(path), tuple(ast.parse(path.read_text(encoding="utf-8")).body))
                 for package in PACKAGES for path in sorted((ROOT / package).rglob("*.py")))


def _assignments(name: str) -> list[str]:
    """Where `name` is bound at module level (assignment, class or function definition)."""
    found = []
    for module, body in _module_bodies():
        for node in body:
            targets: list[ast.expr] = []
            if isinstance(node, ast.Assign):
                targets = node.targets
            elif isinstance(node, ast.AnnAssign):
                targets = [node.target]
            elif isinstance(node, (ast.ClassDef, ast.FunctionDef)) and node.name == name:
                found.append(module)
            found += [module for t in targets if isinstance(t, ast.Name) and t.id == name]
    return found


@pytest.mark.parametrize("name", ["RUN_COLUMNS", "NotFittedError", "SELECTIONS",
                                  "DEFAULT_SCENARIO", "fmt_number", "add_budget_arguments"])
def test_defined_once(name: str) -> None:
    assert len(_assignments(name)) == 1, _assignments(name)


def test_one_not_fitted_error_and_the_model_columns_are_stored() -> None:
    from planner.exceptions import NotFittedError
    from planner.experiments.store import RUN_COLUMNS
    from planner.performance import FIT_COLUMNS
    from strategies import NotFittedError as StrategyNotFitted

    assert NotFittedError is StrategyNotFitted
    assert set(FIT_COLUMNS) <= set(RUN_COLUMNS)


def test_report_templates_ship_as_package_data() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = config["tool"]["setuptools"]["package-data"]["planner"]
    templates = sorted((ROOT / "planner").glob("reports/templates/*"))
    assert templates
    for path in templates:
        rel = path.relative_to(ROOT / "planner")
        assert any(rel.match(p) for p in patterns), rel
