"""`distillation` (the paper's SLM-d): response-based knowledge distillation (Hinton et al.
2015; arXiv 2402.01093 §2.2, §4.1). The teacher is the large model pretrained on generic
text and fine-tuned on the domain; the student is the pretrained small model, fine-tuned
on the domain with a mix of next-token targets and the teacher's next-token
distributions:

    loss = (1 - alpha) * CE(y, student) + alpha * T^2 * KL(teacher_T || student_T)

where x_T = softmax(logits / T). The T^2 factor keeps the soft term's gradients on the
same scale as the hard term's when T changes (Hinton et al. 2015, §2).

- pretraining bucket (shared): the teacher's pretraining (the `large` strategy's artifact,
  same workspace key, so it is trained once for both) + the student's (`small`'s);
- specialization bucket (per domain): the teacher's early-stopped fine-tune (the `large`
  strategy's fine-tune, same settings and artifact: trained once for `large`,
  `distillation` and `distillation_sequences`, but charged in full to each), the
  student's fine-tune, and the teacher's forward passes over every student training
  token (2 N_teacher + attention per token);
- inference: the small model.

Importing this module never imports torch.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import TYPE_CHECKING, Any

from strategies.base import (
    Cost,
    PlanningPrior,
    SpecializedModel,
    Strategy,
    default_specialize_tokens,
)
from strategies.large import LargeStrategy
from strategies.machinery.flops import forward_flops_per_token, train_flops
from strategies.machinery.pretrain_finetune import PretrainFinetuneStrategy, finetune_and_package
from strategies.machinery.scales import ModelSpec, Scale
from strategies.machinery.validation import NONE, Interval, ParameterError

if TYPE_CHECKING:
    import torch

    from domains import Domain
    from strategies.machinery.workspace import Workspace


def distillation_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor,
                      labels: torch.Tensor, alpha: float, temperature: float,
                      ignore_index: int = -100) -> torch.Tensor:
    """(1 - alpha) * next-token CE + alpha * T^2 * KL(teacher_T || student_T), per token.

    Args:
        student_logits: (B, T, V) logits; position t predicts token t + 1.
        teacher_logits: (B, T, V) logits of the teacher on the same tokens.
        labels: (B, T) token ids, unshifted (the HF convention: labels = input_ids);
            positions equal to `ignore_index` are left out of both terms.
        alpha: weight of the soft (teacher) term, in [0, 1].
        temperature: softmax temperature T > 0 for the soft term (CE uses T = 1).

    Returns:
        A scalar: both terms are means over the predicted (non-ignored) positions.
    """
    import torch.nn.functional as F

    v = student_logits.shape[-1]
    s = student_logits[:, :-1].reshape(-1, v).float()  # (N, V), N = B * (T - 1)
    y = labels[:, 1:].reshape(-1)  # (N,) the next tokens
    ce = F.cross_entropy(s, y, ignore_index=ignore_index)
    if alpha == 0:
        return ce  # exactly the plain fine-tuning loss (no teacher term to scale by 0)
    t = teacher_logits[:, :-1].reshape(-1, v).float()  # (N, V)
    keep = (y != ignore_index).float()  # (N,)
    log_p_t = F.log_softmax(t / temperature, dim=-1)  # (N, V) teacher, softened
    log_p_s = F.log_softmax(s / temperature, dim=-1)  # (N, V) student, softened
    kl = (log_p_t.exp() * (log_p_t - log_p_s)).sum(-1)  # (N,) KL(p_t || p_s) per token
    kl = (kl * keep).sum() / keep.sum().clamp(min=1.0)
    return (1.0 - alpha) * ce + alpha * temperature**2 * kl


def head_count(n_embd: int, preferred: int) -> int:
    """The largest head count <= `preferred` that divides `n_embd` (GPT-2 needs it)."""
    for h in range(min(preferred, n_embd), 0, -1):
        if n_embd % h == 0:
            return h
    return 1


class _TeacherStrategy(LargeStrategy):
    """The `large` baseline with a custom teacher shape (own artifact keys: its pretraining
    and fine-tunes are not shared with `large`)."""

    name = "distillation_teacher"

    def __init__(self, *, scale: str | Scale = "tiny", seed: int = 0,
                 n_pretrain_tokens: int | None = None, finetune_lr: float | None = None,
                 teacher_n_layer: int | None = None, teacher_n_embd: int | None = None) -> None:
        super().__init__(scale=scale, seed=seed, n_pretrain_tokens=n_pretrain_tokens,
                         finetune_lr=finetune_lr)
        self.teacher_n_layer = teacher_n_layer
        self.teacher_n_embd = teacher_n_embd

    def _model(self, scale: Scale) -> ModelSpec:
        return teacher_spec(scale, self.teacher_n_layer, self.teacher_n_embd)


def teacher_spec(scale: Scale, n_layer: int | None, n_embd: int | None) -> ModelSpec:
    """The teacher's shape: the scale's large model, with depth and width overridable."""
    large = scale.large
    if n_layer is None and n_embd is None:
        return large
    d = n_embd if n_embd is not None else large.n_embd
    return dataclasses.replace(
        large, n_layer=n_layer if n_layer is not None else large.n_layer, n_embd=d,
        n_head=head_count(d, large.n_head), n_inner=large.n_inner if n_embd is None else None)


class DistillationStrategy(Strategy):
    """Logit distillation from a domain-fine-tuned large teacher into the small model (SLM-d).

    `pretrain` pretrains (or loads) the teacher through the `large` strategy's workspace
    key and the student through `small`'s, so neither is trained twice. `specialize`
    fine-tunes the teacher on the domain as `large` does (cached artifact, shared with
    `large` and `distillation_sequences` when the teacher is the same: default shape and
    pretraining), then fine-tunes the student on the domain's training blocks
    with `distillation_loss`, the teacher's logits computed on the fly under
    `torch.no_grad`; early stopping tracks the student's plain next-token validation loss.

    Args:
        scale: `tiny`, `demo` or `paper` (or a `Scale`).
        seed: model init and batch order.
        alpha: weight of the teacher term, in [0, 1] (0: plain fine-tuning, exactly).
            The paper does not give its value.
        temperature: softmax temperature T > 0 of the teacher term.
        n_pretrain_tokens: the student's generic pretraining tokens (default: the scale's).
        teacher_pretrain_tokens: the teacher's (default: the scale's `large_pretrain_tokens`).
        teacher_n_layer: teacher depth (default: the scale's large model).
        teacher_n_embd: teacher width (default: the scale's large model); heads: the large
            model's count, or the largest count below it that divides the width.
        finetune_lr: the student's fine-tuning learning rate (default: the scale's).

    Raises (when used):
        ParameterError: a parameter outside its range, or a teacher with fewer parameters
            than the student (naming `teacher_n_embd` / `teacher_n_layer`).

    Example:
        >>> from strategies.distillation import DistillationStrategy
        >>> c = DistillationStrategy(scale="paper").estimate_cost(n_domain_tokens=8_000_000)
        >>> sorted(k for k in c.components if "teacher" in k)
        ['pretraining_teacher', 'teacher_finetune', 'teacher_forward']
    """

    name = "distillation"
    paper_name = "SLM-d"
    artifact_family = "small_large"  # shares pretraining artifacts (worker scheduling)
    summary = ("fine-tune the large teacher on the domain, then train the small model on "
               "domain tokens + the teacher's next-token distributions")
    charging = {
        "pretraining": "teacher (large) pretraining + student (small) pretraining (shared)",
        "specialization": "teacher fine-tune + student fine-tune + the teacher's forward "
                          "passes over the student's training tokens",
        "inference": "small model",
    }

    @classmethod
    def planning_prior(cls) -> PlanningPrior:
        """How the planner models SLM-d at the paper's scale."""
        return PlanningPrior(kind="teacher_student", like="small", confidence="low",
                             gain_toward=("hypernetwork", "mixture"),
                             source="figure-derived: Fig. 5 and §4.1 (SLM at the student's "
                                    "compute, gaining toward SLM-pn / SLM-mix as the teacher "
                                    "grows from 92 to 461 GPUh)")
    _specialization_params = frozenset({"alpha", "temperature", "finetune_lr"})
    _parameter_constraints = {
        "seed": [Interval(int, 0, None)],
        "alpha": [Interval(float, 0, 1, closed="both")],
        "temperature": [Interval(float, 0, None, closed="neither")],
        "n_pretrain_tokens": [NONE, Interval(int, 1, None)],
        "teacher_pretrain_tokens": [NONE, Interval(int, 1, None)],
        "teacher_n_layer": [NONE, Interval(int, 1, None)],
        "teacher_n_embd": [NONE, Interval(int, 1, None)],
        "finetune_lr": [NONE, Interval(float, 0, None, closed="neither")],
    }

    def __init__(self, *, scale: str | Scale = "tiny", seed: int = 0, alpha: float = 0.5,
                 temperature: float = 1.0, n_pretrain_tokens: int | None = None,
                 teacher_pretrain_tokens: int | None = None,
                 teacher_n_layer: int | None = None, teacher_n_embd: int | None = None,
                 finetune_lr: float | None = None) -> None:
        self.scale = scale
        self.seed = seed
        self.alpha = alpha
        self.temperature = temperature
        self.n_pretrain_tokens = n_pretrain_tokens
        self.teacher_pretrain_tokens = teacher_pretrain_tokens
        self.teacher_n_layer = teacher_n_layer
        self.teacher_n_embd = teacher_n_embd
        self.finetune_lr = finetune_lr

    # ------------------------------------------------------------------ validation
    def _validate(self) -> Scale:
        scale = super()._validate()
        self._check_teacher(scale)
        return scale

    def _check_teacher(self, scale: Scale) -> None:
        """A teacher smaller than the student is an error naming the shape parameter."""
        teacher = self.teacher_spec(scale)
        if teacher.n_params >= scale.small.n_params:
            return
        name = "teacher_n_embd" if self.teacher_n_embd is not None else "teacher_n_layer"
        raise ParameterError(
            f"The {name!r} parameter of {type(self).__name__} gives a teacher smaller than "
            f"the student: teacher_n_layer={teacher.n_layer}, teacher_n_embd="
            f"{teacher.n_embd} has {teacher.n_params:,} parameters, the student "
            f"{scale.small.n_params:,} at scale {scale.name!r}; the teacher must have at "
            "least as many parameters as the student."
        )

    def teacher_spec(self, scale: Scale) -> ModelSpec:
        return teacher_spec(scale, self.teacher_n_layer, self.teacher_n_embd)

    # ------------------------------------------------------------------ cost (no torch)
    def estimate_cost(self, *, n_domain_tokens: float, n_pretrain_tokens: float | None = None,
                      n_specialize_tokens: float | None = None,
                      scale: str | Scale | None = None) -> Cost:
        """`n_pretrain_tokens` is the student's; the teacher's is `teacher_pretrain_tokens`.
        Teacher and student fine-tune on the same schedule (`n_specialize_tokens`)."""
        self._validate()
        s = self._scale_for(scale)
        self._check_teacher(s)
        teacher, student = self.teacher_spec(s), s.small
        n_student = (n_pretrain_tokens if n_pretrain_tokens is not None
                     else self.n_pretrain_tokens or s.pretrain_tokens)
        n_teacher = self.teacher_pretrain_tokens or s.large_pretrain_tokens
        ft_tokens = (n_specialize_tokens if n_specialize_tokens is not None
                     else default_specialize_tokens(s, n_domain_tokens))
        pre_teacher = train_flops(teacher, n_teacher)  # ~6 N D (Kaplan et al. 2020)
        pre_student = train_flops(student, n_student)
        teacher_ft = train_flops(teacher, ft_tokens)
        student_ft = train_flops(student, ft_tokens)
        teacher_fwd = forward_flops_per_token(teacher) * float(ft_tokens)  # ~2 N_teacher
        return Cost(
            pretraining_flops=pre_teacher + pre_student,
            specialization_flops=teacher_ft + student_ft + teacher_fwd,
            inference_flops_per_token=forward_flops_per_token(student),
            inference_params=student.n_params,
            pretraining_params=teacher.n_params + student.n_params,
            components={"pretraining_teacher": pre_teacher, "pretraining_student": pre_student,
                        "teacher_finetune": teacher_ft, "finetune": student_ft,
                        "teacher_forward": teacher_fwd},
            teacher_pretraining_flops=pre_teacher,
            teacher_specialization_flops=teacher_ft + teacher_fwd,
        )

    @classmethod
    def search_space(cls, scale: str | Scale = "paper") -> dict[str, Any]:
        from optuna.distributions import FloatDistribution

        return {"alpha": FloatDistribution(0.0, 1.0),
                "temperature": FloatDistribution(0.5, 4.0, log=True)}

    # ------------------------------------------------------------------ pretraining
    def _student(self) -> PretrainFinetuneStrategy:
        from strategies.small import SmallStrategy

        return SmallStrategy(scale=self.scale, seed=self.seed,
                             n_pretrain_tokens=self.n_pretrain_tokens)

    def _teacher(self) -> LargeStrategy:
        if self.teacher_n_layer is None and self.teacher_n_embd is None:
            # the `large` baseline itself: same parameters, same workspace key
            return LargeStrategy(scale=self.scale, seed=self.seed,
                                 n_pretrain_tokens=self.teacher_pretrain_tokens)
        return _TeacherStrategy(scale=self.scale, seed=self.seed,
                                n_pretrain_tokens=self.teacher_pretrain_tokens,
                                teacher_n_layer=self.teacher_n_layer,
                                teacher_n_embd=self.teacher_n_embd)

    def pretrain(self, ws: Workspace) -> DistillationStrategy:
        """Pretrain (or load) the teacher through `large`'s key and the student through
        `small`'s."""
        self._validate()
        self._check_teacher(ws.scale)
        student = self._student().pretrain(ws)
        teacher = self._teacher().pretrain(ws)
        self.student_ = student
        self.teacher_ = teacher
        self.pretrained_ = {"path": student.pretrained_["path"],
                            "record": student.pretrained_["record"],
                            "teacher_path": teacher.pretrained_["path"],
                            "teacher_record": teacher.pretrained_["record"]}
        return self

    # ------------------------------------------------------------------ specialization
    def specialize(self, domain: Domain, ws: Workspace) -> SpecializedModel:
        import torch

        from strategies.machinery.teachers import TeacherSource, load_teacher

        self._check_pretrained()
        self._validate()
        teacher = load_teacher(TeacherSource("large", "large"), ws, domain, large=self.teacher_)
        from strategies.machinery.teachers import on_device

        t_model = teacher.model  # frozen, on this process's accelerator device
        if t_model.config.vocab_size != ws.scale.small.vocab_size:
            raise ParameterError("teacher and student must share the tokenizer (vocabulary "
                                 f"{t_model.config.vocab_size} vs {ws.scale.small.vocab_size})")
        alpha, temperature = float(self.alpha), float(self.temperature)
        # the teacher's forward passes in the precision its own training resolves to (bf16
        # autocast on CPUs with native bf16 for the `demo` large model, 224 wide: 1.4-1.7x
        # faster per forward, measured; `distributed.resolve_precision`), whatever the
        # narrower student trains in; its logits are returned in fp32
        import contextlib

        from strategies.machinery.training import resolve_precision

        t_bf16: dict[str, bool] = {}  # device type -> bf16, resolved once per device

        def teacher_precision(device_type: str) -> contextlib.AbstractContextManager[None]:
            if device_type not in t_bf16:
                t_bf16[device_type] = resolve_precision(ws.precision, t_model,
                                                        device_type) == "bf16"
            if not t_bf16[device_type]:  # leave the training loop's own autocast as it is
                return contextlib.nullcontext()
            return torch.autocast(device_type, dtype=torch.bfloat16)

        def loss_fn(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
            ids = batch["input_ids"]  # (B, T), on the device the training loop chose
            on_device(t_model, ids.device)  # no-op once there
            with torch.no_grad(), teacher_precision(ids.device.type):
                t_logits = t_model(input_ids=ids).logits.float()  # (B, T, V), on the fly
            s_logits = model(input_ids=ids).logits  # (B, T, V)
            return distillation_loss(s_logits, t_logits, ids, alpha, temperature)

        t_spec = self.teacher_spec(ws.scale)
        fwd_per_token = forward_flops_per_token(t_spec)
        student = self.student_._fresh_model(ws)
        pre_student = float(self.pretrained_["record"]["flops"])
        pre_teacher = float(self.pretrained_["teacher_record"]["flops"])
        out = finetune_and_package(
            self, student, domain, ws, pretraining_flops=pre_teacher + pre_student,
            pretraining_params=t_spec.n_params + ws.scale.small.n_params,
            info={"alpha": alpha, "temperature": temperature,
                  "teacher_params": t_spec.n_params, **teacher.info},
            components={"pretraining_teacher": pre_teacher, "pretraining_student": pre_student,
                        "teacher_finetune": teacher.finetune_flops},
            extra_specialization_flops=teacher.finetune_flops, lr=self.finetune_lr,
            tag=f"ft-{self._spec_hash()}", loss_fn=loss_fn, extra_flops_per_token=fwd_per_token,
        )
        # The student's measured fine-tune includes the teacher's forward passes: name them.
        tokens = out.info["finetune_steps"] * ws.scale.batch_size * ws.scale.small.n_ctx
        comps = dict(out.cost.components)
        comps["teacher_forward"] = tokens * fwd_per_token
        comps["finetune"] = comps["finetune"] - comps["teacher_forward"]
        out.cost = dataclasses.replace(
            out.cost, components=comps, teacher_pretraining_flops=pre_teacher,
            teacher_specialization_flops=teacher.finetune_flops + comps["teacher_forward"])
        return out

    def _spec_hash(self) -> str:
        """Names the student's fine-tune checkpoint: a resumed fine-tune must have been
        started with the same alpha, temperature and learning rate."""
        params = {k: v for k, v in self.get_params().items() if k in self._specialization_params}
        blob = json.dumps(params, sort_keys=True, default=repr).encode()
        return hashlib.sha256(blob).hexdigest()[:8]
