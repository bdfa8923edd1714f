"""Per-domain advice (issue 18): the domain prior, measured evidence, the per-domain and
set recommendations, and the demo's warnings agreeing with its advice. Synthetic cluster
statistics and runs frames only: no embedding, no training."""

from __future__ import annotations

import math
from html import unescape
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from planner.performance.domain_prior import (
    CLUSTER_EXPERTS,
    DIFFUSE_NORMALIZED_ENTROPY,
    PAPER_K,
    ClusterStats,
    DomainAdjustedModel,
    domain_prior,
    measured_gains,
    paper_domain_stats,
)
from planner.reports.report import default_budget

FLAT = ClusterStats.from_histogram("web", [1 / PAPER_K] * PAPER_K, source="synthetic")
ONE = ClusterStats.from_histogram("manuals", [1.0] + [0.0] * (PAPER_K - 1),
                                  source="synthetic")


def _ln_ppl(model: Any, strategy: str, **kw: Any) -> float:
    key = "specialization_gpuh" if strategy == "importance_sampling" else "pretraining_gpuh"
    return math.log(model.predict_gpuh(strategy, n_domain_tokens=8e6, **{key: 400.0}).ppl)


# ------------------------------------------------------------------------------ the prior
def test_paper_domains_split_as_app_e(reference_model: Any) -> None:
    """wikipedia and openwebtext2 (App. E: neither SLM-mix nor SLM-pn beats SLM) get no
    edge; the seven others carry the nine-domain average: 9/7 of it (closed form)."""
    for name, stats in paper_domain_stats().items():
        if name == "c4":
            continue
        m = domain_prior(stats).multiplier
        expected = 0.0 if name in ("wikipedia", "openwebtext2") else 9 / 7
        assert m["mixture"] == pytest.approx(expected, abs=1e-12), name
        assert m["hypernetwork"] == m["mixture"]
    # the nine-domain mean of the multipliers is 1: the average stays the paper's
    ms = [domain_prior(s).multiplier["mixture"] for n, s in paper_domain_stats().items()
          if n != "c4"]
    assert sum(ms) / len(ms) == pytest.approx(1.0, abs=1e-12)


def test_ramp_between_gutenberg_and_the_diffuse_threshold() -> None:
    keep = paper_domain_stats()["gutenberg"].normalized_entropy
    h = (keep + DIFFUSE_NORMALIZED_ENTROPY) / 2
    # a 2-cluster-support histogram is awkward to tune; build stats directly at h
    stats = ClusterStats(domain="mid", k=PAPER_K, entropy=h * math.log(PAPER_K), top_share=0.5)
    assert domain_prior(stats).multiplier["mixture"] == pytest.approx(9 / 14, rel=1e-9)
    assert not domain_prior(stats).diffuse


def test_threshold_is_the_reports() -> None:
    """The prior removes the edge exactly where the report starts warning."""
    from planner.reports import clusters

    assert DIFFUSE_NORMALIZED_ENTROPY == clusters.DIFFUSE_NORMALIZED_ENTROPY


def test_diffuse_domain_loses_the_cluster_experts_edge(reference_model: Any) -> None:
    flat = DomainAdjustedModel(reference_model, domain_prior(FLAT))
    small = _ln_ppl(reference_model, "small")
    assert _ln_ppl(reference_model, "mixture") < small  # the paper's average: an edge
    for s in CLUSTER_EXPERTS:
        assert _ln_ppl(flat, s) == pytest.approx(small, abs=1e-12)  # m = 0: a tie
    # its band grows: the whole edge, and again outside the paper's domains' range
    p = flat.predict_gpuh("mixture", pretraining_gpuh=400.0, n_domain_tokens=8e6)
    q = reference_model.predict_gpuh("mixture", pretraining_gpuh=400.0, n_domain_tokens=8e6)
    assert p.high / p.low > q.high / q.low
    assert any("web" in n for n in p.notes)


