"""What a post is for: question, complaint, praise, suggestion, answer or other.

A post's kind comes from evidence a reader would point at, each with a weight: question marks and
questions' openings, phrases that ask for help, propose a change, thank, give a fix or vent, the
post's sentiment, and whether it replies to someone. Each kind's weights add up to a score; a softmax
over the six scores gives the probabilities, and the most probable kind is the post's kind. No data
set of posts labelled by kind could be shipped with the project, so the weights are set by hand (and
checked against a hand-labelled set, ``tests/fixtures/feedback``); every cue is listed here, so a
surprising kind can be traced to the phrases that made it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = [
    "CUES",
    "DENSE_FEATURES",
    "KINDS",
    "STAFF_ROLES",
    "KindEvidence",
    "dense_features",
    "has_answer_markup",
    "instructions",
    "kind_scores",
    "question_shape",
    "raw_scores",
    "softmax",
]

#: What a post is for.
KINDS: tuple[str, ...] = ("question", "complaint", "praise", "suggestion", "answer", "other")
#: Author roles that speak for the community's owner: staff write answers and announcements, not questions.
STAFF_ROLES: frozenset[str] = frozenset({"staff", "moderator", "admin"})

#: Cue phrases per kind of evidence, matched as whole words on normalised text (the ``lists`` matcher).
CUES: Mapping[str, tuple[str, ...]] = {
    # Asking for help or information.
    "ask": (
        "does anyone know",
        "anyone know",
        "does anybody know",
        "any idea",
        "any ideas",
        "can anyone",
        "can anybody",
        "can someone",
        "could someone",
        "could anyone",
        "is it possible",
        "i was wondering",
        "wondering if",
        "wondering whether",
        "need help",
        "need advice",
        "any advice",
        "any tips",
        "any suggestions",
        "any recommendations",
        "help please",
        "please help",
        "what should i",
        "how do i",
        "how can i",
        "how would i",
        "should i",
        "do i need",
        "am i entitled",
        "is there a way",
        "is there any way",
        "has anyone",
        "has anybody",
        "have any of you",
        "did anyone",
        "what's the best",
        "which one",
        "advice needed",
        "help needed",
    ),
    # Venting in the shape of a question.
    "vent": (
        "why is it so",
        "why does it take",
        "why do you",
        "why can't you",
        "why can you not",
        "why won't you",
        "how hard is it",
        "how difficult is it",
        "what is wrong with",
        "what's wrong with you",
        "are you kidding",
        "are you serious",
        "is this a joke",
        "how is this acceptable",
        "how is that acceptable",
        "who thought",
        "seriously",
        "what a joke",
    ),
    # Reporting a bad experience.
    "complain": (
        "still waiting",
        "still not",
        "still no",
        "never arrived",
        "never received",
        "never got",
        "not received",
        "no response",
        "no reply",
        "no one",
        "nobody",
        "again",
        "third time",
        "second time",
        "fourth time",
        "cancelled",
        "unacceptable",
        "ridiculous",
        "disgusting",
        "disgraceful",
        "appalling",
        "shocking",
        "terrible",
        "awful",
        "horrible",
        "worst",
        "fed up",
        "sick of",
        "not happy",
        "disappointed",
        "disappointing",
        "waste of",
        "wasted",
        "rip off",
        "ripped off",
        "useless",
        "broken",
        "faulty",
        "stopped working",
        "doesn't work",
        "does not work",
        "didn't work",
        "won't work",
        "overcharged",
        "complaint",
        "avoid",
        "never again",
        "never buying",
        "not impressed",
        "furious",
        "annoyed",
        "frustrating",
        "frustrated",
        "poor",
        "rubbish",
        "joke",
        "pathetic",
        "lied",
        "fobbed off",
        "on hold",
        "cut off",
        "snapped",
        "junk",
        "sneaky",
        "waste",
        "nothing",
        "round and round",
        "couldn't find",
        "didn't",
        "won't be",
        "nobody asked",
    ),
    # Thanks and compliments.
    "praise": (
        "thank you",
        "thanks",
        "thank",
        "cheers",
        "great",
        "love",
        "loving",
        "brilliant",
        "excellent",
        "amazing",
        "fantastic",
        "superb",
        "well done",
        "kudos",
        "shout out",
        "shoutout",
        "impressed",
        "happy with",
        "pleased",
        "spot on",
        "recommend",
        "5 stars",
        "five stars",
        "top notch",
        "lifesaver",
        "life saver",
        "that worked",
        "worked perfectly",
        "that fixed it",
        "sorted it",
        "sorted now",
        "above and beyond",
        "credit to",
        "hats off",
        "chuffed",
    ),
    # Proposing a change.
    "suggest": (
        "would be nice",
        "would be great",
        "would be good",
        "would be helpful",
        "would be useful",
        "it would help",
        "would love to see",
        "would like to see",
        "you should",
        "you guys should",
        "they should",
        "should add",
        "should stock",
        "should offer",
        "should let",
        "should allow",
        "should really",
        "please add",
        "please consider",
        "please bring back",
        "bring back",
        "i suggest",
        "i'd suggest",
        "suggestion",
        "feature request",
        "how about",
        "why not",
        "i wish",
        "wish you",
        "wish there was",
        "wish there were",
        "it'd be",
        "could you add",
        "consider adding",
        "idea",
        "proposal",
        "i propose",
        "would make sense",
        "it would be better",
        "needs an option",
        "need an option",
        "an option to",
        "can we get",
        "can we have",
        "could we get",
        "could we have",
        "any chance",
        "is it possible to add",
        "please can you",
        "should be able to",
        "should cover",
        "should include",
        "let us",
    ),
    # Giving an opinion, joking or agreeing: the talk of a thread that neither asks nor answers.
    "opine": (
        "i think",
        "i don't think",
        "i feel like",
        "imo",
        "imho",
        "in my opinion",
        "personally",
        "honestly",
        "i guess",
        "i bet",
        "i hope",
        "lol",
        "lmao",
        "haha",
        "to be fair",
        "tbh",
        "i mean",
        "i'd rather",
        "wouldn't be surprised",
        "i doubt",
        "overrated",
        "underrated",
        "agreed",
        "i agree",
        "disagree",
        "exactly",
        "so true",
        "you're right",
        "no way",
        "same here",
        "+1",
    ),
    # Giving a fix, information or advice.
    "answer": (
        "you can",
        "you could try",
        "you could",
        "try",
        "you need to",
        "you'll need",
        "you will need",
        "you have to",
        "you should be able",
        "go to",
        "make sure",
        "i had the same",
        "same thing happened",
        "same happened",
        "in my experience",
        "i fixed it",
        "what worked for me",
        "worked for me",
        "should be covered",
        "it's covered",
        "you're entitled",
        "you are entitled",
        "have you tried",
        "it depends",
        "the answer is",
        "the reason is",
        "i'd recommend",
        "i would recommend",
        "according to",
        "as far as i know",
        "afaik",
        "iirc",
        "here's how",
        "for example",
        "e.g.",
        "this is because",
        "that's because",
        "you don't need",
        "no need to",
        "just",
        "if you",
        "you might",
        "you may",
        "check",
    ),
}

#: Words that open a question.
_QUESTION_OPENERS = (
    "how|what|why|where|when|which|who|whom|whose|is|are|am|was|were|do|does|did|can|could|should|would|will|"
    "has|have|had|may|might|shall|isn't|aren't|doesn't|don't|won't|can't|anyone|anybody|any"
)
#: A sentence that opens like a question and ends with a question mark.
_QUESTION_SENTENCE = re.compile(rf"(?:^|[.!?\n]\s{0, 8})(?:{_QUESTION_OPENERS})\b[^.!?\n]{{0,300}}\?")
#: A sentence that opens with an instruction: how answers and fixes are written.
_IMPERATIVE = re.compile(
    r"(?:^|[.!?:]\s{0,8})(?:try|use|ask|call|contact|check|report|raise|send|take|go|get|keep|wait|make|put|turn|"
    r"unplug|reset|restart|message|email|phone|ring|request|look|read|click|open|remove|clean|descale|don't|do not|"
    r"avoid|buy|return|pop|give|install|update|set|run|change|switch|leave|hold|press|photograph|film|note)\b"
)
#: Something that gives an answer away as text: a code span, a link, a numbered step.
_ANSWER_MARKUP = re.compile(r"`|https?://|^\s*(?:\d+[.)]|[-*])\s", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class KindEvidence:
    """What :func:`kind_scores` reads of one post; each count is of distinct cue phrases."""

    ask: int = 0
    vent: int = 0
    complain: int = 0
    praise: int = 0
    suggest: int = 0
    answer: int = 0
    opine: int = 0
    question_marks: int = 0
    question_sentences: int = 0
    ends_with_question: bool = False
    answer_markup: bool = False
    instructions: int = 0
    sentiment: float = 0.0
    reply: bool = False
    staff: bool = False
    words: int = 0


def question_shape(normalized: str) -> tuple[int, int, bool]:
    """Question marks, sentences shaped as questions, and whether the post's last sentence is one."""
    marks = normalized.count("?")
    if not marks:
        return 0, 0, False
    return marks, len(_QUESTION_SENTENCE.findall(normalized)), normalized.rstrip().endswith("?")


