"""The spam classifier: features, domains, the model file, training and the author window."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from safeguard.classifiers.base import get_classifier_class
from safeguard.classifiers.spam import SpamClassifier
from safeguard.classifiers.spam.features import extract, registrable_domain
from safeguard.classifiers.spam.model import DEFAULT_MODEL_PATH, FORMAT_VERSION, SpamModel
from safeguard.classifiers.spam.train import (
    MIN_ROWS,
    auc,
    classification_metrics,
    cross_validate,
    read_labelled,
    split,
    train,
)
from safeguard.errors import ConfigError, InputError, ModelLoadError
from safeguard.rules.loader import parse_ruleset
from safeguard.testing import check_classifier
from safeguard.types import Author, Post

# (text, feature, expected)
FEATURES = [
    ("see http://bit.ly/abc and www.deals.xyz/x", "links", 2),
    ("see http://bit.ly/abc and www.deals.xyz/x", "shorteners", 1),
    ("see http://bit.ly/abc and www.deals.xyz/x", "suspicious_tlds", 1),
    ("compare shop.example.co.uk/p/1 with example.co.uk and e.g. notes.txt", "links", 2),
    ("compare shop.example.co.uk/p/1 with example.co.uk and e.g. notes.txt", "domains", ("example.co.uk",)),
    ("no links here, just a sentence. Another one.", "links", 0),
    ("WhatsApp me on +44 7700 900123", "contact_handles", 1),
    ("WhatsApp me on +44 7700 900123", "contact_types", ("whatsapp",)),
    ("telegram: @cryptoking99 or mail deals@example.com", "contact_types", ("telegram", "email")),
    ("join t.me/restocks_uk", "contact_types", ("telegram",)),
    ("call (415) 555-0100 today", "contact_types", ("phone",)),
    ("my order 123456789 arrived in 2019", "contact_handles", 0),
    ("Earn $500 a day working from home", "money", 1),
    ("it cost £25.99 and arrived Tuesday", "money", 0),
    ("Congratulations, you have won!", "money", 1),
    ("You won't get every skin in the event, you just won’t.", "money", 0),
    ("send to 1BoatSLRHtKNngkdXEeobR76b53LETtpyT now", "crypto_addresses", 1),
    ("wallet 0x52908400098527886E0F7030069857D2E4169EE7", "crypto_addresses", 1),
    ("Check out my channel and subscribe", "calls_to_action", 2),
    ("I checked the manual", "calls_to_action", 0),
    ("pay via cashapp or paypal friends and family only", "off_platform_payment", 2),
    ("paid with my credit card", "off_platform_payment", 0),
    ("sooooo good", "repeated_chars", 1),
    ("good!!! really???", "repeated_punctuation", 2),
    ("ab CD", "caps_ratio", 0.5),
    ("", "length", 0),
    ("naïve café", "length", 10),
]


@pytest.mark.parametrize(("text", "feature", "expected"), FEATURES)
def test_features(text: str, feature: str, expected: object) -> None:
    assert getattr(extract(text), feature) == expected


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("www.example.com", "example.com"),
        ("a.b.example.com", "example.com"),
        ("shop.example.co.uk", "example.co.uk"),
        ("example.co.uk", "example.co.uk"),
        ("deals.example.com.au", "example.com.au"),
        ("larkmoor.com.deals-today.xyz", "deals-today.xyz"),
        ("bit.ly", "bit.ly"),
    ],
)
def test_registrable_domain(host: str, expected: str) -> None:
    assert registrable_domain(host) == expected


def test_default_model_separates_obvious_spam_from_a_question() -> None:
    model = SpamModel.load(DEFAULT_MODEL_PATH)
    spam = model.score("FREE entry! WIN £1000 cash prize, text WIN to 87121 now!!! Click here http://bit.ly/x")
    ham = model.score("Does this kettle come in black, and is the lid dishwasher safe?")
    assert spam > 0.9 > 0.1 > ham


def test_classifier_conforms_and_is_registered() -> None:
    assert get_classifier_class("spam") is SpamClassifier
    check_classifier(SpamClassifier())


def _post(pid: str, author: str | None, minute: float | None) -> Post:
    start = datetime(2026, 10, 1, 12, 0, tzinfo=timezone.utc)
    created = start + timedelta(minutes=minute) if minute is not None else None
    return Post(id=pid, text="hello", author=Author(id=author), created_at=created)


def test_author_recent_posts_counts_a_sliding_window() -> None:
    clf = SpamClassifier(author_window_seconds=600)
    # (post id, author, minutes after start, expected count)
    table = [
        ("1", "a", 0, 1),
        ("2", "a", 5, 2),
        ("3", "b", 6, 1),
        ("4", "a", 9, 3),
        ("5", "a", 14, 3),  # the post at minute 0 left the 10-minute window
        ("6", "a", 40, 1),
        ("7", None, 41, 0),  # no author id
        ("8", "a", None, 0),  # no timestamp
    ]
    posts = [_post(pid, author, minute) for pid, author, minute, _ in table]
    # Split across batches: the window carries over.
    got = [s["author_recent_posts"] for s in clf.classify(posts[:3]) + clf.classify(posts[3:])]
    assert got == [expected for *_, expected in table]


def test_author_memory_is_bounded() -> None:
    clf = SpamClassifier(author_window_seconds=60, max_authors=3)
    clf.classify([_post(str(i), f"u{i}", i * 0.1) for i in range(10)])
    assert len(clf._recent) <= 3
    clf.classify([_post("late", "z", 600)])  # everything else is now outside the window
    assert list(clf._recent) == ["z"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"author_window_seconds": 0}, "author_window_seconds must be a positive number"),
        ({"author_window_seconds": "1h"}, "author_window_seconds must be a positive number"),
        ({"max_authors": 0}, "max_authors must be a positive integer"),
        ({"model": "missing-model.json"}, "not found: train one with `safeguard train spam"),
        ({"model_path": "x.json"}, "unknown option 'model_path'"),
    ],
)
def test_bad_options_are_config_errors_with_the_yaml_line(options: dict[str, object], message: str) -> None:
    text = (
        "ruleset: t\nclassifiers:\n  spam: "
        + json.dumps(options)
        + "\nrules:\n  - {id: r, when: spam.score > 0.5, action: hold}\n"
    )
    with pytest.raises(ConfigError) as info:
        parse_ruleset(text, file="t.yaml", base_dir=Path("/nonexistent"))
    problem = info.value.problems[0]
    assert message in problem.message
    assert problem.line == 3


def _write(tmp_path: Path, content: str) -> Path:
    path = tmp_path / "model.json"
    path.write_text(content, encoding="utf-8")
    return path


def test_model_file_problems_are_model_load_errors_naming_the_file(tmp_path: Path) -> None:
    good = json.loads(DEFAULT_MODEL_PATH.read_text(encoding="utf-8"))
    newer = dict(good, format_version=FORMAT_VERSION + 1)
    wrong = dict(good, format="something-else")
    broken = dict(good, bias="high")
    cases = [
        ('{"format": "safeguard-spam-model", "tokens": {', "is not valid JSON"),
        (json.dumps(newer), f"format_version {FORMAT_VERSION + 1} is not supported"),
        (json.dumps(wrong), "not a safeguard spam model"),
        (json.dumps(broken), "missing or malformed field"),
    ]
    for content, message in cases:
        path = _write(tmp_path, content)
        with pytest.raises(ModelLoadError) as info:
            SpamModel.load(path)
        assert message in str(info.value) and str(path) in str(info.value)
    with pytest.raises(ModelLoadError, match="not found: train one"):
        SpamModel.load(tmp_path / "absent.json")


def test_a_corrupt_model_fails_at_load_not_silently(tmp_path: Path) -> None:
    path = _write(tmp_path, "not json")
    clf = SpamClassifier(model=str(path))
    with pytest.raises(ModelLoadError):
        clf.load()


TRAIN_TEXTS = [f"win cash prize now text {i} to 80{i}" for i in range(15)] + [
    f"the kettle {i} arrived and works fine" for i in range(15)
]
TRAIN_LABELS = [1] * 15 + [0] * 15


def test_training_is_deterministic_and_learns(tmp_path: Path) -> None:
    a = train(TRAIN_TEXTS, TRAIN_LABELS, seed=3)
    b = train(TRAIN_TEXTS, TRAIN_LABELS, seed=3)
    assert a.to_dict() == b.to_dict()
    a.save(tmp_path / "m.json")
    loaded = SpamModel.load(tmp_path / "m.json")
    assert (
        loaded.score("win cash prize now text 99 to 8099") > 0.5 > loaded.score("the new kettle arrived and works fine")
    )
    cv1 = cross_validate(TRAIN_TEXTS, TRAIN_LABELS, folds=3, seed=5)
    cv2 = cross_validate(TRAIN_TEXTS, TRAIN_LABELS, folds=3, seed=5)
    assert cv1.to_dict() == cv2.to_dict() and cv1.overall.auc == 1.0


@pytest.mark.parametrize(
    ("texts", "labels", "message"),
    [
        (["a"] * (MIN_ROWS - 1), [0, 1] * 9 + [0], "too few labelled rows"),
        (["a"] * MIN_ROWS, [0] * MIN_ROWS, "single class"),
    ],
)
def test_training_rejects_unusable_data(texts: list[str], labels: list[int], message: str) -> None:
    with pytest.raises(InputError, match=message):
        train(texts, labels)


@pytest.mark.parametrize(
    ("labels", "scores", "expected"),
    [
        ([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9], 1.0),
        ([0, 0, 1, 1], [0.9, 0.8, 0.2, 0.1], 0.0),
        ([0, 1, 0, 1], [0.5, 0.5, 0.5, 0.5], 0.5),
        ([0, 1, 1, 0], [0.1, 0.4, 0.35, 0.8], 0.5),
    ],
)
def test_auc(labels: list[int], scores: list[float], expected: float) -> None:
    assert auc(labels, scores) == pytest.approx(expected)


def test_precision_recall_f1_at_threshold() -> None:
    m = classification_metrics([1, 1, 0, 0], [0.9, 0.4, 0.6, 0.1])
    assert (m.precision, m.recall, m.f1) == (0.5, 0.5, 0.5)


def test_split_is_stratified_and_seeded() -> None:
    a = split(TRAIN_TEXTS, TRAIN_LABELS, test_fraction=0.2, seed=1)
    b = split(TRAIN_TEXTS, TRAIN_LABELS, test_fraction=0.2, seed=1)
    assert a == b and sum(a[3]) == 3 and len(a[3]) == 6


def test_read_labelled_errors(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    path.write_text('{"body": "hi", "verdict": "spam"}\n{"body": "x", "verdict": null}\n', encoding="utf-8")
    assert read_labelled(path, text_field="body", label_field="verdict") == (["hi"], [1])
    with pytest.raises(InputError, match="no label field 'label'"):
        read_labelled(path, text_field="body")
    with pytest.raises(InputError, match="text field 'text'"):
        read_labelled(path, label_field="verdict")


def test_model_file_that_is_a_fifo_or_a_device_is_refused_without_hanging(tmp_path: Path) -> None:
    import os

    from _bounded import finishes

    from safeguard.classifiers.spam.model import SpamModel

    fifo = tmp_path / "spam.json"
    os.mkfifo(fifo)
    for path, reason in ((fifo, "is a FIFO"), (Path("/dev/zero"), "cannot be read from /dev")):
        exc = finishes(lambda path=path: SpamModel.load(path))
        assert isinstance(exc, ModelLoadError) and str(path) in str(exc) and reason in str(exc)
