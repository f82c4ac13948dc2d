"""The offline language identifier behind ``text.lang`` and ``text.lang_score``."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from safeguard import Action, Moderator, Post
from safeguard.classifiers import lang
from safeguard.classifiers.text import TextClassifier
from safeguard.testing import check_classifier

SENTENCES = {
    "en": "I ordered the blender last week and it stopped working after two days.",
    "de": "Ich habe das Paket gestern bekommen, aber leider funktioniert es nicht.",
    "fr": "Je ne comprends pas pourquoi ma commande est toujours en retard.",
    "es": "No entiendo por qué mi pedido todavía no ha llegado a casa.",
    "ru": "Я не понимаю, почему мой заказ до сих пор не пришёл.",
    "nl": "Ik heb het pakket gisteren ontvangen en het werkt prima.",
    "pl": "Nie rozumiem, dlaczego moje zamówienie jeszcze nie dotarło.",
    "tr": "Siparişim neden hâlâ gelmedi, hiç anlamıyorum.",
    "ar": "لا أفهم لماذا لم يصل طلبي حتى الآن.",
}


@pytest.mark.parametrize(("code", "text"), sorted(SENTENCES.items()))
def test_identifies_the_language(code: str, text: str) -> None:
    found, score = lang.detect_language(text)
    assert found == code
    assert 0.5 < score <= 1.0


@pytest.mark.parametrize(
    "text",
    ["", "   ", "👍👍", "12345", "https://example.com", "ok", "Great phone!", "@alice @bob", "a@b.example 555-0100"],
)
def test_too_little_to_tell_is_und(text: str) -> None:
    assert lang.detect_language(text) == ("und", 0.0)


def test_links_and_addresses_are_set_aside() -> None:
    text = "Bitte schau dir https://example.com/the/english/page an, danke schön @support_team"
    assert lang.detect_language(text)[0] == "de"


def test_long_texts_are_read_from_the_start() -> None:
    english = SENTENCES["en"] + " "
    german = SENTENCES["de"] + " "
    text = english * (lang.MAX_CHARS // len(english) + 1) + german * 50
    assert lang.detect_language(text)[0] == "en"


def test_deterministic_and_independent_of_the_batch() -> None:
    texts = [*SENTENCES.values(), "👍", *(t.upper() for t in SENTENCES.values()), SENTENCES["en"] * 30]
    alone = [lang.detect_language(t) for t in texts]
    assert lang.detect_languages(texts) == alone
    assert lang.detect_languages(texts[::-1]) == alone[::-1]
    assert lang.detect_languages(texts * 20) == alone * 20  # large enough for the batched walk
    assert lang.detect_languages(texts * 20) == alone * 20


def test_the_same_answers_as_py3langid() -> None:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    reference = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    reference.set_languages(list(lang.LANGUAGES))
    rng = np.random.default_rng(7)
    words = " ".join(SENTENCES.values()).split()
    texts = [" ".join(rng.choice(words, size=int(rng.integers(3, 120)))) for _ in range(200)]
    for text, (code, score) in zip(texts, lang.detect_languages(texts), strict=True):
        sample = lang._sample(text)
        assert sample is not None
        expected_code, expected_score = reference.classify(sample)
        assert code == expected_code
        assert score == pytest.approx(expected_score, abs=2e-4)


def test_the_warm_up_covers_the_automaton_depth() -> None:
    """The chunked walk is exact only if the automaton's state depends on at most _WARM_UP bytes."""
    model = lang._get_model()
    depth = np.full(len(model.rowbase), -1, dtype=np.int64)
    depth[0] = 0
    frontier = np.array([0])
    level = 0
    while len(frontier):
        level += 1
        following = np.unique(model.nextmove[(model.rowbase[frontier][:, None] + np.arange(256)).ravel()])
        frontier = following[depth[following] < 0]
        depth[frontier] = level
    assert (depth >= 0).all()
    assert depth.max() <= lang._WARM_UP


def test_text_classifier_gives_lang_and_score() -> None:
    clf = TextClassifier()
    check_classifier(clf)
    posts = [Post(id=code, text=text) for code, text in SENTENCES.items()] + [Post(id="x", text="👍👍")]
    out = clf.classify(posts)
    assert [s["lang"] for s in out] == [*SENTENCES, "und"]
    assert all(0.0 < s["lang_score"] <= 1.0 for s in out[:-1])
    assert out[-1]["lang_score"] == 0.0


RULES = """
ruleset: lang-test
version: 1
lists:
  insults: [idiot, dummkopf]
rules:
  - id: insult-unsupported-language
    when: size(lists.insults) > 0 && text.lang != "en" && text.lang != "und"
    action: hold
    reason: Word list hit in a language the harm models were not trained on
"""


@pytest.mark.parametrize(
    ("text", "action", "fired"),
    [
        ("Du bist so ein Dummkopf, lies doch die Anleitung", Action.HOLD, True),
        ("You are such an idiot, read the manual", Action.ALLOW, False),
        ("Dummkopf", Action.ALLOW, False),  # too short to tell: "und"
        ("Danke, das Paket ist heute angekommen", Action.ALLOW, False),
    ],
)
def test_a_rule_reads_text_lang(text: str, action: Action, fired: bool) -> None:
    moderator = Moderator.from_yaml(RULES)
    decision = moderator.moderate({"id": "p", "text": text})
    assert decision.action is action
    assert bool(decision.matches) is fired
    if fired:
        assert decision.matches[0].values["text.lang"] == "de"


def test_threads_get_the_same_answers() -> None:
    texts = list(SENTENCES.values()) * 10
    expected = lang.detect_languages(texts)
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda _: lang.detect_languages(texts), range(8)))
    assert all(r == expected for r in results)
