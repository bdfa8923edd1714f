"""`DomainRef`: a domain name that carries the files options through plans and processes."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

from domains import DomainRef, get_domain


def test_domain_ref_is_the_name_and_survives_pickling() -> None:
    ref = DomainRef("mine=a.jsonl", text_field="body", encoding=None)
    assert ref == "mine=a.jsonl" and isinstance(ref, str)
    assert ref.options == {"text_field": "body"}  # None values dropped
    back = pickle.loads(pickle.dumps(ref))  # a spawned worker process gets the options
    assert isinstance(back, DomainRef) and back.options == {"text_field": "body"}


def test_get_domain_applies_the_carried_options(tmp_path: Path) -> None:
    path = tmp_path / "body.jsonl"
    path.write_text("\n".join(json.dumps({"body": f"Clause {i}: the supplier delivers."})
                              for i in range(80)), encoding="utf-8")
    d = get_domain(DomainRef(f"mine={path}", text_field="body"))
    assert d.name == "mine" and sum(d.n_documents().values()) == 80
    # an explicit option wins over the carried one
    other = get_domain(DomainRef(f"mine={path}", text_field="nope"), text_field="body")
    assert sum(other.n_documents().values()) == 80