def test_concentrated_domain_keeps_its_edge(reference_model: Any) -> None:
    one = DomainAdjustedModel(reference_model, domain_prior(ONE))
    small = _ln_ppl(reference_model, "small")
    for s in CLUSTER_EXPERTS:
        paper_edge = _ln_ppl(reference_model, s) - small
        assert _ln_ppl(one, s) - small == pytest.approx(9 / 7 * paper_edge, rel=1e-9)
    assert one.adjustment("large", 8e6, ppl=14.0, gpuh=400.0) is None  # no runs, no prior


def test_no_statistics_fall_back_to_the_paper_average(reference_model: Any) -> None:
    stats = ClusterStats.unavailable("tiny_corpus", "3 training document(s)")
    prior = domain_prior(stats)
    assert prior.multiplier == {"mixture": 1.0, "hypernetwork": 1.0,
                                "importance_sampling": 1.0}
    assert "3 training document(s)" in prior.reasons["mixture"]
    model = DomainAdjustedModel(reference_model, prior)
    assert _ln_ppl(model, "mixture") == pytest.approx(_ln_ppl(reference_model, "mixture"))


# ------------------------------------------------------------------------------ evidence
def _runs(make_run_record: Any, gains: dict[str, float], *, converged: bool = True,
          ) -> pd.DataFrame:
    """small and mixture on each domain, 3 seeds, mixture = small x exp(gain)."""
    rows = []
    for domain, g in gains.items():
        for seed, noise in enumerate((0.0, 0.01, -0.01)):
            base = 150.0 * math.exp(noise)
            rows.append(make_run_record("small", domain, base, seed=seed))
            rec = make_run_record("mixture", domain, base * math.exp(g + noise / 2),
                                  seed=seed)
            rec["converged"] = converged
            rows.append(rec)
    return pd.DataFrame(rows)


def test_measured_gain_is_paired_over_seeds(make_run_record: Any) -> None:
    g = measured_gains(_runs(make_run_record, {"a": -0.2}), "a")["mixture"]
    assert g.n_seeds == 3 and g.scale == "tiny"
    assert g.gain == pytest.approx(-0.2, abs=1e-12)  # seed noise cancels in the mean
    assert g.se == pytest.approx(0.01 / 2 / math.sqrt(3), rel=1e-9)  # sd 0.005, n = 3
    assert measured_gains(_runs(make_run_record, {"a": -0.2}, converged=False), "a") == {}


@pytest.mark.parametrize("gain", [-0.3, 0.3])
def test_stored_runs_shift_only_their_domain(reference_model: Any, make_run_record: Any,
                                             gain: float) -> None:
    runs = _runs(make_run_record, {"a": gain})
    prior = domain_prior(ONE)
    before = {d: _ln_ppl(DomainAdjustedModel(reference_model, prior), "mixture")
              for d in ("a", "b")}
    after = {d: _ln_ppl(DomainAdjustedModel(reference_model, prior,
                                            gains=measured_gains(runs, d)), "mixture")
             for d in ("a", "b")}
    assert math.copysign(1, after["a"] - before["a"]) == math.copysign(1, gain)
    assert after["b"] == before["b"]  # no runs on b: untouched
    # shrunk: the shift is a fraction of the distance to the measured gain
    small = _ln_ppl(reference_model, "small")
    assert abs(after["a"] - before["a"]) < abs(gain - (before["a"] - small))


# ------------------------------------------------------------------------------ advice
def test_diffuse_domain_is_not_advised_cluster_experts() -> None:
    from planner.search.per_domain import advise

    advice = advise(default_budget(), ["web", "manuals"], stats={"web": FLAT, "manuals": ONE})
    web, manuals = advice.domains
    assert web.prior.diffuse
    assert web.strategy not in CLUSTER_EXPERTS or any("diffuse" in r for r in web.reasons)
    assert manuals.strategy in CLUSTER_EXPERTS  # the default scenario's paper answer holds
    assert any("no edge over SLM" in r for r in web.reasons)
    assert any("web" in r and "diffuse" in r for r in advice.reasons)
    assert advice.to_dict()["domains"][0]["diffuse"] is True


