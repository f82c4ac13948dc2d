"""The moderators' web pages of the review loop, served by ``safeguard serve --db DB`` under ``/review``.

::

    from safeguard.review import ReviewStore
    from safeguard.review.web import create_review_app

    app = create_review_app(ReviewStore.open("review.db"), secret="...")   # any ASGI server runs it

Needs Starlette and Jinja2 (``pip install 'safeguard-moderation[serve]'``).
"""

from safeguard.review.web.app import CSP, PAGE_SIZE, create_review_app
from safeguard.review.web.highlight import Piece, pieces
from safeguard.review.web.session import COOKIE, LoginThrottle, Session, SessionSigner

__all__ = [
    "COOKIE",
    "CSP",
    "PAGE_SIZE",
    "LoginThrottle",
    "Piece",
    "Session",
    "SessionSigner",
    "create_review_app",
    "pieces",
]
