"""The data-provenance section: where each domain's text comes from (source, licence,
provenance, documents per split), from the data card stored with its runs
(`domains.Domain.card`). No torch.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

__all__ = ["provenance_table"]


def provenance_table(domains: Iterable[Any], runs: pd.DataFrame | None = None
                     ) -> pd.DataFrame:
    """Where each domain's text comes from: source, licence, provenance, documents.

    Args:
        domains: `domains.Domain` objects, or names. A name is described by the data card
            its latest run in `runs` stored (``data``: source, licence, provenance,
            documents), else, for a built-in name, by `domains.get_domain`; any other name
            (runs from before data cards were stored) gets a row saying so.
        runs: stored runs (`planner.experiments.store.load_runs`), optional.
    """
    from domains.errors import SpecplanError

    cards = _data_cards(runs)
    rows = []
    for d in domains:
        if isinstance(d, str) and d in cards:
            rows.append({"domain": d, **{k: str(cards[d].get(k, "")) for k in _CARD}})
            continue
        if isinstance(d, str):
            try:
                from domains import get_domain

                d = get_domain(d)
            except SpecplanError:
                rows.append({"domain": d, "source": "files (user data)", "licence": "unknown",
                             "provenance": "user-supplied files; the path is not recorded "
                                           "with the runs", "description": "",
                             "documents": ""})
                continue
        try:
            card = d.card()
        except SpecplanError as err:
            card = {"source": d.source, "licence": d.licence, "provenance": d.provenance,
                    "description": d.description, "documents": f"unreadable: {err}"}
        rows.append({"domain": d.name, **{k: card[k] for k in _CARD}})
    return pd.DataFrame(rows, columns=["domain", *_CARD])


# the data card's fields shown in the provenance table (`domains.Domain.card`)
_CARD = ("source", "licence", "provenance", "description", "documents")


def _data_cards(runs: pd.DataFrame | None) -> dict[str, Mapping[str, Any]]:
    """domain -> the ``data`` card of its latest run that stored one."""
    if runs is None or "data" not in runs.columns or len(runs) == 0:
        return {}
    order = (runs.sort_values("datetime", na_position="first", kind="stable")
             if "datetime" in runs.columns else runs)
    return {str(dom): card for dom, card in zip(order["domain"], order["data"], strict=True)
            if isinstance(card, Mapping)}
