"""Sensitive-word matching: Aho-Corasick over a normalised text, reporting spans in the original.

Evasions are undone before matching: NFKC folds full-width and compatibility forms (ＡＢＣ, ①, ﹫),
case is folded, and every character that is not a letter or a digit (spaces, punctuation, symbols,
zero-width and control characters) is dropped. An index map keeps, for each character of the
normalised text, its position in the original, so a match can be shown where the author wrote it.
"""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import lru_cache

import ahocorasick

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


def normalise(text: str) -> tuple[str, list[int]]:
    """Return the normalised text and, for each of its characters, the index in `text` it came from."""
    chars: list[str] = []
    index: list[int] = []
    for i, ch in enumerate(text):
        if ch.isascii():
            # Fast path for the common case: ASCII letters/digits stay, everything else separates.
            if ch.isalnum():
                chars.append(ch.lower())
                index.append(i)
            continue
        folded = _fold_char(ch)
        for c in folded:
            chars.append(c)
            index.append(i)
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
        self._auto = ahocorasick.Automaton()
        for w in self.words:
            self._auto.add_word(w, w)
        if self.words:
            self._auto.make_automaton()

    def __len__(self) -> int:
        return len(self.words)

    def find(self, text: str, limit: int = 50) -> list[Match]:
        """Matches in `text`, leftmost first, overlapping ones folded into the longest; at most `limit`."""
        if not self.words or not text:
            return []
        norm, index = normalise(text)
        found: list[Match] = []
        for end, word in self._auto.iter(norm):
            start = end - len(word) + 1
            o_start, o_end = index[start], index[end] + 1
            if found and o_start < found[-1].end:
                prev = found[-1]
                if o_end - o_start > prev.end - prev.start and o_start <= prev.start:
                    found[-1] = Match(word, o_start, o_end, text[o_start:o_end])
                continue
            found.append(Match(word, o_start, o_end, text[o_start:o_end]))
            if len(found) >= limit:
                break
        return found

    def matches(self, text: str) -> bool:
        if not self.words or not text:
            return False
        norm, _ = normalise(text)
        for _item in self._auto.iter(norm):
            return True
        return False


def naive_find(words, text: str) -> list[str]:
    """The loop of `in` the automaton replaces (kept for the benchmark and as a test oracle)."""
    norm, _ = normalise(text)
    return [w for w in (normalise_word(x) for x in words) if w and w in norm]
