"""The labelled harm corpus the shipped toxicity models are trained and measured on.

Read at training or benchmark time from ``../shared/train`` (permissively licensed harm data, see its
README) and two sets of ``../shared/eval`` that may be trained on (the Jigsaw sample and Davidson et
al.); nothing here is shipped. OLID is never read here: it stays a test set.

Every source is mapped onto the model's heads (:data:`HEADS`). A row's target for a head is 1, 0, or
unknown (``-1``): a head trains only on rows whose source says something about it. The mapping
follows the training README: threat from Toxic Spans threat spans, OpenAI violence, HatemojiBuild
threatening language and SimpleSafetyTests violence; insult from Toxic Spans insult spans and OpenAI
harassment; identity_attack from Toxic Spans identity spans, HatemojiBuild and ToxiGen hate and OpenAI
hate; self_harm from OpenAI and SimpleSafetyTests; counter_speech from CrowdCounter and the Reddit
counter-speech set; profanity (swearing and obscenity, whoever it is aimed at) from the Jigsaw ``obscene``
label and Toxic Spans profane/obscene spans. Benign rows of every source are negatives for every head
they can speak for.

The functional cases written for safeguard (:mod:`.functional`) join them as one more source.

Splits: a source's own split where it has one; otherwise ``train``/``dev``/``test`` 70/10/20 by
``sha256("harm-v1:" + key)``, where the key is the row id, or for HatemojiBuild the pair an original and
its perturbation form (each row's ``matched_id`` names its partner's row number), so no pair straddles
two splits.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from safeguard.classifiers.toxicity.harmrows import HEADS, UNKNOWN, HarmRow, hash_split

__all__ = [
    "HEADS",
    "SOURCES",
    "UNKNOWN",
    "HarmRow",
    "Source",
    "capped_train_rows",
    "hash_split",
    "load_corpus",
    "train_dir",
]


def train_dir() -> Path | None:
    """``../shared/train`` beside the evaluation directory, or None."""
    from safeguard.datasets import eval_dir

    base = eval_dir()
    if base is None:
        return None
    candidate = base.parent / "train"
    return candidate if candidate.is_dir() else None


def _read(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


def _all(value: int, *heads: str) -> dict[str, int]:
    return dict.fromkeys(heads or HEADS, value)


BENIGN = _all(0)


def _hatemoji(r: Mapping[str, Any]) -> tuple[dict[str, int], str]:
    labels = r.get("labels") or {}
    own = str(r["id"]).rsplit("-", 1)[-1].lstrip("0") or "0"
    partner = str(labels.get("matched_id") or own)
    key = "hatemoji-pair-" + "-".join(sorted((own, partner), key=lambda n: (len(n), n)))
    if r["label"] == "hate":
        threat = int(labels.get("type") == "threateninglanguage")
        return {"toxicity": 1, "identity_attack": 1, "threat": threat, "self_harm": 0, "counter_speech": 0}, key
    return {"toxicity": 0, "identity_attack": 0, "threat": 0, "insult": 0, "self_harm": 0}, key


def _toxigen(r: Mapping[str, Any]) -> dict[str, int]:
    if r["label"] == "hate":
        return {"toxicity": 1, "identity_attack": 1, "self_harm": 0, "counter_speech": 0}
    return BENIGN


def _hatexplain(r: Mapping[str, Any]) -> dict[str, int]:
    return {"toxicity": 1, "self_harm": 0, "counter_speech": 0} if r["label"] == "toxic" else BENIGN


def _toxic_spans(r: Mapping[str, Any]) -> dict[str, int]:
    majority = set((r.get("labels") or {}).get("majority_types") or ())
    out = {
        "toxicity": 1,
        "insult": int("insult" in majority),
        "threat": int("threat" in majority),
        "identity_attack": int("identity_attack" in majority),
        "self_harm": 0,
        "counter_speech": 0,
    }
    # Raters marked the profane span only now and then (a secondary task): its absence says little.
    if "profane_obscene" in majority:
        out["profanity"] = 1
    return out


_OPENAI = {
    "insult": ("harassment",),
    "threat": ("violence", "hate_threatening"),
    "identity_attack": ("hate", "hate_threatening"),
    "self_harm": ("self_harm",),
}


def _openai(r: Mapping[str, Any]) -> dict[str, int]:
    labels = r.get("labels") or {}
    out = {"toxicity": int(r["label"] == "flagged"), "counter_speech": 0}
    for head, cats in _OPENAI.items():
        values = [labels.get(c) for c in cats]
        if any(v == 1 for v in values):
            out[head] = 1
        elif all(v == 0 for v in values):
            out[head] = 0
    return out


def _xstest(r: Mapping[str, Any]) -> dict[str, int] | None:
    # "Unsafe" prompts ask an assistant for harmful help, which is not abuse: only the safe ones are used.
    return BENIGN if r["label"] == "safe" else None


def _sst(r: Mapping[str, Any]) -> dict[str, int]:
    if r["label"] == "self_harm":
        return {"self_harm": 1, "threat": 0, "identity_attack": 0, "counter_speech": 0}
    return {"threat": 1, "self_harm": 0, "counter_speech": 0}


def _crowdcounter(r: Mapping[str, Any]) -> dict[str, int]:
    return {"toxicity": 0, "threat": 0, "identity_attack": 0, "self_harm": 0, "counter_speech": 1}


def _hickey(r: Mapping[str, Any]) -> dict[str, int]:
    if r["label"] == "hate":
        return {"toxicity": 1, "self_harm": 0, "counter_speech": 0}
    if r["label"] == "counter_speech":
        return {"toxicity": 0, "threat": 0, "identity_attack": 0, "self_harm": 0, "counter_speech": 1}
    # "other" comments in these forums swear freely: they say nothing about profanity.
    return {head: 0 for head in HEADS if head != "profanity"}


def _jigsaw(r: Mapping[str, Any]) -> dict[str, int]:
    labels = r.get("labels") or {}
    return {
        "toxicity": int(labels.get("toxic", 0)),
        "insult": int(labels.get("insult", 0)),
        "threat": int(labels.get("threat", 0)),
        "identity_attack": int(labels.get("identity_hate", 0)),
        "counter_speech": 0 if labels.get("toxic") else UNKNOWN,
        "profanity": int(labels.get("obscene", 0)),
    }


def _davidson(r: Mapping[str, Any]) -> dict[str, int]:
    if r["label"] == "hate_speech":
        return {"toxicity": 1, "identity_attack": 1, "self_harm": 0, "counter_speech": 0}
    if r["label"] == "offensive_language":
        return {"toxicity": 1, "self_harm": 0, "counter_speech": 0}
    return BENIGN


Mapper = Callable[[Mapping[str, Any]], "dict[str, int] | tuple[dict[str, int], str] | None"]


@dataclass(frozen=True)
class Source:
    """Where a file lives (``train`` or ``eval`` directory), how its rows map onto the heads, whether its
    own split is kept, and its weight relative to the ``1/sqrt(rows)`` every source gets."""

    where: str
    mapper: Mapper
    own_split: bool
    weight: float = 1.0


#: The sources, by file name. The adversarial and implicit-hate sets weigh more: they are the ones whose
#: labels turn on meaning (a minimal edit flips them), not on which words occur.
SOURCES: dict[str, Source] = {
    "hatemojibuild_train.jsonl": Source("train", _hatemoji, False, 3.0),
    "toxigen_seed_sentences.jsonl": Source("train", _toxigen, False, 3.0),
    "hatexplain_binary_partial.jsonl": Source("train", _hatexplain, True),
    "toxic_spans_civil_comments.jsonl": Source("train", _toxic_spans, True),
    "openai_moderation_eval.jsonl": Source("train", _openai, False, 2.0),
    "xstest_prompts.jsonl": Source("train", _xstest, False, 2.0),
    "simplesafetytests_selfharm_violence.jsonl": Source("train", _sst, True, 2.0),
    "crowdcounter_counterspeech.jsonl": Source("train", _crowdcounter, True),
    "hickey_reddit_counterspeech.jsonl": Source("train", _hickey, True),
    "jigsaw_toxic_comments_sample.jsonl": Source("eval", _jigsaw, False),
    "davidson_hate_offensive.jsonl": Source("eval", _davidson, False),
}


def capped_train_rows(rows: Sequence[HarmRow], per_source: int, seed: int = 0) -> list[int]:
    """Indices of at most ``per_source`` ``train`` rows of each source, rows positive for a head other
    than ``toxicity`` (the rarer ones) first, the rest in a random order fixed by ``seed``."""
    import numpy as np

    rng = np.random.default_rng(seed)
    by_source: dict[str, list[int]] = {}
    for i, r in enumerate(rows):
        if r.split == "train":
            by_source.setdefault(r.source, []).append(i)
    picked: list[int] = []
    for source in sorted(by_source):
        items = by_source[source]
        order = [items[k] for k in rng.permutation(len(items))]
        rare = [i for i in order if any(rows[i].target(h) == 1 for h in HEADS[1:])]
        rare_set = set(rare)
        picked.extend(sorted((rare + [i for i in order if i not in rare_set])[:per_source]))
    return picked


def load_corpus(*, sources: Mapping[str, Source] | None = None, functional: bool | None = None) -> list[HarmRow]:
    """Every row of every source found, mapped onto :data:`HEADS`, plus the functional cases written for
    safeguard (:mod:`.functional`; by default only when ``sources`` is not given). FileNotFoundError when
    no source file is found."""
    from safeguard.datasets import eval_dir

    dirs = {"train": train_dir(), "eval": eval_dir()}
    rows: list[HarmRow] = []
    for name, spec in (sources or SOURCES).items():
        directory = dirs[spec.where]
        if directory is None or not (directory / name).is_file():
            continue
        source = name.removesuffix(".jsonl")
        for r in _read(directory / name):
            mapped = spec.mapper(r)
            if mapped is None:
                continue
            targets, key = mapped if isinstance(mapped, tuple) else (mapped, str(r["id"]))
            split = (
                str(r.get("split"))
                if spec.own_split and r.get("split") in ("train", "dev", "test")
                else hash_split(key)
            )
            rows.append(HarmRow(str(r["id"]), str(r["text"]), source, split, dict(targets), spec.weight))
    if not rows:
        raise FileNotFoundError(
            "no harm training data found: place ../shared/train and ../shared/eval beside the checkout"
        )
    with_functional = sources is None if functional is None else functional
    if with_functional:
        from safeguard.classifiers.toxicity.functional import functional_rows

        rows.extend(functional_rows())
    return rows
