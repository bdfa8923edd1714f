"""Shared building blocks of the strategies: pretrain a GPT-2 LM on generic text (cached,
shared by every domain), then fine-tune a fresh copy per domain with early stopping."""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any, Self

from strategies.base import Cost, SpecializedModel, Strategy, default_specialize_tokens
from strategies.machinery.flops import forward_flops_per_token, train_flops
from strategies.machinery.scales import ModelSpec, Scale

if TYPE_CHECKING:
    from domains import Domain
    from strategies.machinery.workspace import Workspace


def finetune_key(strategy: Strategy, domain: Domain, ws: Workspace, tag: str = "ft") -> str:
    return f"{strategy.pretrain_key()}-{tag}-{domain.fingerprint[:12]}-{ws.n_domain_tokens}"


def finetune_artifact_key(strategy: Strategy, domain: Domain, ws: Workspace,
                          settings: dict[str, Any]) -> str:
    """Key of a kept fine-tune (`Workspace.finetune_artifact`) of `strategy`'s pretrained
    model on `domain`: the pretraining key (strategy, scale, seed, pretraining parameters),
    the fine-tune `settings` (learning rate, ...), the workspace's scale, seed and
    precision, the domain's content and the in-domain token budget. Equal keys mean the
    same training run, so whoever comes second loads the first one's weights."""
    blob = json.dumps({**settings, "ws_scale": repr(ws.scale), "ws_seed": ws.seed,
                       "precision": ws.precision}, sort_keys=True, default=repr)
    digest = hashlib.sha256(blob.encode()).hexdigest()[:8]
    return (f"{strategy.pretrain_key()}-ftw-{digest}-{domain.fingerprint[:12]}-"
            f"{ws.n_domain_tokens}")


def finetune_and_package(
    strategy: Strategy,
    model: Any,
    domain: Domain,
    ws: Workspace,
    *,
    pretraining_flops: float,
    pretraining_params: int,
    info: dict[str, Any] | None = None,
    components: dict[str, float] | None = None,
    extra_specialization_flops: float = 0.0,
    lr: float | None = None,
    tag: str = "ft",
    artifact_key: str | None = None,
    **finetune_kwargs: Any,
) -> SpecializedModel:
    """Measure perplexity before, fine-tune with early stopping, package the result.

    `info` records the fine-tune: `finetune_curve` ([step, validation loss] per check),
    `finetune_steps`, `finetune_best_step` and `finetune_converged` (False when the best
    step is the last one: the cap, not early stopping, ended a still-improving run).

    The specialization bucket is charged what the fine-tune actually spent (steps run,
    including those after the best checkpoint), plus `extra_specialization_flops`
    (e.g. importance-sampled pretraining, teacher forward passes).

    With `artifact_key` (see `finetune_artifact_key`) the fine-tuned weights are kept as a
    workspace artifact, or loaded from it when another strategy already trained them; the
    charge is then the recorded fine-tune's, the same as if it had been trained here.
    """
    from strategies.machinery.models import count_params
    from strategies.machinery.workspace import spec_of

    before = ws.perplexity(model, domain, split="test")
    desc = f"{strategy.name}:{domain.name} fine-tune"
    kept: dict[str, Any] = {}
    if artifact_key is None:
        result = ws.finetune(model, domain, key=finetune_key(strategy, domain, ws, tag),
                             desc=desc, lr=lr, **finetune_kwargs)
    else:
        model, result, reused = ws.finetune_artifact(lambda: model, domain, key=artifact_key,
                                                     desc=desc, lr=lr, **finetune_kwargs)
        kept = {"finetune_artifact": artifact_key, "finetune_reused": reused}
    spec = spec_of(model)
    spec_flops = result.flops + extra_specialization_flops
    comps = {"finetune": result.flops, **(components or {})}
    cost = Cost(
        pretraining_flops=pretraining_flops,
        specialization_flops=spec_flops,
        inference_flops_per_token=forward_flops_per_token(spec),
        inference_params=count_params(model),
        pretraining_params=pretraining_params,
        components=comps,
    )
    meta = {
        "test_ppl_before_finetune": before.perplexity,
        "finetune_steps": result.steps,
        "finetune_best_step": result.best_step,
        "finetune_flops_to_best": result.flops_to_best,
        "finetune_wall_s": result.wall_s,
        "finetune_stopped_early": result.stopped_early,
        "finetune_converged": result.converged,
        "finetune_curve": [[int(st), float(loss)] for st, loss in result.valid_history],
        "finetune_resumed_from": result.resumed_from,
        "best_valid_loss": result.best_valid_loss,
        "n_domain_tokens": ws.n_domain_tokens,
        **kept,
        **(info or {}),
    }
    return SpecializedModel(model=model, strategy=strategy.name, domain=domain.name,
                            cost=cost, info=meta)


