"""``safeguard serve``: the Moderator as an HTTP service (FastAPI, run by uvicorn).

Needs the ``serve`` extra: ``pip install 'safeguard-moderation[serve]'``. ``docs/serve.md`` describes
the endpoints, keys, limits and the mapping to the OpenAI and Perspective moderation APIs.
"""

from __future__ import annotations

from safeguard.serve.settings import KeyRing, ServeSettings

__all__ = ["KeyRing", "ServeSettings", "create_app"]


def __getattr__(name: str) -> object:
    if name == "create_app":
        from safeguard.serve.app import create_app

        return create_app
    raise AttributeError(name)
