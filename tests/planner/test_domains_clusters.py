"""`specplan domains --clusters K`: each domain's cluster entropy and top-cluster share."""

from __future__ import annotations

import functools
import json
import random
from pathlib import Path

import pytest

from planner.cli import main


@pytest.fixture
def small_tables(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cluster 40 generic documents and 10 per domain instead of 3,000 and 1,000."""
    import strategies.machinery.clustering as C

    monkeypatch.setattr(C, "domain_cluster_table",
                        functools.partial(C.domain_cluster_table, generic_docs=40,
                                          domain_docs=10))


@pytest.fixture
def mine(tmp_path: Path) -> str:
    folder = tmp_path / "mine"
    folder.mkdir()
    words = ("patient received daily dose antibiotic infection cleared after days blood "
             "tests normal follow-up visit fever cough rash pain therapy trial cohort ward "
             "nurse clinic dosage renal hepatic cardiac scan biopsy lesion tumour remission "
             "relapse symptoms onset chronic acute").split()
    for i in range(40):
        # distinct texts (a shuffled vocabulary each): templated ones would be near-duplicates,
        # which are kept in one split (domains.neardup) and leave the others empty
        rng = random.Random(i)
        (folder / f"{i}.txt").write_text(
            " ".join(rng.sample(words, 24)).capitalize() + f", case {i}.")
    return f"mine={folder}"


def test_cluster_statistics_are_added_per_domain(small_tables: None, mine: str,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["domains", "--domain", mine, "--no-tokens", "--clusters", "3", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    stats = rows[0]["clusters"]
    assert stats["k"] == 3 and stats["n_docs"] == 10
    assert len(stats["histogram"]) == 3
    assert 0 <= stats["entropy"] <= 1.0987  # at most ln 3
    assert 1 / 3 <= stats["top_share"] <= 1.0
    assert main(["domains", "--domain", mine, "--no-tokens", "--clusters", "3"]) == 0
    out = capsys.readouterr().out
    assert "clusters: k=3" in out and "top share" in out


def test_bad_cluster_counts_are_one_line_errors(small_tables: None, mine: str,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["domains", "--domain", mine, "--no-tokens", "--clusters", "0"]) == 2
    assert "--clusters: expected an integer in [1, " in capsys.readouterr().err
    assert main(["domains", "--domain", mine, "--no-tokens", "--clusters", "41"]) == 2
    err = capsys.readouterr().err
    assert "n_clusters=41 is more than the 40 documents" in err and "Traceback" not in err
