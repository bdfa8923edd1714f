"""`distillation_sequences`: a teacher writes part of the student's training data.

Sequence-level distillation (Kim & Rush 2016; the "distillation" of the user's seed papers,
e.g. s1's ~1,000 teacher-answered examples): the teacher continues prompts taken from the
domain's training documents, and the pretrained small model is fine-tuned on the domain
text mixed with the generated text. The paper (§2.2) left synthetic-data distillation out
as costlier; specplan implements it and charges it in full:

- pretraining bucket: the student's generic pretraining (the `small` strategy's artifact,
  shared) plus, for ``teacher="large"``, the teacher's (the `large` strategy's artifact).
  A teacher from elsewhere (SmolLM2, a folder, a hub id) costs 0 FLOPs here; its price
  appears as `Cost.external_usd` (``teacher_price_per_mtok`` per million
  generated tokens);
- specialization bucket (per domain): the own teacher's fine-tune (the `large` strategy's
  kept fine-tune, trained once and shared, charged in full), scoring the candidates
  with the student (curated prompts), the teacher's forward passes over prompt and
  generated tokens (2 N_teacher + attention per token, Kaplan et al. 2020), and the
  student's early-stopped fine-tune on the mixture;
- inference: the small model (the student is a plain `GPT2LMHeadModel`).

Importing this module never imports torch.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import TYPE_CHECKING, Any

from domains.errors import SpecplanError
from strategies.base import Cost, PlanningPrior, SpecializedModel, default_specialize_tokens
from strategies.machinery.flops import forward_flops, forward_flops_per_token, train_flops
from strategies.machinery.pretrain_finetune import PretrainFinetuneStrategy, finetune_and_package
from strategies.machinery.scales import Scale
from strategies.machinery.validation import NONE, InstanceOf, Interval, Options

if TYPE_CHECKING:
    import numpy as np
    import torch

    from domains import Domain
    from strategies.machinery.generation import GenerationResult, Prompt
    from strategies.machinery.workspace import Workspace

DEFAULT_N_PROMPTS = 1_000  # s1's curated set size (Muennighoff et al. 2025)


class SequenceDistillationStrategy(PretrainFinetuneStrategy):
    """Fine-tune the pretrained small model on domain text plus teacher continuations.

    `pretrain` pretrains (or loads) the student exactly as `small` does, through the same
    workspace key, and the teacher when specplan trains it (``teacher="large"``, through the
    `large` strategy's key). `specialize` picks prompts from the domain's training split,
    has the teacher continue them (batched, cached as JSONL, resumable), mixes the
    generations with the domain blocks and fine-tunes the student with early stopping on
    the domain's validation split.

    Args:
        scale: `tiny`, `demo` or `paper`.
        seed: model init, batch order, prompt sampling and generation seed.
        n_pretrain_tokens: the student's generic pretraining tokens (default: the scale's).
        finetune_lr: the student's fine-tuning learning rate (default: the scale's).
        teacher: ``"large"``, ``"smollm2"``, a model folder, a ``.gguf`` file or a hub id.
        n_prompts: prompts to continue. None: 1,000, capped to the domain's candidate
            documents; an explicit value above the candidates is an error.
        prompt_tokens: prompt length, in project tokens (the opening of a document).
        max_new_tokens: tokens the teacher generates per prompt (in its own tokens).
        temperature: sampling temperature (0: greedy).
        top_p: nucleus sampling mass.
        curation: ``"curated"`` (round-robin over clusters, hardest first) or ``"random"``.
        synthetic_ratio: fraction of the student's training rows that are generated
            (1.0: generated text only).
        generation_batch_size: prompts per `generate` call.
        teacher_price_per_mtok: price of an external teacher in USD per million generated
            tokens (API price or amortized hosting), shown as an external cost.
        teacher_n_params: size of an external teacher for cost estimates when it cannot be
            read without loading (hub ids).
        allow_download: let a hub-id teacher be downloaded (needs network; never in tests).
        n_curation_clusters: k of the k-means over the candidate documents that "curated"
            round-robins over (default: the scale's `n_clusters_is`, at most half the
            candidates).

    Example:
        >>> from strategies.distillation_sequences import SequenceDistillationStrategy
        >>> s = SequenceDistillationStrategy(scale="paper", teacher="large")
        >>> c = s.estimate_cost(n_domain_tokens=8_000_000)
        >>> c.components["teacher_generation"] > 0 and c.inference_params < 130_000_000
        True
    """

    name = "distillation_sequences"
    paper_name = "SLM-d-seq"
    artifact_family = "small_large"  # shares pretraining artifacts (worker scheduling)
    summary = ("the teacher continues curated domain prompts; the small model is fine-tuned "
               "on domain text plus the generated text")
    charging = {
        "pretraining": "student (small) pretraining, plus the teacher's when specplan trains "
                       "it (teacher='large'); an external teacher costs 0 FLOPs here and its "
                       "price is an external cost",
        "specialization": "teacher fine-tune (own teacher) + teacher generation (prompt and "
                          "generated tokens) + prompt scoring + student fine-tune",
        "inference": "small model",
    }

    @classmethod
    def planning_prior(cls) -> PlanningPrior:
        """How the planner models SLM-d-seq at the paper's scale."""
        return PlanningPrior(kind="teacher_student", like="small", confidence="low",
                             gain_toward=("hypernetwork", "mixture"), facts_of="distillation",
                             source="assumption: half of SLM-d's figure-derived gain (the "
                                    "paper left sequence distillation out as worse, §2.2)")
    _specialization_params = frozenset({
        "finetune_lr", "n_prompts", "prompt_tokens", "max_new_tokens", "temperature",
        "top_p", "curation", "synthetic_ratio", "generation_batch_size",
        "teacher_price_per_mtok", "teacher_n_params", "allow_download", "n_curation_clusters",
    })
    _parameter_constraints = {
        "seed": [Interval(int, 0, None)],
        "n_pretrain_tokens": [NONE, Interval(int, 1, None)],
        "finetune_lr": [NONE, Interval(float, 0, None, closed="neither")],
        "teacher": [InstanceOf(str)],
        "n_prompts": [NONE, Interval(int, 1, None)],
        "prompt_tokens": [Interval(int, 1, None)],
        "max_new_tokens": [Interval(int, 1, None)],
        "temperature": [Interval(float, 0, None)],
        "top_p": [Interval(float, 0, 1, closed="right")],
        "curation": [Options(frozenset({"random", "curated"}))],
        "synthetic_ratio": [Interval(float, 0, 1, closed="right")],
        "generation_batch_size": [Interval(int, 1, None)],
        "teacher_price_per_mtok": [Interval(float, 0, None)],
        "teacher_n_params": [NONE, Interval(int, 1, None)],
        "allow_download": [InstanceOf(bool)],
        "n_curation_clusters": [NONE, Interval(int, 1, None)],
    }

    def __init__(
        self,
        *,
        scale: str = "tiny",
        seed: int = 0,
        n_pretrain_tokens: int | None = None,
        finetune_lr: float | None = None,
        teacher: str = "large",
        n_prompts: int | None = None,
        prompt_tokens: int = 32,
        max_new_tokens: int = 128,
        temperature: float = 1.0,
        top_p: float = 0.95,
        curation: str = "curated",
        synthetic_ratio: float = 0.5,
        generation_batch_size: int = 16,
        teacher_price_per_mtok: float = 0.0,
        teacher_n_params: int | None = None,
        allow_download: bool = False,
        n_curation_clusters: int | None = None,
    ) -> None:
        self.scale = scale
        self.seed = seed
        self.n_pretrain_tokens = n_pretrain_tokens
        self.finetune_lr = finetune_lr
        self.teacher = teacher
        self.n_prompts = n_prompts
        self.prompt_tokens = prompt_tokens
        self.max_new_tokens = max_new_tokens
        self.temperature = temperature
        self.top_p = top_p
        self.curation = curation
        self.synthetic_ratio = synthetic_ratio
        self.generation_batch_size = generation_batch_size
        self.teacher_price_per_mtok = teacher_price_per_mtok
        self.teacher_n_params = teacher_n_params
        self.allow_download = allow_download
        self.n_curation_clusters = n_curation_clusters

    # ------------------------------------------------------------------ cost (no torch)
    def estimate_cost(self, *, n_domain_tokens: float, n_pretrain_tokens: float | None = None,
                      n_specialize_tokens: float | None = None,
                      scale: str | Scale | None = None) -> Cost:
        """Analytic FLOPs: the charging rules in the module docstring, with
        n_prompts x max_new_tokens generated tokens (n_prompts defaults to 1,000, capped at
        one prompt per `prompt_tokens` of domain data)."""
        from strategies.machinery.teachers import forward_flops_per_token as teacher_fwd
        from strategies.machinery.teachers import generation_window, teacher_shape

        self._validate()
        s = self._scale_for(scale)
        source = _source_for_estimate(self.teacher)
        shape = teacher_shape(source, s.large, self.teacher_n_params)
        n_pre = n_pretrain_tokens if n_pretrain_tokens is not None else self._pretrain_tokens(s)
        pre_student = train_flops(s.small, n_pre)  # ~6 N D (Kaplan et al. 2020)
        pre_teacher = 0.0 if source.external else train_flops(s.large, s.large_pretrain_tokens)
        teacher_ft = 0.0 if source.external else train_flops(
            s.large, default_specialize_tokens(s, n_domain_tokens))

        n_prompts = self._n_prompts_estimate(n_domain_tokens)
        # prompt lengths in project tokens stand in for the teacher's own tokens
        kept, new = generation_window(self.prompt_tokens, self.max_new_tokens,
                                      shape.get("max_positions"))
        window = kept + new
        generated = n_prompts * new
        # every prompt and generated position runs one teacher forward (KV cache), each
        # charged 2 N_teacher + attention over the full window
        generation = n_prompts * window * teacher_fwd(shape, window)
        # curated: one student forward over the candidates' opening blocks (<= domain data)
        scoring = forward_flops(s.small, n_domain_tokens) if self.curation == "curated" else 0.0
        if n_specialize_tokens is None:
            n_specialize_tokens = default_specialize_tokens(
                s, self._mixed_tokens(n_domain_tokens, n_prompts * window))
        student_ft = train_flops(s.small, n_specialize_tokens)
        components = {
            "pretraining_student": pre_student, "pretraining_teacher": pre_teacher,
            "teacher_finetune": teacher_ft, "teacher_generation": generation,
            "curation_scoring": scoring, "finetune": student_ft,
        }
        return Cost(
            pretraining_flops=pre_student + pre_teacher,
            specialization_flops=teacher_ft + generation + scoring + student_ft,
            inference_flops_per_token=forward_flops_per_token(s.small),  # ~2 N per token
            inference_params=s.small.n_params,
            pretraining_params=s.small.n_params + (0 if source.external else s.large.n_params),
            components=components,
            teacher_pretraining_flops=pre_teacher,
            teacher_specialization_flops=teacher_ft + generation,
            generated_tokens=float(generated),
            external_usd=(generated / 1e6 * self.teacher_price_per_mtok
                          if source.external else 0.0),
        )

    def _n_prompts_estimate(self, n_domain_tokens: float) -> int:
        if self.n_prompts is not None:
            return self.n_prompts
        return int(max(1, min(DEFAULT_N_PROMPTS, n_domain_tokens // (self.prompt_tokens + 1))))

    def _mixed_tokens(self, n_domain: float, n_synthetic: float) -> float:
        """Tokens in the student's training set: the domain data plus generated rows making
        up `synthetic_ratio` of it (d / (1 - r) in all), or the generated text alone."""
        r = self.synthetic_ratio
        return float(n_synthetic) if r >= 1.0 else float(n_domain) / (1.0 - r)

    @classmethod
    def search_space(cls, scale: str | Scale = "paper") -> dict[str, Any]:
        from optuna.distributions import (
            CategoricalDistribution,
            FloatDistribution,
            IntDistribution,
        )

        return {
            "synthetic_ratio": FloatDistribution(0.1, 1.0),
            "n_prompts": IntDistribution(100, 10_000, log=True),
            "max_new_tokens": IntDistribution(32, 512, log=True),
            "temperature": FloatDistribution(0.5, 1.2),
            "curation": CategoricalDistribution(["curated", "random"]),
        }

    # ------------------------------------------------------------------ pretraining
    def _student(self) -> PretrainFinetuneStrategy:
        from strategies.small import SmallStrategy

        return SmallStrategy(scale=self.scale, seed=self.seed,
                             n_pretrain_tokens=self.n_pretrain_tokens)

    def _large(self) -> PretrainFinetuneStrategy:
        from strategies.large import LargeStrategy

        return LargeStrategy(scale=self.scale, seed=self.seed)

    def pretrain(self, ws: Workspace) -> SequenceDistillationStrategy:
        """Pretrain (or load) the student through `small`'s key, and the own teacher
        through `large`'s; an external teacher is only checked to exist here."""
        from strategies.machinery.teachers import resolve_teacher

        self._validate()
        source = resolve_teacher(self.teacher)
        student = self._student().pretrain(ws)
        large = self._large().pretrain(ws) if source.kind == "large" else None
        self.pretrained_ = {"path": student.pretrained_["path"],
                            "record": student.pretrained_["record"]}
        self.teacher_ = large
        return self

    # ------------------------------------------------------------------ specialization
    def specialize(self, domain: Domain, ws: Workspace, *,
                   _on_batch: Any = None) -> SpecializedModel:
        """Curate prompts, generate (cached, resumable), fine-tune the student on the mix.

        `_on_batch` is a test hook passed to `generate_corpus` (raise in it to simulate an
        interrupted generation).
        """
        from strategies.machinery.generation import SamplingParams, corpus_key, generate_corpus
        from strategies.machinery.teachers import load_teacher, resolve_teacher

        self._check_pretrained()
        self._validate()
        source = resolve_teacher(self.teacher)
        student = self._fresh_model(ws)
        prompts, curation_info, scoring_flops = self._curate(domain, ws, student)
        teacher = load_teacher(source, ws, domain, large=getattr(self, "teacher_", None),
                               allow_download=self.allow_download)
        sampling = SamplingParams(max_new_tokens=self.max_new_tokens,
                                  temperature=self.temperature, top_p=self.top_p,
                                  batch_size=self.generation_batch_size, seed=self.seed)
        folder = ws.artifact_dir(corpus_key(teacher.identity, prompts, sampling))
        gen = generate_corpus(teacher, prompts, sampling, folder, progress=ws.progress,
                              desc=f"{self.name}:{domain.name} generate", on_batch=_on_batch)
        teacher_costs = {"pretraining_teacher": teacher.pretraining_flops,
                         "teacher_finetune": teacher.finetune_flops,
                         "teacher_params": teacher.shape["n_params"], **teacher.info}
        del teacher  # free the teacher before training the student
        train_data, mix_info = self._mixture(gen, domain, ws)
        return self._package(student, domain, ws, source, gen, train_data, scoring_flops,
                             teacher_costs, {**curation_info, **mix_info})

    def _curate(self, domain: Domain, ws: Workspace,
                student: Any) -> tuple[list[Prompt], dict[str, Any], float]:
        """Candidates -> (curated: cluster labels + student loss) -> the chosen prompts."""
        from strategies.machinery.curation import candidate_prompts, coverage, select_prompts

        cands = candidate_prompts(domain, ws, self.prompt_tokens)
        n = self._n_prompts_for(domain, len(cands))
        info: dict[str, Any] = {"n_candidate_prompts": len(cands), "n_prompts": n,
                                "curation": self.curation}
        scoring = 0.0
        if self.curation == "curated":
            from strategies.machinery.curation import student_losses

            corpus = ws.corpus(domain, "train")
            losses, n_positions = student_losses(student, corpus, [p.doc for p in cands])
            scoring = forward_flops(ws.scale.small, n_positions)
            k = self.n_curation_clusters or min(ws.scale.n_clusters_is, max(1, len(cands) // 2))
            labels = domain_clusters(domain, [p.doc for p in cands], k, self.seed)
            chosen = select_prompts(n, "curated", seed=self.seed, clusters=labels,
                                    hardness=losses)
            info.update(clusters_covered=coverage(chosen, labels),
                        n_domain_clusters=int(len(set(labels.tolist()))),
                        mean_student_loss_chosen=float(losses[chosen].mean()),
                        mean_student_loss_all=float(losses.mean()))
        else:
            chosen = select_prompts(n, "random", seed=self.seed, hardness=[0.0] * len(cands))
        return [cands[i] for i in chosen], info, scoring

    def _n_prompts_for(self, domain: Domain, n_candidates: int) -> int:
        if self.n_prompts is None:
            return min(DEFAULT_N_PROMPTS, n_candidates)
        if self.n_prompts > n_candidates:
            raise SpecplanError(
                f"n_prompts={self.n_prompts} is more than the {n_candidates} training "
                f"documents of domain {domain.name!r} that can give a {self.prompt_tokens}-token "
                "prompt within the domain data; lower n_prompts (or leave it unset to use "
                f"up to {DEFAULT_N_PROMPTS:,})"
            )
        return self.n_prompts

    def _mixture(self, gen: GenerationResult, domain: Domain,
                 ws: Workspace) -> tuple[torch.Tensor, dict[str, Any]]:
        """(n, T) training rows: the domain blocks plus generated blocks making up
        `synthetic_ratio` of the rows (sampled without repeats while they last)."""
        import numpy as np
        import torch

        from domains.tokenizer import encode_documents

        t = ws.scale.small.n_ctx
        synth = encode_documents(gen.texts(), ws.tokenizer).blocks(t)  # (n_s, T)
        if len(synth) == 0:
            raise SpecplanError(
                f"the teacher wrote {gen.new_tokens} tokens, less than one {t}-token training "
                "block; raise n_prompts or max_new_tokens"
            )
        domain_rows = ws.train_blocks(domain)  # (n_d, T)
        r = self.synthetic_ratio
        n_syn = len(synth) if r >= 1.0 else max(1, round(len(domain_rows) * r / (1.0 - r)))
        rng = np.random.default_rng(self.seed)
        # whole permutations first, so each generated block is used before any repeats
        reps = -(-n_syn // len(synth))
        pick = np.concatenate([rng.permutation(len(synth)) for _ in range(reps)])[:n_syn]
        syn_rows = torch.from_numpy(synth[pick]).long()
        rows = syn_rows if r >= 1.0 else torch.cat([domain_rows, syn_rows])
        info = {"synthetic_blocks": int(len(synth)), "synthetic_rows": int(n_syn),
                "domain_rows": 0 if r >= 1.0 else int(len(domain_rows)),
                "synthetic_tokens": int(len(synth) * t)}
        return rows, info

    def _package(self, student: Any, domain: Domain, ws: Workspace, source: Any,
                 gen: GenerationResult, train_data: torch.Tensor, scoring_flops: float,
                 teacher_costs: dict[str, Any], info: dict[str, Any]) -> SpecializedModel:
        pre_student = float(self.pretrained_["record"]["flops"])
        pre_teacher = float(teacher_costs.pop("pretraining_teacher"))
        teacher_ft = float(teacher_costs.pop("teacher_finetune"))
        components = {
            "pretraining_student": pre_student, "pretraining_teacher": pre_teacher,
            "teacher_finetune": teacher_ft, "teacher_generation": gen.flops,
            "curation_scoring": scoring_flops,
        }
        info = {
            **info, **teacher_costs, "teacher": self.teacher, "teacher_kind": source.kind,
            "generated_tokens": gen.new_tokens, "prompt_tokens_teacher": gen.prompt_tokens,
            "generation_tokens_per_s": gen.tokens_per_s,
            "generation_tokens_per_s_now": gen.tokens_per_s_now,
            "generation_seconds": gen.seconds, "generation_cache": str(gen.path),
            "n_prompts_generated_now": gen.n_prompts_now,
            "n_prompts_resumed": gen.n_resumed,
        }
        small = ws.scale.small
        out = finetune_and_package(
            self, student, domain, ws, pretraining_flops=pre_student + pre_teacher,
            pretraining_params=small.n_params + (0 if source.external
                                                 else int(teacher_costs["teacher_params"])),
            info=info, components=components,
            extra_specialization_flops=teacher_ft + gen.flops + scoring_flops,
            lr=self.finetune_lr, tag=f"ft-{self._spec_hash()}", train_data=train_data,
        )
        out.cost = dataclasses.replace(
            out.cost, teacher_pretraining_flops=pre_teacher,
            teacher_specialization_flops=teacher_ft + gen.flops,
            generated_tokens=float(gen.new_tokens),
            external_usd=(gen.new_tokens / 1e6 * self.teacher_price_per_mtok
                          if source.external else 0.0))
        return out

    def _spec_hash(self) -> str:
        """Names the student's fine-tune checkpoint: a resumed fine-tune must have been
        started with the same generation and mixing parameters."""
        params = {k: v for k, v in self.get_params().items() if k in self._specialization_params}
        return hashlib.sha256(json.dumps(params, sort_keys=True, default=repr).encode()
                              ).hexdigest()[:8]


def _source_for_estimate(teacher: str) -> Any:
    """Classify the teacher for a cost estimate; a path that does not exist (yet) is
    costed from `teacher_n_params` like a hub id rather than failing the estimate."""
    from strategies.machinery.teachers import TeacherError, TeacherSource, resolve_teacher

    try:
        return resolve_teacher(teacher)
    except TeacherError:
        if teacher.lower() == "smollm2":
            return TeacherSource("smollm2", teacher)
        return TeacherSource("hub", teacher)


def domain_clusters(domain: Domain, docs: list[int], k: int, seed: int) -> np.ndarray:
    """(n,) cluster label of each training document `docs`: k-means on their MiniLM
    embeddings (`strategies.machinery.clustering`, cached). The domain's own clusters, not the
    generic ones: a biomedical domain falls in one or two generic (Wikipedia) clusters,
    which says nothing about its topical spread."""
    from strategies.machinery.clustering import fit_clusters

    texts = domain.documents("train")
    return fit_clusters([texts[i] for i in docs], k, seed=seed).labels

