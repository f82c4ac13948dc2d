"""Curated lexicons and patterns behind the default backend's per-label scores.

Works on text already passed through :func:`safeguard.classifiers.text.normalize` (lower case, look-alike
letters, leetspeak, zero-width characters and spaced-out letters undone); :func:`unmask` also reads
asterisk-masked words (``"f*ck"``, ``"sh**"``, ``"a**hole"``) as the lexicon word they fit.

Each label is a score in [0, 1]:

* ``insult``: an insulting word, weighted (``data/insults.txt``), raised when aimed at a person
  ("you idiot", "you're a complete moron", "he is a liar", "idiots like you"); "shut up" and "stfu".
* ``threat``: "I'll kill you" and its variants, "you're dead", "I know where you live", wishes and calls
  for someone's death. Objects that are not people ("kill the power", "shoot you an email") do not count.
* ``identity_attack``: slurs (``data/slurs.txt``), and a group of people (``data/identity.txt``) said to
  be vermin, animals, a disease ... or to deserve deportation, extermination or death.
* ``self_harm``: a person saying they want to die or hurt themselves, or telling someone to.
* ``profanity``: the weight of the strongest profane word (``data/profanity.txt``).
"""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import NamedTuple

__all__ = ["Lexicon", "LexiconScores", "apostrophe_parts", "load_weighted_terms"]

DATA_DIR = Path(str(resources.files("safeguard.classifiers.toxicity") / "data"))

_WORD_RE = re.compile(r"[^\W_]+(?:['’][^\W_]+)?")
#: ASCII text split on everything but letters, digits and apostrophes: the pieces hold the words.
_ASCII_WORD_PIECES = bytes(c if chr(c).isascii() and (chr(c).isalnum() or c == ord("'")) else 32 for c in range(256))
#: ASCII text split on everything but letters and digits.
_ASCII_RUNS = bytes(c if chr(c).isascii() and chr(c).isalnum() else 32 for c in range(256))
_MASKED_RE = re.compile(r"(?<![\w*])[^\W\d_]*(?:[^\W\d_]\*+|\*+[^\W\d_])[^\W\d_*]*(?:\*+[^\W\d_]*)*(?![\w*])")

_SECOND_PERSON = frozenset({"you", "u", "ya", "yu", "youre", "you're", "ur", "yall", "y'all"})
#: "your a moron" (for "you're"): "your" counts only before an article; "your stupid app" is about the app.
_YOUR = frozenset({"your", "yer"})
_THIRD_PERSON_CONTRACTED = frozenset({"he's", "she's", "they're", "hes", "shes", "theyre"})
_COPULA = frozenset({"is", "are", "was", "were", "be", "being"})
_THIRD_PERSON = frozenset({"he", "she", "they", "who", "someone", "somebody", "anyone", "everyone"})
_PERSON_NOUNS = frozenset(
    {
        "guy", "guys", "man", "men", "woman", "women", "dude", "girl", "boy", "person", "people", "president",
        "liberals", "conservatives", "democrats", "republicans", "leftists", "politicians", "mods", "moderator",
        "seller", "owner", "staff", "manager", "admin", "member", "members", "poster", "op", "kid", "kids",
    }
)  # fmt: skip
_TARGETED_PAIRS = frozenset(
    {
        ("shut", "up"),
        ("fuck", "you"),
        ("fuck", "u"),
        ("fuck", "off"),
        ("screw", "you"),
        ("fuck", "yourself"),
        ("go", "fuck"),
    }
)
_TARGETED_FIRST = frozenset(a for a, _ in _TARGETED_PAIRS)
_FILLERS = frozenset(
    {
        "a", "an", "the", "such", "so", "really", "absolute", "absolutely", "complete", "completely", "total",
        "totally", "utter", "fucking", "fuckin", "fking", "fkn", "effing", "freaking", "bloody", "stupid",
        "dumb", "little", "clueless", "pathetic", "ignorant", "massive", "huge", "biggest", "big", "real",
        "are", "r", "re", "being", "just", "lying", "worthless", "useless", "disgusting", "sad", "old", "fat",
        "dirty", "filthy", "brainless", "spineless", "sick", "vile", "damn", "bunch", "of", "piece", "lazy",
    }
)  # fmt: skip

