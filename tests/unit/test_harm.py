"""The trained harm backends: features against their reference, heads files, derived signals, routing."""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import pytest

from safeguard.classifiers.toxicity import ToxicityClassifier, make_backend
from safeguard.classifiers.toxicity.features import HashedNgrams, reference_features
from safeguard.classifiers.toxicity.harm import (
    FAST_MODEL,
    MODEL_HEADS,
    CascadeHarmBackend,
    ModelHarmBackend,
    _passage_heads,
    _worst_piece,
    cue_mask,
    quoted_share,
    targets,
)
from safeguard.classifiers.toxicity.harmdata import HEADS, hash_split
from safeguard.classifiers.toxicity.heads import HarmHeads, encoder_texts, normalized_texts
from safeguard.types import Post

os.environ.setdefault("HF_HUB_OFFLINE", "1")

ALPHABET = "abcdefgh xyz'!?.,-\n\t0123\u00e9\u00df\u4e2d\u0416\U0001f52a\U0001f3fe\u2019\u2014\u00a0\0"


def generated_texts(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    texts = ["", " ", "a", "you are an idiot", "I would love to \U0001f52a some \U0001f473\U0001f3fe", "x\0y"]
    texts += ["".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 60))) for _ in range(n)]
    return texts


@pytest.mark.parametrize(
    "extractor",
    [HashedNgrams(), HashedNgrams(bits=10, char_orders=(1, 3), word_orders=(2,), max_chars=25)],
    ids=["shipped", "small"],
)
def test_batch_features_match_the_reference_loop(extractor: HashedNgrams) -> None:
    texts = generated_texts(300, seed=7)
    row, col, value = extractor.pairs(texts)
    assert row.min() >= 0 and row.max() < len(texts)
    assert col.min() >= 0 and col.max() < extractor.width
    for i, text in enumerate(texts):
        got: dict[int, float] = {}
        for b, v in zip(col[row == i].tolist(), value[row == i].tolist(), strict=True):
            got[b] = got.get(b, 0.0) + v
        ref = reference_features(extractor, text)
        assert got.keys() == ref.keys(), text
        assert all(abs(got[k] - ref[k]) < 1e-9 for k in ref), text


def test_features_do_not_depend_on_the_batch() -> None:
    ex = HashedNgrams()
    texts = generated_texts(50, seed=3)
    whole = ex.pairs(texts)
    for i in (0, 4, 17):
        _, col, value = ex.pairs([texts[i]])
        sel = whole[0] == i
        assert sorted(zip(col.tolist(), value.tolist(), strict=True)) == sorted(
            zip(whole[1][sel].tolist(), whole[2][sel].tolist(), strict=True)
        )


def test_misspelt_and_unspaced_text_shares_most_features() -> None:
    ex = HashedNgrams()
    plain = set(reference_features(ex, "go back to your country"))
    swapped = set(reference_features(ex, "go bcak to your countyr"))
    unspaced = set(reference_features(ex, "gobacktoyourcountry"))
    other = set(reference_features(ex, "the kettle arrived on time"))
    assert len(plain & swapped) > 3 * len(plain & other)
    assert len(plain & unspaced) > 3 * len(plain & other)


