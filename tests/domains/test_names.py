"""Domain names are shown to people, not used as paths: any text before the first ``=``
names a ``NAME=PATH`` domain, and every cache file built from it has a safe name."""

from __future__ import annotations

from pathlib import Path

import pytest

from domains import DomainError, get_domain
from domains.cache import file_stem
from domains.spec import DomainSpec, name_problem
from domains.stats import token_counts

N = 120


def _corpus(folder: Path) -> Path:
    folder.mkdir()
    for i in range(N):
        (folder / f"{i:03d}.txt").write_text(f"document {i}: words about topic {i % 7}, k={i}.")
    return folder


@pytest.mark.parametrize("name", ["<b>x</b>", "a/b c", "../../etc", "café ☕", "x.y-z_1"])
def test_any_text_before_the_first_equals_names_the_domain(tmp_path: Path, name: str) -> None:
    folder = _corpus(tmp_path / "c")
    d = get_domain(f"{name}={folder}")
    assert (d.name, d.source) == (name, "files")
    assert sum(d.n_documents().values()) == N
    assert "k=3." in " ".join(d.documents("train") + d.documents("valid") + d.documents("test"))


def test_equals_in_the_path_stays_in_the_path(tmp_path: Path) -> None:
    folder = _corpus(tmp_path / "a=b")
    d = get_domain(f"mine={folder}")
    assert d.name == "mine" and str(folder) in d.provenance


def test_cache_files_never_take_the_name_as_a_path(tmp_path: Path,
                                                   specplan_cache: Path) -> None:
    folder = _corpus(tmp_path / "c")
    before = set(specplan_cache.rglob("*"))
    for name in ("<b>x</b>", "../../escape"):
        counts = token_counts(get_domain(f"{name}={folder}"))
        assert counts["train"] > 0
    new = set(specplan_cache.rglob("*")) - before
    assert new, "the corpus, token and stats caches were not written"
    assert all(p.resolve().is_relative_to(specplan_cache.resolve()) for p in new)
    assert not any(c in p.name for p in new for c in "<>/\\")
    assert not (tmp_path.parent / "escape").exists()


@pytest.mark.parametrize(("name", "stem"), [("<b>x</b>", "b_x_b"), ("../../etc", "etc"),
                                             ("news", "news"), ("☕", "domain"),
                                             ("a" * 80, "a" * 40)])
def test_file_stem(name: str, stem: str) -> None:
    assert file_stem(name) == stem


@pytest.mark.parametrize(("name", "problem"), [
    ("", "non-empty"), ("   ", "non-empty"), (" x", "spaces"), ("a=b", "'='"),
    ("a\nb", "control"), ("a\x00b", "control"), ("x" * 101, "at most 100"),
])
def test_bad_names_are_one_clear_error(name: str, problem: str) -> None:
    assert problem in name_problem(name)
    with pytest.raises(DomainError, match="invalid domain name"):
        DomainSpec(name=name)


def test_a_bad_name_before_a_path_is_one_clear_error(tmp_path: Path) -> None:
    folder = _corpus(tmp_path / "c")
    with pytest.raises(DomainError, match=r"invalid domain name ' x' \(remove the spaces"):
        get_domain(f" x={folder}")