def test_unknown_domain_is_one_line_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    from planner.cli import main

    code = main(["recommend", "--pretraining-budget", "400gpuh", "--specialization-budget",
                 "2gpuh", "--inference-budget", "126M", "--domain-tokens", "8M",
                 "--domain", "no_such_domain"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert "--domain no_such_domain" in err and "Traceback" not in err
    code = main(["recommend", "--pretraining-budget", "400gpuh", "--specialization-budget",
                 "2gpuh", "--inference-budget", "126M", "--domain-tokens", "8M",
                 "--domain", "mine=/no/such/folder"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert "--domain mine=/no/such/folder: no such file or folder" in err


def test_too_few_documents_fall_back_and_say_why(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from domains import get_domain
    from planner.search import per_domain

    folder = tmp_path / "few"
    folder.mkdir()
    for i in range(12):
        (folder / f"{i}.txt").write_text(f"Document {i} about invoices and their payment terms.")
    monkeypatch.setattr(per_domain, "_token_count", lambda domain, **kw: 300)
    ref = per_domain._DomainRef("few", get_domain(f"few={folder}"))
    stats = per_domain.cluster_statistics(ref)
    assert not stats.usable and "too few" in stats.fallback
    assert "few" in domain_prior(stats).reasons["mixture"]


# ------------------------------------------------------------------------------ demo
class _Page(HTMLParser):
    """The report page's headline card, paper-average card and advice-table rows."""

    def __init__(self) -> None:
        super().__init__()
        self.cards: dict[str, str] = {}
        self.strategy_span = ""
        self.rows: list[list[str]] = []
        self._in: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if a.get("id") in ("headline", "paper-average"):
            self.cards[str(a["id"])] = str(a.get("data-strategy"))
        self._in.append(str(a.get("id") or a.get("class") or tag))
        if tag == "tr" and "advice-table" in self._in:
            self.rows.append([])

    def handle_endtag(self, tag: str) -> None:
        if self._in:
            self._in.pop()

    def handle_data(self, data: str) -> None:
        if self._in and self._in[-1] == "strategy" and "headline" in self._in:
            self.strategy_span += data
        if self.rows and "advice-table" in self._in and self._in[-1] == "td":
            self.rows[-1].append(data)


def _contradicts(warning: str, name: str, strategy: str) -> bool:
    """The warning is about domain `name` and says "prefer X" with `strategy` not among X."""
    if f"domain {name!r}" not in warning or "prefer " not in warning:
        return False
    preferred = warning.rsplit("prefer ", 1)[1].rstrip(".").split(" or ")
    return strategy not in preferred


def test_demo_recommendation_and_warnings_agree(make_run_record: Any, reference_model: Any,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """The demo prints the report's diffuse warnings beside the advice; a warned domain is
    never advised a mixture or projected network without a stated reason. The HTML report
    heads with the set's answer (the paper's average as labelled context), and no warning,
    printed or in the report, says "prefer X" for a domain whose advice is not X."""
    import planner.reports.figures as figures
    from planner.reports.domain_advice import (
        PAPER_AVERAGE_LABEL,
        advice_for_runs,
        demo_advice,
        demo_text,
        diffuse_warnings,
    )
    from planner.reports.html import render_html
    from planner.reports.report import build_report
    from planner.search import per_domain

    monkeypatch.setattr(per_domain, "_token_count", lambda domain, **kw: None)  # no tokenizer
    monkeypatch.setattr(figures, "figures", lambda report: [])  # no plots: fast

    peaked = [0.85] + [0.01] * (PAPER_K - 1)
    flat = [1 / PAPER_K] * PAPER_K
    rows = []
    # the mixture measured far behind small, as at the demo scale: the set moves off it
    for domain, hist in (("news", flat), ("web", flat), ("legal", peaked)):
        for strategy, ppl in (("small", 40.0), ("mixture", 60.0), ("hypernetwork", 39.0),
                              ("importance_sampling", 37.0)):
            info = ({"cluster_histogram": hist}
                    if strategy == "importance_sampling" else {})
            rows.append(make_run_record(strategy, domain, ppl, scale="demo", info=info,
                                        pretraining_flops=0.0 if strategy ==
                                        "importance_sampling" else 1e12))
    runs = pd.DataFrame(rows)
    warnings = diffuse_warnings(runs)
    assert set(warnings) == {"news", "web"}
    domains = ["news", "web", "legal"]
    advice, why = advice_for_runs(default_budget(), runs, domains)
    assert advice is not None, why
    news = next(d for d in advice.domains if d.name == "news")
    assert news.prior.diffuse
    assert news.strategy not in CLUSTER_EXPERTS or any("diffuse" in r for r in news.reasons)
    text = demo_text(advice, warnings)
    assert f"-> advice for news: {news.strategy}" in text
    assert text.index("warning: domain 'news'") < text.index("-> advice for news")

    # the report the demo writes: its headline is the set's answer
    report = build_report(runs=runs, model=reference_model, n_points=2, loo=False)
    assert any("prefer " in n for n in report.notes)  # the generic clause, before advice
    printed = demo_advice(report, default_budget(), runs, domains)
    assert report.advice is not None
    assert report.advice.set_strategy == advice.set_strategy
    html = render_html(report)
    page = _Page()
    page.feed(html)
    assert advice.set_strategy != advice.paper_average.strategy  # the check has teeth
    assert page.cards["headline"] == advice.set_strategy == page.strategy_span.strip()
    assert page.cards["paper-average"] == advice.paper_average.strategy
    assert PAPER_AVERAGE_LABEL in unescape(html)
    table = {r[0]: r for r in page.rows if r}
    assert set(table) == set(domains)
    for d in advice.domains:
        assert d.strategy in table[d.name]  # the choice column
        said = [w for w in report.notes + printed.splitlines() if w]
        assert not [w for w in said if _contradicts(w, d.name, d.strategy)], d.name
    assert "advice for 'news'" in " ".join(report.notes)
    generic = next(n for n in build_report(runs=runs, model=reference_model, n_points=2,
                                           loo=False).notes if "'news'" in n)
    assert _contradicts(generic, "news", "hypernetwork")  # what the check catches
    assert not _contradicts(generic, "news", "small")
    assert len(report.domain_advice) == 3 and report.domain_advice["moved_by"].str.len().min()


def test_recommend_domain_from_the_store_as_json(tmp_path: Path, make_run_record: Any,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """A domain only the store knows: its stored histogram is used, the JSON is pure."""
    import json

    from planner.cli import main
    from planner.experiments.store import add_run, open_study

    url = f"sqlite:///{tmp_path / 'runs.db'}"
    study = open_study(url)
    hist = [0.9] + [0.1 / (PAPER_K - 1)] * (PAPER_K - 1)
    for seed in (0, 1):
        add_run(study, make_run_record("small", "acme", 100.0 + seed, seed=seed))
        add_run(study, make_run_record("importance_sampling", "acme", 90.0 + seed, seed=seed,
                                       info={"cluster_histogram": hist}))
    assert main(["recommend", "--pretraining-budget", "400gpuh", "--specialization-budget",
                 "2gpuh", "--inference-budget", "126M", "--domain-tokens", "8M",
                 "--domain", "acme", "--storage", url, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    acme = out["domains"][0]
    assert acme["domain"] == "acme" and "stored run" in acme["stats"]["source"]
    assert acme["stats"]["top_share"] == pytest.approx(0.9)
    measured = acme["measured"]["importance_sampling"]
    assert measured["n_seeds"] == 2 and measured["scale"] == "tiny"
    assert measured["gain"] == pytest.approx((math.log(0.9) + math.log(91 / 101)) / 2)


def test_report_domain_advice_and_unknown_domain(tmp_path: Path, make_run_record: Any,
                                                 capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """`specplan report` heads its notes with the advice and writes domain_advice.*; an
    unknown --domain is one line, exit 2."""
    import json

    import planner.reports.figures as figures
    from planner.cli import main
    from planner.experiments.store import add_run, open_study

    monkeypatch.setattr(figures, "figures", lambda report: [])  # no plots: fast
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    study = open_study(url)
    for strategy, ppl in (("small", 120.0), ("importance_sampling", 110.0)):
        add_run(study, make_run_record(strategy, "acme", ppl,
                                       info={"cluster_histogram": [1 / PAPER_K] * PAPER_K}))
    out = tmp_path / "rep"
    assert main(["report", "--storage", url, "--out", str(out), "--format", "html",
                 "--grid", "2", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["headline"]["strategy"] == printed["domain_advice"]["set"]["strategy"]
    assert printed["headline"]["basis"].startswith("your domains")
    assert printed["domain_advice"]["domains"][0]["diffuse"] is True
    assert not any("prefer " in n for n in printed["notes"])  # rewritten to the advice
    page = unescape((out / "report.html").read_text(encoding="utf-8"))
    assert "Recommended for your domains" in page and "Advice for your domains" in page
    assert json.loads((out / "domain_advice.json").read_text())["domains"][0]["domain"] == "acme"
    assert main(["report", "--storage", url, "--out", str(out), "--domain", "nope"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--domain nope" in err[0]


def test_stored_histogram_documents_are_inferred() -> None:
    from planner.search.per_domain import _implied_docs

    assert _implied_docs([0.8, 0.2] + [0.0] * 14) == 5
    assert _implied_docs([1 / 3, 2 / 3]) == 3
    assert _implied_docs([0.25] * 4) == 4


def test_no_embeddable_document_falls_back_and_says_why(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import strategies.machinery.clustering as clustering
    from domains import get_domain
    from domains.errors import SpecplanError
    from planner.search import per_domain

    folder = tmp_path / "scans"
    folder.mkdir()
    for i in range(80):
        (folder / f"{i}.txt").write_text(f"Scanned page {i}: totals carried over to ledger {i}.")

    def no_embedding(*args: Any, **kwargs: Any) -> Any:
        raise SpecplanError("no document could be embedded")

    monkeypatch.setattr(clustering, "domain_cluster_table", no_embedding)
    monkeypatch.setattr(per_domain, "_token_count", lambda domain, **kw: None)
    stats = per_domain.cluster_statistics(
        per_domain._DomainRef("scans", get_domain(f"scans={folder}")))
    assert not stats.usable and "could be embedded" in stats.fallback
    assert domain_prior(stats).multiplier["mixture"] == 1.0  # the paper's average


# ------------------------------------------------------------------------------ declarations
def test_the_advice_reads_the_strategies_declarations(monkeypatch: pytest.MonkeyPatch) -> None:
    """Who the domain adjusts, and against which baseline, is what the strategies declare
    (`PlanningPrior.domain_edge`, `PlanningPrior.baseline`), not a list in the planner."""
    import dataclasses

    from planner.performance import domain_prior as dp
    from planner.performance import perfdata
    from strategies.base import DomainEdge

    assert dp.baseline_strategy() == "small"
    assert dp.cluster_experts() == ("mixture", "hypernetwork") == CLUSTER_EXPERTS
    assert list(dp.domain_edges()) == ["mixture", "hypernetwork", "importance_sampling",
                                       "large"]
    assert dp.REFERENCE_GPUH["importance_sampling"] == 130.0
    original = perfdata.planning_prior

    def declared(name: str) -> Any:
        prior = original(name)
        if name == "large":  # as if LLM declared itself a cluster expert
            edge = DomainEdge(sensitivity="cluster_experts", reference_gpuh=400.0,
                              source="test")
            return dataclasses.replace(prior, domain_edge=edge)
        return prior

    monkeypatch.setattr(perfdata, "planning_prior", declared)
    assert "large" in dp.cluster_experts()
    prior = domain_prior(FLAT)
    assert prior.multiplier["large"] == 0.0 and prior.reasons["large"]


def test_declarations_are_validated() -> None:
    from strategies.base import DomainEdge, PlanningPrior

    with pytest.raises(ValueError, match="sensitivity"):
        DomainEdge(sensitivity="vibes", reference_gpuh=400.0, source="x")
    with pytest.raises(ValueError, match="reference_gpuh"):
        DomainEdge(reference_gpuh=0.0, source="x")
    with pytest.raises(ValueError, match="baseline"):
        PlanningPrior(kind="reference", source="x", baseline=True,
                      domain_edge=DomainEdge(reference_gpuh=400.0, source="x"))


# ------------------------------------------------------------------------------ few documents
def test_minimum_documents_is_one_per_cluster_and_falls_back() -> None:
    """n < k documents cannot read uniform (h <= ln n / ln k): the statistics are unusable,
    the prior keeps the paper's average and one line names the domain, count and minimum."""
    from planner.performance.domain_prior import min_documents

    assert min_documents(PAPER_K) == PAPER_K
    five = [0.2] * 5 + [0.0] * (PAPER_K - 5)  # 5 documents, one per cluster: h = ln 5 / ln 16
    stats = ClusterStats.from_histogram("legal", five, n_docs=5)
    assert not stats.usable and stats.n_docs == 5
    assert f"5 document(s) for a k={PAPER_K} histogram, fewer than the minimum 16" in (
        stats.fallback)
    assert f"cannot exceed {math.log(5) / math.log(16):.2f}" in stats.fallback
    prior = domain_prior(stats)
    assert prior.multiplier["mixture"] == 1.0 and not prior.diffuse
    assert "'legal'" in prior.reasons["mixture"] and "minimum 16" in prior.reasons["mixture"]
    assert ClusterStats.from_histogram("legal", [1 / 16] * 16, n_docs=16).usable


def test_few_documents_widen_a_concentrated_reading() -> None:
    """Miller-Madow: the plug-in entropy reads low by (k - 1) / (2 n) nats; a concentrated
    reading that the bias could carry past gutenberg's .566 gets the whole-edge band."""
    from planner.performance.domain_prior import entropy_bias

    assert entropy_bias(16, 16) == pytest.approx(15 / (32 * math.log(16)), rel=1e-12)
    hist = [0.6, 0.1, 0.1, 0.1, 0.1] + [0.0] * (PAPER_K - 5)  # h = .48 (closed form below)
    h = -sum(x * math.log(x) for x in hist if x) / math.log(PAPER_K)
    assert h == pytest.approx((-(0.6 * math.log(0.6)) - 0.4 * math.log(0.1)) / math.log(16))
    many = domain_prior(ClusterStats.from_histogram("a", hist, n_docs=1000))
    few = domain_prior(ClusterStats.from_histogram("a", hist, n_docs=20))
    assert h + entropy_bias(16, 20) > 0.566 > h + entropy_bias(16, 1000)
    assert many.sigma_factor["mixture"] == pytest.approx(0.5)
    assert few.sigma_factor["mixture"] == pytest.approx(9 / 7)
    assert few.multiplier["mixture"] == many.multiplier["mixture"] == pytest.approx(9 / 7)
    assert "Miller-Madow" in few.reasons["mixture"]


def test_stored_histogram_from_too_few_documents(make_run_record: Any) -> None:
    """A stored k=16 histogram of 5 documents: the advice falls back to the paper's average
    and the report gives no diffuse verdict for it (both say why), so they agree."""
    from planner.reports.clusters import cluster_notes, cluster_table
    from planner.search.per_domain import _DomainRef, cluster_statistics

    few = [0.2] * 5 + [0.0] * (PAPER_K - 5)
    runs = pd.DataFrame([make_run_record("importance_sampling", "legal", 50.0,
                                         info={"cluster_histogram": few})])
    stats = cluster_statistics(_DomainRef("legal"), runs, compute=False)
    assert not stats.usable and "minimum 16" in stats.fallback
    table = cluster_table(runs)
    assert table["n_docs"].tolist() == [5] and not table["diffuse"].any()
    notes = cluster_notes(table)
    assert len(notes) == 1 and "'legal'" in notes[0] and "minimum 16" in notes[0]
    assert "prefer" not in notes[0]


# ------------------------------------------------------------------------------ transfer
def test_transfer_benchmark_arithmetic(make_run_record: Any) -> None:
    """`benchmarks/bench_transfer.py` on synthetic runs: gains paired over seeds, the RMS
    transfer error and the rank agreement against closed forms; it says what it compared
    and how TRANSFER_SIGMA follows."""
    import importlib.util

    path = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_transfer.py"
    spec = importlib.util.spec_from_file_location("bench_transfer", path)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    gains = {("a", "mixture"): (0.3, 0.2), ("a", "hypernetwork"): (-0.1, -0.05),
             ("b", "mixture"): (0.2, 0.25), ("b", "hypernetwork"): (-0.2, -0.1)}
    rows = []
    for scale, i in (("tiny", 0), ("demo", 1)):
        for domain in ("a", "b"):
            for seed in (0, 1):
                rows.append(make_run_record("small", domain, 50.0 + seed, scale=scale,
                                            seed=seed))
                for strategy in ("mixture", "hypernetwork"):
                    g = gains[(domain, strategy)][i]
                    rows.append(make_run_record(strategy, domain, (50.0 + seed) * math.exp(g),
                                                scale=scale, seed=seed))
    runs = pd.DataFrame(rows)
    res = bench.compare(runs, "tiny", "demo")
    diffs = [hi - lo for lo, hi in gains.values()]
    assert res["overall"]["n_pairs"] == 4
    assert res["overall"]["transfer_rms"] == pytest.approx(
        math.sqrt(sum(d * d for d in diffs) / 4), rel=1e-9)
    assert res["overall"]["sign_agreement"] == 1.0
    assert res["per_domain"]["a"]["kendall_tau"] == 1.0  # mixture last at both scales
    assert res["per_strategy"]["mixture"]["kendall_tau"] == -1.0  # a > b, then b > a
    text = "\n".join(bench.describe(res, runs))
    assert "tiny" in text and "demo" in text and "4 (domain, strategy) pairs" in text
    assert f"= {res['overall']['transfer_rms']:.3f} log ppl" in text
    assert bench.missing(runs, ("tiny", "study")) == ["study"]


def test_few_documents_note_says_what_the_advice_did(make_run_record: Any,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The report's few-documents note ends with the advice's own basis: the paper's
    average when the domain has nothing else, the other statistics when it has them."""
    from planner.reports.clusters import cluster_notes, cluster_table
    from planner.reports.domain_advice import _agreeing, advice_for_runs
    from planner.search import per_domain

    monkeypatch.setattr(per_domain, "_token_count", lambda domain, **kw: None)
    few = [0.2] * 5 + [0.0] * (PAPER_K - 5)
    peaked8 = [0.79] + [0.03] * 7  # 100 documents at k = 8
    rows = [make_run_record("small", "acme", 50.0, scale="demo"),
            make_run_record("importance_sampling", "acme", 45.0, scale="demo",
                            info={"cluster_histogram": few})]
    only_few = pd.DataFrame(rows)
    both = pd.DataFrame([*rows, make_run_record("importance_sampling", "acme", 60.0,
                                                info={"cluster_histogram": peaked8})])
    for runs, basis in ((only_few, "the advice uses the paper's nine-domain average: "),
                        (both, "the advice reads other statistics (stored run")):
        notes = cluster_notes(cluster_table(runs))
        advice, why = advice_for_runs(default_budget(), runs, ["acme"])
        assert advice is not None, why
        (note,) = [n for n in _agreeing(notes, advice) if "minimum 16" in n]
        assert basis in note and note.endswith(f": {advice.domains[0].strategy}.")
        assert advice.domains[0].stats.usable == (runs is both)
