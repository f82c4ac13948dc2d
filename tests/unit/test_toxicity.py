"""The toxicity classifier: option validation, batching, clipping and cascade routing (no torch)."""

from __future__ import annotations

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
from safeguard.classifiers.toxicity.features import HashedNgrams
from safeguard.classifiers.toxicity.harmdata import HEADS
from safeguard.classifiers.toxicity.heads import HarmHeads
from safeguard.errors import ConfigError
from safeguard.rules.loader import parse_ruleset
from safeguard.testing import check_classifier
from safeguard.types import Post

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def fast() -> ToxicityClassifier:
    clf = ToxicityClassifier(backend="fast")
    clf.load()
    return clf


def score(clf: ToxicityClassifier, text: str) -> dict[str, float]:
    return clf.classify([Post(id="p", text=text)])[0]


def test_fast_conforms_and_declares_its_labels() -> None:
    clf = ToxicityClassifier(backend="fast")
    assert dict(clf.outputs) == {
        **dict.fromkeys(
            ["toxicity", "insult", "threat", "identity_attack", "self_harm", "counter_speech", "profanity"], float
        ),
        "target": str,
        "target_score": float,
        "quoted": float,
    }
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
        ("fuck you", "fu\u0441k you"),  # Cyrillic es
        ("what a dumbass", "what a dumb\u200bass"),
        ("fuck you", "f*ck you"),
        ("fuck you", "f**k you"),
        ("you moron", "you m*ron"),
    ],
)
def test_obfuscation_moves_scores_at_most_0_15(fast: ToxicityClassifier, plain: str, disguised: str) -> None:
    a, b = score(fast, plain), score(fast, disguised)
    for label in ("toxicity", "insult"):
        assert abs(a[label] - b[label]) <= 0.15, (label, a[label], b[label])
    assert a["toxicity"] >= 0.5


def test_title_is_scored_with_the_text(fast: ToxicityClassifier) -> None:
    plain = fast.classify([Post(id="a", text="see above")])[0]
    titled = fast.classify([Post(id="a", text="see above", title="you absolute moron")])[0]
    assert titled["toxicity"] > plain["toxicity"] + 0.5
    assert (plain["target"], titled["target"]) == ("none", "person")


def test_batch_equals_single_posts(fast: ToxicityClassifier) -> None:
    texts = ["you idiot", "nice kettle", "I will kill you", "", "you idiot"]
    batch = fast.classify([Post(id=str(i), text=t) for i, t in enumerate(texts)])
    singles = [score(fast, t) for t in texts]
    for b, s in zip(batch, singles, strict=True):
        assert b == pytest.approx(s)
    assert batch[0] != pytest.approx(batch[1])  # the posts are told apart


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"backend": "nope"}, "unknown toxicity backend 'nope'"),
        ({"backend": "lexicon"}, "unknown toxicity backend 'lexicon'"),
        ({"backend": "fast", "workers": 2}, "unknown option(s) for toxicity backend 'fast': workers"),
        ({"backend": "detoxify", "model_type": "huge"}, "model_type must be one of"),
        ({"backend": "detoxify", "checkpoint": "m.ckpt"}, "give both checkpoint and config_dir"),
        ({"backend": "detoxify", "batch_size": 0}, "batch_size must be a positive integer"),
        ({"backend": "transformers"}, "needs model_dir"),
        ({"backend": "onnx"}, "needs model: PATH.onnx"),
        ({"backend": "onnx", "model": "missing.onnx"}, "exported by `safeguard export-onnx`"),
        ({"backend": "cascade"}, "needs slow"),
        ({"backend": "cascade", "slow": {"backend": "fast"}, "band": [0.9, 0.1]}, "band must be [lo, hi]"),
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
        "ruleset: t\nclassifiers:\n  toxicity: {backend: fast}\n"
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
    cascade = CascadeBackend(slow={"backend": "fast"}, band=list(band))
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


def write_heads(path: Path, seed: int = 0) -> Path:
    """A heads file for ``{backend: fast, model: PATH}`` with random weights: scores unlike the shipped ones."""
    rng = np.random.default_rng(seed)
    ex = HashedNgrams(bits=12)
    n = len(HEADS)
    HarmHeads(ex, HEADS, rng.normal(0, 1, (ex.width, n)), rng.normal(0, 1, n), np.ones(n), np.zeros(n), {}).save(path)
    return path


def test_cascade_outputs_are_the_shared_labels_plus_escalated(tmp_path: Path) -> None:
    slow_model = write_heads(tmp_path / "slow.npz")
    clf = ToxicityClassifier(
        backend="cascade", fast="fast", slow={"backend": "fast", "model": str(slow_model)}, band=[0.0, 0.5]
    )
    # The heads both sides give, plus escalated; the fast backend's own derived signals are not passed on.
    assert set(clf.outputs) == {*HEADS, "escalated"}
    assert clf.outputs["escalated"] is bool
    posts = [Post(id="1", text="you idiot"), Post(id="2", text="nice kettle")]
    fast = ToxicityClassifier(backend="fast").classify(posts)
    slow = ToxicityClassifier(backend="fast", model=str(slow_model)).classify(posts)
    rows = clf.classify(posts)
    assert [r["escalated"] for r in rows] == [False, True]  # the insult is certain, the kettle post is not
    assert rows[0]["toxicity"] == pytest.approx(fast[0]["toxicity"])
    assert rows[1]["toxicity"] == pytest.approx(slow[1]["toxicity"])
    assert slow[1]["toxicity"] != pytest.approx(fast[1]["toxicity"])  # the two models differ on it
    assert clf.backend.stats == {"posts": 2, "escalated": 1}  # type: ignore[attr-defined]


def test_fast_backend_imports_neither_torch_nor_sklearn_nor_onnxruntime() -> None:
    code = (
        "import sys; from safeguard.classifiers.toxicity import ToxicityClassifier; from safeguard.types import Post; "
        "c = ToxicityClassifier(backend='fast'); c.classify([Post(id='1', text='you idiot')]); "
        "print(sorted(m for m in ('torch', 'sklearn', 'joblib', 'transformers', 'onnxruntime') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"
    assert out.stderr == ""


@pytest.mark.parametrize("copies", [1, 10])  # a few posts (plain floats) and many (array calls)
def test_scores_outside_zero_to_one_are_clipped_and_nan_reads_as_zero(copies: int) -> None:
    raw = {"nan": float("nan"), "inf": float("inf"), "-inf": float("-inf"), "half": 0.5, "big": 1.5, "neg": -0.5}
    clf = ToxicityClassifier(backend="fast")
    clf.backend = _Stub(("toxicity",), raw)
    clf.outputs = {"toxicity": float}
    clf._loaded = True
    posts = [Post(id=str(i), text=t) for i, t in enumerate(list(raw) * copies)]
    assert [r["toxicity"] for r in clf.classify(posts)] == [0.0, 1.0, 0.0, 0.5, 1.0, 0.0] * copies
