"""Presidio recognizers added by safeguard. Imports presidio: import this module only in ``load()``.

* :class:`QuietEmailRecognizer`: Presidio's e-mail recognizer checking the domain against the
  public-suffix snapshot bundled with tldextract, never the network.
* :class:`CardNumberRecognizer`: 12 to 19 digit card numbers that pass the Luhn check, with the
  issuer ranges Presidio's pattern misses (Mastercard 2-series, Maestro, 19-digit Visa ...).
* :class:`PhoneNumberRecognizer`: phone-shaped digit groups, validated per region with phonenumbers;
  shapes valid nowhere get a low score that only reaches a reporting level next to a phone word
  ("Phone:", "call me on", "fax").
* :class:`LowerCaseIbanRecognizer`: IBANs typed in lower case, mod-97 checked.
* :class:`RE2PatternRecognizer`: the custom pattern recognizers of a ruleset, run by RE2 (linear time).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import phonenumbers
import re2
import tldextract
from presidio_analyzer import EntityRecognizer, LocalRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts
from presidio_analyzer.predefined_recognizers import (
    CreditCardRecognizer,
    CryptoRecognizer,
    EmailRecognizer,
    IbanRecognizer,
    IpRecognizer,
    NhsRecognizer,
    UrlRecognizer,
    UsLicenseRecognizer,
    UsSsnRecognizer,
)

__all__ = [
    "CardNumberRecognizer",
    "LowerCaseIbanRecognizer",
    "PhoneNumberRecognizer",
    "QuietEmailRecognizer",
    "RE2PatternRecognizer",
    "iban_valid",
    "luhn_valid",
]

# No suffix-list URLs: tldextract uses the snapshot it ships with, touches no network and no cache.
_TLD_EXTRACT = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None, fallback_to_snapshot=True)


class QuietEmailRecognizer(EmailRecognizer):
    """Presidio's e-mail recognizer, validating domains offline."""

    def validate_result(self, pattern_text: str) -> bool:
        return _TLD_EXTRACT(pattern_text).fqdn != ""


def luhn_valid(digits: str) -> bool:
    """True when the digit string passes the Luhn checksum."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


# Digit groups separated by single spaces or dashes, not inside a longer number or word.
_CARD_CANDIDATE = re.compile(r"(?<![\w-])\d(?:[ -]?\d){11,18}(?![\w-])")


def _major_card(digits: str) -> bool:
    """A number in a major network's range and length: recognisable without any context."""
    n = len(digits)
    if digits[0] == "4":
        return n in (13, 16, 19)
    two, four = int(digits[:2]), int(digits[:4])
    if n == 16 and (51 <= two <= 55 or 2221 <= four <= 2720 or digits.startswith(("6011", "65", "35", "62"))):
        return True
    return n == 15 and two in (34, 37)


class CardNumberRecognizer(LocalRecognizer):
    """Luhn-valid 12 to 19 digit numbers: 1.0 in a major network's range, else 0.3 (needs context)."""

    def __init__(self) -> None:
        super().__init__(supported_entities=["CREDIT_CARD"], name="CardNumberRecognizer", supported_language="en")

    def load(self) -> None:
        pass

    def analyze(self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None) -> list[Any]:
        results = []
        for m in _CARD_CANDIDATE.finditer(text):
            digits = m.group().replace(" ", "").replace("-", "")
            if not luhn_valid(digits) or len(set(digits)) == 1:
                continue
            score = 1.0 if _major_card(digits) else 0.3
            results.append(RecognizerResult("CREDIT_CARD", m.start(), m.end(), score))
        return results


# A phone-shaped run: optional +country, optional (area), then one to five groups of digits, an optional extension.
_PHONE_CANDIDATE = re.compile(
    r"(?<![\w+.-])(?:\+\d{1,3}[ .-]?)?(?:\(0?\d{1,4}\)[ .-]?)?\d{2,15}(?:[ .-]\d{2,8}){0,4}"
    r"(?:\s?(?:x|ext\.?)\s?\d{1,6})?(?![\w])"
)


def _possible_international(number: str) -> bool:
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return False
    return bool(phonenumbers.is_possible_number(parsed))