# Person objects of a violent verb; "you an email" is excluded separately.
_PERSON = (
    r"(?:you|u|ya|yu|him|her|them|y'all|yall|you\s+all|all\s+of\s+you|"
    r"your\s+(?:family|kids|wife|husband|mother|mom|children))"
)
_FUTURE = (
    r"(?:i|we)\s*(?:'ll|\s+will|\s+shall|'m\s+(?:going\s+to|gonna)|\s+am\s+(?:going\s+to|gonna)|\s+gonna|"
    r"'re\s+(?:going\s+to|gonna)|\s+are\s+(?:going\s+to|gonna)|\s+want\s+to|\s+wanna|\s+should)"
)
_VIOLENT = (
    r"(?:kill|murder|stab|shoot|strangle|choke|rape|behead|hang|lynch|slaughter|butcher|execute|hurt|beat\s+up|"
    r"beat|punch|gut|torture|slap|smack|bash|break\s+your\s+\w+|smash\s+your\s+\w+)"
)
_NOT_AN_OBJECT = r"(?!\s+(?:an?\s+)?(?:email|e-mail|message|msg|text|line|note|dm|pm|link|invite|quote|reply|call)\b)"


def _word_groups(spec: str) -> tuple[frozenset[str], ...]:
    """``"a b | c d"``: groups of words of which a text must hold one each for the pattern to match."""
    return tuple(frozenset(group.split()) for group in spec.split("|"))


def _quick_start(pattern: str) -> str:
    r"""``pattern`` with its leading ``\b`` moved behind the word it starts with, as a look-behind: the same
    matches, found about twice as fast. A pattern that starts with a group of alternatives gets it in each
    (``\b(?:hope|wish)`` -> ``(?:hope(?<!\whope)|wish(?<!\wwish))``), so the regex engine skips straight
    to the letters a match can start with. Patterns of another shape come back as they are."""

    def word_first(alternative: str) -> str | None:
        m = re.match(r"[a-z]+", alternative)
        run = m.group() if m else ""
        if run and alternative[len(run) : len(run) + 1] in ("?", "*", "+", "{"):
            run = run[:-1]  # a quantifier belongs to the last letter
        return f"{run}(?<!\\w{run}){alternative[len(run) :]}" if run else None

    def top_level(text: str) -> list[str] | None:
        parts: list[str] = []
        current: list[str] = []
        depth = 0
        for i, c in enumerate(text):
            escaped = i > 0 and text[i - 1] == "\\"
            if c == "(" and not escaped:
                depth += 1
            elif c == ")" and not escaped:
                depth -= 1
                if depth < 0:
                    return None
            elif c == "|" and depth == 0 and not escaped:
                parts.append("".join(current))
                current = []
                continue
            current.append(c)
        parts.append("".join(current))
        return parts if depth == 0 else None

    if not pattern.startswith(r"\b") or len(top_level(pattern) or ()) != 1:
        return pattern
    if not pattern.startswith(r"\b(?:"):
        return word_first(pattern[2:]) or pattern
    depth = 0
    for end in range(5, len(pattern)):  # the group's closing parenthesis
        if pattern[end - 1] == "\\":
            continue
        if pattern[end] == "(":
            depth += 1
        elif pattern[end] == ")":
            if depth == 0:
                break
            depth -= 1
    alternatives = [word_first(a) for a in top_level(pattern[5:end]) or ()]
    if not alternatives or None in alternatives:
        return pattern
    return "(?:" + "|".join(a for a in alternatives if a) + ")" + pattern[end + 1 :]


