"""Explainable spam features of a post's text, extracted in one regex pass.

:func:`extract` scans the raw text once with a single precompiled pattern whose named alternatives
find links, e-mail addresses, phone numbers, messaging handles, crypto wallet addresses, calls to
action, money and earnings phrases, off-platform payment requests and repeated characters. A link
consumes its whole span, so the digits of a URL are never counted as a phone number.

Features read the raw text (case folded where case does not matter), not
:func:`safeguard.text.normalize`: links, handles, phone numbers and wallet addresses
depend on digits and case, and the spam model must stay cheap enough to see every post.

Domains are parsed offline: the registrable domain is the last two labels of the host, or the last
three under one of the multi-part public suffixes in :data:`MULTI_PART_SUFFIXES` (``co.uk``,
``com.au`` ...). No suffix list is fetched.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import re2

from safeguard.text import caps_ratio
from safeguard.text.links import CONTACT_EMAIL, URL_START

__all__ = [
    "COUNT_FEATURES",
    "MULTI_PART_SUFFIXES",
    "SHORTENERS",
    "SUSPICIOUS_TLDS",
    "TextFeatures",
    "extract",
    "registrable_domain",
]

#: Multi-part public suffixes under which a registrable domain has three labels.
MULTI_PART_SUFFIXES: frozenset[str] = frozenset(
    f"{second}.{tld}"
    for tld, seconds in {
        "uk": ("co", "org", "me", "ltd", "plc", "net", "ac", "gov"),
        "au": ("com", "net", "org", "edu", "gov"),
        "nz": ("co", "net", "org"),
        "za": ("co", "org", "net"),
        "in": ("co", "net", "org", "firm", "gen"),
        "jp": ("co", "ne", "or"),
        "kr": ("co", "or"),
        "br": ("com", "net", "org"),
        "mx": ("com",),
        "ar": ("com",),
        "cn": ("com", "net", "org"),
        "hk": ("com",),
        "sg": ("com",),
        "my": ("com",),
        "tr": ("com",),
        "tw": ("com",),
        "ph": ("com",),
        "pk": ("com",),
        "ng": ("com",),
        "il": ("co",),
        "id": ("co",),
        "th": ("co",),
    }.items()
    for second in seconds
)

#: URL shortener domains: the destination of their links cannot be seen before clicking.
SHORTENERS: frozenset[str] = frozenset(
    [
        "bit.ly",
        "bitly.com",
        "tinyurl.com",
        "goo.gl",
        "ow.ly",
        "t.co",
        "is.gd",
        "buff.ly",
        "cutt.ly",
        "rb.gy",
        "shorturl.at",
        "tiny.cc",
        "rebrand.ly",
        "t.ly",
        "bl.ink",
        "adf.ly",
        "shorte.st",
        "bc.vc",
        "v.gd",
        "qr.ae",
        "lnkd.in",
        "soo.gd",
        "s.id",
        "short.io",
        "tr.im",
        "x.co",
        "po.st",
        "mcaf.ee",
        "su.pr",
        "cli.gs",
        "linktr.ee",
    ]
)

#: Top-level domains that are disproportionately used by spam and phishing (cheap or free to register).
SUSPICIOUS_TLDS: frozenset[str] = frozenset(
    [
        "tk",
        "ml",
        "ga",
        "cf",
        "gq",
        "xyz",
        "top",
        "click",
        "link",
        "work",
        "loan",
        "win",
        "bid",
        "racing",
        "download",
        "stream",
        "review",
        "country",
        "kim",
        "cricket",
        "science",
        "party",
        "gdn",
        "men",
        "date",
        "faith",
        "accountant",
        "zip",
        "mov",
        "icu",
        "buzz",
        "rest",
        "fit",
        "cam",
        "sbs",
        "cfd",
        "monster",
        "quest",
        "cyou",
        "bar",
        "best",
        "surf",
        "uno",
    ]
)

# Top-level domains recognised in bare domains written without a scheme or "www." ("deals.shop").
# Common file extensions (.txt, .jpg, .exe) are deliberately absent.
_BARE_TLDS = sorted(
    set(
        [
            "com",
            "net",
            "org",
            "info",
            "biz",
            "io",
            "co",
            "me",
            "ly",
            "gl",
            "gg",
            "tv",
            "us",
            "uk",
            "ca",
            "au",
            "de",
            "fr",
            "es",
            "it",
            "nl",
            "be",
            "ch",
            "at",
            "se",
            "no",
            "dk",
            "fi",
            "pl",
            "ru",
            "cn",
            "jp",
            "kr",
            "in",
            "br",
            "mx",
            "ar",
            "za",
            "nz",
            "ie",
            "eu",
            "asia",
            "app",
            "dev",
            "shop",
            "store",
            "online",
            "site",
            "website",
            "club",
            "live",
            "deals",
            "sale",
            "vip",
            "pro",
            "tech",
            "space",
            "fun",
            "today",
            "news",
            "blog",
            "media",
        ]
    )
    | SUSPICIOUS_TLDS,
    key=lambda t: (-len(t), t),
)

_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
# RE2 syntax (a DFA: linear time and fast over long posts), so no lookaround: a boundary that must not
# be a word character is consumed as a leading character instead, and trimmed where it matters.
_URL = (
    rf"(?i:{URL_START}[^\s<>\"'()\[\]{{}}]+"
    rf"|\b(?:{_LABEL}\.)+(?:{'|'.join(_BARE_TLDS)})\b(?:/[^\s<>\"'()\[\]{{}}]*)?)"
)
_CRYPTO = (
    r"\b(?:bc1[ac-hj-np-z02-9]{25,62}|[13][a-km-zA-HJ-NP-Z1-9]{25,34}"
    r"|0x[a-fA-F0-9]{40}|T[a-km-zA-HJ-NP-Z1-9]{33})\b"
)
_MESSENGER = (
    r"(?i:\b(?:whats\s?app|wh?atsap+|telegram|tele\s?gram|signal|wechat|viber|kik|snapchat|snap|tg|wa)\b"
    r"\s*(?:me\s*)?(?:(?:on|at|via|id|number|no\.?|handle|username)\s*)?[:\-=]?\s*"
    r"(?:\+?\d[\d\s().-]{6,}\d|@[a-z0-9_]{3,}))"
)
_PHONE = r"(?:\+|\(|\b)\d[\d\s().-]{7,22}\d\b"
_PAYMENT = (
    r"(?i:\b(?:paypal\s+(?:f\s*&\s*f|f\s*and\s*f|friends\s+(?:and|&)\s+family|gift)|cash\s?app|venmo|zelle"
    r"|western\s+union|money\s?gram|wire\s+transfer|bank\s+transfer\s+only|pay\s+(?:me\s+)?(?:directly|outside|off"
    r"[\s-]?(?:site|platform|forum))|(?:pay|paid|payment)\s+(?:only\s+)?(?:in|with|via|by|through)\s+"
    r"(?:gift\s?cards?|itunes|google\s+play|steam\s+cards?|bitcoin|btc|crypto|usdt|eth))\b)"
)
_CTA = (
    r"(?i:\b(?:click\s+(?:here|the\s+link|this|on|below)|subscribe|sub\s+(?:to|4)|check\s+(?:out\s+)?(?:my|our)"
    r"|check\s+(?:it|this)\s+out|visit\s+(?:my|our|us|the\s+link|the\s+site|this)|follow\s+(?:me|us|my)"
    r"|like\s+(?:and|&)\s+share|(?:pls|plz|please)\s+(?:like|share|watch|view|help|support)|watch\s+my"
    r"|go\s+to\s+(?:my|our)|call\s+now|text\s+[a-z]{2,10}\s+to\s+\d|reply\s+(?:yes|stop|now|with)"
    r"|sign\s+up|join\s+(?:now|us|my|our|today)|act\s+now|buy\s+now|order\s+now|limited\s+time"
    r"|don'?t\s+miss|dm\s+(?:me|us)|message\s+me|contact\s+me|inbox\s+me|link\s+in\s+(?:my\s+)?bio)\b)"
)
_MONEY = (
    r"(?i:(?:\b(?:earn|make|making|made|win|won|claim|get|receive)\s+(?:up\s+to\s+|over\s+|an?\s+extra\s+)?"
    r"[$£€]\s?\d[\d,.]*k?|[$£€]\s?\d[\d,.]*k?\s+(?:a|per|every|each)\s+(?:day|week|month|hour)\b"
    r"|\b\d[\d,.]*k?\s+(?:a|per)\s+(?:day|week|month)\b|\b(?:make\s+money|earn\s+money|free\s+(?:money|cash)"
    r"|cash\s+(?:prize|reward|bonus)|passive\s+income|extra\s+income|work\s+from\s+home|financial\s+freedom"
    r"|you\s+are\s+(?:a|the)\s+winner|guaranteed\s+(?:returns?|profit|income)"
    r"|double\s+your|investment\s+(?:plan|opportunity)|prize|jackpot)\b"
    # "you won" but not "you won't": RE2 has no lookahead, so the next character is matched.
    r"|\byou\s+(?:have\s+)?won(?:[^'’\w]|$)))"
)
# Runs of four or more of the same letter (RE2 has no backreferences, so one alternative per letter).
_REPEAT_CHARS = "(?i:" + "|".join(f"{c}{{4,}}" for c in "abcdefghijklmnopqrstuvwxyz") + ")"
_REPEAT_PUNCT = r"[!?.$*]{3,}"

_KINDS: tuple[tuple[str, str], ...] = (
    ("email", CONTACT_EMAIL),
    ("url", _URL),
    ("messenger", _MESSENGER),
    ("crypto", _CRYPTO),
    ("payment", _PAYMENT),
    ("cta", _CTA),
    ("money", _MONEY),
    ("phone", _PHONE),
    ("repeat", _REPEAT_CHARS),
    ("punct", _REPEAT_PUNCT),
)
# Matched against UTF-8 bytes: the str API of the RE2 wrapper maps byte offsets back to characters,
# which costs more than the match itself. Group i (1-based) is the i-th kind.
_PATTERN = re2.compile("|".join(f"({pattern})" for _, pattern in _KINDS).encode("utf-8"))
(_EMAIL_I, _URL_I, _MESSENGER_I, _CRYPTO_I, _PAYMENT_I, _CTA_I, _MONEY_I, _PHONE_I, _REPEAT_I, _PUNCT_I) = range(
    1, len(_KINDS) + 1
)
_CONTACT_LINK_HOSTS = frozenset(("t.me", "wa.me", "telegram.me", "chat.whatsapp.com", "api.whatsapp.com"))
_MESSENGER_TYPES = {b"wh": "whatsapp", b"wa": "whatsapp", b"te": "telegram", b"tg": "telegram"}
_HOST_END = re.compile(r"[/?#:\\]")

#: Length beyond which the model reads every text as equally long.
LENGTH_CAP = 300

#: Integer features, in the order the model reads them.
COUNT_FEATURES: tuple[str, ...] = (
    "links",
    "distinct_domains",
    "shorteners",
    "suspicious_tlds",
    "contact_handles",
    "money",
    "crypto_addresses",
    "calls_to_action",
    "off_platform_payment",
    "repeated_chars",
    "repeated_punctuation",
    "length",
)


@dataclass(frozen=True)
class TextFeatures:
    """The spam features of one text. Counts are occurrences; ``domains`` are registrable domains."""

    links: int
    domains: tuple[str, ...]
    shorteners: int
    suspicious_tlds: int
    contact_handles: int
    contact_types: tuple[str, ...]
    money: int
    crypto_addresses: int
    calls_to_action: int
    off_platform_payment: int
    repeated_chars: int
    repeated_punctuation: int
    caps_ratio: float
    length: int

    @property
    def distinct_domains(self) -> int:
        return len(self.domains)

    def vector(self) -> list[float]:
        """Numeric form the model reads: ``log1p`` of each count in :data:`COUNT_FEATURES`, then caps ratio.

        The length is capped at :data:`LENGTH_CAP` characters: spam training sets are short texts, and a
        model must not read a long forum post as ever more spam-like.
        """
        log1p = math.log1p
        return [
            log1p(self.links),
            log1p(len(self.domains)),
            log1p(self.shorteners),
            log1p(self.suspicious_tlds),
            log1p(self.contact_handles),
            log1p(self.money),
            log1p(self.crypto_addresses),
            log1p(self.calls_to_action),
            log1p(self.off_platform_payment),
            log1p(self.repeated_chars),
            log1p(self.repeated_punctuation),
            log1p(min(self.length, LENGTH_CAP)),
            self.caps_ratio,
        ]


#: Names of the entries of :meth:`TextFeatures.vector`.
VECTOR_NAMES: tuple[str, ...] = (*COUNT_FEATURES, "caps_ratio")


def registrable_domain(host: str) -> str:
    """The registrable domain of a host name: ``shop.example.co.uk`` -> ``example.co.uk``.

    Offline: the last two labels, or three under a multi-part suffix of :data:`MULTI_PART_SUFFIXES`.
    """
    host = host.strip(".").lower()
    if host.startswith("www."):
        host = host[4:]
    labels = host.split(".")
    if len(labels) <= 2:
        return host
    if ".".join(labels[-2:]) in MULTI_PART_SUFFIXES:
        return ".".join(labels[-3:])
    return ".".join(labels[-2:])


def _host(url: str) -> str:
    lower = url.lower()
    if lower.startswith("http"):
        lower = lower.split("://", 1)[-1]
    host = _HOST_END.split(lower, 1)[0]
    if "@" in host:
        host = host.rsplit("@", 1)[1]
    return host.rstrip(".,;!")


def extract(text: str) -> TextFeatures:
    """Spam features of ``text`` (one pass over it)."""
    links = shorteners = suspicious = contacts = money = crypto = cta = payment = rep_chars = rep_punct = 0
    domains: dict[str, None] = {}
    contact_types: dict[str, None] = {}
    for match in _PATTERN.finditer(text.encode("utf-8", "surrogatepass")):
        kind = match.lastindex
        if kind == _URL_I:
            host = _host(match.group().decode("utf-8", "replace"))
            if not host or "." not in host:
                continue
            links += 1
            domain = registrable_domain(host)
            domains[domain] = None
            if domain in SHORTENERS or host in SHORTENERS:
                shorteners += 1
            if domain.rsplit(".", 1)[-1] in SUSPICIOUS_TLDS:
                suspicious += 1
            if host.removeprefix("www.") in _CONTACT_LINK_HOSTS:
                contacts += 1
                contact_types["whatsapp" if "wa" in host else "telegram"] = None
        elif kind == _PHONE_I:
            number = match.group().lstrip()
            digits = sum(48 <= c <= 57 for c in number)
            # Bare digit runs are order numbers and codes; a phone starts with +, ( or 0, or has separators.
            if 9 <= digits <= 15 and (number[0] in b"+(0" or (digits >= 10 and len(number) > digits)):
                contacts += 1
                contact_types["phone"] = None
        elif kind == _EMAIL_I:
            contacts += 1
            contact_types["email"] = None
        elif kind == _MESSENGER_I:
            contacts += 1
            app = match.group()[:2].lower()
            contact_types[_MESSENGER_TYPES.get(app, "messenger")] = None
        elif kind == _CRYPTO_I:
            crypto += 1
        elif kind == _CTA_I:
            cta += 1
        elif kind == _MONEY_I:
            money += 1
        elif kind == _PAYMENT_I:
            payment += 1
        elif kind == _REPEAT_I:
            rep_chars += 1
        elif kind == _PUNCT_I:
            rep_punct += 1
    return TextFeatures(
        links=links,
        domains=tuple(domains),
        shorteners=shorteners,
        suspicious_tlds=suspicious,
        contact_handles=contacts,
        contact_types=tuple(contact_types),
        money=money,
        crypto_addresses=crypto,
        calls_to_action=cta,
        off_platform_payment=payment,
        repeated_chars=rep_chars,
        repeated_punctuation=rep_punct,
        caps_ratio=caps_ratio(text),
        length=len(text),
    )