class PretrainFinetuneStrategy(Strategy):
    """Pretrain one model on generic text (shared), fine-tune it per domain.

    Subclasses choose the model (`_model`), whether pretraining happens, and whether the
    fine-tuned weights are kept as a workspace artifact that other strategies reuse
    (`_keeps_finetune`; see `finetuned`).
    """

    _use_large: bool = False
    _pretrains: bool = True
    _keeps_finetune: bool = False
    _specialization_params = frozenset({"finetune_lr"})

    def __init__(self, *, scale: str | Scale = "tiny", seed: int = 0,
                 n_pretrain_tokens: int | None = None,
                 finetune_lr: float | None = None) -> None:
        self.scale = scale
        self.seed = seed
        self.n_pretrain_tokens = n_pretrain_tokens
        self.finetune_lr = finetune_lr

    from strategies.machinery.validation import NONE, Interval

    _parameter_constraints = {
        "seed": [Interval(int, 0, None)],
        "n_pretrain_tokens": [NONE, Interval(int, 1, None)],
        "finetune_lr": [NONE, Interval(float, 0, None, closed="neither")],
    }
    del NONE, Interval

    def _model(self, scale: Scale) -> ModelSpec:
        return scale.large if self._use_large else scale.small

    def _pretrain_tokens(self, scale: Scale) -> int:
        if self.n_pretrain_tokens is not None:
            return self.n_pretrain_tokens
        return scale.large_pretrain_tokens if self._use_large else scale.pretrain_tokens

    def estimate_cost(self, *, n_domain_tokens: float, n_pretrain_tokens: float | None = None,
                      n_specialize_tokens: float | None = None,
                      scale: str | Scale | None = None) -> Cost:
        self._validate()
        s = self._scale_for(scale)
        spec = self._model(s)
        pre_tokens = 0.0 if not self._pretrains else (
            n_pretrain_tokens if n_pretrain_tokens is not None else self._pretrain_tokens(s))
        ft_tokens = (n_specialize_tokens if n_specialize_tokens is not None
                     else default_specialize_tokens(s, n_domain_tokens))
        pre = train_flops(spec, pre_tokens)  # ~6*N*D (Kaplan et al. 2020)
        return Cost(
            pretraining_flops=pre,
            specialization_flops=train_flops(spec, ft_tokens),
            inference_flops_per_token=forward_flops_per_token(spec),  # ~2*N per token
            inference_params=spec.n_params,
            pretraining_params=spec.n_params if self._pretrains else 0,
            components={"pretraining": pre} if self._pretrains else {},
        )

    def pretrain(self, ws: Workspace) -> Self:
        self._validate()
        spec = self._model(ws.scale)
        if not self._pretrains:
            self.pretrained_ = {"path": None, "record": {"flops": 0.0}}
            return self
        tokens = self._pretrain_tokens(ws.scale)
        _, record = ws.pretrain_lm(spec, ws.generic_blocks(), key=self.pretrain_key(),
                                   n_tokens=tokens, desc=f"{self.name} pretrain",
                                   lr=ws.scale.lr * self._lr_scale(ws.scale))
        self.pretrained_ = {"path": ws.artifact_dir(self.pretrain_key()), "record": record}
        return self

    def _lr_scale(self, scale: Scale) -> float:
        return scale.large_lr_scale if self._use_large else 1.0

    def _fresh_model(self, ws: Workspace) -> Any:
        from transformers import GPT2LMHeadModel

        from strategies.machinery.models import build_model

        self._check_pretrained()
        if self.pretrained_["path"] is None:
            return build_model(self._model(ws.scale), seed=ws.seed, eos_token_id=ws.eos_id)
        return GPT2LMHeadModel.from_pretrained(self.pretrained_["path"])

    def specialize(self, domain: Domain, ws: Workspace) -> SpecializedModel:
        self._check_pretrained()
        model = self._fresh_model(ws)
        spec = self._model(ws.scale)
        pre_flops = float(self.pretrained_["record"]["flops"])
        kept: dict[str, Any] = ({"artifact_key": self.finetune_artifact_key(domain, ws)}
                                if self._keeps_finetune else {})
        return finetune_and_package(
            self, model, domain, ws, pretraining_flops=pre_flops,
            pretraining_params=spec.n_params if self._pretrains else 0,
            components={"pretraining": pre_flops} if self._pretrains else {},
            **self._finetune_settings(ws), **kept,
        )

    def finetuned(self, domain: Domain, ws: Workspace,
                  desc: str | None = None) -> tuple[Any, Any, bool]:
        """The pretrained model fine-tuned on `domain` exactly as `specialize` does it (same
        learning rate, schedule and seed), kept as the artifact `finetune_artifact_key`:
        loaded when already trained (by `specialize` or an earlier call), else trained and
        saved (the pretrained model is read only when it must be trained). Returns (model,
        `TrainResult` of the fine-tune as trained, reused)."""
        self._check_pretrained()
        return ws.finetune_artifact(
            lambda: self._fresh_model(ws), domain, key=self.finetune_artifact_key(domain, ws),
            desc=desc or f"{self.name}:{domain.name} fine-tune", **self._finetune_settings(ws))

    def finetune_artifact_key(self, domain: Domain, ws: Workspace) -> str:
        """Key of the kept fine-tune on `domain` (`finetuned`; `specialize` when
        `_keeps_finetune`)."""
        return finetune_artifact_key(self, domain, ws, self._finetune_settings(ws))

    def _finetune_settings(self, ws: Workspace) -> dict[str, Any]:
        """Keyword arguments of `Workspace.finetune` for the per-domain fine-tune, with the
        learning rate resolved (the scale's default, scaled for the large model)."""
        settings = {"lr": self.finetune_lr, **self._finetune_overrides(ws)}
        settings["lr"] = float(settings["lr"] or ws.scale.finetune_lr)
        return settings

    def _finetune_overrides(self, ws: Workspace) -> dict[str, Any]:
        if self.finetune_lr is None and self._use_large:
            return {"lr": ws.scale.finetune_lr * ws.scale.large_lr_scale}
        return {}
