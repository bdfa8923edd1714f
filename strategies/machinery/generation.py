"""Batched teacher generation into a resumable JSONL corpus.

`generate_corpus` continues each prompt with the teacher (left-padded batches, sampling
with temperature / top-p, a tqdm bar) and appends one JSON record per prompt to
``generations.jsonl``, flushed and fsynced after every batch. The file lives in a folder
named by a hash of (teacher identity, prompts, sampling parameters), so a rerun with the
same inputs finds it and generates only the prompts not yet done: an interrupted run
resumes where it stopped, and a finished one costs nothing.

Every record carries the compute that produced it (its share of the batch's forward
FLOPs, padding included) and the seconds it took, so the cost and the speed of a corpus are
the same whether it was generated in one go or over several resumed runs.

Each batch is sampled under its own seed (a function of the sampling seed and the batch's
first prompt), so a resumed corpus is identical to an uninterrupted one.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from domains.atomic import atomic_write_text, write_guard
from domains.cache import stable_hash
from domains.errors import SpecplanError

if TYPE_CHECKING:
    from strategies.machinery.teachers import Teacher

FORMAT = "specplan-generations-v1"


@dataclass(frozen=True)
class SamplingParams:
    """How the teacher samples. `temperature == 0` means greedy decoding."""

    max_new_tokens: int
    temperature: float = 1.0
    top_p: float = 1.0
    batch_size: int = 16
    seed: int = 0


@dataclass(frozen=True)
class Prompt:
    """One prompt: the opening of a training document.

    Attributes:
        doc: the document's index in the domain's training split.
        text: the prompt text (the first `prompt_tokens` project tokens, decoded).
        n_tokens: its length in project tokens.
    """

    doc: int
    text: str
    n_tokens: int


@dataclass
class GenerationResult:
    """A generated corpus and what it cost.

    `records` holds every prompt's record (earlier runs included); the `*_now` fields
    describe this call only, so a test can check that a resumed run did just the rest.
    """

    path: Path
    records: list[dict[str, Any]]
    n_prompts_now: int = 0
    n_resumed: int = 0
    new_tokens_now: int = 0
    seconds_now: float = 0.0
    complete: bool = True
    generated_docs_now: list[int] = field(default_factory=list)

    @property
    def new_tokens(self) -> int:
        """Teacher tokens generated over the whole corpus (eos included, padding not)."""
        return sum(int(r["new_tokens"]) for r in self.records)

    @property
    def prompt_tokens(self) -> int:
        return sum(int(r["prompt_tokens"]) for r in self.records)

    @property
    def flops(self) -> float:
        """Teacher forward FLOPs over the whole corpus (prompt and generated positions)."""
        return float(sum(float(r["flops"]) for r in self.records))

    @property
    def seconds(self) -> float:
        return float(sum(float(r["seconds"]) for r in self.records))

    @property
    def tokens_per_s(self) -> float:
        """Generated tokens per second of generation, over the whole corpus."""
        return self.new_tokens / self.seconds if self.seconds > 0 else 0.0

    @property
    def tokens_per_s_now(self) -> float:
        return self.new_tokens_now / self.seconds_now if self.seconds_now > 0 else 0.0

    def texts(self) -> list[str]:
        """Prompt + continuation per record: the teacher's version of each document."""
        return [r["prompt"] + r["completion"] for r in self.records]


def corpus_key(identity: dict[str, Any], prompts: Sequence[Prompt],
               sampling: SamplingParams) -> str:
    """Cache key of a generated corpus: (teacher, prompts, sampling parameters)."""
    return "gen-" + stable_hash(FORMAT, identity, [asdict(p) for p in prompts],
                                asdict(sampling), length=20)


