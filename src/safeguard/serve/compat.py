"""Endpoints wire-compatible with the OpenAI moderation API and Google's Perspective API.

Both read the scores of the ruleset's ``toxicity`` classifier (the first classifier of that kind) through
the tables below; the OpenAI endpoint also runs the ruleset, and its ``flagged`` is the decision.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.responses import Response

from safeguard.review.evidence import text_digest
from safeguard.serve.errors import ApiError, json_body
from safeguard.types import Decision, Post

if TYPE_CHECKING:
    from safeguard.serve.service import Service

__all__ = ["OPENAI_CATEGORIES", "OPENAI_MAP", "PERSPECTIVE_MAP", "install", "openai_scores", "spans"]

#: The 13 categories of an OpenAI moderation result, in the API's order.
OPENAI_CATEGORIES = (
    "harassment",
    "harassment/threatening",
    "hate",
    "hate/threatening",
    "illicit",
    "illicit/violent",
    "self-harm",
    "self-harm/intent",
    "self-harm/instructions",
    "sexual",
    "sexual/minors",
    "violence",
    "violence/graphic",
)

#: OpenAI category -> the toxicity labels it is scored from (the lowest of them: every one must be high);
#: a category not here, or whose label the backend does not give, scores 0.
OPENAI_MAP: dict[str, tuple[str, ...]] = {
    "harassment": ("insult",),
    "harassment/threatening": ("threat",),
    "hate": ("identity_attack",),
    "hate/threatening": ("identity_attack", "threat"),
    "self-harm": ("self_harm",),
    "violence": ("threat",),
}

#: A category is ``true`` in ``categories`` when its score reaches this.
OPENAI_THRESHOLD = 0.5

#: Perspective attribute -> the toxicity labels that can give it (the first the backend has).
#: An attribute whose labels the backend lacks is refused with a 400, as Perspective refuses one it
#: does not offer.
PERSPECTIVE_MAP: dict[str, tuple[str, ...]] = {
    "TOXICITY": ("toxicity",),
    "SEVERE_TOXICITY": ("severe_toxicity",),
    "IDENTITY_ATTACK": ("identity_attack",),
    "INSULT": ("insult",),
    "PROFANITY": ("profanity", "obscene"),
    "THREAT": ("threat",),
}


def _toxicity(service: Service) -> tuple[str | None, Mapping[str, Any]]:
    """Name and outputs of the ruleset's toxicity classifier, or (None, {})."""
    for name, classifier in service.current.moderator.ruleset.classifiers.items():
        if classifier.kind == "toxicity":
            return name, classifier.outputs
    return None, {}


def _score(signals: Mapping[str, Any], label: str) -> float:
    value = signals.get(label)
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0.0


def openai_scores(signals: Mapping[str, Any] | None) -> dict[str, float]:
    """Scores of the 13 OpenAI categories from one post's toxicity signals (0 where nothing gives one)."""
    scores: dict[str, float] = {}
    for category in OPENAI_CATEGORIES:
        labels = OPENAI_MAP.get(category, ())
        if signals is None or not labels or any(label not in signals for label in labels):
            scores[category] = 0.0
        else:
            scores[category] = min(_score(signals, label) for label in labels)
    return scores


_SPAN = re.compile(r"[^.!?\n]+(?:[.!?]+|\n|$)")


def spans(text: str) -> list[tuple[int, int]]:
    """Sentence spans ``(begin, end)`` of ``text`` (character offsets, end exclusive, trimmed)."""
    out: list[tuple[int, int]] = []
    for match in _SPAN.finditer(text):
        begin, end = match.span()
        chunk = text[begin:end]
        stripped = chunk.strip()
        if not stripped:
            continue
        begin += len(chunk) - len(chunk.lstrip())
        out.append((begin, begin + len(stripped)))
    return out