def random_heads(tmp_path: Path, *, dense: int = 0, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    ex = HashedNgrams(bits=12)
    heads = HarmHeads(
        ex,
        HEADS,
        rng.normal(0, 1, (ex.width, len(HEADS))),
        rng.normal(0, 1, len(HEADS)),
        np.ones(len(HEADS)),
        np.zeros(len(HEADS)),
        {"tier": "test"},
        rng.normal(0, 1, (dense, len(HEADS))) if dense else None,
    )
    path = tmp_path / f"heads-{dense}.npz"
    heads.save(path)
    return path


def test_heads_round_trip_and_score_as_the_plain_sum(tmp_path: Path) -> None:
    path = random_heads(tmp_path)
    heads = HarmHeads.load(path)
    assert heads.labels == HEADS and heads.meta == {"tier": "test"}
    texts = normalized_texts(["you are an idiot", "the kettle broke", ""])
    margins = heads.margins(texts)
    for i, text in enumerate(texts):
        feats = reference_features(heads.extractor, text)
        for j in range(len(HEADS)):
            expected = heads.bias[j] + sum(v * float(heads.columns[j][b]) for b, v in feats.items())
            assert margins[i, j] == pytest.approx(expected, abs=1e-5)
    probs = heads.predict_normalized(texts)
    assert np.all((probs > 0) & (probs < 1))


def test_dense_heads_need_their_features(tmp_path: Path) -> None:
    heads = HarmHeads.load(random_heads(tmp_path, dense=4))
    with pytest.raises(ValueError, match="dense features"):
        heads.margins(["a"])
    dense = np.eye(4)[:2]
    base = HarmHeads(heads.extractor, heads.labels, heads.weights, heads.bias, heads.calib_a, heads.calib_b)
    np.testing.assert_allclose(
        heads.margins(["a", "b"], dense), base.margins(["a", "b"]) + dense @ heads.dense, rtol=1e-6
    )


@pytest.mark.parametrize(
    "content",
    [b"not a zip", b"PK\x03\x04garbage"],
)
def test_heads_load_refuses_other_files(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.npz"
    path.write_bytes(content)
    with pytest.raises(ValueError, match="not a safeguard harm model"):
        HarmHeads.load(path)
    with pytest.raises(ValueError, match="not a safeguard harm model"):
        make_backend({"backend": "fast", "model": str(path)})


def test_heads_load_refuses_a_directory(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not a regular file"):
        HarmHeads.load(tmp_path)


def test_fast_backend_reads_a_trained_file(tmp_path: Path) -> None:
    path = random_heads(tmp_path)
    clf = ToxicityClassifier(backend="fast", model=str(path))
    assert set(HEADS) <= set(clf.outputs)
    assert clf.outputs["target"] is str
    rows = clf.classify([Post(id="1", text="you idiot"), Post(id="2", text='he said "they are vermin"')])
    assert rows[0]["target"] in ("person", "group", "thing", "none")
    assert rows[1]["quoted"] > 0.5
    assert all(0.0 <= rows[0][h] <= 1.0 for h in HEADS)


def test_targets_follow_the_heads() -> None:
    probs = {
        "toxicity": np.array([0.9, 0.9, 0.9, 0.05]),
        "insult": np.array([0.8, 0.1, 0.05, 0.01]),
        "threat": np.array([0.1, 0.1, 0.01, 0.01]),
        "identity_attack": np.array([0.1, 0.85, 0.05, 0.01]),
    }
    names, scores = targets(probs)
    assert names == ["person", "group", "thing", "none"]
    assert scores[3] == pytest.approx(0.95)


@pytest.mark.parametrize(
    ("text", "low", "high"),
    [
        ("plain words with nothing quoted", 0.0, 0.0),
        ('Someone wrote "they are animals" and that is vile', 0.3, 0.7),
        ("> they are animals\nThis is disgusting, reported.", 0.3, 0.5),
        ("I'm sick of statements like women can't drive", 0.5, 0.9),
        ("He said you are all vermin and I reported him", 0.5, 1.0),
        ("lol ur an idiot, it says 240V right on the box", 0.0, 0.0),
        ("the label said dishwasher safe and it melted, you clowns", 0.0, 0.0),
        ("", 0.0, 0.0),
    ],
)
def test_quoted_share(text: str, low: float, high: float) -> None:
    assert low <= quoted_share(text) <= high


def test_quoted_share_is_linear_on_hostile_input() -> None:
    import time

    text = '"' * 20000 + "a" * 20000 + " statements like " * 2000
    start = time.perf_counter()
    quoted_share(text)
    assert time.perf_counter() - start < 2.0


def test_cue_words_are_whole_words() -> None:
    assert cue_mask(["you idiot", "idiotproof kettle", "the dog bed", "muslims are"]).tolist() == [
        True,
        False,
        False,
        True,
    ]


def test_cascade_routes_by_score_and_cue(tmp_path: Path) -> None:
    fast = random_heads(tmp_path, seed=1)
    backend = CascadeHarmBackend(escalate_at=1.0, cues=True, fast={"model": str(fast)}, model={"model": str(fast)})
    calls: list[list[str]] = []

    def read(texts: list[str], normalized: list[str]) -> tuple[np.ndarray, np.ndarray]:
        calls.append(list(texts))
        passage = np.zeros((len(texts), len(HEADS)), dtype=bool)
        passage[:, HEADS.index("threat")] = True
        return np.full((len(texts), len(HEADS)), 0.5), passage

    backend.model.read = read  # type: ignore[method-assign]
    out = backend.predict(["nice kettle", "you idiot", "lovely day"])
    assert calls == [["you idiot"]]
    assert out["escalated"].tolist() == [False, True, False]
    assert out["toxicity"][1] == 0.5
    assert [list(h) for h in out["passage_heads"]] == [[], ["threat"], []]
    assert backend.stats == {"posts": 3, "escalated": 1}
    everything = CascadeHarmBackend(escalate_at=0.0, fast={"model": str(fast)}, model={"model": str(fast)})
    everything.model.read = read  # type: ignore[method-assign]
    assert everything.predict(["a", "b"])["escalated"].all()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"backend": "default", "escalate_at": 2}, "escalate_at"),
        ({"backend": "default", "escalate_at": {"colour": 0.5}}, "escalate_at"),
        ({"backend": "default", "cues": "yes"}, "cues"),
        ({"backend": "default", "fast": "x"}, "fast must be a mapping"),
        ({"backend": "default", "colour": 1}, "unknown option"),
        ({"backend": "model", "batch_size": 0}, "batch_size"),
        ({"backend": "model", "passage_tokens": 4}, "passage_tokens"),
        ({"backend": "model", "passage_tokens": True}, "passage_tokens"),
        ({"backend": "nope"}, "unknown toxicity backend"),
    ],
)
def test_backend_options_are_checked(options: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make_backend(options)


def test_hash_split_is_stable_and_proportionate() -> None:
    splits = [hash_split(f"id-{i}") for i in range(5000)]
    assert hash_split("id-1") == splits[1]
    assert 0.17 < splits.count("test") / 5000 < 0.23
    assert 0.08 < splits.count("dev") / 5000 < 0.12


@pytest.mark.skipif(not (FAST_MODEL.is_file() and MODEL_HEADS.is_file()), reason="shipped models not built")
def test_shipped_files_load() -> None:
    fast = HarmHeads.load(FAST_MODEL)
    model = HarmHeads.load(MODEL_HEADS)
    assert fast.labels == model.labels == HEADS
    assert fast.dense_dim == 0 and model.dense_dim == 384


def test_default_backend_runs_without_torch_or_sklearn() -> None:
    import subprocess
    import sys

    code = (
        "import sys; from safeguard.classifiers.toxicity import ToxicityClassifier; from safeguard.types import Post; "
        "c = ToxicityClassifier(); c.classify([Post(id='1', text='you idiot'), Post(id='2', text='nice kettle')]); "
        "print(sorted(m for m in ('torch', 'sklearn', 'scipy', 'transformers') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_targets_of_toxic_text_no_head_explains_follow_its_words() -> None:
    probs = {
        "toxicity": np.array([0.9, 0.9, 0.9]),
        "insult": np.array([0.1, 0.1, 0.1]),
        "threat": np.array([0.0, 0.0, 0.0]),
        "identity_attack": np.array([0.2, 0.2, 0.2]),
    }
    names, _ = targets(probs, ["this kettle is fucking garbage", "you are garbage", "immigrants are garbage"])
    assert names == ["thing", "person", "group"]


def test_heads_load_refuses_a_fifo_and_a_device_without_hanging(tmp_path: Path) -> None:
    import os

    from _bounded import finishes

    fifo = tmp_path / "heads.npz"
    os.mkfifo(fifo)
    for path, reason in ((fifo, "is a FIFO"), (Path("/dev/zero"), "cannot be read from /dev")):
        exc = finishes(lambda path=path: HarmHeads.load(path))
        assert isinstance(exc, ValueError) and str(path) in str(exc) and reason in str(exc)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I would love to 🔪 some 👨🏿", "i would love to (kitchen knife) some (man) (dark skin tone)"),
        ("These 🇵🇰 need to go", "these (flag of pakistan) need to go"),
        ("🇬🇧 and 🇺🇸", "(flag of britain) and (flag of united states)"),
        ("🇽🇽 no such country", "(flag xx) no such country"),
        ("against 🏳️‍🌈 people", "against (rainbow flag) people"),
        ("the 🏳️‍⚧️ flag", "the (transgender flag) flag"),
        ("plain words stay", "plain words stay"),
    ],
)
def test_the_encoder_reads_emoji_as_words(text: str, expected: str) -> None:
    got = encoder_texts(normalized_texts([text]))[0]
    assert " ".join(got.split()) == expected


