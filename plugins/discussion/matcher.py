"""Sensitive-word matching: Aho-Corasick over a normalised text, reporting spans in the original.

The automaton is ahocorasick-rs (the Rust `aho-corasick` crate, a DFA): with thousands of CJK words
the root of the trie has thousands of branches, where pyahocorasick's node search measured ~16× slower.

Evasions are undone before matching: NFKC folds full-width and compatibility forms (ＡＢＣ, ①, ﹫),
case is folded, and every character that is not a letter or a digit (spaces, punctuation, symbols,
zero-width and control characters) is dropped. An index map keeps, for each character of the
normalised text, its position in the original, so a match can be shown where the author wrote it.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

import ahocorasick_rs

# Unicode general categories kept when normalising: letters, marks that belong to them, digits.
_KEEP = ("L", "N")


@lru_cache(maxsize=4096)
def _fold_char(ch: str) -> str:
    """What one original character becomes: "" for a separator, else its NFKC, case-folded form."""
    out = []
    for c in unicodedata.normalize("NFKC", ch).casefold():
        if unicodedata.category(c)[0] in _KEEP:
            out.append(c)
    return "".join(out)


# Runs of letters and digits (Python's \w without "_"): most text is such runs and a few separators.
_RUN = re.compile(r"[^\W_]+")


def _fold_slow(text: str, offset: int, chars: list[str], index: list[int]) -> None:
    for i, ch in enumerate(text, offset):
        for c in _fold_char(ch) if not (ch.isascii() and ch.isalnum()) else ch.lower():
            chars.append(c)
            index.append(i)


def normalise(text: str) -> tuple[str, list[int]]:
    """Return the normalised text and, for each of its characters, the index in `text` it came from."""
    chars: list[str] = []
    index: list[int] = []
    pos = 0
    for m in _RUN.finditer(text):
        start, end = m.span()
        if start > pos and not text[pos:start].isascii():
            # Separators that are not ASCII may still fold to a letter (℃ → c, ① → 1).
            _fold_slow(text[pos:start], pos, chars, index)
        run = m.group()
        folded = run.casefold()
        if len(folded) == len(run) and unicodedata.is_normalized("NFKC", folded):
            chars.append(folded)  # the common case: one output character per input character
            index.extend(range(start, end))
        else:
            _fold_slow(run, start, chars, index)
        pos = end
    if pos < len(text) and not text[pos:].isascii():
        _fold_slow(text[pos:], pos, chars, index)
    return "".join(chars), index


def normalise_word(word: str) -> str:
    return normalise(word)[0]


@dataclass(frozen=True)
class Match:
    word: str  # the listed word (normalised form)
    start: int  # span in the original text, end exclusive
    end: int
    text: str  # what the author actually wrote there


class Matcher:
    """An Aho-Corasick automaton over normalised words; build once, match many texts."""

    def __init__(self, words):
        self.words = sorted({w for w in (normalise_word(x) for x in words) if w})
        # Leftmost-longest: "赌博机" wins over "赌博" at the same place, and matches never overlap.
        self._auto = (ahocorasick_rs.AhoCorasick(self.words, matchkind=ahocorasick_rs.MatchKind.LeftmostLongest)
                      if self.words else None)

    def __len__(self) -> int:
        return len(self.words)

    def find(self, text: str, limit: int = 50) -> list[Match]:
        """Matches in `text`, leftmost first and not overlapping; at most `limit`."""
        if self._auto is None or not text:
            return []
        norm, index = normalise(text)
        found: list[Match] = []
        for pattern, start, end in self._auto.find_matches_as_indexes(norm):
            o_start, o_end = index[start], index[end - 1] + 1
            found.append(Match(self.words[pattern], o_start, o_end, text[o_start:o_end]))
            if len(found) >= limit:
                break
        return found

    def matches(self, text: str) -> bool:
        if self._auto is None or not text:
            return False
        return bool(self._auto.find_matches_as_indexes(normalise(text)[0]))


def naive_find(words, text: str) -> list[str]:
    """The loop of `in` the automaton replaces (kept for the benchmark and as a test oracle)."""
    norm, _ = normalise(text)
    return [w for w in (normalise_word(x) for x in words) if w and w in norm]
