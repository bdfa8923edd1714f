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
import hashlib
import inspect
import json
import math
from collections.abc import Mapping
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
    """Compute charged to each of the paper's buckets, in FLOPs.

    `specialization_flops` is per domain; total over N domains follows the paper's Eq. 1:
    pretraining + N x specialization. `components` names the parts (e.g. the teacher's
    pretraining inside distillation's pretraining bucket).
    """

    pretraining_flops: float
    specialization_flops: float
    inference_flops_per_token: float
    inference_params: int
    pretraining_params: int
    components: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("pretraining_flops", "specialization_flops", "inference_flops_per_token"):
            v = getattr(self, name)
            if not (v >= 0 and math.isfinite(v)):
                raise ValueError(f"Cost.{name} must be finite and >= 0, got {v!r}")

    def total_flops(self, n_domains: int = 1) -> float:
        return self.pretraining_flops + n_domains * self.specialization_flops

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["components"] = dict(self.components)
        return d


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

        out = _Path(path)
        out.mkdir(parents=True, exist_ok=True)
        self.model.save_pretrained(out, safe_serialization=True)
        if tokenizer is not None:
            tokenizer.save_pretrained(out)
        meta = {"strategy": self.strategy, "domain": self.domain, "cost": self.cost.to_dict(),
                "info": _jsonable(self.info)}
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
    """

    name: ClassVar[str] = ""
    paper_name: ClassVar[str] = ""
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
        sig = inspect.signature(cls.__init__)
        return [p.name for p in sig.parameters.values()
                if p.name != "self" and p.kind == p.KEYWORD_ONLY]

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