def _openai_inputs(body: Any, max_batch: int) -> list[str]:
    if not isinstance(body, dict) or "input" not in body:
        raise ApiError(400, "invalid_request_error", "'input' is a required property", param="input")
    value = body["input"]
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value:
        if len(value) > max_batch:
            raise ApiError(400, "invalid_request_error", f"at most {max_batch} inputs per request", param="input")
        if all(isinstance(v, str) for v in value):
            return list(value)
        if all(isinstance(v, dict) for v in value):
            texts: list[str] = []
            for i, part in enumerate(value):
                kind = part.get("type")
                if kind == "text" and isinstance(part.get("text"), str):
                    texts.append(part["text"])
                elif kind == "image_url":
                    raise ApiError(
                        400,
                        "invalid_request_error",
                        "image inputs are not supported: this service moderates text only",
                        param=f"input[{i}]",
                    )
                else:
                    raise ApiError(
                        400,
                        "invalid_request_error",
                        "each input part must be {'type': 'text', 'text': ...}",
                        param=f"input[{i}]",
                    )
            return ["\n".join(texts)]
    raise ApiError(
        400,
        "invalid_request_error",
        "'input' must be a string, a non-empty list of strings or a list of text parts",
        param="input",
    )


_OPENAI_BODY = json_body(
    {
        "type": "object",
        "required": ["input"],
        "properties": {
            "input": {
                "anyOf": [
                    {"type": "string"},
                    {"type": "array", "items": {"type": "string"}, "minItems": 1},
                    {
                        "type": "array",
                        "minItems": 1,
                        "items": {
                            "type": "object",
                            "required": ["type", "text"],
                            "properties": {"type": {"const": "text"}, "text": {"type": "string"}},
                        },
                    },
                ]
            },
            "model": {"type": "string"},
        },
    }
)

_PERSPECTIVE_BODY = json_body(
    {
        "type": "object",
        "required": ["comment", "requestedAttributes"],
        "properties": {
            "comment": {
                "type": "object",
                "required": ["text"],
                "properties": {"text": {"type": "string"}, "type": {"type": "string"}},
            },
            "requestedAttributes": {
                "type": "object",
                "additionalProperties": {
                    "type": "object",
                    "properties": {
                        "scoreType": {"type": "string"},
                        "scoreThreshold": {"type": "number", "minimum": 0, "maximum": 1},
                    },
                },
            },
            "languages": {"type": "array", "items": {"type": "string"}},
            "doNotStore": {"type": "boolean"},
            "clientToken": {"type": "string"},
            "spanAnnotations": {"type": "boolean"},
            "sessionId": {"type": "string"},
            "communityId": {"type": "string"},
        },
    }
)


def _perspective_request(body: Any) -> tuple[str, dict[str, float | None], list[str] | None]:
    """(text, attribute -> scoreThreshold, languages) of an analyze request; ApiError 400 when invalid."""
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_argument", "the request must be a JSON object")
    comment = body.get("comment")
    if not isinstance(comment, dict) or not isinstance(comment.get("text"), str):
        raise ApiError(400, "invalid_argument", "Comment must be specified: comment.text is required")
    if comment.get("type", "PLAIN_TEXT") != "PLAIN_TEXT":
        raise ApiError(400, "invalid_argument", "only comment.type PLAIN_TEXT is supported")
    requested = body.get("requestedAttributes")
    if not isinstance(requested, dict) or not requested:
        raise ApiError(400, "invalid_argument", "requestedAttributes must name at least one attribute")
    attributes: dict[str, float | None] = {}
    for name, options in requested.items():
        options = options if isinstance(options, dict) else {}
        if options.get("scoreType", "PROBABILITY") != "PROBABILITY":
            raise ApiError(400, "invalid_argument", f"{name}: only scoreType PROBABILITY is supported")
        threshold = options.get("scoreThreshold")
        if threshold is not None and (
            isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 <= threshold <= 1
        ):
            raise ApiError(400, "invalid_argument", f"{name}: scoreThreshold must be a number from 0 to 1")
        attributes[str(name)] = float(threshold) if threshold is not None else None
    languages = body.get("languages")
    if languages is not None and (not isinstance(languages, list) or not all(isinstance(x, str) for x in languages)):
        raise ApiError(400, "invalid_argument", "languages must be a list of language codes")
    return comment["text"], attributes, languages