# ---------------------------------------------------------------------------- the JSONL file
def read_records(path: Path) -> list[dict[str, Any]]:
    """The complete records of a generation file.

    A torn last line (a kill during a write) is cut off the file so appending goes on
    cleanly; a corrupt line in the middle is an error, never silently skipped.
    """
    if not path.exists():
        return []
    data = path.read_bytes()
    end = data.rfind(b"\n") + 1
    if end < len(data):  # the last write was interrupted: drop the partial line
        with open(path, "r+b") as f:
            f.truncate(end)
        data = data[:end]
    records = []
    for n, line in enumerate(data.decode("utf-8").splitlines(), 1):
        try:
            records.append(json.loads(line))
        except ValueError:
            raise SpecplanError(
                f"generation cache {path} is corrupt at line {n}; delete it to regenerate"
            ) from None
    return records


def _append(path: Path, records: list[dict[str, Any]]) -> None:
    # an append-only journal, not a temp-and-rename file: a torn last line is cut by
    # `read_records`; a write error is one `WriteError` line naming the file
    with write_guard(path), open(path, "a", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
        f.flush()
        os.fsync(f.fileno())


# ---------------------------------------------------------------------------- generation
def generate_corpus(
    teacher: Teacher,
    prompts: Sequence[Prompt],
    sampling: SamplingParams,
    folder: Path,
    *,
    progress: bool = True,
    desc: str = "generate",
    on_batch: Callable[[int, list[dict[str, Any]]], None] | None = None,
) -> GenerationResult:
    """Continue every prompt with the teacher, resuming a previous run in `folder`.

    Args:
        teacher: a loaded `Teacher`.
        prompts: the prompts, in generation order.
        sampling: sampling parameters (part of the cache key, with the prompts).
        folder: where ``generations.jsonl`` and ``meta.json`` live.
        progress: show a tqdm bar (prompts, with tokens/s).
        desc: the bar's label.
        on_batch: called after each batch is written, with the batch number (0-based, this
            call) and its records; a test hook (raise to simulate an interruption).

    Returns:
        The whole corpus (earlier runs included) with this call's counters.
    """
    from tqdm.auto import tqdm

    if not prompts:
        raise SpecplanError(f"{desc}: no prompts to continue")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "generations.jsonl"
    meta = folder / "meta.json"
    if not meta.exists():
        atomic_write_text(meta, json.dumps({"format": FORMAT, "teacher": teacher.identity,
                                            "sampling": asdict(sampling),
                                            "n_prompts": len(prompts)}, indent=2, default=str))
    records = read_records(path)
    done = {int(r["i"]) for r in records}
    todo = [i for i in range(len(prompts)) if i not in done]
    result = GenerationResult(path=path, records=records, n_resumed=len(done))
    bar = tqdm(total=len(prompts), initial=len(done), desc=desc, unit="prompt",
               disable=not progress, leave=False, mininterval=1.0)
    for b, start in enumerate(range(0, len(todo), sampling.batch_size)):
        idx = todo[start : start + sampling.batch_size]
        batch = generate_batch(teacher, [prompts[i] for i in idx], idx, sampling)
        _append(path, batch)
        records.extend(batch)
        result.n_prompts_now += len(batch)
        result.new_tokens_now += sum(r["new_tokens"] for r in batch)
        result.seconds_now += sum(r["seconds"] for r in batch)
        result.generated_docs_now.extend(r["doc"] for r in batch)
        bar.update(len(batch))
        bar.set_postfix(tok_s=f"{result.tokens_per_s_now:.0f}")
        if on_batch is not None:
            on_batch(b, batch)
    bar.close()
    records.sort(key=lambda r: int(r["i"]))
    return result


def generate_batch(teacher: Teacher, prompts: Sequence[Prompt], idx: Sequence[int],
                   sampling: SamplingParams) -> list[dict[str, Any]]:
    """One left-padded batch through `model.generate`; one record per prompt."""
    import torch

    from strategies.machinery.teachers import generation_window

    tok, model = teacher.tokenizer, teacher.model
    device = next(model.parameters()).device
    ids, mask = left_pad(tok, [p.text for p in prompts])  # (B, P) each
    keep, max_new = generation_window(int(ids.shape[1]), sampling.max_new_tokens,
                                      teacher.max_positions)
    ids, mask = ids[:, ids.shape[1] - keep :], mask[:, mask.shape[1] - keep :]
    if max_new < 1:
        raise SpecplanError("the teacher's context leaves no room to generate any token")
    kwargs: dict[str, Any] = {"max_new_tokens": max_new, "pad_token_id": tok.pad_token_id}
    if sampling.temperature > 0:
        kwargs.update(do_sample=True, temperature=sampling.temperature, top_p=sampling.top_p,
                      top_k=0)
    else:
        kwargs.update(do_sample=False)
    # on a GPU, bf16 autocast where the device has it (the training loop's policy); the
    # CPU keeps fp32 (emulated bf16 is slower there, and corpora stay as they were)
    bf16 = device.type == "cuda" and torch.cuda.is_bf16_supported()
    t0 = time.perf_counter()
    with torch.random.fork_rng(devices=[]), torch.no_grad(), \
            torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
        # the batch's own seed: resumed and uninterrupted corpora are identical
        torch.manual_seed(int(stable_hash(sampling.seed, int(idx[0]), length=8), 16))
        out = model.generate(input_ids=ids.to(device), attention_mask=mask.to(device), **kwargs)
    seconds = time.perf_counter() - t0
    new = out[:, ids.shape[1] :].cpu()  # (B, steps): continuation, eos-padded after it ends
    n_new = _lengths_until_eos(new, _eos_ids(model, tok))
    # compute actually spent: every row runs (padded prompt + decode steps) positions;
    # charge each at 2N + attention over the full window (Kaplan convention)
    window = ids.shape[1] + new.shape[1]
    batch_flops = len(prompts) * window * teacher.flops_per_token(window)
    total_new = max(1, sum(n_new))
    records = []
    for j, p in enumerate(prompts):
        text = tok.decode(new[j, : n_new[j]], skip_special_tokens=True)
        records.append({
            "i": int(idx[j]), "doc": p.doc, "prompt": p.text, "completion": text,
            "prompt_tokens": int(mask[j].sum()), "new_tokens": int(n_new[j]),
            "flops": batch_flops / len(prompts),
            # seconds shared in proportion to the tokens each row produced
            "seconds": seconds * n_new[j] / total_new,
        })
    return records


def left_pad(tok: Any, texts: Sequence[str]) -> tuple[Any, Any]:
    """(B, P) int64 ids and attention mask, padded on the left with the pad token.

    Padding is done here rather than with ``tok(..., padding=True)``: that call leaves
    padding switched on in the shared Rust tokenizer (transformers 5), which would then pad
    every later `encode_batch` of the project tokenizer.
    """
    import torch

    seqs = tok(list(texts))["input_ids"]
    width = max(1, max(len(x) for x in seqs))
    ids = torch.full((len(seqs), width), int(tok.pad_token_id), dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for j, x in enumerate(seqs):
        if x:
            ids[j, width - len(x) :] = torch.tensor(x, dtype=torch.long)
            mask[j, width - len(x) :] = 1
    return ids, mask


def _eos_ids(model: Any, tok: Any) -> set[int]:
    """Every id that ends a generation: the tokenizer's eos and the model's (a list for
    chat models such as SmolLM2)."""
    ids = {tok.eos_token_id} if tok.eos_token_id is not None else set()
    cfg_eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    if cfg_eos is not None:
        ids |= set(cfg_eos) if isinstance(cfg_eos, (list, tuple)) else {cfg_eos}
    return {int(i) for i in ids}


def _lengths_until_eos(new: Any, eos_ids: set[int]) -> list[int]:
    """Generated length per row, up to and including the first eos (the rest is padding)."""
    out = []
    for row in new.tolist():
        end = next((k for k, t in enumerate(row) if t in eos_ids), None)
        out.append(len(row) if end is None else end + 1)
    return out
