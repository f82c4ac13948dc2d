"""What members talk about: lexical topics found in the posts, named by their most distinctive terms.

The method is deliberately plain so that the community team can check every result by reading posts:

1. each post becomes a set of *terms*: content words (lowercase, NFKC, no stopwords, URLs, numbers or
   words under three characters) and the bigrams of two content words that stand next to each other;
2. terms that too few posts use (noise) or too many use (they say nothing about a subject) are dropped;
3. the remaining terms, most used first, are grouped greedily: a term joins the topic whose seed term's
   posts overlap its own by at least ``merge_overlap`` (|A∩B| / min(|A|, |B|)), or seeds a new topic;
   a bigram that carries most of its word's posts takes over that word's seed ("air fryer", not "fryer");
4. every post goes to the topic whose terms it contains most;
5. a topic is named by its terms ranked by class-based TF-IDF (c-TF-IDF), so the name is what sets it
   apart from the other topics rather than what every topic shares;
6. weekly counts show whether a topic is growing in the last week of the data.

No model and no randomness: the same posts give the same topics, and the order of the posts only decides
which of equally good example posts are shown. Everything past tokenising is array work on sorted post
indices, so 100,000 posts take seconds and memory grows with the posts and the vocabulary.
"""

from __future__ import annotations

import math
import re
import unicodedata
from array import array
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from itertools import count, pairwise
from typing import Any

import numpy as np
import numpy.typing as npt

from safeguard.insights.rows import PostRow, utc, week_of

__all__ = ["STOPWORDS", "Topic", "Topics", "find_topics", "post_terms"]

_STOPWORD_TEXT = """
    a about above across after afterwards again against ago all almost alone along already also although always
    am among amongst an and another any anybody anyhow anyone anything anyway anyways anywhere are aren't around
    as aside ask asked asking at away back be became because become becomes been before beforehand behind being
    below beside besides best better between beyond both but by can can't cannot could couldn't did didn't do does
    doesn't doing don't done down during each either else elsewhere enough etc even ever every everybody everyone
    everything everywhere except far few first for former formerly from further furthermore get gets getting give
    given go goes going gone got gotten had hadn't has hasn't have haven't having he he'd he'll hence her here
    hereby herein hers herself hi him himself his how however i i'd i'll i'm i've if in indeed instead into is
    isn't it it'd it'll itself its just keep kept know known knows last later latter least less let let's like
    liked likely lot lots made mainly make makes making many may maybe me meanwhile might mine more moreover most
    mostly much must mustn't my myself near nearly need needed needs neither never nevertheless next no nobody
    none noone nor not nothing now nowhere of off often oh ok okay on once one ones only onto or other others
    otherwise ought our ours ourselves out over own per perhaps please put quite rather really regarding said
    same say says see seem seemed seeming seems seen several shall shan't she she'd she'll should shouldn't
    since so some somebody somehow someone something sometime sometimes somewhat somewhere still such sure take
    taken tell than that that'll the their theirs them themselves then thence there thereafter thereby therefore
    therein thereupon these they they'd they'll they're they've thing things think this those though through
    throughout thru thus to together too took toward towards tried tries try trying twice under unless until up
    upon us use used uses using very via want wanted wants was wasn't way we we'd we'll we're we've well went
    were weren't what whatever when whence whenever where whereafter whereas whereby wherein whereupon wherever
    whether which while whither who who'd who'll whoever whole whom whose why will with within without won't
    would wouldn't yet you you'd you'll you're you've your yours yourself yourselves
    thanks thank thankyou thx cheers hello hey hiya folks guys everyone anyone anybody someone somebody pls plz
    appreciate appreciated advance help helps question questions reply replies post posts thread edit edited
    also actually basically honestly literally definitely probably apparently simply seriously totally
    yes yeah yep nope lol idk imo imho tbh btw fyi omg ask wondering wonder wondered anyone's someone's
    come comes coming came look looks looking looked find found seem tell told thought thinking feel felt
    say said saying went going getting gotten goes doing done having know knew wants wanted trying lots bit
    good great bad nice fine awesome amazing terrible pretty real new old right wrong different possible able
    certain true big small little time times people person guy point case example examples kind sort stuff
    mean means meant work works worked working two three four five six seven eight nine ten second third
    yesterday today tomorrow anyway lol haha
    day days week weeks month months year years hour hours minute minutes morning afternoon evening night
    tonight weekend sorry
"""
#: Words that never make a term: English function words, contractions, and the filler of forum posts
#: (greetings, thanks, hedges, generic verbs) that every topic shares and so would name none of them.
STOPWORDS: frozenset[str] = frozenset(_STOPWORD_TEXT.split())

