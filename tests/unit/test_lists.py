"""Whole-word term lists: the matcher, list files and the ``lists`` classifier."""

from __future__ import annotations

from pathlib import Path

import pytest

from safeguard.classifiers.lists import ListsClassifier, TermMatcher, load_list_file
from safeguard.errors import ConfigError
from safeguard.text import normalize
from safeguard.types import Post

TERMS = {
    "insults": ["idiot", "ass", "stupid", "cunt"],
    "spam": ["click here", "cheap-deals.biz", "free money"],
}


@pytest.fixture(scope="module")
def matcher() -> TermMatcher:
    return TermMatcher(TERMS)


# (post text, expected matches): positives, disguised positives and phrase terms.
POSITIVE = [
    ("you idiot", {"insults": ["idiot"], "spam": []}),
    ("You 1D10T!", {"insults": ["idiot"], "spam": []}),
    ("what an іdіоt", {"insults": ["idiot"], "spam": []}),
    ("s t u p i d and an @ss", {"insults": ["stupid", "ass"], "spam": []}),
    ("ass", {"insults": ["ass"], "spam": []}),
    ("(ass)", {"insults": ["ass"], "spam": []}),
    ("kiss my ass-hat", {"insults": ["ass"], "spam": []}),
    ("CLICK   HERE for free money", {"insults": [], "spam": ["click here", "free money"]}),
    ("click\nhere", {"insults": [], "spam": ["click here"]}),
    ("visit cheap-deals.biz today", {"insults": [], "spam": ["cheap-deals.biz"]}),
    ("visit www.cheap-deals.biz today", {"insults": [], "spam": ["cheap-deals.biz"]}),
    ("stupid idiot stupid idiot", {"insults": ["stupid", "idiot"], "spam": []}),
]

# Text where a term occurs only inside a longer word: nothing may match.
NEGATIVE = [
    "assassin",
    "Assassin's Creed",
    "first class passes",
    "Scunthorpe United",
    "cockpit",
    "idiotic",
    "stupidity",
    "clicking here",
    "not-cheap-deals.bizarre",
    "",
]


@pytest.mark.parametrize(("text", "expected"), POSITIVE)
def test_matches_whole_words(matcher: TermMatcher, text: str, expected: dict[str, list[str]]) -> None:
    assert matcher.find(normalize(text)) == expected


@pytest.mark.parametrize("text", NEGATIVE)
def test_no_match_inside_words(matcher: TermMatcher, text: str) -> None:
    assert matcher.find(normalize(text)) == {"insults": [], "spam": []}


@pytest.mark.parametrize(
    ("terms", "text", "expected"),
    [
        # A term inside a longer term that fails the boundary test must still be found.
        (["ass", "assassin"], "assassins ass", ["ass"]),
        (["ass", "assassin"], "ass assassin", ["ass", "assassin"]),
        (["assassin", "ass"], "an assassin", ["assassin"]),
        # Both a term and a longer term around it count when both are whole words.
        (["cheap", "cheap-deals.biz"], "cheap-deals.biz", ["cheap", "cheap-deals.biz"]),
        (["foo bar", "bar baz"], "foo bar baz", ["foo bar", "bar baz"]),
        # Original spelling is reported; variants of one term are reported once.
        (["Idiot", "1d10t", "IDIOT"], "idiot", ["Idiot"]),
        # A term edged with punctuation is not boundary-checked on that side.
        ([".biz"], "shop.biz", [".biz"]),
        (["scunthorpe"], "Scunthorpe", ["scunthorpe"]),
        (["cunt"], "Scunthorpe", []),
        (["", "   "], "anything", []),
    ],
)
def test_overlapping_and_edge_terms(terms: list[str], text: str, expected: list[str]) -> None:
    assert TermMatcher({"x": terms}).find(normalize(text)) == {"x": expected}


def test_order_of_first_occurrence() -> None:
    m = TermMatcher({"a": ["zebra", "apple", "mango"], "b": ["mango"]})
    assert m.find(normalize("mango then apple then zebra then mango")) == {
        "a": ["mango", "apple", "zebra"],
        "b": ["mango"],
    }


def test_empty_matcher() -> None:
    assert TermMatcher({"a": []}).find("anything at all") == {"a": []}
    assert TermMatcher({}).find("anything") == {}


