"""HTML bodies of forum exports as text: entities, blocks, links, quotes, code, hostile input."""

from __future__ import annotations

import time

import pytest
from _bounded import finishes

from safeguard.classifiers.toxicity.harm import quoted_share
from safeguard.io.importers.html import MAX_QUOTE_DEPTH, html_to_text


def test_entities_are_decoded_and_whitespace_normalised() -> None:
    r = html_to_text("<p>  Fish &amp; chips&#xA;&nbsp;for&#32;two &lt;3  </p>")
    assert r.text == "Fish & chips for two <3"


def test_block_elements_become_lines_and_list_items_dashes() -> None:
    r = html_to_text("<h1>Title</h1><p>one<br>two</p><div>three</div><ul><li>a</li><li>b</li></ul>")
    assert r.text.split("\n") == ["Title", "one", "two", "three", "- a", "- b"]


def test_links_keep_their_text_and_url() -> None:
    r = html_to_text('<p>see <a href="https://scam.example/x">this</a> or <a href="https://ok.org/">ok.org</a></p>')
    assert r.text == "see this (https://scam.example/x) or ok.org"
    assert "scam.example" in r.text


def test_blockquotes_are_quoted_lines_and_kept_apart() -> None:
    r = html_to_text("<p>You wrote:</p><blockquote><p>you are an idiot</p></blockquote><p>Not nice.</p>")
    assert r.text == "You wrote:\n> you are an idiot\nNot nice."
    assert r.quotes == ["you are an idiot"]
    assert quoted_share(r.text) > 0.3  # the harm signals read the quote as quoted


def test_nested_quotes_get_one_prefix_per_level() -> None:
    r = html_to_text("<blockquote>outer<blockquote>inner<blockquote>deepest</blockquote></blockquote>back</blockquote>")
    assert r.text.split("\n") == ["> outer", "> > inner", "> > > deepest", "> back"]
    assert r.quotes == ["outer\n> inner\n> > deepest\nback"]


def test_discourse_quote_aside_is_one_level() -> None:
    html = (
        '<aside class="quote" data-username="bob"><div class="title">bob:</div>'
        "<blockquote><p>first</p></blockquote></aside><p>my reply</p>"
    )
    r = html_to_text(html)
    assert r.text.split("\n") == ["> bob:", "> first", "my reply"]
    assert r.quotes == ["bob:\nfirst"]


def test_quote_depth_is_capped() -> None:
    r = html_to_text("<blockquote>" * 50 + "deep")
    assert r.text == "> " * MAX_QUOTE_DEPTH + "deep"


def test_pre_and_multiline_code_are_fenced_blocks_inline_code_stays() -> None:
    r = html_to_text(
        "<p>Call <code>run()</code> like this:</p><pre><code>x = 1\n  y = &lt;2&gt;\n</code></pre><code>a\nb</code>"
    )
    assert r.text.split("\n") == ["Call `run()` like this:", "```", "x = 1", "  y = <2>", "```", "```", "a", "b", "```"]
    assert r.code == ["x = 1\n  y = <2>", "a\nb"]


def test_code_inside_a_quote_is_quoted_too() -> None:
    r = html_to_text("<blockquote><pre>rm -rf /</pre></blockquote>")
    assert r.text.split("\n") == ["> ```", "> rm -rf /", "> ```"]
    assert r.code == ["rm -rf /"]


def test_images_give_alt_text_scripts_and_styles_are_dropped() -> None:
    r = html_to_text('<p>look <img src="x.png" alt="a cat"></p><script>alert("x")</script><style>p{}</style><!-- c -->')
    assert r.text == "look a cat"


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        ("<p>unclosed <b>bold <i>both", "unclosed bold both"),
        ("</p></blockquote></a>stray ends", "stray ends"),
        ("a < b and c > d", "a < b and c > d"),
        ("<a href=x>one<a href=y>two", "one (x)two (y)"),
        ('<p title="unclosed>text', '<p title="unclosed>text'),
        ("<blockquote>never closed", "> never closed"),
        ("<pre>never closed", "```\nnever closed\n```"),
        ("<!-- never closed", "<!-- never closed"),
        ("", ""),
    ],
)
def test_malformed_html_never_raises(html: str, expected: str) -> None:
    assert html_to_text(html).text == expected


@pytest.mark.parametrize(
    "unit",
    [
        "<a ",
        "<!--",
        "<!-- >",
        "</",
        "<![CDATA[",
        "&#x",
        '<a href="',
        "<a b='>",
        "<blockquote>x",
        "<a href=x>y",
        "<pre>x",
        "<code>x<br>",
        "<script>",
        "<a b c d e f",
    ],
)
def test_huge_hostile_input_takes_linear_time(unit: str) -> None:
    def timed(n: int) -> float:
        started = time.perf_counter()
        html_to_text(unit * n)
        return time.perf_counter() - started

    small = timed(5_000)
    large = finishes(lambda: timed(80_000), seconds=30)
    assert large < max(small, 0.01) * 16 * 3  # 16 times the input: linear, with room for noise