def has_answer_markup(text: str) -> bool:
    return _ANSWER_MARKUP.search(text) is not None


def instructions(normalized: str) -> int:
    """Sentences of ``normalized`` that open with an instruction ("Try ...", "Report it ...")."""
    return len(_IMPERATIVE.findall(normalized))


def _saturating(n: int, per: float, cap: float) -> float:
    return min(cap, per * n)


def kind_scores(e: KindEvidence) -> dict[str, float]:
    """Probabilities of the six kinds (in :data:`KINDS` order) from a post's evidence alone: the
    softmax of :func:`raw_scores`."""
    return softmax(raw_scores(e))


def softmax(raw: Mapping[str, float]) -> dict[str, float]:
    """Probabilities from scores, in :data:`KINDS` order."""
    top = max(raw.values())
    exp = {k: math.exp(raw[k] - top) for k in KINDS}
    total = sum(exp.values())
    return {k: exp[k] / total for k in KINDS}


def softmax_rows(scores: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """:func:`softmax` of each row of ``scores`` (n x :data:`KINDS`, columns in that order)."""
    rows = np.asarray(scores, dtype=np.float64).reshape(-1, len(KINDS))
    probs = (softmax(dict(zip(KINDS, map(float, row), strict=True))) for row in rows)
    return np.array([[p[k] for k in KINDS] for p in probs], dtype=np.float64).reshape(len(rows), len(KINDS))


#: Names of :func:`dense_features`, in order (a trained kind model's file records them).
DENSE_FEATURES: tuple[str, ...] = (
    *(f"score_{k}" for k in KINDS),
    *(f"cue_{c}" for c in CUES),
    "question_marks",
    "question_sentences",
    "ends_with_question",
    "answer_markup",
    "instructions",
    "negative",
    "positive",
    "reply",
    "staff",
    "log_words",
)


def dense_features(e: KindEvidence) -> list[float]:
    """The evidence as numbers for a trained model: the hand-set scores of :func:`raw_scores` first (so a
    model starts from what they know), then every count and flag they are made of."""
    raw = raw_scores(e)
    return [
        *(raw[k] for k in KINDS),
        *(float(min(getattr(e, c), 4)) for c in CUES),
        float(min(e.question_marks, 4)),
        float(min(e.question_sentences, 4)),
        float(e.ends_with_question),
        float(e.answer_markup),
        float(min(e.instructions, 4)),
        max(0.0, -e.sentiment),
        max(0.0, e.sentiment),
        float(e.reply),
        float(e.staff),
        math.log1p(e.words),
    ]


def raw_scores(e: KindEvidence) -> dict[str, float]:
    """Hand-set scores of the six kinds from a post's evidence (higher is more likely).

    Weights, in words: a question is asked (question marks, question-shaped sentences, phrases that ask
    for help) and not vented; a complaint is negative, or names bad experiences, or vents; praise is
    positive and thanks or compliments; a suggestion proposes; an answer replies and gives a fix or
    information; anything that shows none of these is ``other``, and so is a very short reply that
    only agrees.
    """
    s = e.sentiment
    negative, positive = max(0.0, -s), max(0.0, s)
    question = (
        _saturating(e.question_sentences, 1.4, 2.8)
        + (0.9 if e.question_marks else 0.0)
        + (0.6 if e.ends_with_question else 0.0)
        + _saturating(e.ask, 1.6, 3.2)
        - _saturating(e.vent, 1.6, 3.2)
        - _saturating(e.suggest, 1.0, 2.0)  # "could you add ...?" asks for a change, not for information
        - (0.8 if e.staff else 0.0)
    )
    complaint = (
        2.5 * negative
        + _saturating(e.complain, 0.8, 3.2)
        + _saturating(e.vent, 1.4, 2.8)
        - 1.2 * positive
        + (0.3 if e.question_marks and negative > 0.3 else 0.0)
    )
    praise = 2.0 * positive + _saturating(e.praise, 0.9, 2.7) - 1.5 * negative - _saturating(e.complain, 0.5, 1.5)
    # staff advise ("you should hear back today"); they do not propose changes to themselves
    suggestion = _saturating(e.suggest, 2.2, 3.6) - (1.5 if e.staff else 0.0)
    answer = (
        (0.4 if e.reply else -1.0)
        + _saturating(e.answer, 0.6, 2.4)
        + (0.8 if e.answer_markup else 0.0)
        + (_saturating(e.instructions, 0.7, 1.4) if e.reply else 0.0)
        + (0.8 if e.staff and e.reply else 0.0)
        + (0.4 if e.words > 60 else 0.0)
        - (0.6 if e.question_marks else 0.0)
    )
    other = 1.1 + (0.8 if e.words <= 6 and not e.question_marks else 0.0) + _saturating(e.opine, 0.5, 1.0)
    return {
        "question": question,
        "complaint": complaint,
        "praise": praise,
        "suggestion": suggestion,
        "answer": answer,
        "other": other,
    }