def test_load_list_file_skips_comments_and_blanks(tmp_path: Path) -> None:
    path = tmp_path / "terms.txt"
    path.write_text(
        "\ufeff# insults, reviewed 2024\n\n  idiot  \n\t# indented comment\nclick here\nwe're #1\n   \nmoron\n",
        encoding="utf-8",
    )
    assert load_list_file(path) == ["idiot", "click here", "we're #1", "moron"]
    assert load_list_file(str(path)) == ["idiot", "click here", "we're #1", "moron"]


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "cannot read list file"), (b"idiot\n\xff\xfe\n", "not valid UTF-8")],
)
def test_load_list_file_errors_name_the_file(tmp_path: Path, content: bytes | None, message: str) -> None:
    path = tmp_path / "bad.txt"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ConfigError, match=message) as info:
        load_list_file(path)
    assert str(path) in str(info.value)


def test_classifier_with_list_file_and_relative_path(tmp_path: Path) -> None:
    (tmp_path / "lists").mkdir()
    (tmp_path / "lists" / "insults.txt").write_text("# comment\nidiot\nmoron\n", encoding="utf-8")
    clf = ListsClassifier(
        name="words",
        lists={"insults": "lists/insults.txt", "spam": ["click here"]},
        base_dir=tmp_path,
    )
    assert dict(clf.outputs) == {"insults": list, "spam": list}
    assert not clf.loaded
    out = clf.classify(
        [
            Post(id="1", text="you m0r0n, click here"),
            Post(id="2", text="nothing to see"),
            Post(id="3", text="1d10t"),
        ]
    )
    assert out == [
        {"insults": ["moron"], "spam": ["click here"]},
        {"insults": [], "spam": []},
        {"insults": ["idiot"], "spam": []},
    ]
    assert clf.loaded


def test_classifier_path_object_and_absolute_path(tmp_path: Path) -> None:
    path = tmp_path / "spam.txt"
    path.write_text("free money\n", encoding="utf-8")
    clf = ListsClassifier(lists={"spam": path, "again": str(path)}, base_dir="/nonexistent")
    assert clf.classify([Post(id="1", text="FREE MONEY!!!")]) == [{"spam": ["free money"], "again": ["free money"]}]


def test_classifier_missing_file_raises_config_error_on_load(tmp_path: Path) -> None:
    clf = ListsClassifier(lists={"insults": "missing.txt"}, base_dir=tmp_path)  # constructing reads nothing
    with pytest.raises(ConfigError, match=r"missing\.txt"):
        clf.load()


def test_classifier_matches_title_with_text() -> None:
    clf = ListsClassifier(lists={"spam": ["click here", "free money"], "insults": ["idiot"]})
    out = clf.classify(
        [
            Post(id="1", text="body text", title="FREE MONEY"),
            Post(id="2", text="here is more", title="click"),  # a phrase does not span title and text
            Post(id="3", text="you idiot", title=None),
        ]
    )
    assert out == [
        {"spam": ["free money"], "insults": []},
        {"spam": [], "insults": []},
        {"spam": [], "insults": ["idiot"]},
    ]


def test_classifier_one_mapping_per_post_in_order() -> None:
    clf = ListsClassifier(lists={"fruit": ["apple", "pear", "plum"]})
    texts = ["pear", "nothing", "plum and apple", "apple", "pearl"]
    out = clf.classify([Post(id=str(i), text=t) for i, t in enumerate(texts)])
    assert [o["fruit"] for o in out] == [["pear"], [], ["plum", "apple"], ["apple"], []]


@pytest.mark.parametrize("bad_name", ["bad-name", "1st", "has space", "", "dotted.name"])
def test_bad_list_name_is_rejected(bad_name: str) -> None:
    with pytest.raises(ValueError, match="not an identifier"):
        ListsClassifier(lists={bad_name: ["x"]})


@pytest.mark.parametrize("bad_value", [42, None, ["ok", 3]])
def test_bad_list_value_is_rejected(bad_value: object) -> None:
    with pytest.raises(ValueError, match="list of terms or the path"):
        ListsClassifier(lists={"good": bad_value})  # type: ignore[dict-item]


def test_unknown_option_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown option"):
        ListsClassifier(lists={}, case_sensitive=True)


def test_a_list_path_under_an_unknown_users_home_is_a_missing_file(tmp_path: Path) -> None:
    from safeguard.files import expand_user
    from safeguard.moderator import Moderator

    assert str(expand_user("~no-such-user-here/words.txt")) == "~no-such-user-here/words.txt"
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "ruleset: t\nclassifiers:\n  lists: {lists: {insults: ~no-such-user-here/words.txt}}\n"
        "rules:\n  - {id: r, when: size(lists.insults) > 0, action: allow}\n",
        encoding="utf-8",
    )
    decision = Moderator.from_file(rules).moderate({"id": "1", "text": "hi"})
    assert decision.action.value == "hold"  # the ruleset's on_error, never a silent allow
    assert "words.txt" in decision.errors[0]["error"]