# Each pattern comes with the word groups it needs (a match needs a word of every group, as a word or
# as a part of a word split at its apostrophes: "you" in "you're"), checked before the pattern runs.
#: (pattern, weight, word groups) of each threat.
_THREAT_SPECS: tuple[tuple[str, float, str], ...] = (
    (
        rf"\b{_FUTURE}\s+(?:\w+\s+)?{_VIOLENT}\s+{_PERSON}\b{_NOT_AN_OBJECT}",
        0.92,
        "kill murder stab shoot strangle choke rape behead hang lynch slaughter butcher execute hurt beat"
        " punch gut torture slap smack bash break smash | i we i'll we'll i'm we'm i're we're | you u ya yu"
        " him her them y'all yall all your",
    ),
    (
        rf"\b{_FUTURE}\s+(?:find|hunt|track)\s+(?:you|u)\b(?:\s+down)?\s*(?:[.!]|$|and\b)",
        0.75,
        "find hunt track | i we i'll we'll i'm we'm i're we're | you u",
    ),
    (r"\bi\s+know\s+where\s+(?:you|u)\s+live\b", 0.9, "live | know | where"),
    (
        r"\b(?:you|u)\s*(?:'re|\s+are|\s+r)\s+(?:so\s+|fucking\s+)?dead\b(?!\s+(?:wrong|right|on|serious|set|tired|quiet))",
        0.75,
        "dead | you u you're u're",
    ),
    (
        r"\b(?:you|u)\s*(?:'ll|\s+will|\s+are\s+going\s+to|'re\s+going\s+to|'re\s+gonna|\s+gonna)\s+(?:die|pay\s+for\s+this|regret\s+this|be\s+sorry)\b",
        0.7,
        "die pay regret sorry | you u you'll u'll you're u're",
    ),
    (
        r"\b(?:should|deserves?\s+to|needs?\s+to|ought\s+to|must)\s+(?:all\s+)?(?:be\s+)?(?:shot|hanged|hung|killed|executed|lynched|burned|burnt|gassed|beheaded|murdered|put\s+down|die)\b",
        0.7,
        "shot hanged hung killed executed lynched burned burnt gassed beheaded murdered put die | should"
        " deserve deserves need needs ought must",
    ),
    (
        r"\b(?:hope|wish)\s+(?:you|u|he|she|they|u\s+all|you\s+all)\s+(?:\w+\s+)?(?:die|dies|get\s+(?:shot|killed|raped|cancer|hit\s+by)|gets\s+(?:shot|killed|raped|cancer|hit\s+by)|burn|burns|rot|rots)\b",
        0.8,
        "hope wish | you u he she they | die dies get gets burn burns rot rots",
    ),
    (
        r"\b(?:watch|better\s+watch)\s+your\s+back\b(?!\s+(?:lifting|when|while|carrying))",
        0.5,
        "back | watch | your",
    ),
    (r"\bsleep\s+with\s+one\s+eye\s+open\b", 0.75, "eye | sleep"),
    (
        r"\b(?:bullet|knife|bomb)\s+(?:in|through|into)\s+(?:your|his|her|their)\s+(?:head|face|skull|chest|house|car)\b",
        0.9,
        "bullet knife bomb | your his her their",
    ),
    (
        r"\b(?:beat|kick|knock|smash|punch)\s+(?:the\s+(?:shit|crap|hell|fuck)\s+out\s+of|your\s+(?:head|face|teeth)\s+in)\b",
        0.8,
        "beat kick knock smash punch | shit crap hell fuck head face teeth",
    ),
    (
        r"\b(?:burn|blow\s+up)\s+(?:down\s+)?(?:your|his|her|their)\s+(?:house|home|car|shop|store)\b",
        0.85,
        "burn blow | house home car shop store",
    ),
    (
        r"\b(?:kill|shoot|hang|gas|exterminate)\s+(?:them\s+all|all\s+of\s+them|every\s+(?:one|last)\s+of\s+them)\b",
        0.85,
        "kill shoot hang gas exterminate | them",
    ),
)
_THREAT_PATTERNS: tuple[tuple[re.Pattern[str], float, tuple[frozenset[str], ...]], ...] = tuple(
    (re.compile(_quick_start(p)), w, _word_groups(t)) for p, w, t in _THREAT_SPECS
)

