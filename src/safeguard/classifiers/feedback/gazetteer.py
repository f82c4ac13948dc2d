"""The retailer's own names: products and stores from a CSV file, and the shapes of model numbers.

A gazetteer is a CSV file with a header row and the columns ``type`` (``product`` or ``store``), ``id``,
``name`` and, optionally, ``aliases`` (``|``-separated)::

    type,id,name,aliases
    product,SKU-10442,Vortex 5.7L Dual Basket Air Fryer,Vortex air fryer|Vortex dual basket
    store,S014,Leeds Kirkstall,Leeds store|Kirkstall store

Names and aliases are found in posts as whole words on normalised text, like list terms. Codes that
look like model numbers or SKUs (``KX-4410``, ``UE55TU7000``, ``SKU 104421``) are found by pattern
whether or not the gazetteer lists them, so posts about unlisted products still group by code.
"""

from __future__ import annotations

import csv
import io
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from safeguard.errors import ConfigError, Problem
from safeguard.files import UnsafeFileError, read_bounded_text

__all__ = ["ENTRY_TYPES", "MAX_GAZETTEER_BYTES", "Gazetteer", "find_codes", "load_gazetteer"]

#: Largest gazetteer read: a catalogue of a few hundred thousand products.
MAX_GAZETTEER_BYTES = 64 * 1024 * 1024
#: What a gazetteer row may name, and the signal its ids go to.
ENTRY_TYPES: Mapping[str, str] = {"product": "products", "store": "stores"}
_MAX_FIELD = 1000

# A model number as written on a box: capitals and digits, at least two of each (or a dash between
# letters and digits), starting with a letter; ``5.7L``, ``4K``, ``1080p`` and ``2nd`` are not codes.
# Tokens are found by a bounded pattern and checked in Python, so a long run of capitals stays linear.
_TOKEN = re.compile(r"(?<![\w-])[A-Z][A-Z0-9-]{2,24}(?![\w-])")


def _is_model(token: str) -> bool:
    digits = sum(c.isdigit() for c in token)
    letters = sum(c.isalpha() for c in token)
    return digits >= 2 and (letters >= 2 or "-" in token) and not token.endswith("-")


# A code after a word that says so: "SKU 104421", "model no. WM8420", "part #A-77".
_CUED = re.compile(
    r"\b(?:sku|model|part|item|product code)(?:\s+(?:no\.?|number))?\s*[:#]?\s*([A-Za-z0-9][A-Za-z0-9-]{3,19})\b", re.I
)


def find_codes(text: str) -> list[str]:
    """Model numbers and SKUs in ``text`` (the raw text: capitals matter), upper-cased, in order, once each."""
    found: dict[str, None] = {}
    for m in _TOKEN.finditer(text):
        if _is_model(m.group(0)):
            found.setdefault(m.group(0), None)
    for m in _CUED.finditer(text):
        code = m.group(1)
        if any(c.isdigit() for c in code):
            found.setdefault(code.upper(), None)
    return list(found)


@dataclass(frozen=True)
class Gazetteer:
    """Names to look for, per signal (``products``, ``stores``): each name maps to the ids it stands for."""

    names: Mapping[str, Mapping[str, tuple[str, ...]]] = field(default_factory=dict)
    #: The display name of each id (its row's ``name``), per signal.
    labels: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not any(self.names.values())

    def terms(self) -> dict[str, list[str]]:
        """The names of each signal, as term lists for the matcher."""
        return {signal: list(names) for signal, names in self.names.items()}

    def ids(self, signal: str, matched: Sequence[str]) -> list[str]:
        """The ids that the matched names of ``signal`` stand for, sorted, once each."""
        table = self.names.get(signal, {})
        return sorted({i for name in matched for i in table.get(name, ())})


def _error(file: str, line: int, message: str) -> ConfigError:
    return ConfigError([Problem(file, line, 0, message)])


def parse_gazetteer(text: str, *, file: str = "<gazetteer>") -> Gazetteer:
    """Parse gazetteer CSV text; raises :class:`ConfigError` with the file and line of the first problem."""
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [h.strip().lower() for h in reader.fieldnames or []]
    missing = [c for c in ("type", "id", "name") if c not in header]
    if missing:
        raise _error(file, 1, f"gazetteer header lacks column(s) {', '.join(missing)} (has: {', '.join(header)})")
    reader.fieldnames = header
    names: dict[str, dict[str, list[str]]] = {signal: {} for signal in ENTRY_TYPES.values()}
    labels: dict[str, dict[str, str]] = {signal: {} for signal in ENTRY_TYPES.values()}
    try:
        for row in reader:
            line = reader.line_num
            if None in row:
                raise _error(file, line, "more fields than the header has")
            kind = (row.get("type") or "").strip().lower()
            ident = (row.get("id") or "").strip()
            name = (row.get("name") or "").strip()
            if not kind and not ident and not name:
                continue
            if kind not in ENTRY_TYPES:
                raise _error(file, line, f"type must be one of {', '.join(ENTRY_TYPES)}, got {kind!r}")
            if not ident or not name:
                raise _error(file, line, "every row needs an id and a name")
            labels[ENTRY_TYPES[kind]].setdefault(ident, name)
            aliases = [a.strip() for a in (row.get("aliases") or "").split("|")]
            for term in (name, *aliases):
                if len(term) > _MAX_FIELD:
                    raise _error(file, line, f"a name longer than {_MAX_FIELD} characters")
                if term:
                    names[ENTRY_TYPES[kind]].setdefault(term, []).append(ident)
    except csv.Error as exc:
        raise _error(file, reader.line_num, f"not valid CSV: {exc}") from None
    return Gazetteer({s: {n: tuple(dict.fromkeys(i)) for n, i in table.items()} for s, table in names.items()}, labels)


def load_gazetteer(path: str | os.PathLike[str]) -> Gazetteer:
    """Read a gazetteer CSV file (UTF-8, at most :data:`MAX_GAZETTEER_BYTES`)."""
    try:
        text = read_bounded_text(path, MAX_GAZETTEER_BYTES, what="gazetteer")
    except UnsafeFileError as exc:
        raise ConfigError(f"cannot read gazetteer {os.fspath(path)}: {exc.reason}", file=str(path)) from exc
    except OSError as exc:
        raise ConfigError(f"cannot read gazetteer {os.fspath(path)}: {exc.strerror or exc}", file=str(path)) from exc
    return parse_gazetteer(text.removeprefix("\ufeff"), file=os.fspath(path))
