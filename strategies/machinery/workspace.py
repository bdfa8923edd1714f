"""The shared machinery a strategy runs in: scale, tokenizer, token blocks, artifacts,
the training loop with caching and resume, and evaluation.

One `Workspace` serves every strategy and domain of a run, so the tokenizer, the
tokenized corpora and the pretraining artifacts are built once and reused. Artifacts
live under `root/artifacts/<scale>/seed-<seed>/<key>/`; a finished artifact (its `result.json`
exists) is loaded, never retrained; an unfinished one resumes from its checkpoint. The
pretrained models are artifacts, and so are the fine-tunes that more than one strategy
needs (`finetune_artifact`: the large model fine-tuned on a domain is both the `large`
baseline and the distillation teacher).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from collections.abc import Callable, Iterator, Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from domains.atomic import atomic_into
from strategies.machinery.scales import ModelSpec, Scale, get_scale

if TYPE_CHECKING:
    import torch

    from domains import Domain
    from domains.token_files import BlockView, DocumentTexts, TokenFiles
    from domains.tokenizer import TokenizedCorpus
    from strategies.base import EvalResult
    from strategies.machinery.training import Data, LossFn, TrainResult


def spec_of(model: Any) -> ModelSpec:
    """The `ModelSpec` of a GPT-2 model (for FLOP counting)."""
    c = model.config
    return ModelSpec(n_layer=c.n_layer, n_embd=c.n_embd, n_head=c.n_head,
                     vocab_size=c.vocab_size, n_ctx=c.n_positions, n_inner=c.n_inner)


class Workspace:
    """Everything strategies share during one run.

    Args:
        scale: preset name or `Scale`.
        root: folder for artifacts and checkpoints (default: the specplan cache).
        seed: seed for model init and batch order.
        n_domain_tokens: in-domain training tokens to use (default: the scale's).
        progress: show progress bars.
        precision: "auto" | "fp32" | "bf16" for training.
    """

    def __init__(
        self,
        scale: str | Scale = "tiny",
        *,
        root: str | Path | None = None,
        seed: int = 0,
        n_domain_tokens: int | None = None,
        progress: bool = True,
        precision: str = "auto",
    ) -> None:
        from domains.cache import cache_dir

        self.scale = get_scale(scale)
        self.root = Path(root) if root is not None else cache_dir()
        self.seed = seed
        self.n_domain_tokens = n_domain_tokens or self.scale.domain_train_tokens
        self.progress = progress
        self.precision = precision
        self._corpora: dict[tuple[str, str], TokenizedCorpus] = {}
        self._blocks: dict[tuple[str, str, int | None, int], torch.Tensor] = {}

    # ------------------------------------------------------------------ data
    @cached_property
    def tokenizer(self) -> Any:
        from domains.tokenizer import get_tokenizer

        return get_tokenizer(self.scale.vocab_size, max_docs=self.scale.tokenizer_docs)

    @property
    def eos_id(self) -> int:
        return int(self.tokenizer.eos_token_id)

    @cached_property
    def generic(self) -> Domain:
        from domains import get_domain

        return get_domain("generic")

    def corpus(self, domain: Domain, split: str) -> TokenizedCorpus:
        """The tokenized split (documents kept apart; cached on disk and in memory)."""
        from domains.tokenizer import tokenize_split

        key = (domain.fingerprint, split)
        if key not in self._corpora:
            self._corpora[key] = tokenize_split(domain, split, self.tokenizer)
        return self._corpora[key]

    def blocks(self, domain: Domain, split: str, max_tokens: int | None = None,
               block_size: int | None = None) -> torch.Tensor:
        """(n, T) int64 blocks of the split's token stream, truncated to `max_tokens`."""
        import torch

        from domains.errors import DomainError

        t = block_size or self.scale.small.n_ctx
        key = (domain.fingerprint, split, max_tokens, t)
        if key not in self._blocks:
            arr = self.corpus(domain, split).blocks(t, max_tokens=max_tokens)
            if len(arr) == 0:
                raise DomainError(
                    f"domain {domain.name!r}: the {split} split has fewer than {t} tokens, "
                    "too small for one block"
                )
            self._blocks[key] = torch.from_numpy(arr).long()
        return self._blocks[key]

    def train_blocks(self, domain: Domain) -> torch.Tensor:
        return self.blocks(domain, "train", self.n_domain_tokens)

    def valid_blocks(self, domain: Domain) -> torch.Tensor:
        return self.blocks(domain, "valid", self.scale.valid_tokens)

    def test_blocks(self, domain: Domain) -> torch.Tensor:
        return self.blocks(domain, "test", self.scale.eval_tokens)

    # ------------------------------------------------------------------ the generic corpus
    # Read from memory-mapped token files only: nothing below holds the generic corpus (its
    # text or its token stream) in RAM, so the same code runs on C4.
    @cached_property
    def generic_files(self) -> TokenFiles:
        """The generic train split as memory-mapped token files (`domains.token_files`):
        the folder named by ``SPECPLAN_GENERIC_TOKENS`` when set (e.g. C4 tokenized by
        `domains.tokenizer.source_token_files`; it must have been written with this
        workspace's tokenizer), else the generic domain's train split, tokenized on first
        use.

        Raises:
            DomainError: the folder is not finished token files of this tokenizer.
        """
        from domains.errors import DomainError
        from domains.token_files import TokenFiles
        from domains.tokenizer import split_token_files, tokenizer_hash

        folder = os.environ.get("SPECPLAN_GENERIC_TOKENS")
        if not folder:
            return split_token_files(self.generic, "train", self.tokenizer)
        files = TokenFiles(folder)
        if files.index["tokenizer"] != tokenizer_hash(self.tokenizer):
            raise DomainError(f"SPECPLAN_GENERIC_TOKENS={folder}: written with another "
                              f"tokenizer than the {self.scale.name} scale's; tokenize again")
        return files

    @cached_property
    def generic_doc_lengths(self) -> np.ndarray:
        """int64 (n_docs,): tokens of every generic train document (its eos included)."""
        return self.generic_files.doc_lengths()

    def generic_texts(self, indices: Sequence[int] | np.ndarray | None = None) -> DocumentTexts:
        """The texts of generic train documents `indices` (default: all), decoded from the
        token files on demand, a batch at a time (`domains.token_files.DocumentTexts`)."""
        from domains.token_files import DocumentTexts

        return DocumentTexts(self.generic_files, self.tokenizer, indices)

    def generic_blocks(self, max_tokens: int | None = None) -> BlockView:
        """(n, T) blocks of the generic train stream, truncated to `max_tokens`, read from
        the memory-mapped token files batch by batch (`BlockView`). The same rows as
        cutting the concatenated stream while the corpus is one shard (the packaged ones:
        `DEFAULT_SHARD_DOCS` documents per shard); beyond, a shard's remainder is dropped."""
        from domains.errors import DomainError
        from domains.token_files import BlockView

        t = self.scale.small.n_ctx
        view = BlockView(self.generic_files, t,
                         max_blocks=None if max_tokens is None else int(max_tokens) // t)
        if len(view) == 0:
            raise DomainError(f"domain {self.generic.name!r}: the train split has fewer than "
                              f"{t} tokens, too small for one block")
        return view

    def generic_selection(self, groups: Sequence[np.ndarray], name: str) -> TokenFiles:
        """Token files of chosen generic documents, one shard per group (each group's
        documents concatenated in order), written once beside the generic token files
        (``select/<name>-<hash of the groups>``) through a memory map
        (`domains.token_files.select_token_files`); a `BlockView` over them gives each
        group's blocks in group order."""
        import hashlib

        from domains.token_files import select_token_files

        h = hashlib.sha256()
        for g in groups:
            h.update(np.asarray(g, dtype=np.int64).tobytes())
            h.update(b"|")
        files = self.generic_files
        return select_token_files(files, groups,
                                  files.folder / "select" / f"{name}-{h.hexdigest()[:20]}")

    # ------------------------------------------------------------------ artifacts
    def artifact_dir(self, key: str) -> Path:
        """The folder of the artifact `key`: ``root/artifacts/<scale>/seed-<seed>/<key>``.

        The workspace seed (model init and batch order of everything trained here) is part
        of every artifact's address, so a run with seed 1 never loads seed 0's weights,
        whatever the strategy's own parameters say. A generic corpus of one's own
        (``SPECPLAN_GENERIC_TOKENS``) adds ``generic-<hash of its token-file index>/`` after
        the scale, so models pretrained on it never mix with the packaged corpus's."""
        path = self.root / "artifacts" / self.scale.name
        if os.environ.get("SPECPLAN_GENERIC_TOKENS"):
            index = json.dumps(self.generic_files.index, sort_keys=True).encode()
            path = path / f"generic-{hashlib.sha256(index).hexdigest()[:12]}"
        path = path / f"seed-{self.seed}" / key
        path.mkdir(parents=True, exist_ok=True)
        return path

    @staticmethod
    def is_finished(path: Path) -> bool:
        return (path / "result.json").exists()

    @staticmethod
    def read_record(path: Path) -> dict[str, Any]:
        """The training record of the finished artifact `path` (its `result.json`)."""
        return dict(json.loads((path / "result.json").read_text()))

    @staticmethod
    def finish(path: Path, record: dict[str, Any]) -> None:
        """Mark the artifact `path` finished (after its weights are saved): its
        `result.json`, written atomically, so a reader never sees a torn file. Under
        several processes only the main one writes, and the others wait for it."""
        from domains.cache import atomic_write_bytes
        from strategies.machinery import distributed as dist

        if dist.is_main_process():
            atomic_write_bytes(path / "result.json", json.dumps(record).encode("utf-8"))
        dist.barrier()

    @staticmethod
    def save_model(model: Any, path: Path) -> None:
        """`save_pretrained` (safetensors) into the artifact `path`, by the main process."""
        from strategies.machinery import distributed as dist

        if dist.is_main_process():
            with atomic_into(path) as tmp:  # no torn model.safetensors; WriteError when full
                model.save_pretrained(tmp, safe_serialization=True)

    # ------------------------------------------------------------------ evaluation
    def perplexity(self, model: Any, domain: Domain, split: str = "test") -> EvalResult:
        from strategies.machinery.evaluation import perplexity

        blocks = self.test_blocks(domain) if split == "test" else self.valid_blocks(domain)
        return perplexity(model, blocks, split=split)

    # ------------------------------------------------------------------ training
    def train_config(self, spec: ModelSpec, *, lr: float, desc: str, key_dir: Path | None,
                     **overrides: Any) -> Any:
        from strategies.machinery.flops import train_flops_per_token
        from strategies.machinery.training import TrainConfig

        s = self.scale
        cfg = TrainConfig(
            lr=lr, batch_size=s.batch_size, warmup_steps=s.warmup_steps,
            grad_clip=s.grad_clip, flops_per_token=train_flops_per_token(spec),
            precision=self.precision, seed=self.seed, checkpoint_dir=key_dir,
            checkpoint_every=int(_env_int("SPECPLAN_CHECKPOINT_EVERY", 50)),
            micro_batch_size=_env_int("SPECPLAN_MICRO_BATCH", 0) or None,
            desc=desc, progress=self.progress,
        )
        for k, v in overrides.items():
            setattr(cfg, k, v)
        return cfg

    def pretrain_lm(
        self,
        spec: ModelSpec,
        data: Data,
        *,
        key: str,
        n_tokens: float,
        desc: str,
        lr: float | None = None,
        model: Any = None,
        loss_fn: LossFn | None = None,
        seed_offset: int = 0,
    ) -> tuple[Any, dict[str, Any]]:
        """Pretrain (or load the finished artifact of) a GPT-2 LM on `data` for `n_tokens`.

        Returns the model and the run's record (steps, tokens, flops, wall_s, ...).
        """
        from transformers import GPT2LMHeadModel


        path = self.artifact_dir(key)
        with self.exclusive(path):
            if self.is_finished(path):
                return GPT2LMHeadModel.from_pretrained(path), self.read_record(path)
            return self._pretrain_lm(spec, data, path, n_tokens=n_tokens, desc=desc, lr=lr,
                                     model=model, loss_fn=loss_fn, seed_offset=seed_offset)

    def _pretrain_lm(self, spec: ModelSpec, data: Data,
                     path: Path, *, n_tokens: float, desc: str, lr: float | None, model: Any,
                     loss_fn: LossFn | None, seed_offset: int) -> tuple[Any, dict[str, Any]]:
        from strategies.machinery.models import build_model
        from strategies.machinery.training import train

        if model is None:
            model = build_model(spec, seed=self.seed + seed_offset, eos_token_id=self.eos_id)
        cfg = self.train_config(spec, lr=lr or self.scale.lr, desc=desc, key_dir=path,
                                max_tokens=n_tokens, weight_decay=0.1)
        cfg.seed = self.seed + seed_offset
        result = train(model, data, cfg, loss_fn=loss_fn)
        record = {**result.to_dict(), "n_params": spec.n_params, "finished": time.time()}
        self.save_model(model, path)
        self.finish(path, record)
        return model, record

    def finetune(
        self,
        model: Any,
        domain: Domain,
        *,
        key: str,
        desc: str,
        lr: float | None = None,
        train_data: torch.Tensor | dict[str, torch.Tensor] | None = None,
        loss_fn: LossFn | None = None,
        valid_loss_fn: LossFn | None = None,
        extra_flops_per_token: float = 0.0,
        max_epochs: float | None = None,
    ) -> TrainResult:
        """Early-stopped fine-tuning on the domain's training split (in place).

        Stops after `patience` validation checks without improvement, or at the cap of
        `max_epochs` passes (default: the scale's `finetune_max_epochs`, set high enough
        that early stopping, not the cap, ends a fine-tune), and restores the best
        weights. The returned `TrainResult` carries the fine-tune curve (`valid_history`),
        `best_step`, `steps` and `converged` (False when the best step is the last one).
        Resumes from a checkpoint under `key` if a previous run was killed.
        """
        from strategies.machinery.training import train

        s = self.scale
        data = train_data if train_data is not None else self.train_blocks(domain)
        n_rows = int((data["input_ids"] if isinstance(data, dict) else data).shape[0])
        epochs = s.finetune_max_epochs if max_epochs is None else max_epochs
        max_steps = max(1, int(round(epochs * n_rows / s.batch_size)))
        spec = spec_of(model)
        cfg = self.train_config(
            spec, lr=lr or s.finetune_lr, desc=desc, key_dir=self.artifact_dir(key),
            max_steps=max_steps, eval_every=s.eval_every, patience=s.patience,
            warmup_steps=min(s.warmup_steps, max_steps // 10),
        )
        cfg.flops_per_token += extra_flops_per_token
        return train(model, data, cfg, valid=self.valid_blocks(domain), loss_fn=loss_fn,
                     valid_loss_fn=valid_loss_fn)

    def finetune_artifact(
        self,
        make_model: Callable[[], Any],
        domain: Domain,
        *,
        key: str,
        desc: str,
        lr: float | None = None,
        **finetune_kwargs: Any,
    ) -> tuple[Any, TrainResult, bool]:
        """`finetune`, with the fine-tuned weights kept as a finished artifact under `key`.

        When the artifact is finished, its weights and its training record are loaded and
        nothing is trained; otherwise `make_model()` builds the model to fine-tune (only
        then, under the artifact's lock), which is fine-tuned (resuming from the checkpoint
        under `key` if a run was killed) and saved there (safetensors, then `result.json`).
        The key must name everything the weights depend on (pretrained model, domain, token
        budget, learning rate, seed, ...): every caller with the same key gets the same
        weights.

        Returns:
            (the fine-tuned model, the fine-tune's `TrainResult` as recorded when it was
            trained, whether it was loaded rather than trained now).
        """
        from transformers import GPT2LMHeadModel

        path = self.artifact_dir(key)
        with self.exclusive(path):
            if self.is_finished(path):
                record = self.read_record(path)
                return GPT2LMHeadModel.from_pretrained(path), _train_result(record), True
            model = make_model()
            result = self.finetune(model, domain, key=key, desc=desc, lr=lr, **finetune_kwargs)
            self.save_model(model, path)
            self.finish(path, result.to_dict())
            return model, result, False

    @contextlib.contextmanager
    def exclusive(self, path: Path) -> Iterator[None]:
        """Hold the artifact folder `path` for this process: a second process (another
        `specplan run` or `sweep` on the same root) that wants the same artifact waits,
        then loads what the first one finished instead of training it again. A lock file
        beside the folder (`filelock`: released by the OS if the holder dies).

        Under `accelerate launch` / `torchrun` the processes of one run act as one: the
        main process takes the lock, the others wait for it at a barrier, so all of them
        see the same finished-or-not state and train (or load) together."""
        from filelock import FileLock, Timeout

        from strategies.machinery import distributed as dist

        if not dist.is_main_process():
            dist.barrier()  # until the main process holds the lock
            yield
            return
        lock = FileLock(str(path.parent / f"{path.name}.lock"))
        try:
            lock.acquire(timeout=0)
        except Timeout:
            if self.progress:
                print(f"waiting for another process to finish {path.name} ...", flush=True)
            lock.acquire()
        try:
            dist.barrier()
            yield
        finally:
            lock.release()


def _train_result(record: dict[str, Any]) -> TrainResult:
    """A `TrainResult` back from its `to_dict()` JSON (unknown keys ignored)."""
    import dataclasses

    from strategies.machinery.training import TrainResult

    names = {f.name for f in dataclasses.fields(TrainResult)}
    fields = {k: v for k, v in record.items() if k in names}
    fields["valid_history"] = [tuple(x) for x in fields.get("valid_history", [])]
    return TrainResult(**fields)


def _env_int(name: str, default: int) -> int:
    import os

    try:
        return int(os.environ.get(name, default))
    except ValueError:
        return default
