"""The one contract every specialization strategy implements (sklearn-shaped).

    strategy = SmallStrategy(scale="tiny", seed=0)      # __init__ only stores parameters
    cost = strategy.estimate_cost(n_domain_tokens=1e6)  # analytic FLOPs, no torch
    strategy.pretrain(ws)                               # domain-agnostic phase, cached, shared
    model = strategy.specialize(domain, ws)             # per-domain phase -> SpecializedModel
    result = strategy.evaluate(model, domain, ws)       # test perplexity

`ws` is a `strategies.machinery.workspace.Workspace`: the scale, the tokenizer, cached token
blocks,
the artifact folders and the shared training loop. Learned state ends in `_`
(`pretrained_`, `pretraining_cost_`). Importing this module never imports torch.
"""

from __future__ import annotations

import abc
import copy
import functools
import hashlib
import inspect
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from domains.errors import SpecplanError
from strategies.machinery.scales import Scale, get_scale
from strategies.machinery.validation import validate_params

if TYPE_CHECKING:
    from pathlib import Path

    from domains import Domain
    from strategies.machinery.scales import Scale
    from strategies.machinery.workspace import Workspace


class NotFittedError(SpecplanError, ValueError, AttributeError):
    """A strategy was used before `pretrain`."""


@dataclass(frozen=True)
class Cost:
    """Compute charged to each of the paper's buckets, in typed fields.

    `specialization_flops` is per domain; total over N domains follows the paper's Eq. 1:
    pretraining + N x specialization.

    Args:
        pretraining_flops: the shared bucket, FLOPs (teacher included).
        specialization_flops: the per-domain bucket, FLOPs (teacher included).
        inference_flops_per_token: forward FLOPs per served token.
        inference_params: parameters of the served model.
        pretraining_params: parameters trained in the pretraining phase.
        teacher_pretraining_flops: the part of `pretraining_flops` a (large) teacher runs.
        teacher_specialization_flops: the part of `specialization_flops` a teacher runs
            (fine-tuning it, scoring or generating with it), per domain.
        generated_tokens: tokens a teacher generates per domain (sequence distillation).
        external_usd: money paid outside the compute budgets per domain (an API teacher).
        components: a breakdown of the FLOPs by part, for display only (every value is
            FLOPs; the planner reads the typed fields above, never these names).
    """

    pretraining_flops: float
    specialization_flops: float
    inference_flops_per_token: float
    inference_params: int
    pretraining_params: int
    components: Mapping[str, float] = field(default_factory=dict)
    teacher_pretraining_flops: float = 0.0
    teacher_specialization_flops: float = 0.0
    generated_tokens: float = 0.0
    external_usd: float = 0.0

    def __post_init__(self) -> None:
        for name in ("pretraining_flops", "specialization_flops", "inference_flops_per_token",
                     "teacher_pretraining_flops", "teacher_specialization_flops",
                     "generated_tokens", "external_usd"):
            v = getattr(self, name)
            if not (v >= 0 and math.isfinite(v)):
                raise ValueError(f"Cost.{name} must be finite and >= 0, got {v!r}")
        for part, whole in (("teacher_pretraining_flops", "pretraining_flops"),
                            ("teacher_specialization_flops", "specialization_flops")):
            if getattr(self, part) > getattr(self, whole) * (1 + 1e-9) + 1e-6:
                raise ValueError(f"Cost.{part} ({getattr(self, part)!r}) exceeds "
                                 f"Cost.{whole} ({getattr(self, whole)!r})")

    def total_flops(self, n_domains: int = 1) -> float:
        return self.pretraining_flops + n_domains * self.specialization_flops

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["components"] = dict(self.components)
        return d


#: Cost components under which runs stored before `Cost.teacher_pretraining_flops` existed
#: recorded the teacher's pretraining FLOPs (read only for old stored runs)
LEGACY_TEACHER_PRETRAINING_COMPONENTS = ("pretraining_teacher",)

#: how the planner may model a strategy at the paper's scale (`PlanningPrior.kind`)
PRIOR_KINDS = ("reference", "specialization_curve", "teacher_student", "domain_only", "like")
#: confidence levels, lowest first
CONFIDENCE_LEVELS = ("low", "medium", "high")
_AXIS_OF_KIND = {"reference": "pretraining", "specialization_curve": "specialization",
                 "teacher_student": "student", "domain_only": "none"}
#: how a domain's cluster statistics scale a strategy's edge over the baseline
#: (`DomainEdge.sensitivity`; the numbers: `planner.performance.domain_prior`)
DOMAIN_SENSITIVITIES = ("cluster_experts", "cluster_resampling")


