"""`DomainSpec`: a domain declared as data, loaded from `domains/<name>/domain.yaml`.

A spec says what a domain is (name, description), how its text is cleaned and split, and
where its text comes from: one mapping per source name (``packaged``, ``files``, ``hf``),
each with its own options, licence and provenance. The source modules (`domains.sources`)
interpret those options. Users add a domain without editing the package by putting a
``<name>/domain.yaml`` (or ``<name>.yaml``) in a folder named by `include_path=` or by the
``SPECPLAN_DOMAINS_PATH`` environment variable (folders separated by ``os.pathsep``).
"""

from __future__ import annotations

import os
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from domains.cleaning import DEFAULT_MIN_CHARS, DEFAULT_TEST_FRACTION, DEFAULT_VALID_FRACTION
from domains.errors import DomainError

BUILTIN_DOMAINS: tuple[str, ...] = ("biomedical", "legal", "news", "generic")
SOURCE_NAMES: tuple[str, ...] = ("packaged", "files", "hf")
PATH_ENV_VAR = "SPECPLAN_DOMAINS_PATH"
_MAX_NAME = 100
_PACKAGE_DIR = Path(__file__).resolve().parent


@dataclass(frozen=True, slots=True, kw_only=True)
class DomainSpec:
    """What a domain is and where its text comes from.

    Args:
        name: the domain's name: any text up to 100 characters without ``=``, control
            characters or surrounding spaces. It is shown to people (escaped in reports) and
            never used as a path on its own (see `domains.cache.file_stem`).
        description: one sentence for people.
        default_source: the source used when none is named.
        sources: source name -> that source's options (including ``licence`` and ``provenance``).
        min_chars: cleaned documents shorter than this are dropped.
        valid_fraction: share of documents hashed into the validation split.
        test_fraction: share of documents hashed into the test split.
        origin: the YAML file it came from ("" for specs built in code).
    """

    name: str
    description: str = ""
    default_source: str = "packaged"
    sources: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    min_chars: int = DEFAULT_MIN_CHARS
    valid_fraction: float = DEFAULT_VALID_FRACTION
    test_fraction: float = DEFAULT_TEST_FRACTION
    origin: str = ""

    def __post_init__(self) -> None:
        where = self.origin or f"domain '{self.name}'"
        problem = name_problem(self.name)
        if problem:
            raise DomainError(f"{where}: invalid domain name {self.name!r} ({problem})")
        for src in self.sources:
            if src not in SOURCE_NAMES:
                raise DomainError(
                    f"{where}: unknown source {src!r} (known: {', '.join(SOURCE_NAMES)})"
                )
        v, t = self.valid_fraction, self.test_fraction
        if not (0 < v < 1 and 0 < t < 1 and v + t < 1):
            raise DomainError(
                f"{where}: split fractions must be in (0, 1) with valid + test < 1, "
                f"got valid={v!r}, test={t!r}"
            )
        if not isinstance(self.min_chars, int) or self.min_chars < 1:
            raise DomainError(
                f"{where}: min_chars must be a positive integer, got {self.min_chars!r}"
            )


def name_problem(name: object) -> str:
    """Why `name` cannot name a domain, or "" when it can."""
    if not isinstance(name, str) or not name.strip():
        return "it must be non-empty text"
    if name != name.strip():
        return "remove the spaces around it"
    if "=" in name:
        return "'=' separates NAME from PATH"
    if any(unicodedata.category(c).startswith("C") for c in name):
        return "it holds a control or invisible character"
    if len(name) > _MAX_NAME:
        return f"at most {_MAX_NAME} characters"
    return ""


def load_spec(path: str | os.PathLike[str]) -> DomainSpec:
    """Load and validate one ``domain.yaml``; every error names the file."""
    import yaml  # pyyaml: a declared dependency, imported here to keep `import domains` light

    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise DomainError(f"{path}: cannot read domain spec ({err.strerror or err})") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        problem = getattr(err, "problem", None) or type(err).__name__
        raise DomainError(f"{where}: invalid YAML ({problem})") from None
    if not isinstance(raw, dict):
        raise DomainError(f"{path}: the YAML root must be a mapping")
    splits = raw.get("splits") or {}
    known = {"name", "description", "default_source", "sources", "min_chars", "splits"}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise DomainError(
            f"{path}: unknown key(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})"
        )
    sources = raw.get("sources") or {}
    if not isinstance(sources, dict) or not all(isinstance(v, dict) for v in sources.values()):
        raise DomainError(f"{path}: 'sources' must map source names to mappings")
    return DomainSpec(
        name=raw.get("name", path.parent.name if path.name == "domain.yaml" else path.stem),
        description=str(raw.get("description", "")).strip(),
        default_source=raw.get("default_source", "packaged"),
        sources=sources,
        min_chars=raw.get("min_chars", DEFAULT_MIN_CHARS),
        valid_fraction=float(splits.get("valid", DEFAULT_VALID_FRACTION)),
        test_fraction=float(splits.get("test", DEFAULT_TEST_FRACTION)),
        origin=str(path),
    )


def _search_folders(include_path: str | os.PathLike[str] | Sequence[Any] | None) -> list[Path]:
    folders: list[Path] = []
    if include_path is not None:
        items = [include_path] if isinstance(include_path, str | os.PathLike) else include_path
        folders += [Path(p) for p in items]
    env = os.environ.get(PATH_ENV_VAR, "")
    folders += [Path(p) for p in env.split(os.pathsep) if p]
    return folders


def spec_files(
    include_path: str | os.PathLike[str] | Sequence[Any] | None = None,
) -> dict[str, Path]:
    """Domain name -> its YAML: the built-ins, then user folders (which may override them)."""
    found = {name: _PACKAGE_DIR / name / "domain.yaml" for name in BUILTIN_DOMAINS}
    for folder in _search_folders(include_path):
        if not folder.is_dir():
            raise DomainError(f"{folder}: domain include path is not a folder")
        for yml in sorted(folder.glob("*/domain.yaml")):
            found[yml.parent.name] = yml
        for yml in sorted(folder.glob("*.yaml")):
            found[yml.stem] = yml
    return found