def test_emoji_that_name_a_group_or_a_harm_are_cues() -> None:
    texts = ["these 🇵🇰 need to go", "all 👨🏿 act like that", "send them 🔪", "love this kettle 😀", "great 👍"]
    assert cue_mask(normalized_texts(texts)).tolist() == [True, True, True, False, False]


def test_a_post_scores_the_same_whatever_else_is_in_its_batch() -> None:
    # The shipped int8 graph quantises activations per call: it must run one text per call.
    backend = ModelHarmBackend()
    texts = ["you are a complete idiot", "lovely kettle, boils fast", "x " * 200, "I will find you", "ok"]
    together = backend.predict(texts)
    for i, text in enumerate(texts):
        alone = backend.predict([text])
        for label in backend.labels:
            # Equal but for the order of float additions in the heads' matrix products.
            assert alone[label][0] == pytest.approx(together[label][i], abs=1e-12), (text, label)
    assert backend.encoder.rows_alone


def test_a_text_scores_as_its_worst_piece() -> None:
    labels = ("toxicity", "threat", "counter_speech")
    probs = np.array(
        [
            [0.1, 0.2, 0.3],  # text 0: one piece
            [0.2, 0.1, 0.9],  # text 1: a harmless piece that reads as counter-speech,
            [0.9, 0.8, 0.1],  # the piece that holds the harm,
            [0.3, 0.95, 0.5],  # and one with a higher threat score
            [0.0, 0.0, 0.0],  # text 2
            [0.4, 0.1, 0.7],
        ]
    )
    out, _ = _worst_piece(probs, np.array([1, 3, 2]), labels)
    np.testing.assert_allclose(out[:, :2], [[0.1, 0.2], [0.9, 0.95], [0.4, 0.1]])
    # counter_speech is that of the piece whose largest harm score is the text's largest.
    np.testing.assert_allclose(out[:, 2], [0.3, 0.5, 0.7])