@dataclass(frozen=True)
class DomainEdge:
    """How the per-domain advice treats a strategy's edge over the baseline (issue 18).

    The edge is ln ppl(strategy) - ln ppl(baseline) at equal compute (the strategy that
    declares ``PlanningPrior(baseline=True)``: the paper's SLM). The planner reads it at
    `reference_gpuh`, scales it by the domain's cluster statistics as `sensitivity` says
    (the numbers and their sources: `planner.performance.domain_prior`), and lets runs
    measured on the domain shift it. A strategy that declares no `DomainEdge` keeps the
    paper's average on every domain.

    Args:
        reference_gpuh: A100 GPU-hours of the strategy's own compute (its prior's
            `compute_axis`: shared pretraining, or per domain) where the paper-average
            edge is read and shown, e.g. Table 8's 400-GPUh row.
        source: where the sensitivity and `reference_gpuh` come from (paper table /
            figure / "assumption").
        sensitivity: one of `DOMAIN_SENSITIVITIES`, or None:

            - ``cluster_experts``: experts trained per generic cluster; the paper's
              edge holds on domains concentrated in few clusters and vanishes on
              diffuse ones (App. E, Figs. 12-13; Table 10);
            - ``cluster_resampling``: the generic corpus resampled to the domain's
              cluster histogram; the edge shrinks as the histogram approaches the
              generic one (an assumption: no per-domain numbers in the paper's text);
            - None: no prior adjustment; only runs measured on the domain shift it.

    Raises:
        ValueError: an unknown sensitivity or a non-positive `reference_gpuh`.
    """

    reference_gpuh: float
    source: str
    sensitivity: str | None = None

    def __post_init__(self) -> None:
        if self.sensitivity is not None and self.sensitivity not in DOMAIN_SENSITIVITIES:
            raise ValueError(f"DomainEdge.sensitivity must be one of {DOMAIN_SENSITIVITIES} "
                             f"or None, got {self.sensitivity!r}")
        if not (isinstance(self.reference_gpuh, (int, float)) and self.reference_gpuh > 0
                and math.isfinite(self.reference_gpuh)):
            raise ValueError(f"DomainEdge.reference_gpuh must be finite and > 0, "
                             f"got {self.reference_gpuh!r}")


@dataclass(frozen=True)
class PlanningPrior:
    """How the planner models a strategy at the paper's scale, declared by the strategy.

    The planner is generic over these kinds; it names no strategy itself:

    - ``reference``: fitted on the strategy's own rows of the reference tables
      (``planner/reference``: Table 8), jointly with the other ``reference`` strategies;
    - ``specialization_curve``: all its compute is spent per domain (nothing is shared):
      a curve in its own per-domain compute, anchored on its figure-derived perplexities
      (``figure_facts.csv`` rows of this strategy) with the compute slope of `like`;
    - ``teacher_student``: `like`'s curve at the student's compute, gaining toward the
      mean of `gain_toward` as the teacher's pretraining grows (the teacher ramp in the
      figure facts of `facts_of`);
    - ``domain_only``: trained on the domain data alone: its reference rows as a function
      of the data size, never better than `like` beyond its data;
    - ``like``: `like`'s prediction times ``exp(log_ppl_offset)`` (a plug-in's prior).

    Args:
        kind: one of `PRIOR_KINDS`.
        source: where the numbers come from (paper table / figure / "assumption").
        confidence: the most confidence the prior allows (`CONFIDENCE_LEVELS`).
        like: the registered strategy whose curve this one borrows.
        log_ppl_offset: ln(ppl / like's ppl) for ``like`` priors.
        gain_toward: strategies whose gain over `like` a teacher-student can reach.
        facts_of: the strategy whose figure facts give the teacher ramp (default: itself).
        paper_params: the paper's main configuration (Tables 1 and 7), e.g. 16 experts.
        modelled: parameter -> the values the paper measured (the planner searches only
            these, within `Strategy.search_space`); a value measured only in another
            configuration is still searched but marked borrowed.
        finetune_limits_of: whose Table 3 fine-tuning limits give this strategy's
            early-stopped fine-tuning cost (default: its own rows, else its own schedule).
        baseline: this strategy is the reference baseline that the other strategies'
            edges (`DomainEdge`) and measured gains are measured against (the paper's
            SLM, Table 8); one registered strategy declares it.
        domain_edge: how the per-domain advice adjusts this strategy's edge over the
            baseline (`DomainEdge`); None: the paper's average on every domain.

    Raises:
        ValueError: an unknown kind or confidence, a kind that needs `like` without it,
            or a baseline that declares an edge over itself.
    """

    kind: str
    source: str
    confidence: str = "low"
    like: str | None = None
    log_ppl_offset: float = 0.0
    gain_toward: tuple[str, ...] = ()
    facts_of: str | None = None
    paper_params: Mapping[str, Any] = field(default_factory=dict)
    modelled: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)
    finetune_limits_of: str | None = None
    baseline: bool = False
    domain_edge: DomainEdge | None = None

    def __post_init__(self) -> None:
        if self.kind not in PRIOR_KINDS:
            raise ValueError(f"PlanningPrior.kind must be one of {PRIOR_KINDS}, "
                             f"got {self.kind!r}")
        if self.confidence not in CONFIDENCE_LEVELS:
            raise ValueError(f"PlanningPrior.confidence must be one of {CONFIDENCE_LEVELS}, "
                             f"got {self.confidence!r}")
        if self.kind in ("specialization_curve", "teacher_student", "like") and not self.like:
            raise ValueError(f"a {self.kind!r} prior needs `like` (the strategy it borrows from)")
        if not math.isfinite(self.log_ppl_offset):
            raise ValueError(f"PlanningPrior.log_ppl_offset must be finite, "
                             f"got {self.log_ppl_offset!r}")
        if not isinstance(self.baseline, bool):
            raise ValueError(f"PlanningPrior.baseline must be a bool, got {self.baseline!r}")
        if self.domain_edge is not None and not isinstance(self.domain_edge, DomainEdge):
            raise ValueError(f"PlanningPrior.domain_edge must be a DomainEdge or None, "
                             f"got {self.domain_edge!r}")
        if self.baseline and self.domain_edge is not None:
            raise ValueError("the baseline declares no DomainEdge (an edge over itself)")

    @property
    def compute_axis(self) -> str:
        """The compute that drives the perplexity: ``pretraining`` (shared), ``specialization``
        (per domain), ``student`` (the student's pretraining) or ``none``."""
        return _AXIS_OF_KIND.get(self.kind, "pretraining")


