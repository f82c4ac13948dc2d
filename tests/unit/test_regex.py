"""``matches()`` in rules: the capture-free fast form answers exactly as RE2's own search does."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
import re2

from safeguard.rules.loader import load_ruleset
from safeguard.rules.regex import _compiled, literal_patterns, pattern_error, pattern_matcher, regex_match

ROOT = Path(__file__).resolve().parents[2]

PATTERNS = [
    "",
    "^$",
    "^",
    "$",
    "a",
    "a|",
    "(a)(b)?",
    "(?P<word>\\w+)\\s+",
    "(?i)é",
    "\\bkill\\s+you\\b",
    "(x*)*y",
    "[\\x{1F600}-\\x{1F64F}]",
    "(?s)a.b",
    "(?m)^b",
    "\\d{3}",
    "\\pL+",
]
TEXTS = [
    "",
    "a",
    "b",
    "ab",
    "I'll kill you",
    "Été",
    "ÉTÉ",
    "a\nb",
    "x" * 1000 + "y",
    "😀 grin",
    "phone 555",
    "\u200bzero width",
]


def _shipped_patterns() -> list[str]:
    ruleset = load_ruleset(ROOT / "rules" / "community.yaml")
    out = []
    for rule in ruleset.rules:
        for cond in (rule.when, rule.unless):
            if cond is not None:
                out.extend(p for p, _ in literal_patterns(cond.source))
    return out


def _texts() -> list[str]:
    dump = ROOT / "examples" / "community_dump.jsonl"
    return TEXTS + [json.loads(line)["text"] for line in dump.read_text(encoding="utf-8").splitlines() if line]


def test_fast_match_agrees_with_re2_search() -> None:
    texts = _texts()
    patterns = PATTERNS + _shipped_patterns()
    for pattern, text in itertools.product(patterns, texts):
        assert regex_match(text, pattern) == (_compiled(pattern).search(text) is not None), (pattern, text[:60])


def test_the_same_text_object_reused_across_patterns_and_a_new_one_after() -> None:
    text = "call me at 555 123 4567"
    assert regex_match(text, "\\d{3}") and regex_match(text, "call") and not regex_match(text, "xyz")
    other = "nothing here"
    assert not regex_match(other, "\\d{3}") and regex_match(other, "here")
    equal_but_distinct = "".join(["call", " me"])
    assert regex_match(equal_but_distinct, "^call me$")


def test_invalid_pattern_still_raises() -> None:
    assert pattern_error("(") is not None
    with pytest.raises(re2.error):
        regex_match("text", "(")


def test_pattern_matcher_is_regex_match_with_the_pattern_bound() -> None:
    texts = _texts()
    for pattern in PATTERNS + _shipped_patterns():
        test = pattern_matcher(pattern)
        for text in texts:
            assert test(text) == regex_match(text, pattern), (pattern, text[:60])
