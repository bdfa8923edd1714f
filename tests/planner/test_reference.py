"""Reference data: every table loads, carries its source, and matches the paper."""

from __future__ import annotations

import pytest

from planner.reference import (
    SOURCES,
    TABLES,
    load_table,
    perplexity_observations,
    read_records,
    table8_long,
)


@pytest.mark.parametrize("name", sorted(TABLES))
def test_tables_load_with_source(name: str) -> None:
    df = load_table(name)
    assert len(df) > 0
    assert df.attrs["source"] == SOURCES[TABLES[name]]


def test_table8_values() -> None:
    t8 = load_table("table8")
    assert len(t8) == 15
    row = t8[(t8.strategy == "hypernetwork") & (t8.pretraining_gpuh == 600)].iloc[0]
    assert (row.ppl_1M, row.ppl_8M, row.ppl_64M) == (16.95, 14.29, 11.74)
    assert not ((t8.strategy == "small") & (t8.pretraining_gpuh == 600)).any()  # SLM <= 530
    assert len(table8_long()) == 45


def test_tables_2_3_4_5_7() -> None:
    t2 = {(r["strategy"], r["phase"]): r["gpuh_per_1b_tokens"] for r in read_records("table2")}
    assert t2[("hypernetwork", "pretraining")] == 3.6 and t2[("large", "inference")] == 2.54
    assert t2[("importance_sampling", "pretraining")] is None  # N/A in the paper
    t3 = {(r["strategy"], r["bucket"], r["n_domain_tokens"]): r["max_gpuh"]
          for r in read_records("table3")}
    assert t3[("distillation", "pretraining", None)] == 1850
    assert [t3[("distillation", "specialization", n)] for n in (1e6, 8e6, 64e6)] == [0.7, 2.8, 21]
    assert t3[("importance_sampling", "specialization", 8_000_000)] == 130
    t4 = {r["strategy"]: r for r in read_records("table4")}
    assert (t4["small_nopt"]["ppl_1M"], t4["small_nopt"]["ppl_64M"]) == (227.1, 17.6)
    t5 = {r["selection"]: r["ppl"] for r in read_records("table5")}
    assert t5 == {"most_frequent": 17.32, "best_loss": 17.05, "finetune_all": 16.98}
    t7 = {(r["strategy"], r["n_experts"]): r["pretraining_params"]
          for r in read_records("table7")}
    assert t7[("hypernetwork", 32)] == 1_422_000_000 and t7[("mixture", 16)] == 2_016_000_000


def test_cluster_tables() -> None:
    t9 = load_table("table9").set_index("domain")
    t10 = load_table("table10").set_index("domain")
    assert t9.loc["freelaw", "k64"] == 0.87 and t10.loc["openwebtext2", "k1024"] == 6.12
    assert len(t9) == len(t10) == 10


def test_figure_derived_values_say_so() -> None:
    facts = load_table("figures")
    is_rows = facts[(facts.strategy == "importance_sampling") & (facts.quantity == "test_ppl")]
    assert len(is_rows) == 3
    assert is_rows.precision.str.startswith("figure-derived").all()
    one = is_rows[is_rows.n_domain_tokens == 1_000_000].iloc[0]
    assert one.low <= one.value <= one.high and "competes with the LLM" in one.note
    assert set(facts.precision) >= {"figure-derived", "text", "assumption"}
    assert facts.note.str.len().gt(0).all()


def test_perplexity_observations_leave_out_bounded_table4_rows() -> None:
    obs = perplexity_observations()
    sources = {(o["strategy"], o["source"]) for o in obs}
    assert ("small_nopt", "Table 4") in sources
    assert ("small", "Table 4") not in sources and ("large", "Table 4") not in sources
    assert sum(o["strategy"] == "importance_sampling" for o in obs) == 3


def test_unknown_table() -> None:
    from planner.exceptions import ReferenceDataError

    with pytest.raises(ReferenceDataError, match="unknown reference table"):
        read_records("table99")
