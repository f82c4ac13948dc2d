"""Where a written-out link starts: the one pattern every classifier that finds or masks links builds on.

The spam features add bare domains with a known top-level domain to it; language identification and
near-duplicates mask each link to the next space; PII takes it as a hint that a number may be part of
a link. Normalisation protects any scheme (``ftp://`` too) and e-mail addresses: its own, wider marker.
"""

from __future__ import annotations

import re

__all__ = ["URL_RE", "URL_START"]

#: The start of a written-out link: an http(s) scheme or "www.".
URL_START = r"(?:https?://|www\.)"
#: A written-out link, to the next whitespace.
URL_RE = re.compile(URL_START + r"\S+")