#: (pattern, weight, word groups) of each self-harm statement.
_SELF_HARM_SPECS: tuple[tuple[str, float, str], ...] = (
    (
        r"\b(?:kill|killing|hurt|hurting|cut|cutting|harm|harming|hang|hanging|off|offing)\s+myself\b",
        0.85,
        "myself | kill killing hurt hurting cut cutting harm harming hang hanging off offing",
    ),
    (r"\b(?:end|ending|take|taking)\s+my\s+(?:own\s+)?life\b", 0.9, "life | end ending take taking | my"),
    (
        r"\b(?:want|wanna|wanted|going|ready)\s+(?:to\s+)?(?:die|be\s+dead|disappear\s+forever)\b",
        0.7,
        "die dead disappear | want wanna wanted going ready",
    ),
    (
        r"\b(?:suicidal|suicide\s+(?:note|plan|attempt)|self[\s-]?harm(?:ing)?)\b",
        0.85,
        "suicidal suicide self harm harming selfharm selfharming",
    ),
    (r"\bsuicide\b", 0.45, "suicide"),
    (
        r"\b(?:no|nothing\s+to)\s+(?:reason\s+)?(?:to\s+)?live\s+for\b|\bno\s+reason\s+to\s+live\b",
        0.85,
        "live | no nothing | for reason",
    ),
    (
        r"\b(?:don't|dont|do\s+not)\s+want\s+to\s+(?:live|be\s+alive|exist|wake\s+up)\b",
        0.85,
        "live alive exist wake | want | don't dont not",
    ),
    (r"\bbetter\s+off\s+dead\b", 0.8, "dead | better | off"),
    (
        r"\b(?:kys|kill\s+(?:yourself|yourselves|urself|ur\s+self|your\s+self)|neck\s+yourself|hang\s+yourself|slit\s+your\s+wrists|unalive\s+yourself)\b",
        0.9,
        "kys yourself yourselves urself self wrists | kys kill neck hang slit unalive",
    ),
    (r"\b(?:go|just|please|pls|plz)\s+die\b", 0.75, "die | go just please pls plz"),
)
_SELF_HARM_PATTERNS: tuple[tuple[re.Pattern[str], float, tuple[frozenset[str], ...]], ...] = tuple(
    (re.compile(_quick_start(p)), w, _word_groups(t)) for p, w, t in _SELF_HARM_SPECS
)
#: The first word group of each pattern: posts with none of them skip the patterns.
_THREAT_TRIGGERS: frozenset[str] = frozenset().union(*(groups[0] for _, _, groups in _THREAT_PATTERNS))
_SELF_HARM_TRIGGERS: frozenset[str] = frozenset().union(*(groups[0] for _, _, groups in _SELF_HARM_PATTERNS))
#: The patterns with their first word group apart (checked against the triggers a text holds).
_THREAT_CHECKS = tuple((p, w, groups[0], groups[1:]) for p, w, groups in _THREAT_PATTERNS)
_SELF_HARM_CHECKS = tuple((p, w, groups[0], groups[1:]) for p, w, groups in _SELF_HARM_PATTERNS)
#: Word groups of the patterns, and of the targeted phrases, one check per first word ("shut": "up").
_GATED_CHECKS: tuple[tuple[frozenset[str], ...], ...] = (
    *(groups for _, _, groups in (*_THREAT_PATTERNS, *_SELF_HARM_PATTERNS)),
    *(
        (frozenset({first}), frozenset(second for a, second in _TARGETED_PAIRS if a == first))
        for first in sorted(_TARGETED_FIRST)
    ),
)
#: "don't kill yourself carrying it upstairs": a warning, not encouragement.
_SELF_HARM_WARNING = re.compile(
    _quick_start(
        r"\b(?:don't|dont|do\s+not|never|won't|wont|almost|nearly|could|might|you'll|you\s+will|gonna|going\s+to)\s+kill\s+yourself\b"
    )
)

