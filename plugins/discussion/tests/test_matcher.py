"""The sensitive-word matcher: Aho-Corasick on normalised text, evasions undone, spans in the original."""
from __future__ import annotations

import random

import pytest

from plugins.discussion.matcher import Matcher, naive_find, normalise

WORDS = ["法轮功", "赌博", "VPN翻墙", "六合彩", "代开发票"]


@pytest.fixture(scope="module")
def m():
    return Matcher(WORDS)


@pytest.mark.parametrize("text, written", [
    ("周末一起去赌博吧", "赌博"),
    ("周末一起去赌 博吧", "赌 博"),  # a space between the characters
    ("周末一起去赌.博吧", "赌.博"),  # a symbol
    ("周末一起去赌*_*博吧", "赌*_*博"),
    ("周末一起去赌\u200b博吧", "赌\u200b博"),  # a zero-width space
    ("周末一起去赌\u3000博吧", "赌\u3000博"),  # an ideographic (full-width) space
    ("教你ｖｐｎ翻墙", "ｖｐｎ翻墙"),  # full-width Latin letters and lower case
    ("教你 V-P-N 翻 墙", "V-P-N 翻 墙"),
    ("买六合彩！", "六合彩"),
    ("法\n轮\n功", "法\n轮\n功"),  # line breaks
    ("代·开·发·票", "代·开·发·票"),
])
def test_evasions_are_matched_and_shown_where_written(m, text, written):
    hits = m.find(text)
    assert len(hits) == 1
    assert hits[0].text == written
    assert text[hits[0].start:hits[0].end] == written


@pytest.mark.parametrize("text", ["学习新时代中国特色社会主义思想", "博物馆与赌场是两回事：赌 场", "VPN 技术课程", ""])
def test_clean_texts_do_not_match(m, text):
    assert m.find(text) == []
    assert not m.matches(text)


def test_listed_words_with_evasions_are_stored_normalised():
    m = Matcher(["Ｖ Ｐ Ｎ翻墙", "  ", "赌-博"])
    assert m.words == ["vpn翻墙", "赌博"]
    assert m.matches("vpn翻墙") and m.matches("赌博")


def test_several_words_in_one_text_are_all_found_in_order(m):
    hits = m.find("先说赌博，再说法 轮 功，最后是六合彩")
    assert [h.word for h in hits] == ["赌博", "法轮功", "六合彩"]


def test_index_map_points_back_to_the_original():
    norm, index = normalise("Ａ b，c\u200bＤ")
    assert norm == "abcd"
    assert index == [0, 2, 4, 6]


def test_empty_list_matches_nothing():
    assert Matcher([]).find("赌博") == []
    assert not Matcher([]).matches("赌博")


def test_agrees_with_the_naive_matcher_on_random_text():
    rng = random.Random(7)
    alphabet = "赌博法轮功六合彩代开发票学习党史 ,.-"
    words = ["".join(rng.choice("赌博法轮功六合彩代开发票学习党史") for _ in range(rng.randint(2, 4))) for _ in range(60)]
    m = Matcher(words)
    for _ in range(300):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 80)))
        assert {h for h in naive_find(words, text)} >= {h.word for h in m.find(text, limit=1000)}
        assert bool(naive_find(words, text)) == m.matches(text)


def test_longest_word_wins_where_words_overlap():
    m = Matcher(["赌博", "赌博机", "博彩"])
    assert [h.word for h in m.find("买了赌博机和博彩")] == ["赌博机", "博彩"]
