"""The toxicity classifier's default backend, option validation, batching and cascade routing (no torch)."""

from __future__ import annotations

import itertools
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from safeguard.classifiers.base import Cost, get_classifier_class
from safeguard.classifiers.toxicity import ToxicityClassifier
from safeguard.classifiers.toxicity.backend import Backend, batched_scores
from safeguard.classifiers.toxicity.cascade import CascadeBackend
from safeguard.classifiers.toxicity.lexicon import Lexicon
from safeguard.datasets import eval_path, read_eval
from safeguard.errors import ConfigError
from safeguard.rules.loader import parse_ruleset
from safeguard.testing import check_classifier
from safeguard.types import Post

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def default() -> ToxicityClassifier:
    clf = ToxicityClassifier(backend="lexicon")
    clf.load()
    return clf


def score(clf: ToxicityClassifier, text: str) -> dict[str, float]:
    return clf.classify([Post(id="p", text=text)])[0]


def test_default_conforms_and_declares_its_labels() -> None:
    clf = ToxicityClassifier(backend="lexicon")
    assert dict(clf.outputs) == dict.fromkeys(["toxicity", "insult", "threat", "identity_attack", "self_harm"], float)
    assert clf.cost is Cost.CHEAP
    check_classifier(clf)


def test_registered_as_toxicity() -> None:
    assert get_classifier_class("toxicity") is ToxicityClassifier


@pytest.mark.parametrize(
    ("plain", "disguised"),
    [
        ("you idiot", "you 1d10t"),
        ("you idiot", "you id\u200biot"),
        ("you idiot", "you \u0456d\u0456\u043et"),  # Cyrillic i and o
        ("you are stupid", "you are s t u p i d"),
        ("you are stupid", "you are 5tup1d"),
        ("fuck you", "f*ck you"),
        ("fuck you", "f**k you"),
        ("fuck you", "fu\u0441k you"),  # Cyrillic es
        ("you moron", "you m*ron"),
        ("what a dumbass", "what a dumb\u200bass"),
    ],
)
def test_obfuscation_moves_scores_at_most_0_15(default: ToxicityClassifier, plain: str, disguised: str) -> None:
    a, b = score(default, plain), score(default, disguised)
    for label in ("toxicity", "insult"):
        assert abs(a[label] - b[label]) <= 0.15, (label, a[label], b[label])
    assert a["toxicity"] >= 0.5


@pytest.mark.parametrize(
    "text",
    [
        "Scunthorpe store has the kettle in stock",
        "The cockpit of this drone toy is tiny",
        "Is Assassin's Creed included in the bundle?",
        "kill the power at the breaker before you swap the fitting",
        "I'll shoot you an email with the order number",
        "Does this kettle come in black?",
        "This blender is fucking garbage, broke in two days",
    ],
)
def test_benign_and_product_feedback_are_not_attacks(default: ToxicityClassifier, text: str) -> None:
    got = score(default, text)
    assert got["threat"] == 0.0
    assert got["identity_attack"] == 0.0
    assert got["self_harm"] == 0.0
    assert got["insult"] < 0.5


@pytest.mark.parametrize(
    "text", ["Scunthorpe", "cockpit", "Assassin's Creed", "kill the power at the breaker", "Does this come in black?"]
)
def test_scunthorpe_family_does_not_score_toxic(default: ToxicityClassifier, text: str) -> None:
    assert score(default, text)["toxicity"] < 0.5


