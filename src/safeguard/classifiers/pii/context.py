"""What the words around a candidate say: phone, card and SSN context, and retail look-alikes.

A retail forum is full of numbers that look like PII: order, tracking and receipt numbers, SKUs,
model and part numbers, prices, dates, firmware versions. A candidate is dropped (vetoed) when:

* it has the shape of a date, time, price or version (``2024-03-10``, ``12/03/2024``, ``£1,299.99``);
* it follows ``#``, a currency sign, or a tracking-number prefix, or is glued to letters (``LM-20931847``);
* a retail word (order, tracking, SKU, model, receipt ...) comes before it, nearer than any word of
  its own context (``order number 4155550123`` is an order; ``order issue, call me on 4155550123``
  is a phone number).

Context words of the candidate's type (``phone``, ``call``, ``mobile``, ``fax``; ``card``, ``visa``;
``ssn``) within the window raise its score, as Presidio's context enhancer does.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Mapping

__all__ = ["DEFAULT_CONTEXT", "RETAIL_CHECKED", "ContextRules"]

#: Words that make a candidate of the type more likely (matched whole-word, case-insensitive).
DEFAULT_CONTEXT: Mapping[str, tuple[str, ...]] = {
    "PHONE_NUMBER": (
        "phone",
        "phones",
        "telephone",
        "tel",
        "mobile",
        "mob",
        "cell",
        "cellphone",
        "fax",
        "desk",
        "office",
        "call",
        "calling",
        "called",
        "ring",
        "dial",
        "text",
        "texts",
        "sms",
        "whatsapp",
        "contact",
        "reach",
        "reached",
        "answering",
        "messages",
        "message",
        "registered",
        "landline",
        "home",
        "work",
        "number",
        "no",
    ),
    "CREDIT_CARD": (
        "card",
        "cards",
        "cc",
        "credit",
        "debit",
        "visa",
        "mastercard",
        "amex",
        "maestro",
        "discover",
        "jcb",
        "payment",
        "pay",
        "charge",
        "billed",
        "cvv",
        "expiry",
        "expires",
    ),
    "US_SSN": ("ssn", "ssns", "social", "security", "ss#", "ss"),
    "IBAN_CODE": ("iban", "bank", "account", "transfer", "wire"),
    "US_DRIVER_LICENSE": ("license", "licence", "driver", "driving", "dl"),
    "IP_ADDRESS": ("ip", "address", "server", "router", "host"),
}

#: Types whose candidates are checked against retail look-alikes.
RETAIL_CHECKED = frozenset({"PHONE_NUMBER", "CREDIT_CARD", "US_SSN", "US_DRIVER_LICENSE", "IP_ADDRESS", "UK_NHS"})

_RETAIL_WORDS = (
    "order",
    "orders",
    "ord",
    "tracking",
    "track",
    "tracked",
    "shipment",
    "shipping",
    "parcel",
    "package",
    "consignment",
    "waybill",
    "awb",
    "ups",
    "usps",
    "fedex",
    "dhl",
    "dpd",
    "hermes",
    "evri",
    "royal mail",
    "sku",
    "skus",
    "upc",
    "ean",
    "isbn",
    "asin",
    "barcode",
    "model",
    "models",
    "part",
    "parts",
    "item",
    "items",
    "product",
    "serial",
    "s/n",
    "sn",
    "receipt",
    "invoice",
    "inv",
    "ref",
    "reference",
    "confirmation",
    "conf",
    "case",
    "ticket",
    "rma",
    "return",
    "returns",
    "refund",
    "po",
    "lot",
    "batch",
    "version",
    "firmware",
    "build",
    "driver version",
    "v",
    "ver",
    "cat",
    "catalog",
    "catalogue",
    "article",
    "art",
    "voucher",
    "coupon",
    "promo",
    "gift card",
    "giftcard",
    "loyalty",
    "membership",
    "customer",
    "account",
    "acct",
    "transaction",
    "txn",
    "auth",
    "authorisation",
    "authorization",
    "claim",
    "price",
    "total",
    "paid",
    "cost",
    "costs",
)
#: Context words too common to outweigh a retail word before them ("order number 4155550123").
_WEAK_CONTEXT = frozenset({"number", "no", "home", "work", "message", "messages", "text", "contact", "address"})
_WORD_SPLIT = re.compile(r"[A-Za-z][A-Za-z/#']*")

_SHAPE_VETO = re.compile(
    r"""^(?:
        \d{4}[-/.]\d{1,2}[-/.]\d{1,2}                    # 2024-03-10
      | \d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}                  # 10/03/2024, 3.10.24
      | \d{1,2}:\d{2}(?::\d{2})?                         # 10:30
      | \d{1,3}(?:,\d{3})+(?:\.\d{1,2})?                 # 1,299.99
      | \d+\.\d{2}                                       # 49.99
    )\Z""",
    re.VERBOSE,
)
_BEFORE_VETO = re.compile(r"(?:[£$€¥₹]\s?|[A-Za-z]-?|\d[./:,]|\d-)\Z")
_HASH_BEFORE = re.compile(r"#\s?\Z")
_AFTER_VETO = re.compile(
    r"^(?:-(?!office|fax|mobile|home|work|cell)[A-Za-z0-9]|[./:,]\d|\s?(?:mm|cm|kg|ml|kw|mah|gb|tb|mb|hz|rpm)\b)", re.I
)


class ContextRules:
    """Context words and retail vetoes for one classifier configuration."""

    BEFORE = 40
    AFTER = 20
    BOOST = 0.35
    WITH_CONTEXT = 0.6

    def __init__(self, extra_context: Mapping[str, Iterable[str]]) -> None:
        context: dict[str, set[str]] = {k: set(v) for k, v in DEFAULT_CONTEXT.items()}
        for entity, words in extra_context.items():
            context.setdefault(entity, set()).update(w.casefold() for w in words)
        self._context = {k: frozenset(v) for k, v in context.items()}
        self._retail = frozenset(_RETAIL_WORDS)

    def _words(self, text: str) -> list[str]:
        return [w.casefold().rstrip("'#") for w in _WORD_SPLIT.findall(text)]

    def score(self, entity: str, text: str, start: int, end: int, score: float) -> float:
        """The candidate's score in context, or 0.0 when it is a retail look-alike."""
        context = self._context.get(entity, frozenset())
        before_text = text[max(0, start - self.BEFORE) : start]
        after_text = text[end : end + self.AFTER]
        before = self._words(before_text)
        # Phrases of two words ("royal mail", "gift card") count as one retail word.
        pairs = [f"{a} {b}" for a, b in itertools.pairwise(before)]
        if entity in RETAIL_CHECKED:
            candidate = text[start:end]
            if _SHAPE_VETO.match(candidate.strip()) or _BEFORE_VETO.search(before_text):
                return 0.0
            if _AFTER_VETO.match(after_text):
                return 0.0
            # "#" marks an order or item number, unless a word of the type's context precedes it ("card #").
            if _HASH_BEFORE.search(before_text) and not (before and before[-1] in context):
                return 0.0
            last_retail = max(
                [i for i, w in enumerate(before) if w in self._retail]
                + [i + 1 for i, p in enumerate(pairs) if p in self._retail],
                default=-1,
            )
            last_context = max(
                (i for i, w in enumerate(before) if w in context and w not in self._retail and w not in _WEAK_CONTEXT),
                default=-1,
            )
            if last_retail >= 0 and last_retail >= last_context:
                return 0.0
        has_context = any(w in context for w in before) or any(w in context for w in self._words(after_text)[:2])
        if has_context:
            return min(1.0, max(score + self.BOOST, self.WITH_CONTEXT))
        return score
