"""The ``files`` source: the user's own text, from a file or a folder.

Formats, chosen by file extension (a trailing ``.gz`` is decompressed first):

- ``.txt``: the whole file is **one document** (one article, contract, report ...). A folder
  of ``.txt`` files is the usual way to bring a domain. Pass ``one_per_line=True`` to read
  one document per non-blank line instead.
- ``.jsonl``: one JSON object per line; the text is field ``text`` (``text_field=`` picks
  another, e.g. ``"body"``). Blank lines are skipped.
- ``.csv``: a header row, then one document per row; the text is column ``text``
  (``text_field=`` picks another).
- ``.parquet``: one document per row of column ``text`` (``text_field=``); needs `pyarrow`.

A folder is read recursively, files in sorted path order; hidden files and other extensions
are skipped. ``label_field=`` names an optional field/column kept as each document's label.
Files must be UTF-8 (``encoding=`` to read another encoding). Every problem is a `DomainError`
naming the file (and line, for JSONL and CSV).
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import re
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from domains.cache import file_stamp, stable_hash
from domains.errors import DomainError
from domains.sources import Source
from domains.spec import DomainSpec

FORMATS = (".txt", ".jsonl", ".csv", ".parquet")
USER_LICENCE = "user-supplied files: check the terms of the files' owners"


def _format(path: Path) -> str | None:
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
        if suffixes and suffixes[-1] == ".parquet":
            return None
    return suffixes[-1] if suffixes and suffixes[-1] in FORMATS else None


def list_files(path: Path) -> list[Path]:
    """The readable files at `path` (a file, or a folder searched recursively)."""
    if not path.exists():
        raise DomainError(f"{path}: no such file or folder")
    if path.is_file():
        if _format(path) is None:
            raise DomainError(
                f"{path}: unsupported file type (expected {', '.join(FORMATS)}; .gz accepted "
                "except for .parquet)"
            )
        return [path]
    files = sorted(
        p
        for p in path.rglob("*")
        if p.is_file()
        and _format(p) is not None
        and not any(part.startswith(".") for part in p.relative_to(path).parts)
    )
    if not files:
        raise DomainError(f"{path}: empty folder (no {', '.join(FORMATS)} files)")
    return files


def _read_bytes(path: Path) -> bytes:
    try:
        data = path.read_bytes()
        if path.suffix.lower() == ".gz":
            data = gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as err:
        raise DomainError(f"{path}: cannot read ({err})") from None
    # a UTF-8 byte-order mark (spreadsheet exports) would otherwise stick to the first field
    return data[3:] if data.startswith(b"\xef\xbb\xbf") else data


def _decode(data: bytes, where: str, encoding: str, *, lines: bool = False) -> str:
    """`data` decoded; an error names the byte offset (and with `lines`, the line)."""
    try:
        return data.decode(encoding).removeprefix("\ufeff")
    except UnicodeDecodeError as err:
        bad = data[err.start : err.start + 1].hex()
        line = ""
        if lines:  # count the line breaks before the bad byte, in the file's own encoding
            head = data[: err.start].decode(encoding, errors="replace")
            line = f":{len(_LINE_BREAK.split(head))}"
        raise DomainError(
            f"{where}{line}: not valid {encoding} (byte 0x{bad} at offset {err.start}); "
            "re-encode the file as UTF-8"
        ) from None
    except LookupError:
        raise DomainError(f"{where}: unknown encoding {encoding!r}") from None


# JSONL records and one-per-line documents end at \n, \r\n or \r only: a JSON string may
# hold a raw U+2028 or U+0085, which str.splitlines would wrongly treat as a line end
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def _lines(data: bytes, path: Path, enc: str) -> list[str]:
    """The file's lines, decoded as a whole first, so UTF-16 and UTF-32 files split right
    (their line breaks are several bytes, which a byte-level split would cut)."""
    return _LINE_BREAK.split(_decode(data, str(path), enc, lines=True))


def _read_txt(path: Path, data: bytes, enc: str, one_per_line: bool) -> Iterator[tuple[str, Any]]:
    if not one_per_line:
        text = _decode(data, str(path), enc)
        if text.strip():
            yield text, None
        return
    for text in _lines(data, path, enc):
        if text.strip():
            yield text, None


def _read_jsonl(
    path: Path, data: bytes, enc: str, text_field: str, label_field: str | None
) -> Iterator[tuple[str, Any]]:
    for n, raw in enumerate(_lines(data, path, enc), 1):
        where = f"{path}:{n}"
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError as err:
            raise DomainError(f"{where}: not valid JSON ({err.msg})") from None
        if not isinstance(obj, dict):
            raise DomainError(f"{where}: expected a JSON object, got {type(obj).__name__}")
        if text_field not in obj:
            fields = ", ".join(map(str, obj)) or "none"
            raise DomainError(
                f"{where}: no {text_field!r} field (fields: {fields}); choose one with "
                "--text-field (text_field= in Python)"
            )
        text = obj[text_field]
        if not isinstance(text, str):
            raise DomainError(
                f"{where}: field {text_field!r} is {type(text).__name__}, not a string"
            )
        label = obj.get(label_field) if label_field else None
        yield text, (None if label is None else str(label))


def _read_csv(
    path: Path, data: bytes, enc: str, text_field: str, label_field: str | None
) -> Iterator[tuple[str, Any]]:
    text = _decode(data, str(path), enc)
    csv.field_size_limit(2**31 - 1)
    rows = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(rows, None)
        if header is None:
            raise DomainError(f"{path}: empty file")
        for field, what in ((text_field, "text_field"), (label_field, "label_field")):
            if field is not None and field not in header:
                raise DomainError(
                    f"{path}: no column {field!r} (columns: {', '.join(header)}); "
                    f"choose one with --{what.replace('_', '-')} ({what}= in Python)"
                )
        ti = header.index(text_field)
        li = header.index(label_field) if label_field else None
        for row in rows:
            if not row:
                continue
            if len(row) != len(header):
                raise DomainError(
                    f"{path}:{rows.line_num}: {len(row)} fields, the header has {len(header)}"
                )
            yield row[ti], (row[li] if li is not None else None)
    except csv.Error as err:
        raise DomainError(f"{path}:{rows.line_num}: not valid CSV ({err})") from None


def _read_parquet(
    path: Path, text_field: str, label_field: str | None
) -> Iterator[tuple[str, Any]]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise DomainError(
            f"{path}: reading Parquet needs pyarrow: pip install 'specplan[parquet]'"
        ) from None
    try:
        pf = pq.ParquetFile(path)
    except Exception as err:  # pyarrow raises several types for a corrupt file
        raise DomainError(f"{path}: not a readable Parquet file ({err})") from None
    names = pf.schema_arrow.names
    for field, what in ((text_field, "text_field"), (label_field, "label_field")):
        if field is not None and field not in names:
            raise DomainError(
                f"{path}: no column {field!r} (columns: {', '.join(names)}); "
                f"choose one with --{what.replace('_', '-')} ({what}= in Python)"
            )
    cols = [text_field] + ([label_field] if label_field else [])
    table = pf.read(columns=cols)
    texts = table.column(text_field).to_pylist()
    labels = table.column(label_field).to_pylist() if label_field else [None] * len(texts)
    for text, label in zip(texts, labels, strict=True):
        if text is not None:
            yield str(text), (None if label is None else str(label))


def read_file(
    path: Path,
    *,
    text_field: str = "text",
    label_field: str | None = None,
    encoding: str = "utf-8",
    one_per_line: bool = False,
) -> Iterator[tuple[str, str | None]]:
    """Raw `(text, label)` pairs of one file (see the module docstring for the formats)."""
    fmt = _format(path)
    if fmt == ".parquet":
        yield from _read_parquet(path, text_field, label_field)
        return
    data = _read_bytes(path)
    if fmt == ".txt":
        yield from _read_txt(path, data, encoding, one_per_line)
    elif fmt == ".jsonl":
        yield from _read_jsonl(path, data, encoding, text_field, label_field)
    elif fmt == ".csv":
        yield from _read_csv(path, data, encoding, text_field, label_field)
    else:  # pragma: no cover - list_files only returns known formats
        raise DomainError(f"{path}: unsupported file type")


def shared_data_dir() -> Path:
    """The larger corpora beside the project: `$SPECPLAN_SHARED_DATA`, else ``../shared/data``."""
    env = os.environ.get("SPECPLAN_SHARED_DATA")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2].parent / "shared" / "data"


class FilesSource(Source):
    """A file or folder of the user's documents (see the module docstring).

    Args:
        spec: the domain; its optional ``files`` mapping gives defaults for every option
            below (built-in domains point at the larger corpora in ``{shared_data}``).
        path: the file or folder.
        text_field: JSONL field / CSV or Parquet column holding the text (default ``text``).
        label_field: optional field/column kept as each document's label.
        encoding: text encoding of the files (default UTF-8).
        one_per_line: read ``.txt`` files as one document per non-blank line.
        licence: the licence to report (default: user-supplied).
    """

    name = "files"

    def __init__(
        self,
        spec: DomainSpec,
        *,
        path: str | os.PathLike[str] | None = None,
        text_field: str | None = None,
        label_field: str | None = None,
        encoding: str | None = None,
        one_per_line: bool | None = None,
        licence: str | None = None,
    ) -> None:
        cfg = dict(spec.sources.get("files") or {})
        from_spec = path is None
        raw_path = path if path is not None else cfg.get("path")
        if raw_path is None:
            raise DomainError(f"domain '{spec.name}': the files source needs a path (NAME=PATH)")
        self.path = Path(str(raw_path).format(shared_data=shared_data_dir())).expanduser()
        self.text_field = text_field or cfg.get("text_field", "text")
        self.label_field = label_field or cfg.get("label_field")
        self.encoding = encoding or cfg.get("encoding", "utf-8")
        self.one_per_line = bool(
            one_per_line if one_per_line is not None else cfg.get("one_per_line")
        )
        default_licence = cfg.get("licence", USER_LICENCE) if from_spec else USER_LICENCE
        self.licence = str(licence or default_licence).strip()
        prov = str(cfg.get("provenance", "")).strip() if from_spec else ""
        self.description = str(cfg.get("description", "")).strip() if from_spec else ""
        self.provenance = f"{prov + ' ' if prov else ''}[files: {self.path.resolve()}]"

    def _options(self) -> list[Any]:
        return [self.text_field, self.label_field, self.encoding, self.one_per_line]

    def cache_key(self) -> str | None:
        return stable_hash("files", self._options(), file_stamp(list_files(self.path)))

    def read(self) -> Iterator[tuple[str, str | None]]:
        n_files = n_docs = 0
        for f in list_files(self.path):
            n_files += 1
            n_before = n_docs
            for text, label in read_file(
                f,
                text_field=self.text_field,
                label_field=self.label_field,
                encoding=self.encoding,
                one_per_line=self.one_per_line,
            ):
                n_docs += 1
                yield text, label
            if n_docs == n_before and self.path.is_file():
                raise DomainError(f"{f}: empty file (no documents)")
        if n_docs == 0:
            raise DomainError(f"{self.path}: no documents in {n_files} file(s)")