_DEHUMANISING = frozenset(
    {
        "animals", "vermin", "subhuman", "subhumans", "savages", "savage", "scum", "parasites", "disease", "cancer",
        "filth", "filthy", "inferior", "terrorists", "rapists", "invaders", "pests", "cockroaches", "rats",
        "trash", "garbage", "evil", "disgusting", "plague", "infestation", "barbarians", "apes", "monkeys",
        "dogs", "pigs", "criminals", "degenerates", "mentally", "abomination", "abominations", "sick",
    }
)  # fmt: skip
_HOSTILE_BEFORE = frozenset(
    {
        "hate",
        "kill",
        "deport",
        "ban",
        "exterminate",
        "gas",
        "eradicate",
        "filthy",
        "dirty",
        "stinking",
        "fucking",
        "bloody",
        "damn",
    }
)
_GROUP_CALL = re.compile(
    _quick_start(
        r"\b(?:should|must|need\s+to|needs\s+to|ought\s+to)\s+(?:all\s+)?(?:be\s+)?(?:deported|banned|killed|gassed|exterminated|shot|wiped\s+out|eradicated|die|sent\s+back|locked\s+up|sterili[sz]ed)\b"
    )
)


def load_weighted_terms(path: Path, default_weight: float = 1.0) -> dict[str, float]:
    """``term weight`` lines (weight optional); ``#`` comments and blank lines skipped."""
    terms: dict[str, float] = {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        head, _, tail = line.rpartition(" ")
        try:
            weight = float(tail)
            term = head
        except ValueError:
            weight, term = default_weight, line
        if not 0.0 < weight <= 1.0:
            raise ValueError(f"{path.name}: weight of {term!r} must be in (0, 1], got {weight}")
        terms[term] = max(weight, terms.get(term, 0.0))
    return terms


class LexiconScores(NamedTuple):
    """Per-label lexicon scores of one text, each in [0, 1]."""

    insult: float
    threat: float
    identity_attack: float
    self_harm: float
    profanity: float
    targeted: bool


class Lexicon:
    """The curated word lists and patterns, loaded once (see the module docstring)."""

    def __init__(self, data_dir: Path = DATA_DIR) -> None:
        self.insults = load_weighted_terms(data_dir / "insults.txt")
        self.profanity = load_weighted_terms(data_dir / "profanity.txt")
        self.slurs = load_weighted_terms(data_dir / "slurs.txt")
        groups = load_weighted_terms(data_dir / "identity.txt")
        self.groups_single = frozenset(g for g in groups if " " not in g)
        self.groups_pair = frozenset(tuple(g.split()) for g in groups if " " in g)
        #: Profane, insulting or slur words (the lexical score counts them).
        self.offensive_words = frozenset({*self.insults, *self.profanity, *self.slurs})
        #: Words that start any per-word check; posts with none of them skip the word loop.
        self._interesting = frozenset(
            {*self.insults, *self.profanity, *self.slurs, *self.groups_single, *(a for a, _ in self.groups_pair)}
        )
        # Sorted by length, then alphabetically: ties between equally strong fits resolve the same in every process.
        maskable = sorted({*self.profanity, *self.insults, *self.slurs}, key=lambda w: (len(w), w))
        self._mask_words: dict[int, list[str]] = {}
        for word in maskable:
            self._mask_words.setdefault(len(word), []).append(word)
        self._mask_weight = {w: max(self.profanity.get(w, 0.0), self.insults.get(w, 0.0)) for w in maskable}
        self._mask_cache: dict[str, str] = {}
        #: Words that start a word-level check of :meth:`score` (insults, profanity, slurs, groups of people,
        #: "stfu"); beyond them only the patterns and targeted phrases score, each only with a word of every
        #: one of its :attr:`gated_checks` groups.
        self.word_checks = frozenset({*self._interesting, "stfu", "gtfo"})
        self._pair_firsts = frozenset(a for a, _ in self.groups_pair)
        #: Words whose places in the text a check reads (the others need only the word set).
        self.place_words = self._interesting | _TARGETED_FIRST
        #: The word groups of every threat and self-harm pattern, and of the targeted phrases ("shut up").
        self.gated_checks: tuple[tuple[frozenset[str], ...], ...] = _GATED_CHECKS
        #: Every word :meth:`score` tests a text's word set for: ``score(text, words, vocabulary & set(words))``
        #: equals ``score(text, words, set(words))``, so callers may intersect once and pass the small set.
        self.vocabulary = self.word_checks.union(*(group for groups in _GATED_CHECKS for group in groups))
        #: Words without one of which :meth:`score` gives nothing (its gate words hold none of them).
        self.triggers = self.word_checks | _THREAT_TRIGGERS | _SELF_HARM_TRIGGERS | _TARGETED_FIRST

    def unmask(self, text: str) -> str:
        """Read asterisk-masked words as the lexicon word they fit: ``"f*ck"`` -> ``"fuck"``.

        A ``*`` stands for one letter, or for a run of letters when the masked word has a single
        run of asterisks (``"f**k"``, ``"a**hole"``). When several words fit, the strongest wins.
        """
        if "*" not in text:
            return text
        # A masked word is a whole run of word characters and asterisks (the pattern's lookarounds):
        # only the runs around each asterisk are tried.
        pieces: list[str] = []
        last = 0
        n = len(text)
        pos = text.find("*")
        while pos >= 0:
            start = pos
            while start and (text[start - 1] == "*" or text[start - 1].isalnum() or text[start - 1] == "_"):
                start -= 1
            end = pos + 1
            while end < n and (text[end] == "*" or text[end].isalnum() or text[end] == "_"):
                end += 1
            run = text[start:end]
            if _MASKED_RE.fullmatch(run):
                word = self._unmask_word(run)
                if word != run:
                    pieces.append(text[last:start])
                    pieces.append(word)
                    last = end
            pos = text.find("*", end)
        if not pieces:
            return text
        pieces.append(text[last:])
        return "".join(pieces)

    def _unmask_word(self, word: str) -> str:
        cached = self._mask_cache.get(word)
        if cached is None:
            found = _fit_masked(word, self._mask_words, self._mask_weight)
            cached = found if found is not None else word
            if len(self._mask_cache) >= 8192:  # markdown emphasis ("**note**") varies without end
                self._mask_cache.clear()
            self._mask_cache[word] = cached
        return cached

    def words(self, normalized: str) -> list[str]:
        """The words :meth:`score` reads (apostrophes kept inside words: ``you're``)."""
        if not normalized.isascii():
            return _WORD_RE.findall(normalized.replace("’", "'"))
        # The pattern never crosses a piece boundary, so its matches are those of each piece; a piece
        # whose apostrophes each sit alone between two letters or digits is one word.
        pieces = normalized.encode("ascii").translate(_ASCII_WORD_PIECES)
        if b"'" not in pieces or _inner_apostrophes(pieces):
            return pieces.decode("ascii").split()
        out: list[str] = []
        for piece in pieces.decode("ascii").split():
            # "don't" is one word; "'quoted'" and "rock'n'roll" go through the pattern.
            if "'" in piece and (piece[0] == "'" or piece[-1] == "'" or piece.count("'") > 1):
                out.extend(_WORD_RE.findall(piece))
            else:
                out.append(piece)
        return out

    def word_sets(
        self,
        normalized: str,
        words: list[str] | None = None,
        wordset: set[str] | frozenset[str] | None = None,
        gate_words: set[str] | frozenset[str] | None = None,
    ) -> tuple[list[str], set[str] | frozenset[str], set[str] | frozenset[str]]:
        """(words, word set, gate words) of ``normalized`` as :meth:`score` reads them, from what is given."""
        if words is None:
            words = self.words(normalized)
        if wordset is None:
            wordset = set(words)
        if gate_words is None:
            gate_words = wordset | apostrophe_parts(words) if "'" in normalized else wordset
        return words, wordset, gate_words

    def score(
        self,
        normalized: str,
        words: list[str] | None = None,
        wordset: set[str] | frozenset[str] | None = None,
        gate_words: set[str] | frozenset[str] | None = None,
    ) -> LexiconScores:
        """Scores of text that went through :func:`normalize` and :meth:`unmask`.

        ``words`` is its :meth:`words`; ``wordset`` the set of them, and ``gate_words`` that set with
        the parts of words split at their apostrophes (``"you're"`` adds ``"you"``), which decide
        whether a pattern can match. Either set may hold only the words in :attr:`vocabulary`. With both
        sets given, ``words`` may be None: they are read only when a word of :attr:`place_words` is there.
        """
        if wordset is None or gate_words is None:
            words, wordset, gate_words = self.word_sets(normalized, words, wordset, gate_words)
        if gate_words.isdisjoint(self.triggers):
            return _NOTHING
        insult = 0.0
        targeted = False
        profanity = 0.0
        identity = 0.0
        if words is None:
            words = self.words(normalized) if not wordset.isdisjoint(self.place_words) else []
        n = len(words)
        # Each word the checks act on, at each of its places (list look-ups, not a loop over every word).
        for w in wordset & self._interesting:
            p = self.profanity.get(w)
            if p is not None and p > profanity:
                profanity = p
            if w in self.slurs:
                identity = max(identity, 0.9)
                insult = max(insult, 0.85)
            weight = self.insults.get(w)
            group = w in self.groups_single
            pair = w in self._pair_firsts
            if weight is None and not group and not pair:
                continue
            for i in _places(words, w):
                if weight is not None:
                    aim = _aim(words, i)
                    if aim == 2:
                        targeted = True
                        insult = max(insult, 0.55 + 0.45 * weight)
                    elif aim == 1:
                        insult = max(insult, 0.35 + 0.5 * weight)
                    else:
                        insult = max(insult, 0.45 * weight)
                if group or (pair and i + 1 < n and (w, words[i + 1]) in self.groups_pair):
                    identity = max(identity, _group_hostility(words, i, normalized))
        if "stfu" in wordset or "gtfo" in wordset or _targeted_pair(words, wordset & _TARGETED_FIRST):
            insult = max(insult, 0.6)
            targeted = True
        threat = _strongest_pattern(_THREAT_CHECKS, gate_words & _THREAT_TRIGGERS, gate_words, normalized)
        self_harm = _strongest_pattern(_SELF_HARM_CHECKS, gate_words & _SELF_HARM_TRIGGERS, gate_words, normalized)
        if self_harm and _SELF_HARM_WARNING.search(normalized) and self_harm <= 0.9:
            stripped = _SELF_HARM_WARNING.sub(" ", normalized)
            self_harm = max((w for p, w, _ in _SELF_HARM_PATTERNS if p.search(stripped)), default=0.0)
        return LexiconScores(insult, threat, identity, self_harm, profanity, targeted)


_NOTHING = LexiconScores(0.0, 0.0, 0.0, 0.0, 0.0, False)


def _inner_apostrophes(pieces: bytes) -> bool:
    """Whether every apostrophe of ``pieces`` (letters, digits, apostrophes and spaces) has a letter or digit
    on both sides and is the only one of its piece."""
    if pieces[:1] == b"'" or pieces[-1:] == b"'" or b" '" in pieces or b"' " in pieces or b"''" in pieces:
        return False
    i = pieces.find(b"'")
    while True:
        j = pieces.find(b"'", i + 1)
        if j < 0:
            return True
        if pieces.find(b" ", i, j) < 0:
            return False
        i = j


def _strongest_pattern(
    checks: tuple[tuple[re.Pattern[str], float, frozenset[str], tuple[frozenset[str], ...]], ...],
    triggered: set[str] | frozenset[str],
    gate_words: set[str] | frozenset[str],
    text: str,
) -> float:
    """The weight of the strongest pattern of ``checks`` that matches ``text``, trying only those with a word
    of their first group among ``triggered`` and a word of every other group among ``gate_words``."""
    strongest = 0.0
    if triggered:
        for pattern, weight, first, rest in checks:
            if (
                weight > strongest
                and not triggered.isdisjoint(first)
                and _holds(gate_words, rest)
                and pattern.search(text)
            ):
                strongest = weight
    return strongest


def _places(words: list[str], word: str) -> list[int]:
    """The indices of ``word`` in ``words`` (which holds it)."""
    i = words.index(word)
    places = [i]
    for _ in range(words.count(word) - 1):
        i = words.index(word, i + 1)
        places.append(i)
    return places


def _targeted_pair(words: list[str], firsts: set[str] | frozenset[str]) -> bool:
    """Whether a word of ``firsts`` (all in ``words``) is followed by its second word of a targeted phrase."""
    last = len(words) - 1
    for first in firsts:
        for i in _places(words, first):
            if i < last and (first, words[i + 1]) in _TARGETED_PAIRS:
                return True
    return False


def _holds(words: set[str] | frozenset[str], groups: tuple[frozenset[str], ...]) -> bool:
    for group in groups:  # noqa: SIM110 - a loop is faster than all() over a generator here
        if words.isdisjoint(group):
            return False
    return True


def apostrophe_parts(words: list[str]) -> set[str]:
    """The parts of words split at their apostrophes (``"you're"`` gives ``"you"`` and ``"re"``)."""
    return set(" ".join(words).replace("'", " ").split())


def ascii_runs(text: str) -> list[str]:
    """The runs of letters and digits of ASCII ``text``: every word of :meth:`Lexicon.words` or part of one split
    at its apostrophes, so ``set(ascii_runs(text)) == apostrophe_parts(words(text))``."""
    return text.encode("ascii").translate(_ASCII_RUNS).decode("ascii").split()


def _aim(words: list[str], i: int) -> int:
    """2 when the word at ``i`` is aimed at "you", 1 at a third person ("he is a"), 0 otherwise."""
    j = i - 1
    while j >= 0 and i - j <= 5 and words[j] in _FILLERS:
        j -= 1
    if j >= 0 and i - j <= 5:
        prev = words[j]
        if prev in _SECOND_PERSON or (prev in _YOUR and j + 1 < i and words[j + 1] in {"a", "an", "such"}):
            return 2
        if (
            prev in _THIRD_PERSON_CONTRACTED
            or prev in _THIRD_PERSON
            or prev in _PERSON_NOUNS
            or (prev in _COPULA and j >= 1 and (words[j - 1] in _THIRD_PERSON or words[j - 1] in _PERSON_NOUNS))
        ):
            return 1
    after = words[i + 1 : i + 3]
    if after[:2] in (["like", "you"], ["like", "u"]) or (after and after[0] in {"you", "u"}):
        return 2
    return 0


def _group_hostility(words: list[str], i: int, normalized: str) -> float:
    window = words[i + 1 : i + 8]
    if any(w in _DEHUMANISING for w in window):
        return 0.8
    before = words[max(0, i - 3) : i]
    if any(w in _HOSTILE_BEFORE for w in before):
        return 0.75
    if _GROUP_CALL.search(" ".join(window)):
        return 0.85
    return 0.0


@lru_cache(maxsize=4096)
def _mask_regex(masked: tuple[str, bool]) -> re.Pattern[str]:
    # One letter per asterisk, or (flexible) any run of letters per run of asterisks.
    exact, flexible = masked
    parts = re.split(r"(\*+)", exact)
    out = []
    for part in parts:
        if part.startswith("*"):
            out.append("[^\\W\\d_]+" if flexible else "[^\\W\\d_]" * len(part))
        else:
            out.append(re.escape(part))
    return re.compile("".join(out) + r"\Z")


def _fit_masked(word: str, by_length: dict[int, list[str]], weight: dict[str, float]) -> str | None:
    letters = len(word.replace("*", ""))
    if letters == 0 or letters * 2 < len(word) - letters:
        return None
    # Every fit holds the word's longest unmasked part: a cheap test before the pattern.
    longest = max(word.split("*"), key=len)
    for flexible in (False, True):
        best: str | None = None
        for length, candidates in by_length.items():
            if length < letters + 1 or (not flexible and length != len(word)):
                continue
            for cand in [c for c in candidates if longest in c]:
                if _mask_regex((word, flexible)).match(cand) and (best is None or weight[cand] > weight[best]):
                    best = cand
        if best is not None:
            return best
    return None