@dataclass(frozen=True)
class EvalResult:
    """Token-level perplexity: exp(mean next-token NLL) over `n_tokens` predictions."""

    perplexity: float
    nll: float
    n_tokens: int
    split: str = "test"


@dataclass
class SpecializedModel:
    """A specialized model: a standard `transformers` causal LM plus how it was made."""

    model: Any  # transformers.PreTrainedModel
    strategy: str
    domain: str
    cost: Cost  # measured compute
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def n_params(self) -> int:
        return int(sum(p.numel() for p in self.model.parameters()))

    def save(self, path: str | Path, tokenizer: Any = None) -> None:
        """`save_pretrained` (safetensors) + tokenizer + a `specplan.json` sidecar."""
        from pathlib import Path as _Path

        from domains.atomic import atomic_dir

        meta = {"strategy": self.strategy, "domain": self.domain, "cost": self.cost.to_dict(),
                "info": _jsonable(self.info)}
        with atomic_dir(_Path(path)) as out:  # all or nothing under `path`; WriteError
            self.model.save_pretrained(out, safe_serialization=True)
            if tokenizer is not None:
                tokenizer.save_pretrained(out)
            (out / "specplan.json").write_text(json.dumps(meta, indent=2))


def _jsonable(obj: Any) -> Any:
    return json.loads(json.dumps(obj, default=lambda o: repr(o)))