@pytest.mark.parametrize(
    ("text", "label", "minimum"),
    [
        ("I will kill you", "threat", 0.9),
        ("i'm going to stab you", "threat", 0.9),
        ("I know where you live", "threat", 0.85),
        ("you deserve to die", "threat", 0.6),
        ("you are a complete idiot", "insult", 0.85),
        ("ur an 1d10t", "insult", 0.85),
        ("shut up", "insult", 0.5),
        ("muslims are vermin", "identity_attack", 0.75),
        ("deport all the immigrants, they should be deported", "identity_attack", 0.75),
        ("I want to kill myself", "self_harm", 0.8),
        ("just kys", "self_harm", 0.85),
        ("I don't want to live anymore", "self_harm", 0.8),
    ],
)
def test_lexicon_labels(default: ToxicityClassifier, text: str, label: str, minimum: float) -> None:
    assert score(default, text)[label] >= minimum


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("don't kill yourself carrying it upstairs", "self_harm"),
        ("the idiot who designed this lid", "threat"),
        ("women are welcome at the workshop", "identity_attack"),
        ("I'd kill for a cheaper version", "threat"),
        ("you're dead right about the price", "threat"),
    ],
)
def test_lexicon_near_misses_stay_low(default: ToxicityClassifier, text: str, label: str) -> None:
    assert score(default, text)[label] < 0.5


@pytest.mark.parametrize(
    ("masked", "expected"),
    [
        ("f*ck", "fuck"),
        ("f**k", "fuck"),
        ("sh*t", "shit"),
        ("sh**", "shit"),
        ("a**hole", "asshole"),
        ("b***h", "bitch"),
    ],
)
def test_unmask_reads_asterisk_spellings(masked: str, expected: str) -> None:
    assert Lexicon().unmask(masked) == expected


@pytest.mark.parametrize("text", ["5*3 = 15", "**bold** text", "rated 4* and 5*", "a * b"])
def test_unmask_leaves_other_asterisks(text: str) -> None:
    assert Lexicon().unmask(text) == text


def test_title_is_scored_with_the_text(default: ToxicityClassifier) -> None:
    plain = default.classify([Post(id="a", text="see above")])[0]
    titled = default.classify([Post(id="a", text="see above", title="you absolute moron")])[0]
    assert titled["insult"] > plain["insult"] + 0.5


def test_batch_equals_single_posts(default: ToxicityClassifier) -> None:
    texts = ["you idiot", "nice kettle", "I will kill you", "", "you idiot"]
    batch = default.classify([Post(id=str(i), text=t) for i, t in enumerate(texts)])
    singles = [score(default, t) for t in texts]
    for b, s in zip(batch, singles, strict=True):
        assert b == pytest.approx(s)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"backend": "nope"}, "unknown toxicity backend 'nope'"),
        ({"backend": "lexicon", "model": "x"}, "unknown option(s) for toxicity backend 'lexicon': model"),
        ({"backend": "lexicon", "workers": 0}, 'workers must be a positive integer or "auto", got 0'),
        ({"backend": "lexicon", "workers": "many"}, "workers must be a positive integer"),
        ({"backend": "lexicon", "workers": True}, "workers must be a positive integer"),
        ({"backend": "detoxify", "model_type": "huge"}, "model_type must be one of"),
        ({"backend": "detoxify", "checkpoint": "m.ckpt"}, "give both checkpoint and config_dir"),
        ({"backend": "detoxify", "batch_size": 0}, "batch_size must be a positive integer"),
        ({"backend": "transformers"}, "needs model_dir"),
        ({"backend": "onnx"}, "needs model: PATH.onnx"),
        ({"backend": "onnx", "model": "missing.onnx"}, "exported by `safeguard export-onnx`"),
        ({"backend": "cascade"}, "needs slow"),
        ({"backend": "cascade", "slow": {"backend": "lexicon"}, "band": [0.9, 0.1]}, "band must be [lo, hi]"),
        ({"backend": "cascade", "slow": {"backend": "cascade"}}, "cannot itself be a cascade"),
    ],
)
def test_bad_options_are_precise_value_errors(options: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError) as info:
        ToxicityClassifier(**options)
    assert message in str(info.value)