# URLs, e-mail addresses and bare shop domains: they name a link, not a subject, and would otherwise split
# into fragments ("https", "www", "com") that every link-heavy thread shares.
_TLDS = "com|net|org|co|uk|io|info|biz|shop|store|eu|de|fr|ie|au|us|ca"
_URL = re.compile(rf"(?:https?://|ftp://|www\.)\S+|\S+@\S+\.\S+|\b(?:[a-z0-9-]+\.)+(?:{_TLDS})\b(?:/\S*)?")
# A cheap search that most posts fail, so that only posts with something like a link pay for the full
# pattern (which tries every word start as a domain).
_URL_HINT = re.compile(rf"://|www\.|@|\.(?:{_TLDS})\b")
# Words, or one punctuation mark that ends a phrase: the marks are kept as tokens (never content) so that
# words either side of them do not form a bigram. Typographic apostrophes ("don’t"), which NFKC leaves
# alone, are made plain per distinct token rather than per post.
_TOKEN = re.compile(r"[^\W_]+(?:['\u2019\u02bc][^\W_]+)*|[.!?;:,()\[\]{}<>\"|\n\u2026]")
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u02bc": "'"})
_MIN_LENGTH = 3

_IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Topic:
    """One subject members talk about, with the evidence the team needs to judge it."""

    id: int
    terms: tuple[str, ...]  # naming terms, most distinctive first
    posts: int  # posts assigned
    weekly: dict[date, int]  # week start (Monday) -> posts assigned that week, every week of the range
    growth: float  # (last week + 1) / (mean of the earlier weeks + 1)
    emerging: bool
    examples: tuple[str, ...]  # post ids

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: weeks as ISO dates, growth rounded to four places."""
        return {
            "id": self.id,
            "terms": list(self.terms),
            "posts": self.posts,
            "weekly": {week.isoformat(): n for week, n in sorted(self.weekly.items())},
            "growth": round(self.growth, 4),
            "emerging": self.emerging,
            "examples": list(self.examples),
        }


@dataclass(frozen=True)
class Topics:
    """The topics of a set of posts and which post went where."""

    topics: list[Topic]  # by posts, descending (ties: id); ids are 0.. in this order
    assigned: dict[str, int]  # post id -> topic id; posts with no topic term are absent
    weeks: list[date]  # every week in range, ascending, gaps filled

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready and deterministic: dates as ISO strings, ``assigned`` in input order."""
        return {
            "weeks": [week.isoformat() for week in self.weeks],
            "topics": [topic.to_dict() for topic in self.topics],
            "assigned": dict(self.assigned),
        }


def _is_content(token: str) -> bool:
    return len(token) >= _MIN_LENGTH and token not in STOPWORDS and not token.isdigit()


def _canonical(token: str) -> str:
    """One spelling per word: plain apostrophes, and no possessive ("amazon's" is about Amazon)."""
    token = token.translate(_APOSTROPHES)
    return token[:-2] if token.endswith("'s") else token


def _raw_tokens(title: str | None, text: str) -> list[str]:
    # The newline keeps the title's last word and the text's first word from forming a bigram.
    raw = f"{title}\n{text}" if title else text
    normal = unicodedata.normalize("NFKC", raw).lower()
    if _URL_HINT.search(normal):
        # A link is replaced by a break, so the words either side of it do not form a bigram.
        normal = _URL.sub("\n", normal)
    return _TOKEN.findall(normal)


def post_terms(text: str, title: str | None = None) -> tuple[str, ...]:
    """The distinct terms :func:`find_topics` sees in one post: unigrams, then bigrams, in reading order.

    Public so that a reader of a topic can check why a post counts for it.
    """
    tokens = [_canonical(t) for t in _raw_tokens(title, text)]
    content = [t if _is_content(t) else "" for t in tokens]
    unigrams = [t for t in content if t]
    bigrams = [f"{a} {b}" for a, b in pairwise(content) if a and b]
    return tuple(dict.fromkeys(unigrams + bigrams))