def test_harm_after_a_long_harmless_opening_is_read() -> None:
    opening = (
        "I ordered the blue kettle last month and the delivery came on time, the box was fine and the "
        "instructions were clear enough for me to set it up. The lid fits well, the handle is comfortable "
        "and it boils quickly. My partner likes the colour and we use it every morning for tea and coffee. "
    ) * 2
    threat = "Anyway, I know where you live and I will kill you and your family."
    hate = "Muslims are vermin and should be exterminated."
    texts = [opening + threat, opening + hate, opening + hate + " " + opening, opening]
    scores = ModelHarmBackend().predict(texts)
    assert scores["threat"][0] > 0.9
    assert min(scores["identity_attack"][1:3]) > 0.5
    assert max(scores[label][3] for label in ("toxicity", "threat", "identity_attack")) < 0.2
    # The scores say a passage gave them, so a policy can hold rather than remove on a passage's word.
    assert "threat" in scores["passage_heads"][0] and "identity_attack" in scores["passage_heads"][1]
    assert scores["passage_heads"][3] == []
    # Read as a whole only, the same posts pass.
    whole = ModelHarmBackend(passage_tokens=0).predict(texts)
    assert whole["threat"][0] < 0.5 and max(whole["identity_attack"][1:3]) < 0.5
    assert all(heads == [] for heads in whole["passage_heads"])


def test_passage_heads_name_the_heads_a_passage_decided() -> None:
    labels = ("toxicity", "threat", "identity_attack", "counter_speech")
    # text 0: its opening and one passage; text 1: its opening alone
    probs = np.array([[0.9, 0.1, 0.2, 0.5], [0.3, 0.95, 0.1, 0.0], [0.2, 0.2, 0.2, 0.1]])
    out, passage = _worst_piece(probs, np.array([2, 1]), labels)
    assert out.tolist() == [[0.9, 0.95, 0.2, 0.0], [0.2, 0.2, 0.2, 0.1]]
    assert passage.tolist() == [[False, True, False, False], [False, False, False, False]]
    assert [list(h) for h in _passage_heads(passage, labels)] == [["threat"], []]
    # the cascade's posts the fast tier settles were read whole
    short = CascadeHarmBackend().predict(["Lovely kettle, boils fast.", "I will kill you."])
    assert [list(h) for h in short["passage_heads"]] == [[], []]


def _counting_reads(monkeypatch: pytest.MonkeyPatch) -> tuple[ModelHarmBackend, list[int]]:
    """A loaded model tier and the list its encoder appends the size of each call to."""
    backend = ModelHarmBackend()
    backend.load()
    read: list[int] = []
    encode = backend.encoder.encode
    monkeypatch.setattr(backend.encoder, "encode", lambda texts: read.append(len(texts)) or encode(texts))
    return backend, read


def test_a_post_of_one_passage_is_read_once(monkeypatch: pytest.MonkeyPatch) -> None:
    backend, read = _counting_reads(monkeypatch)
    backend.predict(["I will kill you.", "kill the process and restart it"])
    assert read == [2]


def test_a_huge_post_costs_a_bounded_number_of_passages(monkeypatch: pytest.MonkeyPatch) -> None:
    from safeguard.classifiers.toxicity.harm import HARM_LABELS, PASSAGES_PER_HEAD

    backend, read = _counting_reads(monkeypatch)
    decoy = "Kill the process and restart the app, it's a killer feature. "
    hate = "Muslims are vermin and should be exterminated. "
    scores = backend.predict([decoy * 300 + hate + decoy * 100])
    assert sum(read) <= 1 + PASSAGES_PER_HEAD * len(HARM_LABELS)
    # The decoys are strongest on threat; the passage strongest on identity_attack is still read.
    assert scores["identity_attack"][0] > 0.5
