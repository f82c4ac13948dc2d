"""The one CEL lexer, as its three readers (references, the ``matches`` rewrite, the fast path) see it."""

from __future__ import annotations

import cel
import pytest
from hypothesis import given
from hypothesis import strategies as st

from safeguard.rules.expressions import references
from safeguard.rules.fastpath import compile_expression
from safeguard.rules.lexer import tokens
from safeguard.rules.regex import FUNCTIONS, literal_patterns, rewrite_matches


@pytest.mark.parametrize(
    ("literal", "value"),
    [
        ('"a.b"', "a.b"),
        ("'a\\'b'", "a'b"),
        ('r"\\d+"', "\\d+"),
        ("R'\\w'", "\\w"),
        ('"""two\nlines"""', "two\nlines"),
        ("'''it's'''", "it's"),
        ('b"x"', b"x"),
        ('br"\\d"', b"\\d"),
        ('Br"\\d"', b"\\d"),
    ],
)
def test_a_string_or_bytes_literal_is_one_token_and_means_what_cel_says(literal: str, value: object) -> None:
    (token,) = tokens(literal)
    assert token.kind == "string" and token.text == literal and token.offset == 0
    assert cel.evaluate(literal) == value


def test_paths_inside_any_kind_of_literal_are_not_references() -> None:
    for literal in ('"toxicity.threat"', 'r"toxicity.threat"', 'b"toxicity.threat"', 'br"toxicity.threat"'):
        source = f"size({literal}) > 0 && spam.score > 0.5"
        assert [r.dotted for r in references(source)] == ["spam.score"], literal


def test_the_readers_agree_on_where_a_literal_ends() -> None:
    source = 'post.text.matches(br"(") || post.text.matches(r"a\\d") && lists.x.exists(w, w == "matches(")'
    rewritten = rewrite_matches(source)
    assert rewritten.count("sg_matches(") == 2 and rewritten.endswith('w == "matches(")')  # the string stays
    assert [p for p, _ in literal_patterns(source)] == ["a\\d"]  # the bytes pattern is not a string
    assert [r.dotted for r in references(source)] == ["post.text", "post.text", "lists.x"]


def test_the_fast_path_reads_only_its_subset_of_the_tokens() -> None:
    assert compile_expression('a == b"x"', FUNCTIONS) is None
    assert compile_expression("a == 1u", FUNCTIONS) is None
    assert compile_expression("a == 0x1F", FUNCTIONS) is None
    assert compile_expression("a ? 1 : 2", FUNCTIONS) is None
    fast = compile_expression('a == r"x\\d" && b > 1.5e1', FUNCTIONS)
    assert fast is not None and fast({"a": "x\\d", "b": 16.0}) is True


@given(st.text(alphabet=st.sampled_from(list("ab1._ \"'\\rb()[]{}=&|!<>+-*/%?:,\n")), max_size=40))
def test_tokens_cover_the_source_without_overlap(source: str) -> None:
    position = 0
    for token in tokens(source):
        assert source[position : token.offset].strip() == ""
        assert source[token.offset : token.offset + len(token.text)] == token.text
        position = token.offset + len(token.text)
    assert source[position:].strip() == ""