def _distinct(keys: _IntArray) -> tuple[_IntArray, _IntArray]:
    """The sorted distinct values of ``keys`` and how often each occurs.

    np.unique is avoided: for large integer arrays numpy 2.x takes a hashing path that is many times
    slower than sorting.
    """
    ordered = np.sort(keys)
    if not len(ordered):
        return ordered, ordered
    first = np.concatenate([[True], ordered[1:] != ordered[:-1]])
    return ordered[first], np.diff(np.flatnonzero(first), append=len(ordered))


class _Index:
    """Document frequencies of the terms, and posting lists (sorted post indices) of the candidates.

    Candidates are the terms in at least ``floor`` and at most ``ceiling`` posts.
    """

    def __init__(self, rows: Sequence[PostRow], floor: int, ceiling: float) -> None:
        # Every distinct raw token gets an id on first sight; the per-token work stays in C (findall,
        # map, array.extend), and spelling and the stopword test are settled once per distinct token.
        vocab: defaultdict[str, int] = defaultdict(count().__next__)
        lookup = vocab.__getitem__
        ids = array("i")
        lengths = array("q")
        for row in rows:
            tokens = _raw_tokens(row.title, row.text)
            lengths.append(len(tokens))
            ids.extend(map(lookup, tokens))
        spelling: defaultdict[str, int] = defaultdict(count().__next__)
        canonical = np.fromiter((spelling[_canonical(t)] for t in vocab), dtype=np.int32, count=len(vocab))
        self.tokens: list[str] = list(spelling)
        words = len(self.tokens)
        n = len(rows)
        tok = canonical[np.frombuffer(ids, dtype=np.intc)] if ids else np.zeros(0, dtype=np.int32)
        del ids
        post = np.repeat(np.arange(n, dtype=np.int32), np.frombuffer(lengths, dtype=np.int64))
        content = np.fromiter((_is_content(t) for t in self.tokens), dtype=bool, count=words)
        is_content = content[tok]
        # A term in fewer than ``floor`` posts is never a candidate, and a word used fewer than ``floor``
        # times is in fewer posts than that: dropping such words (and bigrams with them) before sorting
        # keeps the sorts to the part of the text that can matter.
        used = np.bincount(tok[is_content], minlength=words)
        frequent = is_content & (used >= floor)[tok]

        # Bigrams: two content tokens next to each other in the same post. A stopword or a punctuation
        # token between them breaks the pair, so "delivery of the slot" gives no "delivery slot".
        pair = frequent[:-1] & frequent[1:] & (post[:-1] == post[1:])
        pair_keys = tok[:-1][pair].astype(np.int64) * words + tok[1:][pair]
        seen, times = _distinct(pair_keys)
        bigram_keys = seen[times >= floor]
        self.unigrams = words
        self.bigram_parts: _IntArray = np.stack([bigram_keys // words, bigram_keys % words], axis=1)
        slot = np.searchsorted(bigram_keys, pair_keys)
        known = slot < len(bigram_keys)
        known[known] = bigram_keys[slot[known]] == pair_keys[known]
        bigram_posts = post[:-1][pair][known]
        bigram_terms = words + slot[known]
        del pair, pair_keys, slot, known

        # Term-major keys: one sort both counts each term once per post and lays out the posting lists.
        keys = np.concatenate([tok[frequent].astype(np.int64) * n + post[frequent], bigram_terms * n + bigram_posts])
        del tok, post, is_content, frequent, bigram_terms, bigram_posts
        keys.sort()
        keys = keys[np.concatenate([[True], keys[1:] != keys[:-1]])] if len(keys) else keys
        self.df: _IntArray = np.bincount(keys // n, minlength=words + len(bigram_keys))
        # Only the candidates' posting lists are kept, as the smallest integers that hold a post index.
        self.candidate: npt.NDArray[np.bool_] = (self.df >= floor) & (self.df <= ceiling)
        keys = keys[self.candidate[keys // n]]
        self.post_of = (keys % n).astype(np.int32 if n < 2**31 else np.int64)
        self.start: _IntArray = np.concatenate([[0], np.cumsum(np.where(self.candidate, self.df, 0))])

    def postings(self, term: int) -> npt.NDArray[np.signedinteger[Any]]:
        posts: npt.NDArray[np.signedinteger[Any]] = self.post_of[self.start[term] : self.start[term + 1]]
        return posts

    def name(self, term: int) -> str:
        if term < self.unigrams:
            return self.tokens[term]
        a, b = self.bigram_parts[term - self.unigrams]
        return f"{self.tokens[a]} {self.tokens[b]}"

    def parts(self, term: int) -> tuple[int, ...]:
        """The unigram terms a bigram is made of; () for a unigram."""
        if term < self.unigrams:
            return ()
        a, b = self.bigram_parts[term - self.unigrams]
        return int(a), int(b)


def _cluster(
    index: _Index, candidates: list[int], n: int, max_topics: int, merge_overlap: float, floor: int
) -> list[list[int]]:
    """Greedy single pass over the candidate terms, most used first; each topic is a list of term ids.

    Besides the overlap, a term needs ``floor`` posts in common with the seed to join: the overlap
    coefficient divides by the smaller set, so a rare term would otherwise join a big topic on the
    strength of two posts that happen to fall in it.
    """
    slots = min(max_topics, len(candidates))
    # One byte per (post, topic seed): gathering a term's rows gives its overlap with every seed at once.
    member = np.zeros((n, max(slots, 1)), dtype=np.uint8)
    seed_size = np.zeros(max(slots, 1), dtype=np.int64)
    seeds: list[int] = []
    topics: list[list[int]] = []
    for term in candidates:
        posts = index.postings(term)
        k = len(seeds)
        if k:
            shared = np.count_nonzero(member[posts, :k], axis=0)
            overlap = np.where(shared >= floor, shared / np.minimum(len(posts), seed_size[:k]), 0.0)
            best = float(overlap.max())
            if best >= merge_overlap:
                tied = [int(j) for j in np.flatnonzero(overlap == best)]
                parts = index.parts(term)
                # Among equal overlaps, the topic seeded by one of this bigram's words, so that the
                # bigram can take over its seed below; otherwise the older topic.
                j = next((j for j in tied if seeds[j] in parts), tied[0])
                topics[j].append(term)
                if seeds[j] in parts and len(posts) >= merge_overlap * seed_size[j]:
                    # "air fryer" seeds the topic instead of "fryer": it says what the posts are about,
                    # and carries most of the word's posts, so later terms are compared with it.
                    member[:, j] = 0
                    member[posts, j] = 1
                    seed_size[j] = len(posts)
                    seeds[j] = term
                continue
        if k < slots:
            member[posts, k] = 1
            seed_size[k] = len(posts)
            seeds.append(term)
            topics.append([term])
    return topics


def _term_counts(index: _Index, topics: list[list[int]], n: int) -> npt.NDArray[np.int32]:
    """How many of each topic's terms each post contains: shape (topics, posts)."""
    counts = np.zeros((len(topics), n), dtype=np.int32)
    for t, terms in enumerate(topics):
        counts[t] = np.bincount(np.concatenate([index.postings(term) for term in terms]), minlength=n)
    return counts


def _assign(counts: npt.NDArray[np.int32], alive: list[int], rank: dict[int, int]) -> _IntArray:
    """Each post's topic (an index into ``counts``), -1 when it has none of the live topics' terms.

    Ties go to the topic with more posts that contain any of its terms, then to the lower topic; the
    ``rank`` (0 = preferred) encodes both so that one argmax over a combined key decides.
    """
    n = counts.shape[1]
    if not alive:
        return np.full(n, -1, dtype=np.int64)
    live = counts[alive].astype(np.int64)
    width = len(rank) + 1
    key = live * width + np.array([width - 1 - rank[t] for t in alive], dtype=np.int64)[:, None]
    best = np.argmax(key, axis=0)
    chosen = np.asarray(alive, dtype=np.int64)[best]
    return np.where(live.max(axis=0) > 0, chosen, -1)


def _names(
    index: _Index, terms: list[int], topic: int, assignment: _IntArray, average: float, merge_overlap: float
) -> tuple[str, ...]:
    """The topic's top four terms by c-TF-IDF, a bigram standing in for a word it mostly accounts for."""
    tf: dict[int, int] = {}
    score: dict[int, float] = {}
    for term in terms:
        labels = assignment[index.postings(term)]
        inside = int(np.count_nonzero(labels == topic))
        if inside:
            across = int(np.count_nonzero(labels >= 0))
            tf[term] = inside
            score[term] = inside * math.log1p(average / across)
    # A word most of whose uses in the topic sit inside one of the topic's bigrams ("fryer" in "air
    # fryer") reads worse than the bigram and says nothing more: the bigram takes its place and its rank.
    ranking = dict(score)
    for term in score:
        for part in index.parts(term):
            if part in tf and tf[term] >= merge_overlap * tf[part]:
                ranking[term] = max(ranking[term], score[part])
                ranking.pop(part, None)
    ranked = sorted(ranking, key=lambda t: (-ranking[t], index.name(t)))
    return tuple(index.name(t) for t in ranked[:4])


def _check(
    max_topics: int,
    min_posts: int | None,
    max_share: float,
    merge_overlap: float,
    emerging_factor: float,
    min_emerging: int,
    now: datetime | None,
) -> None:
    def whole(value: object) -> bool:
        return isinstance(value, (int, np.integer)) and not isinstance(value, bool)

    def real(value: object) -> bool:
        return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)

    if not whole(max_topics) or max_topics < 1:
        raise ValueError(f"max_topics must be a whole number >= 1, got {max_topics!r}")
    if min_posts is not None and (not whole(min_posts) or min_posts < 1):
        raise ValueError(f"min_posts must be a whole number >= 1 (or None for the default), got {min_posts!r}")
    if not real(max_share) or not 0 < max_share <= 1:
        raise ValueError(f"max_share must be a share of the posts in (0, 1], got {max_share!r}")
    if not real(merge_overlap) or not 0 < merge_overlap <= 1:
        raise ValueError(f"merge_overlap must be an overlap coefficient in (0, 1], got {merge_overlap!r}")
    if not real(emerging_factor) or not (math.isfinite(emerging_factor) and emerging_factor > 0):
        raise ValueError(f"emerging_factor must be a finite number > 0, got {emerging_factor!r}")
    if not whole(min_emerging) or min_emerging < 0:
        raise ValueError(f"min_emerging must be a whole number >= 0, got {min_emerging!r}")
    if now is not None and not isinstance(now, datetime):
        raise ValueError(f"now must be a datetime or None, got {type(now).__name__}")


def _covered(rows: Sequence[PostRow], now: datetime | None, last_week: date) -> float:
    """How many of the last week's days the data reaches, over seven (1/7 to 1): the last week's posts are
    read as a rate, so a dump that ends on a Tuesday does not make every topic look as if it shrank."""
    end = utc(now if now is not None else max(row.created_at for row in rows if row.created_at is not None))
    start = datetime(last_week.year, last_week.month, last_week.day, tzinfo=timezone.utc)
    days = math.ceil((end - start).total_seconds() / 86400)  # days begun: a post on Wednesday covers three
    return min(7, max(1, days)) / 7


def _weeks(rows: Sequence[PostRow], now: datetime | None) -> tuple[list[date], _IntArray, int]:
    """Every week of the range, each post's week index (-1 undated) and the index of the "last" week."""
    starts = [week_of(row.created_at) if row.created_at is not None else None for row in rows]
    dated = [w for w in starts if w is not None]
    current = None
    if now is not None:
        # The week is a UTC week, as created_at is; a naive ``now`` is taken to be UTC already.
        current = week_of(now.astimezone(timezone.utc) if now.tzinfo is not None else now)
        dated.append(current)
    if not dated:
        return [], np.full(len(rows), -1, dtype=np.int64), -1
    first, last = min(dated), max(dated)
    weeks = [first + timedelta(weeks=i) for i in range((last - first).days // 7 + 1)]
    index = np.fromiter(
        ((w - first).days // 7 if w is not None else -1 for w in starts), dtype=np.int64, count=len(rows)
    )
    # With ``now`` the last week is its week even when some posts are dated after it.
    last_index = (current - first).days // 7 if current is not None else len(weeks) - 1
    return weeks, index, last_index


def _examples(counts: npt.NDArray[np.int32], members: _IntArray, ids: Sequence[str]) -> tuple[str, ...]:
    """Up to five posts with the most of the topic's terms; input order breaks ties."""
    chosen: dict[str, None] = {}
    for i in members[np.lexsort((members, -counts[members]))]:
        chosen.setdefault(ids[int(i)])
        if len(chosen) == 5:
            break
    return tuple(chosen)


def find_topics(
    rows: Sequence[PostRow],
    *,
    max_topics: int = 20,
    min_posts: int | None = None,
    max_share: float = 0.08,
    merge_overlap: float = 0.5,
    emerging_factor: float = 2.0,
    min_emerging: int = 5,
    now: datetime | None = None,
) -> Topics:
    """The topics of ``rows``: what members talk about, how much, and whether it is growing.

    ``min_posts`` (default ``max(3, 0.1% of the posts)``) and ``max_share`` bound the share of posts a
    term may appear in to be a topic term. ``merge_overlap`` is the overlap coefficient at which a term
    joins a topic instead of seeding one (it must also share ``min_posts`` posts with the topic's seed
    term, so that chance overlaps of rare terms do not count); at most ``max_topics`` topics are seeded.
    A seeded topic that
    ends up with fewer than ``min_posts`` posts is dropped and its posts go to their next-best topic, so
    every reported topic is at least as big as its least-used term is allowed to be.

    ``growth`` compares the last week (the last week any post has, or the week of ``now``) with the mean
    of the earlier weeks, +1 smoothed, reading a last week the data covers only in part as a rate (its
    posts over the share of its days up to ``now``, or the latest post); ``emerging`` means growth >=
    ``emerging_factor`` on at least ``min_emerging`` posts last week. Posts without ``created_at`` count
    in ``posts`` only.
    """
    _check(max_topics, min_posts, max_share, merge_overlap, emerging_factor, min_emerging, now)
    n = len(rows)
    weeks, week_index, last = _weeks(rows, now)
    if n == 0:
        return Topics(topics=[], assigned={}, weeks=weeks)
    covered = _covered(rows, now, weeks[last]) if last >= 0 else 1.0
    floor = min_posts if min_posts is not None else max(3, math.ceil(n * 0.001))

    index = _Index(rows, floor, max_share * n)
    kept = np.flatnonzero(index.candidate)
    # Most used first; the term itself breaks ties so that the result does not depend on input order.
    candidates = sorted((int(t) for t in kept), key=lambda t: (-int(index.df[t]), index.name(t)))
    seeded = _cluster(index, candidates, n, max_topics, merge_overlap, floor)
    counts = _term_counts(index, seeded, n)
    reach = [int(np.count_nonzero(row)) for row in counts]
    rank = {t: r for r, t in enumerate(sorted(range(len(seeded)), key=lambda t: (-reach[t], t)))}

    alive = list(range(len(seeded)))
    while True:
        assignment = _assign(counts, alive, rank)
        sizes = np.bincount(assignment[assignment >= 0], minlength=len(seeded))
        small = [t for t in alive if sizes[t] < floor]
        if not small:
            break
        # One at a time, the smallest (then the latest) first: its posts may lift another small topic.
        alive.remove(min(small, key=lambda t: (int(sizes[t]), -t)))

    ids = [row.id for row in rows]
    average = float(np.count_nonzero(assignment >= 0)) / max(len(alive), 1)
    order = sorted(alive, key=lambda t: (-int(sizes[t]), t))
    renumber = {t: i for i, t in enumerate(order)}
    topics: list[Topic] = []
    for t in order:
        members = np.flatnonzero(assignment == t)
        dated = week_index[members]
        per_week = np.bincount(dated[dated >= 0], minlength=len(weeks))
        growth, emerging = _trend(per_week, last, emerging_factor, min_emerging, covered)
        topics.append(
            Topic(
                id=renumber[t],
                terms=_names(index, seeded[t], t, assignment, average, merge_overlap),
                posts=len(members),
                weekly={week: int(c) for week, c in zip(weeks, per_week, strict=True)},
                growth=growth,
                emerging=emerging,
                examples=_examples(counts[t], members, ids),
            )
        )
    assigned: dict[str, int] = {}
    for i in np.flatnonzero(assignment >= 0):
        assigned.setdefault(ids[i], renumber[int(assignment[i])])
    return Topics(topics=topics, assigned=assigned, weeks=weeks)


def _trend(
    per_week: _IntArray, last: int, factor: float, min_emerging: int, covered: float = 1.0
) -> tuple[float, bool]:
    """Growth of the last week (its posts over ``covered``, the share of it the data spans) over the mean
    of the earlier ones, and whether that makes it emerging."""
    if last <= 0:
        # One week (or none): nothing to compare with, so no trend.
        return 1.0, False
    latest = int(per_week[last])
    growth = (latest / covered + 1) / (float(per_week[:last].mean()) + 1)
    return growth, growth >= factor and latest >= min_emerging
