"""The conformance suite every strategy must pass (after optuna's shipped test kits and
scikit-learn's estimator checks).

Use it by subclassing with a `strategy_cls` fixture:

    import pytest
    from planner.testing import StrategyContractTests

    class TestMine(StrategyContractTests):
        @pytest.fixture
        def strategy_cls(self):
            return MyStrategy

The end-to-end checks run on `MICRO`, a scale smaller than `tiny`, on the packaged news
domain, so the whole suite takes seconds per strategy.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
from typing import Any

import pytest

from strategies.base import Cost, NotFittedError, Strategy
from strategies.machinery.scales import ModelSpec, Scale, get_scale
from strategies.machinery.validation import ParameterError


def micro_scale() -> Scale:
    """Smaller than `tiny`: enough to exercise every code path in seconds."""
    tiny = get_scale("tiny")
    return tiny.with_(
        name="micro",
        small=ModelSpec(n_layer=1, n_embd=16, n_head=2, vocab_size=tiny.vocab_size, n_ctx=32),
        large=ModelSpec(n_layer=2, n_embd=32, n_head=2, vocab_size=tiny.vocab_size, n_ctx=32),
        pretrain_tokens=16_384,
        large_pretrain_tokens=16_384,
        domain_train_tokens=4_096,
        eval_tokens=2_048,
        valid_tokens=1_024,
        batch_size=8,
        finetune_max_epochs=2.0,
        eval_every=8,
        patience=2,
        warmup_steps=4,
        n_clusters=2,
        n_clusters_is=4,
        cluster_docs=200,
    )


class StrategyContractTests:
    """Checks every registered strategy must pass. Needs a `strategy_cls` fixture."""

    # -------------------------------------------------------------- parameters
    def test_default_constructible(self, strategy_cls: type[Strategy]) -> None:
        s = strategy_cls()
        assert isinstance(s, Strategy)
        assert s.name and s.paper_name and s.summary
        assert set(s.charging) >= {"pretraining", "specialization", "inference"}

    def test_get_params_round_trips_through_clone(self, strategy_cls: type[Strategy]) -> None:
        s = strategy_cls()
        c = s.clone()
        assert c is not s
        assert c.get_params() == s.get_params()
        c.set_params(seed=7)
        assert c.seed == 7 and s.seed != 7 or s.seed == 7

    def test_init_stores_parameters_unchanged(self, strategy_cls: type[Strategy]) -> None:
        params = strategy_cls().get_params()
        assert "scale" in params and "seed" in params
        again = strategy_cls(**params).get_params()
        assert again == params

    def test_invalid_parameters_name_the_parameter(self, strategy_cls: type[Strategy]) -> None:
        for name, allowed in strategy_cls._parameter_constraints.items():
            if name == "scale":
                continue
            bad = allowed[0].invalid_value() if len(allowed) == 1 else allowed[-1].invalid_value()
            if any(c.is_satisfied_by(bad) for c in allowed):
                continue
            s = strategy_cls().set_params(**{name: bad})
            with pytest.raises(ParameterError, match=repr(name)):
                s.estimate_cost(n_domain_tokens=1_000_000)

    # -------------------------------------------------------------- costs
    def test_estimate_cost_is_a_nonnegative_cost(self, strategy_cls: type[Strategy]) -> None:
        for scale in ("tiny", "demo", "paper"):
            cost = strategy_cls(scale=scale).estimate_cost(n_domain_tokens=1_000_000)
            assert isinstance(cost, Cost)
            for v in (cost.pretraining_flops, cost.specialization_flops,
                      cost.inference_flops_per_token):
                assert v >= 0 and math.isfinite(v)
            assert cost.inference_params > 0
            assert cost.specialization_flops > 0
            assert cost.total_flops(10) >= cost.total_flops(1)

    def test_estimate_cost_monotone_in_domain_tokens(self, strategy_cls: type[Strategy]) -> None:
        s = strategy_cls(scale="paper")
        costs = [s.estimate_cost(n_domain_tokens=n).total_flops(1) for n in (1e6, 8e6, 64e6)]
        assert costs[0] <= costs[1] <= costs[2]

    def test_estimate_cost_does_not_import_torch(self, strategy_cls: type[Strategy]) -> None:
        code = (
            "import sys\n"
            f"from strategies.registry import get_strategy_class\n"
            f"cls = get_strategy_class({strategy_cls.name!r})\n"
            "cls(scale='paper').estimate_cost(n_domain_tokens=8_000_000)\n"
            "assert 'torch' not in sys.modules, 'torch was imported'\n"
        )
        # the child sees the same import path (a plug-in may live outside site-packages)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             env=env)
        assert out.returncode == 0, out.stderr[-2000:]

    def test_serves_one_of_the_scales_models(self, strategy_cls: type[Strategy]) -> None:
        scale = get_scale("paper")
        cost = strategy_cls(scale="paper").estimate_cost(n_domain_tokens=8_000_000)
        assert cost.inference_params in (scale.small.n_params, scale.large.n_params)

    # -------------------------------------------------------------- planning knowledge
    def test_typed_cost_fields(self, strategy_cls: type[Strategy]) -> None:
        cost = strategy_cls(scale="paper").estimate_cost(n_domain_tokens=8_000_000)
        assert 0 <= cost.teacher_pretraining_flops <= cost.pretraining_flops
        assert 0 <= cost.teacher_specialization_flops <= cost.specialization_flops
        assert cost.generated_tokens >= 0 and cost.external_usd >= 0
        assert all(math.isfinite(float(v)) and v >= 0 for v in cost.components.values())
        d = cost.to_dict()
        assert {"teacher_pretraining_flops", "generated_tokens", "external_usd"} <= set(d)

    def test_planning_prior_is_consistent(self, strategy_cls: type[Strategy]) -> None:
        from strategies.base import PlanningPrior
        from strategies.registry import list_strategies

        prior = strategy_cls.planning_prior()
        assert isinstance(prior, PlanningPrior) and prior.source
        registered = set(list_strategies())
        for other in (prior.like, prior.facts_of, prior.finetune_limits_of,
                      *prior.gain_toward):
            assert other is None or other in registered, other
        params = set(strategy_cls._param_names())
        assert set(prior.paper_params) <= params
        assert set(prior.modelled) <= params
        strategy_cls(scale="paper", **dict(prior.paper_params)).estimate_cost(
            n_domain_tokens=1_000_000)

    def test_domain_edge_and_baseline_are_declared(self, strategy_cls: type[Strategy]) -> None:
        """The per-domain advice's declarations (issue 18): typed; one baseline at most."""
        from strategies.base import DOMAIN_SENSITIVITIES, DomainEdge
        from strategies.registry import get_strategy_class, list_strategies

        prior = strategy_cls.planning_prior()
        assert isinstance(prior.baseline, bool)
        edge = prior.domain_edge
        assert edge is None or isinstance(edge, DomainEdge), edge
        if edge is not None:
            assert edge.sensitivity is None or edge.sensitivity in DOMAIN_SENSITIVITIES
            assert edge.reference_gpuh > 0 and edge.source
            assert not prior.baseline
        if prior.baseline:
            others = [n for n in list_strategies(available_only=True)
                      if n != strategy_cls.name
                      and get_strategy_class(n).planning_prior().baseline]
            assert not others, f"another registered baseline: {others}"

    def test_search_space_is_optuna_distributions(self, strategy_cls: type[Strategy]) -> None:
        from optuna.distributions import BaseDistribution

        space = strategy_cls.search_space(scale="paper")
        params = set(strategy_cls._param_names())
        for name, dist in space.items():
            assert name in params and isinstance(dist, BaseDistribution), name
        prior = strategy_cls.planning_prior()
        for name, values in prior.modelled.items():
            if name in space:
                for v in values:
                    assert space[name]._contains(space[name].to_internal_repr(v)), (name, v)

    def test_planned_at_paper_scale(self, strategy_cls: type[Strategy]) -> None:
        """The performance model predicts it from its prior, with no more confidence than
        the prior allows, and the planner can cost and search it."""
        from planner.costing.budget import Budget
        from planner.performance.perfmodel import PerformanceModel
        from planner.search.candidates import PlanContext

        model = PerformanceModel().fit()
        prior = strategy_cls.planning_prior()
        rank = {"low": 0, "medium": 1, "high": 2}
        budget = Budget.from_strings(pretraining="400gpuh", specialization="130gpuh",
                                     inference="1B", domain_tokens="8M")
        ctx = PlanContext(budget, model)
        cand = ctx.evaluate(strategy_cls.name, ctx.default_points(strategy_cls.name)[0])
        p = cand.prediction
        assert 1.0 < p.ppl < math.inf and p.low <= p.ppl <= p.high
        assert rank[p.confidence] <= rank[prior.confidence]
        assert cand.cost.total.gpu_hours > 0

    # -------------------------------------------------------------- fitting
    def test_specialize_before_pretrain_raises(self, strategy_cls: type[Strategy],
                                               micro_ws: Any, news_domain: Any) -> None:
        with pytest.raises(NotFittedError):
            strategy_cls(scale="tiny").specialize(news_domain, micro_ws)

    def test_end_to_end_micro(self, strategy_cls: type[Strategy], micro_ws: Any,
                              news_domain: Any, tmp_path: Any) -> None:
        """pretrain -> specialize -> evaluate -> save -> reload: a standard causal LM
        within the inference cap whose reloaded perplexity matches."""
        from transformers import AutoModelForCausalLM, PreTrainedModel

        from strategies.machinery.evaluation import perplexity

        s = strategy_cls(scale=micro_ws.scale, **self.micro_params(strategy_cls))
        assert s.pretrain(micro_ws) is s
        model = s.specialize(news_domain, micro_ws)
        assert isinstance(model.model, PreTrainedModel)
        assert model.n_params == s.estimate_cost(n_domain_tokens=1e6).inference_params
        result = s.evaluate(model, news_domain, micro_ws)
        assert math.isfinite(result.perplexity) and result.perplexity > 1
        assert result.n_tokens > 0
        assert model.cost.specialization_flops > 0
        model.save(tmp_path / "m", tokenizer=micro_ws.tokenizer)
        again = AutoModelForCausalLM.from_pretrained(tmp_path / "m")
        reloaded = perplexity(again, micro_ws.test_blocks(news_domain))
        assert reloaded.perplexity == pytest.approx(result.perplexity, rel=1e-4)

    def micro_params(self, strategy_cls: type[Strategy]) -> dict[str, Any]:
        """Extra parameters for the micro end-to-end run (override per strategy)."""
        return {}
