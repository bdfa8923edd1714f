"""Every user error: a `DomainError` naming the input, and exit code 2 with one stderr line."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from domains import DomainError, SpecplanError, get_domain
from planner.cli import main


def _load(d) -> None:  # type: ignore[no-untyped-def]
    d.documents("train")


# Each case builds a bad input under tmp_path and returns (domain argument, expected message).
def missing_path(tmp: Path) -> tuple[str, str]:
    return f"x={tmp / 'nope'}", r"nope: no such file or folder"


def empty_file(tmp: Path) -> tuple[str, str]:
    (tmp / "empty.txt").write_text("")
    return f"x={tmp / 'empty.txt'}", r"empty\.txt: empty file"


def empty_folder(tmp: Path) -> tuple[str, str]:
    (tmp / "void").mkdir()
    return f"x={tmp / 'void'}", r"void: empty folder"


def folder_of_blank_files(tmp: Path) -> tuple[str, str]:
    (tmp / "blank").mkdir()
    (tmp / "blank" / "a.txt").write_text("  \n")
    return f"x={tmp / 'blank'}", r"blank: no documents in 1 file"


def non_utf8(tmp: Path) -> tuple[str, str]:
    (tmp / "latin.txt").write_bytes("caf\u00e9 au lait, a long enough text".encode("latin-1"))
    return f"x={tmp / 'latin.txt'}", r"latin\.txt: not valid utf-8 \(byte 0xe9 at offset 3\)"


def jsonl_not_json(tmp: Path) -> tuple[str, str]:
    (tmp / "bad.jsonl").write_text('{"text": "fine document number one"}\n{"text": oops}\n')
    return f"x={tmp / 'bad.jsonl'}", r"bad\.jsonl:2: not valid JSON"


def jsonl_without_field(tmp: Path) -> tuple[str, str]:
    (tmp / "nofield.jsonl").write_text('\n{"body": "a document without the text field"}\n')
    return f"x={tmp / 'nofield.jsonl'}", r"nofield\.jsonl:2: no 'text' field \(fields: body\)"


def csv_without_column(tmp: Path) -> tuple[str, str]:
    (tmp / "t.csv").write_text("id,body\n1,a document in the wrong column\n")
    return f"x={tmp / 't.csv'}", r"t\.csv: no column 'text' \(columns: id, body\)"


def csv_ragged_row(tmp: Path) -> tuple[str, str]:
    (tmp / "r.csv").write_text("id,text\n1,a fine document here\n2,too,many,fields\n")
    return f"x={tmp / 'r.csv'}", r"r\.csv:3: 4 fields, the header has 2"


def too_small(tmp: Path) -> tuple[str, str]:
    (tmp / "few.jsonl").write_text(
        "\n".join(json.dumps({"text": f"a small document number {i}"}) for i in range(3))
    )
    return (
        f"tiny={tmp / 'few.jsonl'}",
        r"domain 'tiny' \(files\): 3 document\(s\).*too few to split",
    )


def unsupported_type(tmp: Path) -> tuple[str, str]:
    (tmp / "doc.pdf").write_bytes(b"%PDF")
    return f"x={tmp / 'doc.pdf'}", r"doc\.pdf: unsupported file type"


def unknown_domain(tmp: Path) -> tuple[str, str]:
    return "biomedicl", r"unknown domain 'biomedicl'\. Did you mean: biomedical\?"


CASES: list[Callable[[Path], tuple[str, str]]] = [
    missing_path,
    empty_file,
    empty_folder,
    folder_of_blank_files,
    non_utf8,
    jsonl_not_json,
    jsonl_without_field,
    csv_without_column,
    csv_ragged_row,
    too_small,
    unsupported_type,
    unknown_domain,
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.__name__)
def test_api_error(case: Callable[[Path], tuple[str, str]], tmp_path: Path) -> None:
    arg, pattern = case(tmp_path)
    with pytest.raises(DomainError, match=pattern) as info:
        _load(get_domain(arg))
    assert isinstance(info.value, SpecplanError) and isinstance(info.value, ValueError)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.__name__)
def test_cli_error(
    case: Callable[[Path], tuple[str, str]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    arg, pattern = case(tmp_path)
    assert main(["domains", "--domain", arg]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("specplan domains: error: ")
    assert "Traceback" not in err
    import re

    assert re.search(pattern, lines[0])


def test_unknown_source_suggests() -> None:
    with pytest.raises(DomainError, match=r"unknown source 'pakaged'\. Did you mean: packaged\?"):
        get_domain("legal", source="pakaged")


def test_cli_unknown_source(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["domains", "--domain", "legal", "--source", "hff"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "unknown source 'hff'. Did you mean: hf?" in err


def test_unknown_option_and_split() -> None:
    with pytest.raises(DomainError, match=r"no option 'text_feild'\. Did you mean: text_field\?"):
        get_domain("x=.", text_feild="body")
    with pytest.raises(DomainError, match=r"unknown split 'trian'"):
        get_domain("news").documents("trian")


def test_files_source_without_path() -> None:
    with pytest.raises(DomainError, match=r"domain 'biomedical': the files source needs a path"):
        get_domain("biomedical", source="files")


def test_bad_user_yaml(tmp_path: Path) -> None:
    (tmp_path / "broken.yaml").write_text("name: broken\nsources: [unclosed\n")
    with pytest.raises(DomainError, match=r"broken\.yaml:\d+: invalid YAML"):
        get_domain("broken", include_path=tmp_path)


def test_user_yaml_domain(tmp_path: Path) -> None:
    data = tmp_path / "data.jsonl"
    data.write_text("\n".join(json.dumps({"t": f"user yaml document {i}"}) for i in range(100)))
    (tmp_path / "mine.yaml").write_text(
        f"name: mine\ndescription: test\ndefault_source: files\n"
        f"sources:\n  files: {{path: '{data}', text_field: t, licence: CC0}}\n"
    )
    d = get_domain("mine", include_path=tmp_path)
    assert d.licence == "CC0" and sum(d.n_documents().values()) == 100
