"""The built-in domains and their default (packaged, offline) sources."""

from __future__ import annotations

from pathlib import Path

import pytest

import domains
from domains import BUILTIN_DOMAINS, Domain, DomainSpec, get_domain, list_domains, load_spec
from domains.base import clear_memory_cache
from domains.sources import packaged

# Minimum cleaned documents per built-in domain (the data layer's promise to the strategies).
MINIMUMS = {"legal": 400, "news": 300, "generic": 10_000, "biomedical": 30_000}
FAST = ["legal", "news", "generic"]


def test_builtin_names() -> None:
    assert BUILTIN_DOMAINS == ("biomedical", "legal", "news", "generic")
    assert list_domains() == list(BUILTIN_DOMAINS)


@pytest.mark.parametrize("name", BUILTIN_DOMAINS)
def test_every_shipped_spec_loads(name: str) -> None:
    folder = Path(domains.__file__).parent / name
    spec = load_spec(folder / "domain.yaml")
    assert isinstance(spec, DomainSpec) and spec.name == name
    assert spec.default_source == "packaged" and "packaged" in spec.sources
    for src in spec.sources.values():
        assert src.get("licence") and src.get("provenance")
    readme = (folder / "README.md").read_text(encoding="utf-8")
    assert "licen" in readme.lower() or "CC BY" in readme


@pytest.mark.parametrize("name", FAST)
def test_packaged_domain(name: str) -> None:
    d = get_domain(name)
    assert isinstance(d, Domain)
    assert (d.name, d.source) == (name, "packaged")
    assert d.licence and d.provenance and d.description
    splits = {s: d.documents(s) for s in ("train", "valid", "test")}
    assert all(splits.values())
    total = sum(len(v) for v in splits.values())
    assert total >= MINIMUMS[name]
    assert len(splits["train"]) > 10 * len(splits["valid"])
    everything = [doc for docs in splits.values() for doc in docs]
    assert len(set(everything)) == total  # disjoint splits, no duplicates
    assert all(len(doc) >= 20 and doc == doc.strip() for doc in everything)
    assert len(d.labels("train")) == len(splits["train"])


@pytest.mark.slow
def test_biomedical_packaged() -> None:
    d = get_domain("biomedical")
    assert sum(d.n_documents().values()) >= MINIMUMS["biomedical"]
    assert d.n_documents()["valid"] > 1000
    assert not d.has_labels


def test_deterministic_and_cached_on_disk(monkeypatch: pytest.MonkeyPatch) -> None:
    first = get_domain("news")
    docs, fp = first.documents("valid"), first.fingerprint
    clear_memory_cache()

    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError("the disk cache should have been used")

    monkeypatch.setitem(packaged.READERS, "lines", fail)
    again = get_domain("news")
    assert again.documents("valid") == docs and again.fingerprint == fp
    assert len(fp) == 64


def test_fingerprints_differ_between_domains() -> None:
    assert get_domain("news").fingerprint != get_domain("legal").fingerprint


def test_labels() -> None:
    generic = get_domain("generic")
    topics = set(generic.labels("train"))
    assert generic.has_labels and len(topics) == 12 and "Mathematics" in topics
    legal = get_domain("legal")
    assert {"gdpr", "eu-ai-act"} <= set(legal.labels("train"))
    assert not get_domain("news").has_labels


def test_news_latin1_is_decoded() -> None:
    d = get_domain("news")
    text = " ".join(d.documents("train") + d.documents("valid") + d.documents("test"))
    assert "\u00a33,000" in text  # the pound sign of lee.cor


def test_cached_load_reads_the_disk_cache_not_the_source(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from domains.sources.packaged import PackagedSource

    first = get_domain("generic").documents("train")
    clear_memory_cache()

    def fail(self: object) -> None:
        raise AssertionError("the packaged source was parsed again")

    monkeypatch.setattr(PackagedSource, "read", fail)
    assert get_domain("generic").documents("train") == first  # a JSON read, no re-parse


PUBMED_XML = """<?xml version="1.0"?>
<PubmedArticleSet>
 <PubmedArticle><MedlineCitation><Article>
  <ArticleTitle>Title one</ArticleTitle>
  <Abstract>
   <AbstractText Label="BACKGROUND">Mice were <i>studied</i> carefully.</AbstractText>
   <AbstractText Label="RESULTS">CO<sub>2</sub> rose &amp; fell.</AbstractText>
  </Abstract>
 </Article><OtherAbstract><AbstractText>Translated text.</AbstractText></OtherAbstract>
 </MedlineCitation></PubmedArticle>
 <PubmedArticle><MedlineCitation><Article><ArticleTitle>No abstract</ArticleTitle>
 </Article></MedlineCitation></PubmedArticle>
 <PubmedArticle><MedlineCitation><Article>
  <Abstract><AbstractText>A plain abstract.</AbstractText></Abstract>
 </Article></MedlineCitation></PubmedArticle>
</PubmedArticleSet>
"""


def test_pubmed_reader(tmp_path: Path) -> None:
    import gzip

    f = tmp_path / "mini.xml.gz"
    f.write_bytes(gzip.compress(PUBMED_XML.encode()))
    docs = [text for text, _ in packaged.read_pubmed_xml([f])]
    assert docs == [
        "BACKGROUND: Mice were studied carefully. RESULTS: CO2 rose & fell.",
        "A plain abstract.",
    ]


def test_missing_registry_package() -> None:
    with pytest.raises(domains.DomainError, match=r"'no-such-pkg' is not installed: pip install"):
        packaged.locate_package_file("no-such-pkg", "data/x.db", version="1.0")
    with pytest.raises(domains.DomainError, match=r"'gensim' .* has no file 'nope\.cor'"):
        packaged.locate_package_file("gensim", "nope.cor")
