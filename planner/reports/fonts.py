"""Fonts for figures and the PDF: any script a user may name a domain in.

matplotlib draws every glyph from one font file unless ``rcParams["font.family"]`` lists
several *named* families, in which case a glyph missing from the first comes from the next
(font fallback, matplotlib >= 3.6; a generic alias such as ``sans-serif`` falls back to
nothing). DejaVu Sans, matplotlib's own font, covers Latin, Greek, Cyrillic, Armenian,
Georgian, Hebrew and Arabic letters; Noto Sans CJK (the `noto-cjk-sans-otc` package, a
declared dependency: one OpenType collection of Regular Japanese, Korean, Simplified and
Traditional Chinese and Hong Kong faces, SIL Open Font License 1.1) adds Han, Hiragana,
Katakana, Hangul, Bopomofo and full-width forms. `SANS` and `MONO` are those fallback lists;
`use_wide_fonts` registers the collection and makes `SANS` the default family.

Names too long for a table cell or a legend are cut by display width (an East Asian wide
character counts 2) and end in a visible ellipsis (`shorten`).
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache

__all__ = ["MONO", "SANS", "display_width", "pad", "shorten", "use_wide_fonts"]

#: Proportional text: matplotlib's DejaVu Sans, then Noto Sans CJK (fallback order).
SANS: list[str] = ["DejaVu Sans", "Noto Sans CJK JP"]
#: Fixed-width text (PDF tables): DejaVu Sans Mono, then Noto Sans Mono CJK.
MONO: list[str] = ["DejaVu Sans Mono", "Noto Sans Mono CJK JP"]
ELLIPSIS = "…"


@lru_cache(maxsize=1)
def _register() -> bool:
    """Add the Noto Sans CJK collection to matplotlib's font list (once per process);
    False when the package is missing (then only DejaVu's scripts render)."""
    try:
        import noto_cjk_sans_otc
    except ImportError:
        return False
    import logging

    from matplotlib import font_manager

    font_manager.fontManager.addfont(str(noto_cjk_sans_otc.FONT_PATH))
    # the collection has one weight: bold titles fall back to Regular for CJK glyphs, which
    # matplotlib would log once per figure ("Failed to find font weight bold")
    logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)
    return True


def use_wide_fonts() -> list[str]:
    """Register the wide-coverage fonts and make `SANS` matplotlib's default family.

    Returns:
        The families now in ``rcParams["font.family"]`` (just DejaVu Sans when the
        `noto-cjk-sans-otc` package is not installed).
    """
    import matplotlib

    families = SANS if _register() else SANS[:1]
    matplotlib.rcParams["font.family"] = list(families)
    return list(families)


def mono_families() -> list[str]:
    """`MONO` when the CJK collection is available, else DejaVu Sans Mono alone."""
    return list(MONO) if _register() else MONO[:1]


def _char_width(c: str) -> int:
    if unicodedata.combining(c):
        return 0
    return 2 if unicodedata.east_asian_width(c) in ("W", "F") else 1


def display_width(text: str) -> int:
    """Columns `text` takes in a fixed-width font (wide East Asian characters count 2)."""
    return sum(_char_width(c) for c in text)


def shorten(text: str, width: int) -> str:
    """`text` cut to at most `width` columns, ending in "…" when cut (never silently)."""
    if width < 1:
        raise ValueError(f"shorten: width must be at least 1, got {width}")
    if display_width(text) <= width:
        return text
    out, used = [], 0
    for c in text:
        w = _char_width(c)
        if used + w > width - 1:
            break
        out.append(c)
        used += w
    return "".join(out).rstrip() + ELLIPSIS


def pad(text: str, width: int, *, right: bool = False) -> str:
    """`text` padded with spaces to `width` columns (display width), left-aligned unless
    `right`."""
    gap = " " * max(0, width - display_width(text))
    return gap + text if right else text + gap