def test_bad_options_in_a_ruleset_are_config_errors_with_a_line() -> None:
    text = "ruleset: t\nclassifiers:\n  toxicity:\n    backend: detoxify\n    model_type: huge\nrules: []\n"
    with pytest.raises(ConfigError) as info:
        parse_ruleset(text, file="t.yaml")
    problem = info.value.problems[0]
    assert problem.line == 3
    assert "model_type must be one of" in problem.message


def test_rule_reading_a_label_the_backend_lacks_fails_at_load() -> None:
    text = (
        "ruleset: t\nclassifiers:\n  toxicity: {backend: lexicon}\n"
        "rules:\n  - id: r\n    when: toxicity.severe_toxicity > 0.5\n    action: remove\n"
    )
    with pytest.raises(ConfigError) as info:
        parse_ruleset(text, file="t.yaml")
    assert "severe_toxicity" in str(info.value.problems[0].message)


def test_batched_scores_dedupes_sorts_by_length_and_keeps_order() -> None:
    seen: list[list[str]] = []

    def run(batch: list[str]) -> np.ndarray:
        seen.append(batch)
        return np.array([[len(t), 1.0] for t in batch])

    texts = ["ccc", "a", "bb", "a", "dddd", "ccc", "eeeee"]
    out = batched_scores(texts, run, 2, batch_size=2)
    assert out[:, 0].tolist() == [3, 1, 2, 1, 4, 3, 5]
    assert seen == [["a", "bb"], ["ccc", "dddd"], ["eeeee"]]