class Strategy(abc.ABC):
    """Base class for domain-specialization strategies.

    Subclasses declare keyword-only `__init__` parameters, all with defaults, stored
    unchanged (no logic: `clone`/`set_params` must reproduce the object). Validation
    happens when the object is used, against `_parameter_constraints`.

    Class attributes:
        name: canonical registry name.
        paper_name: the paper's acronym (SLM, SLM-is, ...).
        summary: one line for `specplan strategies`.
        charging: how each budget bucket is charged, in words.

    Class methods the planner reads (no instance, no torch):
        planning_prior(): how it is modelled at the paper's scale (`PlanningPrior`).
        search_space(scale): Optuna distributions over its parameters; the planner
            searches those the prior says the paper measured.
    """

    name: ClassVar[str] = ""
    paper_name: ClassVar[str] = ""
    #: Strategies that share pretraining artifacts declare the same family (a scheduling
    #: hint: a sweep's workers keep to one family, so two rarely wait on the same
    #: pretraining); empty means the strategy's own name.
    artifact_family: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    charging: ClassVar[dict[str, str]] = {}
    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {}
    # parameters that do not change the pretraining artifacts (excluded from pretrain_key)
    _specialization_params: ClassVar[frozenset[str]] = frozenset()

    # set by `pretrain` (what `specialize` starts from: paths, training records, FLOPs)
    pretrained_: dict[str, Any]
    scale: str | Scale

    def __init__(self, *, scale: str | Scale = "tiny", seed: int = 0) -> None:
        self.scale = scale
        self.seed = seed

    # ------------------------------------------------------------------ params (sklearn)
    @classmethod
    def _param_names(cls) -> list[str]:
        return list(_keyword_only_names(cls.__init__))

    def get_params(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params: Any) -> Strategy:
        valid = set(self._param_names())
        for key, value in params.items():
            if key not in valid:
                raise SpecplanError(
                    f"{type(self).__name__} has no parameter {key!r}; "
                    f"parameters: {', '.join(sorted(valid))}"
                )
            setattr(self, key, value)
        return self

    def clone(self) -> Strategy:
        return type(self)(**copy.deepcopy(self.get_params()))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    def _validate(self) -> Scale:
        validate_params(self)
        return get_scale(self.scale)

    def pretrain_key(self) -> str:
        """Cache key of the pretraining artifacts: strategy, scale, pretraining params."""
        params = {k: v for k, v in self.get_params().items()
                  if k not in self._specialization_params}
        params["scale"] = repr(get_scale(self.scale))  # the preset's content, not its name
        blob = json.dumps({"strategy": self.name, **params}, sort_keys=True, default=repr)
        return f"{self.name}-{hashlib.sha256(blob.encode()).hexdigest()[:12]}"

    def _check_pretrained(self) -> None:
        if not hasattr(self, "pretrained_"):
            raise NotFittedError(
                f"This {type(self).__name__} instance is not pretrained yet. Call "
                "'pretrain' with a workspace before 'specialize' or 'evaluate'."
            )

    # ------------------------------------------------------------------ the four verbs
    @abc.abstractmethod
    def estimate_cost(
        self,
        *,
        n_domain_tokens: float,
        n_pretrain_tokens: float | None = None,
        n_specialize_tokens: float | None = None,
        scale: str | Scale | None = None,
    ) -> Cost:
        """Analytic FLOPs per bucket. Pure arithmetic on the config; never imports torch.

        Args:
            n_domain_tokens: in-domain training tokens available.
            n_pretrain_tokens: generic tokens seen in pretraining (default: the scale's).
            n_specialize_tokens: tokens processed while fine-tuning (default: the scale's
                fine-tuning schedule applied to `n_domain_tokens`).
            scale: the model pair to cost (default: `self.scale`).
        """

    @abc.abstractmethod
    def pretrain(self, ws: Workspace) -> Strategy:
        """The domain-agnostic phase; artifacts cached in `ws` and shared by domains."""

    @abc.abstractmethod
    def specialize(self, domain: Domain, ws: Workspace) -> SpecializedModel:
        """The per-domain phase; returns a standard causal LM within the inference cap."""

    def evaluate(self, model: SpecializedModel, domain: Domain, ws: Workspace) -> EvalResult:
        """Perplexity on the domain's test split."""
        self._check_pretrained()
        return ws.perplexity(model.model, domain, split="test")

    # ------------------------------------------------------------------ hooks
    @classmethod
    def search_space(cls, scale: str | Scale = "paper") -> dict[str, Any]:
        """Optuna distributions over this strategy's parameters (optional hook)."""
        return {}

    @classmethod
    def planning_prior(cls) -> PlanningPrior:
        """How the planner models this strategy at the paper's scale (override it).

        The default borrows the paper's SLM curve with low confidence: a strategy that
        declares nothing is still planned, and says so.
        """
        return PlanningPrior(kind="like", like="small", confidence="low",
                             source=f"no declared prior: `{cls.name}` is modelled as the "
                                    "paper's SLM (Table 8) until runs say otherwise")

    # ------------------------------------------------------------------ helpers
    def _scale_for(self, scale: str | Scale | None) -> Scale:
        return get_scale(self.scale if scale is None else scale)


def default_specialize_tokens(scale: Scale, n_domain_tokens: float) -> float:
    """Tokens processed by an early-stopped fine-tune, for cost estimates.

    Fine-tuning cost grows ~10x when data grows 8x (paper Fig. 9), so it is charged per
    pass: `scale.finetune_expected_epochs` passes (what early stopping measured at that
    scale; issue 12 found the old `finetune_max_epochs / 2` charged half of the measured
    fine-tune FLOPs), never more than the cap `finetune_max_epochs`. All steps run are
    charged, including those after the best checkpoint, as the training loop does.
    """
    passes = min(scale.finetune_expected_epochs, scale.finetune_max_epochs)
    return max(1.0, float(n_domain_tokens)) * passes


@functools.cache
def _keyword_only_names(init: Callable[..., Any]) -> tuple[str, ...]:
    """The keyword-only parameters of a strategy's ``__init__`` (its sklearn-style params),
    cached per function: `inspect.signature` is slow and the planner asks for them often."""
    sig = inspect.signature(init)
    return tuple(p.name for p in sig.parameters.values()
                 if p.name != "self" and p.kind == p.KEYWORD_ONLY)