def install(app: FastAPI, service: Service) -> None:
    from safeguard.serve.service import JSON, Auth, ModerationTimeout, read_json

    settings = service.settings
    auth = Auth(settings)
    labels_lock = threading.Lock()

    async def toxicity_of(posts: list[Post], decisions: list[Decision] | None = None) -> list[dict[str, Any] | None]:
        """Toxicity signals of each post: from its decision when the rules ran the classifier, else classified."""
        name, _ = _toxicity(service)
        if name is None:
            return [None] * len(posts)
        decided: list[Decision | None] = list(decisions) if decisions is not None else [None] * len(posts)
        found: list[dict[str, Any] | None] = []
        todo: list[int] = []
        for i, decision in enumerate(decided):
            if decision is not None and name in decision.signals:
                found.append(dict(decision.signals[name]))
                continue
            found.append(None)
            if decision is None or not any(e.get("source") == "timeout" for e in decision.errors):
                todo.append(i)
        if todo:
            batch = [posts[i] for i in todo]
            results = await service.run(lambda m: m.classify(batch, [name]))
            for i, row in zip(todo, results, strict=True):
                found[i] = dict(row[name])
        return found

    @app.post("/v1/moderations", tags=["openai"], openapi_extra=_OPENAI_BODY, dependencies=auth.api)
    async def moderations(request: Request) -> Response:
        """The OpenAI moderation API (``openai.OpenAI(base_url=".../v1").moderations.create``): one result per
        input, ``flagged`` when the ruleset does not allow it; safeguard's decision under ``safeguard``."""
        texts = _openai_inputs(await read_json(request), settings.max_batch)
        posts = [Post(id=f"input-{i}", text=t) for i, t in enumerate(texts)]
        decisions = await service.decide(posts, queue=False)  # inputs without ids: nothing to review later
        try:
            signals = await toxicity_of(posts, decisions)
        except ModerationTimeout:
            signals = [None] * len(posts)
        results = []
        for decision, tox in zip(decisions, signals, strict=True):
            scores = openai_scores(tox)
            results.append(
                {
                    "flagged": decision.action.value != "allow",
                    "categories": {c: s >= OPENAI_THRESHOLD for c, s in scores.items()},
                    "category_scores": scores,
                    "category_applied_input_types": {c: ["text"] for c in OPENAI_CATEGORIES},
                    "safeguard": {
                        "action": decision.action.value,
                        "reasons": decision.reasons,
                        "rules": decision.rules,
                        "errors": [dict(e) for e in decision.errors],
                        "ruleset": dict(decision.ruleset),
                    },
                }
            )
        model = f"safeguard-{service.current.moderator.ruleset.name}"
        return JSON({"id": f"modr-{uuid.uuid4().hex}", "model": model, "results": results})

    @app.post(
        "/v1alpha1/comments:analyze",
        tags=["perspective"],
        openapi_extra=_PERSPECTIVE_BODY,
        dependencies=auth.perspective,
    )
    async def analyze(request: Request) -> Response:
        """Perspective's ``comments:analyze``: summary (and with ``spanAnnotations``, per-sentence) scores of the
        requested attributes the toxicity classifier gives. Comments are never stored."""
        body = await read_json(request)
        text, attributes, languages = _perspective_request(body)
        name, outputs = _toxicity(service)
        labels: dict[str, str] = {}
        for attribute in attributes:
            label = next((lb for lb in PERSPECTIVE_MAP.get(attribute, ()) if lb in outputs), None)
            if label is None:
                raise ApiError(400, "invalid_argument", f"Attribute {attribute} is not supported by this service")
            labels[attribute] = label
        if languages and not any(lang.lower().split("-")[0] == "en" for lang in languages):
            raise ApiError(
                400,
                "invalid_argument",
                f"Attribute {next(iter(attributes))} does not support request languages: {','.join(languages)}",
            )
        want_spans = bool(body.get("spanAnnotations"))
        parts = spans(text) if want_spans else []
        posts = [Post(id="", text=text)] + [Post(id="", text=text[b:e]) for b, e in parts]
        assert name is not None
        try:
            rows = await service.run(lambda m: m.classify(posts, [name]))
        except ModerationTimeout:
            raise ApiError(504, "deadline_exceeded", f"scoring took longer than {settings.timeout_s:g}s") from None
        summary, span_rows = rows[0][name], [r[name] for r in rows[1:]]
        scores: dict[str, Any] = {}
        for attribute, threshold in attributes.items():
            value = _score(summary, labels[attribute])
            if threshold is not None and value < threshold:
                continue
            entry: dict[str, Any] = {"summaryScore": {"value": value, "type": "PROBABILITY"}}
            if want_spans:
                entry["spanScores"] = [
                    {"begin": b, "end": e, "score": {"value": _score(row, labels[attribute]), "type": "PROBABILITY"}}
                    for (b, e), row in zip(parts, span_rows, strict=True)
                ]
            scores[attribute] = entry
        out: dict[str, Any] = {"attributeScores": scores, "languages": languages or ["en"]}
        if isinstance(body.get("clientToken"), str):
            out["clientToken"] = body["clientToken"]
        return JSON(out)

    @app.post("/v1alpha1/comments:suggestscore", tags=["perspective"], dependencies=auth.perspective)
    async def suggestscore(request: Request) -> Response:
        """Perspective's ``comments:suggestscore``: acknowledged; with ``--labels FILE`` each suggestion is
        appended to FILE as one JSON line; with ``--db`` it is stored as a label of source
        ``perspective-suggestscore`` for the post named by ``clientToken`` (else ``text:`` and the SHA-256
        of the comment's text)."""
        body = await read_json(request)
        if not isinstance(body, dict):
            raise ApiError(400, "invalid_argument", "the request must be a JSON object")
        comment = body.get("comment")
        if not isinstance(comment, dict) or not isinstance(comment.get("text"), str):
            raise ApiError(400, "invalid_argument", "Comment must be specified: comment.text is required")
        if not isinstance(body.get("attributeScores"), dict):
            raise ApiError(400, "invalid_argument", "attributeScores must be specified")
        if settings.labels_path is not None:
            record = {
                "received_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                **{
                    k: body[k]
                    for k in (
                        "comment",
                        "attributeScores",
                        "languages",
                        "communityId",
                        "clientToken",
                        "context",
                        "sessionId",
                    )
                    if k in body
                },
            }
            line = json.dumps(record, ensure_ascii=False, default=str) + "\n"
            path = settings.labels_path

            def append() -> None:
                with labels_lock, path.open("a", encoding="utf-8") as fh:
                    fh.write(line)

            import anyio.to_thread

            await anyio.to_thread.run_sync(append)
        if service.review is not None:
            await store_label(body)
        out: dict[str, Any] = {}
        if isinstance(body.get("clientToken"), str):
            out["clientToken"] = body["clientToken"]
        return JSON(out)

    async def store_label(body: dict[str, Any]) -> None:
        """Store a suggestion as a label in the review store; a failure is logged and counted, never answered."""
        store = service.review
        assert store is not None
        text = body["comment"]["text"]
        token = body.get("clientToken")
        post_id = token if isinstance(token, str) and token else f"text:{text_digest(text)}"
        label: dict[str, Any] = {
            k: body[k] for k in ("attributeScores", "languages", "communityId", "sessionId", "context") if k in body
        }
        label["text_sha256"] = text_digest(text)

        def job() -> None:
            if store.setting("keep_text"):
                label["text"] = text
            store.add_label(post_id, "perspective-suggestscore", label)

        import anyio
        import anyio.to_thread

        try:
            with anyio.move_on_after(settings.timeout_s):
                await anyio.to_thread.run_sync(job, abandon_on_cancel=True)
                service.metrics.review.labels("label", "ok").inc()
                return
            service.review_failed("label", "timeout", None)
        except Exception as exc:  # the suggestion is still acknowledged
            service.review_failed("label", "failed", exc)
