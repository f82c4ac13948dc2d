"""How the cascade's routing thresholds trade escalation for accuracy, on the ``dev`` splits.

    python benchmarks/harm_routing.py

For each pair of thresholds (fast ``toxicity`` score, and the fast score of the other harm heads) that
send a post to the model tier (cue words and emoji always do), prints the share of 5,000 real forum posts
(Reddit and Stack Exchange) that would be escalated, and the ROC AUC of the cascade's scores on each
source's ``dev`` split and head; the last line is the model tier alone. ``dev`` is where blends and
calibration were fitted, so this chooses an operating point without touching ``test``.
"""

from __future__ import annotations

import itertools

import numpy as np
from harm_speed import forum_texts
from sklearn.metrics import roc_auc_score

from safeguard.classifiers.toxicity.harm import FastHarmBackend, ModelHarmBackend, cue_mask
from safeguard.classifiers.toxicity.harmdata import load_corpus
from safeguard.classifiers.toxicity.heads import normalized_texts

HEADS = ("toxicity", "identity_attack", "threat", "insult")
OTHERS = ("insult", "threat", "identity_attack", "self_harm")


def main() -> None:
    rows = [r for r in load_corpus() if r.split == "dev"]
    fast, model = FastHarmBackend(), ModelHarmBackend()
    texts = [r.text for r in rows]
    norm = normalized_texts(texts)
    f_scores, m_scores, cues = fast.scores(norm), model.scores(texts, norm), cue_mask(norm)
    forum = normalized_texts(forum_texts(5000))
    forum_scores, forum_cues = fast.scores(forum), cue_mask(forum)
    labels = fast.labels

    def route(scores: np.ndarray, cue: np.ndarray, tox: float, other: float) -> np.ndarray:
        out = cue.copy()
        for j, label in enumerate(labels):
            out |= scores[:, j] >= (tox if label == "toxicity" else other if label in OTHERS else 2.0)
        return out

    def aucs(scores: np.ndarray) -> str:
        cells = []
        for source in sorted({r.source for r in rows}):
            for head in HEADS:
                j = labels.index(head)
                idx = [i for i, r in enumerate(rows) if r.source == source and r.target(head) != -1]
                y = np.array([rows[i].target(head) for i in idx])
                if len(idx) >= 30 and 10 <= y.sum() < len(y):
                    cells.append(f"{source.split('_')[0]}/{head}={roc_auc_score(y, scores[idx, j]):.3f}")
        return " ".join(cells)

    for tox, other in itertools.product([0.5, 0.4, 0.3, 0.2], [0.3, 0.2, 0.15]):
        escalate = route(f_scores, cues, tox, other)
        share = route(forum_scores, forum_cues, tox, other).mean()
        mixed = np.where(escalate[:, None], m_scores, f_scores)
        print(f"toxicity>={tox} others>={other}: forum escalated {share:.1%}; {aucs(mixed)}", flush=True)
    print(f"model tier alone: {aucs(m_scores)}")


if __name__ == "__main__":
    main()