class _Stub(Backend):
    def __init__(self, labels: tuple[str, ...], toxicity: dict[str, float]) -> None:
        self.labels = labels
        self.toxicity = toxicity
        self.calls: list[list[str]] = []

    def predict(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        self.calls.append(list(texts))
        return {label: np.array([self.toxicity[t] for t in texts]) for label in self.labels}


@pytest.mark.parametrize(
    ("band", "escalated"),
    [
        ((0.2, 0.8), ["unsure", "edge"]),
        ((0.0, 1.0), ["calm", "unsure", "edge", "angry"]),
        ((0.6, 0.7), []),
        ((0.5, 0.5), ["unsure"]),
    ],
)
def test_cascade_sends_only_the_uncertain_band_to_the_slow_model(
    band: tuple[float, float], escalated: list[str]
) -> None:
    fast_scores = {"calm": 0.05, "unsure": 0.5, "edge": 0.8, "angry": 0.95}
    cascade = CascadeBackend(slow={"backend": "lexicon"}, band=list(band))
    cascade.fast = _Stub(("toxicity", "insult"), fast_scores)
    slow = _Stub(("toxicity", "insult", "obscene"), dict.fromkeys(fast_scores, 0.42))
    cascade.slow = slow
    cascade.labels = ("toxicity", "insult")
    texts = list(fast_scores)
    out = cascade.predict(texts)
    assert (slow.calls[0] if slow.calls else []) == escalated
    for i, text in enumerate(texts):
        expected = 0.42 if text in escalated else fast_scores[text]
        assert out["toxicity"][i] == pytest.approx(expected)
        assert bool(out["escalated"][i]) is (text in escalated)
    assert cascade.stats == {"posts": 4, "escalated": len(escalated)}
    assert cascade.escalated_share == pytest.approx(len(escalated) / 4)


def test_cascade_outputs_are_the_shared_labels_plus_escalated() -> None:
    clf = ToxicityClassifier(backend="cascade", fast="lexicon", slow={"backend": "lexicon"}, band=[0.3, 0.7])
    assert set(clf.outputs) == {"toxicity", "insult", "threat", "identity_attack", "self_harm", "escalated"}
    assert clf.outputs["escalated"] is bool
    rows = clf.classify([Post(id="1", text="you idiot"), Post(id="2", text="nice kettle")])
    assert all(isinstance(r["escalated"], bool) for r in rows)


def test_default_backend_imports_neither_torch_nor_sklearn() -> None:
    code = (
        "import sys; from safeguard.classifiers.toxicity import ToxicityClassifier; from safeguard.types import Post; "
        "c = ToxicityClassifier(backend='lexicon'); c.classify([Post(id='1', text='you idiot')]); "
        "print(sorted(m for m in ('torch', 'sklearn', 'joblib', 'transformers', 'onnxruntime') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"
    assert out.stderr == ""


def test_shipped_weights_load_without_pickle() -> None:
    data = ROOT / "src" / "safeguard" / "classifiers" / "toxicity" / "data"
    with np.load(data / "profanity_linear.npz", allow_pickle=False) as npz:
        assert npz["coef"].shape == (5, len(npz["vocab"]))
    assert (data / "LICENSE-alt-profanity-check").read_text().startswith("MIT License")
    assert "MIT" in (data / "LICENSE-vaderSentiment").read_text()


def test_exported_linear_model_matches_alt_profanity_check() -> None:
    pc = pytest.importorskip("profanity_check", reason="alt-profanity-check is not installed")
    from safeguard.classifiers.toxicity.default import DATA_DIR
    from safeguard.classifiers.toxicity.linear import LinearTextModel

    texts = ["you are a fucking idiot", "lovely kettle", "what a shit blender", "the idiot idiot idiot", ""]
    model = LinearTextModel.from_npz(DATA_DIR / "profanity_linear.npz")
    assert model.predict([t.lower() for t in texts]) == pytest.approx(pc.predict_prob(texts), abs=1e-9)


@pytest.mark.skipif(eval_path("olid_offenseval2019.jsonl") is None, reason="evaluation data ../shared/eval not found")
def test_default_olid_auc_gate() -> None:
    """OLID test split, OFF vs NOT: the default's toxicity AUC is at least 0.86 (never trained on OLID)."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from toxicity_eval import auc, olid_text

    rows = [r for r in read_eval("olid_offenseval2019.jsonl") if r["meta"]["split"] == "test"]
    assert len(rows) == 860
    clf = ToxicityClassifier(backend="lexicon")
    scores = [r["toxicity"] for r in clf.classify([Post(id=r["id"], text=olid_text(r["text"])) for r in rows])]
    assert auc([r["label"] == "OFF" for r in rows], scores) >= 0.86


ASCII_SAMPLES = [
    "you're an idiot, don't 'quote' me: rock'n'roll isn't dead''",
    "snake_case and 2nd-hand mp3s cost $25.99 (a*b) -- x_y_z",
    "'leading and trailing' apostrophes' and ''doubled'' ones",
    "",
    "a b c d e f g",
]


@pytest.mark.parametrize("text", ASCII_SAMPLES)
def test_ascii_tokenisers_equal_the_patterns(text: str) -> None:
    from safeguard.classifiers.toxicity.default import DefaultModel
    from safeguard.classifiers.toxicity.lexicon import _WORD_RE
    from safeguard.classifiers.toxicity.linear import _TOKEN_RE

    model = DefaultModel()
    index = model.linear.index
    by_pattern = [index[t] for t in _TOKEN_RE.findall(text) if t in index]
    assert model.linear.token_ids(text) == by_pattern
    assert model.lexicon.words(text) == _WORD_RE.findall(text)


def test_masked_words_with_equally_strong_fits_resolve_the_same_in_every_process() -> None:
    code = "from safeguard.classifiers.toxicity.lexicon import Lexicon;print(Lexicon().unmask('f*cktard f*k tw*t'))"
    outputs = {
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True, env={"PYTHONHASHSEED": seed}
        ).stdout
        for seed in ("1", "2", "3", "4")
    }
    assert len(outputs) == 1


# Phrasings of every threat and self-harm pattern, with apostrophes, punctuation and case around them.
PATTERN_PHRASES = [
    "I'll kill you.",
    "we're gonna hurt your family",
    "i will find you and",
    "I know where you live!",
    "you're dead",
    "u r so dead",
    "you'll pay for this",
    "they should all be shot",
    "hope you die",
    "wish he gets hit by a bus",
    "better watch your back",
    "sleep with one eye open",
    "a bullet in your head",
    "beat the shit out of him",
    "burn down your house",
    "kill them all",
    "i want to kill myself",
    "end my own life",
    "i wanna die",
    "self-harm",
    "selfharm",
    "suicide",
    "no reason to live",
    "don't want to wake up",
    "better off dead",
    "kys",
    "go die",
    "don't kill yourself carrying it",
    "Y'ALL better watch your back's corner",
    "i'll kill you're",
    "x'watch your back",
    "he'll hope you die'",
]


def _ungated_threat_and_self_harm(text: str) -> tuple[float, float]:
    """What the threat and self-harm patterns give when every one of them runs on every text."""
    from safeguard.classifiers.toxicity import lexicon

    threat = max((w for p, w, _ in lexicon._THREAT_PATTERNS if p.search(text)), default=0.0)
    self_harm = max((w for p, w, _ in lexicon._SELF_HARM_PATTERNS if p.search(text)), default=0.0)
    if self_harm and lexicon._SELF_HARM_WARNING.search(text) and self_harm <= 0.9:
        stripped = lexicon._SELF_HARM_WARNING.sub(" ", text)
        self_harm = max((w for p, w, _ in lexicon._SELF_HARM_PATTERNS if p.search(stripped)), default=0.0)
    return threat, self_harm


def _real_texts(limit: int) -> list[str]:
    texts = [r["text"] for r in read_eval("jigsaw_toxic_comments_sample.jsonl") if r["labels"]["threat"]][:limit]
    texts += [r["text"] for r in read_eval("reddit_comp551_comments.jsonl", limit=limit)]
    return texts


@pytest.mark.skipif(eval_path("jigsaw_toxic_comments_sample.jsonl") is None, reason="needs ../shared/eval")
def test_pattern_word_gates_never_skip_a_match() -> None:
    """The word groups checked before each pattern are necessary: gated scores equal running every pattern."""
    from safeguard.classifiers.text import normalize
    from safeguard.classifiers.toxicity.default import DefaultModel, lexical_features

    model = DefaultModel()
    lexicon = model.lexicon
    matched = 0
    for raw in PATTERN_PHRASES + _real_texts(1500):
        text = lexicon.unmask(normalize(raw))
        expected = _ungated_threat_and_self_harm(text)
        scores = lexicon.score(text)
        assert (scores.threat, scores.self_harm) == expected, raw
        matched += expected != (0.0, 0.0)
        # The backend passes only the words some check reads: the same features as the full word sets.
        full = lexical_features(lexicon, model.negativity, text)
        assert model.parts([raw])[1][0].tolist() == list(full), raw
    assert matched >= 40  # the texts exercise the patterns


def test_quick_start_moves_the_leading_boundary_and_keeps_every_match() -> None:
    """The patterns run with their leading ``\\b`` as a look-behind: the same matches at the same places."""
    import re

    from safeguard.classifiers.toxicity.lexicon import _SELF_HARM_SPECS, _THREAT_SPECS, _quick_start

    assert _quick_start(r"\bsuicide\b") == r"suicide(?<!\wsuicide)\b"
    assert _quick_start(r"\b(?:hope|wish)\s+you") == r"(?:hope(?<!\whope)|wish(?<!\wwish))\s+you"
    assert _quick_start(r"\b(?:deserves?\s+to|must)") == r"(?:deserve(?<!\wdeserve)s?\s+to|must(?<!\wmust))"
    for unchanged in (r"\bno\b|\bnone\b", r"\b(?:\w+|x)y", r"(?:a|b)\b", r"\b(?:a|b)|c"):
        assert _quick_start(unchanged) == unchanged
    texts = PATTERN_PHRASES + BATCH_SAMPLES
    texts += [
        f"{pre}{phrase}{post}"
        for phrase in PATTERN_PHRASES[:40]
        for pre in ("x", "_", "4", "é", "'", "-")
        for post in ("", "x")
    ]
    specs = [p for p, _, _ in _THREAT_SPECS + _SELF_HARM_SPECS]
    rewritten = 0
    for spec in specs:
        plain, quick = re.compile(spec), re.compile(_quick_start(spec))
        rewritten += plain.pattern != quick.pattern
        for text in texts:
            assert [m.span() for m in plain.finditer(text)] == [m.span() for m in quick.finditer(text)], (spec, text)
    assert rewritten >= len(specs) - 2


def test_unmask_equals_the_masked_word_pattern_on_every_run() -> None:
    """Unmasking tries only the runs around asterisks; the result is the pattern's substitution over the text."""
    import random

    from safeguard.classifiers.toxicity.lexicon import _MASKED_RE

    lexicon = Lexicon()
    rng = random.Random(7)
    texts = [
        "f*ck", "**bold** f**k a**hole *", "x*y_z* 3*4 s*it! sh** ***", "*a", "a*", "é*t", "日本*語", "f*ck_you f*ck2",
        *("".join(rng.choice("ab*_1 é.'") for _ in range(rng.randint(0, 14))) for _ in range(5000)),
    ]  # fmt: skip
    for text in texts:
        assert lexicon.unmask(text) == _MASKED_RE.sub(lambda m: lexicon._unmask_word(m.group()), text), text


def test_ascii_word_split_equals_the_pattern_on_apostrophes() -> None:
    import random

    from safeguard.classifiers.toxicity.lexicon import _WORD_RE

    lexicon = Lexicon()
    rng = random.Random(11)
    for _ in range(5000):
        text = "".join(rng.choice("ab1' .-") for _ in range(rng.randint(0, 16)))
        assert lexicon.words(text) == _WORD_RE.findall(text), text


def test_split_by_cost_covers_the_batch_in_order_at_the_nearest_boundaries() -> None:
    from safeguard.classifiers.toxicity.helpers import POST_COST, split_by_cost

    lengths = [5, 1, 300, 2, 2, 2, 150, 150, 40, 1]
    for shares in ([1.0], [0.5, 0.5], [0.47, 0.53], [0.2, 0.4, 0.4], [0.25] * 4, [0.1] * 10):
        slices = split_by_cost(lengths, shares)
        assert len(slices) == len(shares)
        assert slices[0][0] == 0 and slices[-1][1] == len(lengths)
        assert all(s[1] == t[0] for s, t in itertools.pairwise(slices))
    costs = [sum(n + POST_COST for n in lengths[a:b]) for a, b in split_by_cost(lengths, [0.5, 0.5])]
    assert costs == [630, 663]  # the cut nearest half of 1,293: one text more would give 696 / 597
    assert split_by_cost([], [0.5, 0.5]) == [(0, 0), (0, 0)]
    assert split_by_cost([7], [0.5, 0.5]) in ([(0, 0), (0, 1)], [(0, 1), (1, 1)])


@pytest.mark.slow
def test_workers_score_exactly_as_one_process_and_survive_a_dead_helper() -> None:
    import os
    import signal

    from safeguard.classifiers.toxicity.default import MIN_PARALLEL_BATCH

    texts = [
        f"post {i}: you absolute idiot, I will find you" if i % 7 == 0 else f"the kettle {i} broke" for i in range(600)
    ]
    posts = [Post(id=str(i), text=t) for i, t in enumerate(texts)]
    assert len(posts) >= MIN_PARALLEL_BATCH
    single = ToxicityClassifier(backend="lexicon").classify(posts)
    clf = ToxicityClassifier(backend="lexicon", workers=2)
    clf.load()
    assert clf.classify(posts) == single
    assert clf.classify(posts[:10]) == single[:10]  # small batches stay in this process
    helpers = clf.backend._helpers  # type: ignore[attr-defined]
    for pid in helpers.pids:
        os.kill(pid, signal.SIGKILL)
    with pytest.warns(RuntimeWarning, match="helper process stopped"):
        assert clf.classify(posts) == single
    assert clf.classify(posts) == single  # new helpers


def _word_by_word(model: object, texts: list[str], monkeypatch: pytest.MonkeyPatch) -> np.ndarray:
    from safeguard.classifiers.toxicity import default

    with monkeypatch.context() as patch:
        patch.setattr(default, "MIN_SCAN_BATCH", 10**9)  # every post through the per-word path
        logit, feats = model.parts(texts)  # type: ignore[attr-defined]
    return np.column_stack([logit, feats])


BATCH_SAMPLES = [
    "the kettle broke after two days", "you are an idiot", "kill the power at the breaker", "i hope you die",
    "i don't like it, they're late", "rock'n'roll isn't dead", "snake_case names", "naïve café", "привет мир",
    "@sam it's dead",
    "'quoted' words and ''doubled'' ones", "he'll hope you die'", "y'all are vermin", "", "   ", "no no no",
    "this phone is dead", "you're dead wrong", "f*ck this", "http://example.com/kill you", "i'll kill you",
    "watch your back", "i want to kill myself", "shut up", "2nd-hand mp3s cost $25.99", "let's go there",
    "go fuck yourself", "shut the door", "x_you're_it", "great kettle 👍 “really” — fine…", "“you idiot”",
]  # fmt: skip


def test_per_word_path_reads_words_from_the_ascii_view_as_from_the_text(monkeypatch: pytest.MonkeyPatch) -> None:
    """Words, and their parts at apostrophes, found on the ASCII view of a post give the lexical features that
    reading the post itself gives."""
    import random

    from safeguard.classifiers.toxicity import default
    from safeguard.classifiers.toxicity.lexicon import apostrophe_parts, ascii_runs

    model = default.DefaultModel()
    rng = random.Random(8)
    extra = ["👍", "“", "”", "—", "→", "∑", "''", "'x'", "don't", "rock'n'roll", "you're", "y'all", "é", "日本"]
    pieces = BATCH_SAMPLES + extra
    texts = [" ".join(rng.choice(pieces) for _ in range(rng.randint(1, 5))) for _ in range(1500)]
    for text in texts:
        prepared = model.prepare(text)
        if prepared.isascii():
            assert set(ascii_runs(prepared)) == apostrophe_parts(model.lexicon.words(prepared)), text
    with monkeypatch.context() as patch:
        patch.setattr(default, "MIN_SCAN_BATCH", 10**9)  # every post through the per-word path
        feats = model.parts(texts)[1]
    for text, row in zip(texts, feats.tolist(), strict=True):
        assert row == list(default.lexical_features(model.lexicon, model.negativity, model.prepare(text))), text


def test_batch_word_scan_gives_the_per_word_results(monkeypatch: pytest.MonkeyPatch) -> None:
    """The array pass over a batch decides which posts it can score; their values equal the per-word path's."""
    import random

    from safeguard.classifiers.toxicity.default import DefaultModel

    model = DefaultModel()
    rng = random.Random(5)
    texts = BATCH_SAMPLES + [" ".join(rng.choice(BATCH_SAMPLES) for _ in range(rng.randint(1, 4))) for _ in range(2000)]
    logit, feats = model.parts(texts)
    assert np.array_equal(np.column_stack([logit, feats]), _word_by_word(model, texts, monkeypatch))
    scan = model._scan.scan([model.prepare(t) for t in BATCH_SAMPLES])
    plain = dict(zip(BATCH_SAMPLES, scan.plain.tolist(), strict=True))
    # Posts with a lexicon word, the words of a pattern or targeted phrase, chained apostrophes or non-ASCII
    # letters go through the per-word path; the others take the batch values.
    assert all(plain[t] for t in ["the kettle broke after two days", "this phone is dead", "no no no"])
    assert all(
        plain[t] for t in ["snake_case names", "let's go there", "shut the door", "great kettle 👍 “really” — fine…"]
    )
    assert not any(plain[t] for t in ["you are an idiot", "i hope you die", "go fuck yourself", "привет мир"])
    assert not plain["rock'n'roll isn't dead"] and not plain["y'all are vermin"] and not plain["shut up"]


@pytest.mark.skipif(eval_path("reddit_comp551_comments.jsonl") is None, reason="needs ../shared/eval")
def test_batch_word_scan_gives_the_per_word_results_on_real_posts(monkeypatch: pytest.MonkeyPatch) -> None:
    from safeguard.classifiers.toxicity.default import DefaultModel

    model = DefaultModel()
    texts = [r["text"] for r in read_eval("reddit_comp551_comments.jsonl", limit=2000)]
    texts += [r["text"] for r in read_eval("jigsaw_toxic_comments_sample.jsonl", limit=2000)]
    batched = np.vstack([np.column_stack(model.parts(texts[i : i + 500])) for i in range(0, len(texts), 500)])
    assert np.array_equal(batched, _word_by_word(model, texts, monkeypatch))


@pytest.mark.parametrize("copies", [1, 10])  # a few posts (plain floats) and many (array calls)
def test_scores_outside_zero_to_one_are_clipped_and_nan_reads_as_zero(copies: int) -> None:
    raw = {"nan": float("nan"), "inf": float("inf"), "-inf": float("-inf"), "half": 0.5, "big": 1.5, "neg": -0.5}
    clf = ToxicityClassifier(backend="lexicon")
    clf.backend = _Stub(("toxicity",), raw)
    clf.outputs = {"toxicity": float}
    clf._loaded = True
    posts = [Post(id=str(i), text=t) for i, t in enumerate(list(raw) * copies)]
    assert [r["toxicity"] for r in clf.classify(posts)] == [0.0, 1.0, 0.0, 0.5, 1.0, 0.0] * copies


def test_batch_word_scan_in_chunks_and_threads_gives_the_same_results(monkeypatch: pytest.MonkeyPatch) -> None:
    """Large batches are scanned in chunks, and scans running in several threads at once do not mix."""
    import random
    from concurrent.futures import ThreadPoolExecutor

    from safeguard.classifiers.toxicity import default
    from safeguard.classifiers.toxicity.default import DefaultModel

    model = DefaultModel()
    rng = random.Random(9)
    batches = [
        [" ".join(rng.choice(BATCH_SAMPLES) for _ in range(rng.randint(1, 30))) for _ in range(size)]
        for size in (40, 300, 120, 700)
    ]
    expected = [np.column_stack(model.parts(batch)) for batch in batches]
    with ThreadPoolExecutor(4) as pool:
        for _ in range(3):
            got = list(pool.map(lambda batch: np.column_stack(model.parts(batch)), batches))
            assert all(np.array_equal(g, e) for g, e in zip(got, expected, strict=True))
    monkeypatch.setattr(default, "SCAN_CHUNK_CHARS", 500)
    assert default._scan_chunks(batches[1])[0][1] < len(batches[1])  # several chunks
    assert all(np.array_equal(np.column_stack(model.parts(b)), e) for b, e in zip(batches, expected, strict=True))


def test_hash_power_tables_hold_the_powers_of_the_base_as_they_grow() -> None:
    from safeguard.classifiers.toxicity.batch import _BASE, _INVERSE, _Powers

    powers = _Powers(_BASE, _INVERSE)
    for size in (1, 2, 3, 1000, 70_000):
        up, down = powers.at_least(size)
        assert len(up) == len(down) >= size
        for j in {0, 1, 2, size // 2, size - 1, len(up) - 1} & set(range(len(up))):
            assert int(up[j]) == pow(_BASE, j, 1 << 64)
            assert int(down[j]) == pow(_INVERSE, j, 1 << 64)
            assert int(up[j]) * int(down[j]) % (1 << 64) == 1