class PhoneNumberRecognizer(LocalRecognizer):
    """Phone numbers: phone-shaped digit runs of 7 to 15 digits, checked with phonenumbers per region.

    Scores: 0.4 for a number valid in one of ``regions`` (Presidio's PhoneRecognizer score), 0.6 for
    an international number (``+44 7700 900123``) that is possible for its country (phonenumbers does
    not call reserved ranges such as drama numbers valid, but people post them), else 0.25: reported
    only next to a phone word. Unlike Presidio's recognizer, which runs phonenumbers' matcher over the
    whole text once per region, only the candidate runs are parsed.
    """

    VALID = 0.4
    INTERNATIONAL = 0.6
    SHAPE = 0.25

    def __init__(self, regions: Sequence[str]) -> None:
        self.regions = tuple(regions)
        super().__init__(supported_entities=["PHONE_NUMBER"], name="PhoneNumberRecognizer", supported_language="en")

    def load(self) -> None:
        pass

    def _valid(self, number: str) -> bool:
        for region in (None,) if number.startswith("+") else self.regions:
            try:
                parsed = phonenumbers.parse(number, region)
            except phonenumbers.NumberParseException:
                continue
            if phonenumbers.is_valid_number(parsed):
                return True
        return False

    def analyze(self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None) -> list[Any]:
        results = []
        for m in _PHONE_CANDIDATE.finditer(text):
            core = re.split(r"\s?(?:x|ext\.?)\s?\d", m.group(), maxsplit=1)[0]
            n = sum(ch.isdigit() for ch in core)
            if not 7 <= n <= 15:
                continue
            if self._valid(core):
                score = self.VALID
            elif core.startswith("+") and _possible_international(core):
                score = self.INTERNATIONAL
            else:
                score = self.SHAPE
            results.append(RecognizerResult("PHONE_NUMBER", m.start(), m.end(), score))
        return results


_IBAN_CANDIDATE = re.compile(r"(?<![\w])[A-Za-z]{2}\d{2}(?:[ ]?[A-Za-z0-9]{4}){2,7}(?:[ ]?[A-Za-z0-9]{1,4})?(?![\w])")


def iban_valid(candidate: str) -> bool:
    """True when ``candidate`` (spaces allowed, any case) passes the IBAN mod-97 check."""
    compact = candidate.replace(" ", "").upper()
    if not 15 <= len(compact) <= 34:
        return False
    moved = compact[4:] + compact[:4]
    return int("".join(str(int(ch, 36)) for ch in moved)) % 97 == 1


class LowerCaseIbanRecognizer(LocalRecognizer):
    """IBANs typed in lower case (``gb42nawi04454264788619``), which Presidio's pattern misses; mod-97 checked."""

    def __init__(self) -> None:
        super().__init__(supported_entities=["IBAN_CODE"], name="LowerCaseIbanRecognizer", supported_language="en")

    def load(self) -> None:
        pass

    def analyze(self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None) -> list[Any]:
        results = []
        for m in _IBAN_CANDIDATE.finditer(text):
            if m.group()[:2].islower() and iban_valid(m.group()):
                results.append(RecognizerResult("IBAN_CODE", m.start(), m.end(), 1.0))
        return results


class RE2PatternRecognizer(LocalRecognizer):
    """A ruleset's custom pattern recognizer; its patterns run on RE2, in time linear in the text."""

    def __init__(self, name: str, entity: str, patterns: Sequence[tuple[str, str, float]]) -> None:
        self._patterns = [(pname, re2.compile(regex), score) for pname, regex, score in patterns]
        super().__init__(supported_entities=[entity], name=name, supported_language="en")

    def load(self) -> None:
        pass

    def analyze(self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None) -> list[Any]:
        results = []
        entity = self.supported_entities[0]
        for _, pattern, score in self._patterns:
            for m in pattern.finditer(text):
                if m.end() > m.start():
                    results.append(RecognizerResult(entity, m.start(), m.end(), score))
        return list(EntityRecognizer.remove_duplicates(results))


def pattern_recognizers(regions: Sequence[str]) -> dict[str, list[EntityRecognizer]]:
    """The recognizers of each pattern entity (``PATTERN_ENTITIES``), Presidio's with safeguard's beside
    or instead of them; ``regions`` are the phone regions read without a country code."""
    return {
        "CREDIT_CARD": [CreditCardRecognizer(), CardNumberRecognizer()],
        "EMAIL_ADDRESS": [QuietEmailRecognizer()],
        "PHONE_NUMBER": [PhoneNumberRecognizer(regions)],
        "IBAN_CODE": [IbanRecognizer(), LowerCaseIbanRecognizer()],
        "US_SSN": [UsSsnRecognizer()],
        "IP_ADDRESS": [IpRecognizer()],
        "URL": [UrlRecognizer()],
        "US_DRIVER_LICENSE": [UsLicenseRecognizer()],
        "UK_NHS": [NhsRecognizer()],
        "CRYPTO": [CryptoRecognizer()],
    }
