"""Field maps: which key of an input record holds which field of a post.

The CLI takes them as ``--field TARGET=SOURCE`` options, e.g. ``text=body`` or
``author.trust_level=user.trust``; :func:`parse_field_map` validates them into the mapping that
:meth:`safeguard.types.Post.from_mapping` expects.
"""

from __future__ import annotations

from collections.abc import Sequence

from safeguard.errors import ConfigError

__all__ = ["FIELD_TARGETS", "parse_field_map"]

#: The post fields a source key can be mapped to.
FIELD_TARGETS: tuple[str, ...] = (
    "id",
    "text",
    "title",
    "created_at",
    "thread_id",
    "parent_id",
    "meta",
    "author",
    "author.id",
    "author.trust_level",
    "author.role",
    "author.account_age_days",
    "author.post_count",
)


def parse_field_map(specs: Sequence[str], *, option: str = "field map") -> dict[str, str]:
    """Parse ``TARGET=SOURCE`` specs into ``{target: source}``.

    ``SOURCE`` is a key of the input record, or a dotted path into nested records
    (``user.trust``). Whitespace around either side is ignored.

    Raises :class:`~safeguard.errors.ConfigError` naming the offending spec and the valid targets
    when a spec is malformed (no ``=``, empty side), names an unknown target, or repeats a target.
    ``option`` is the name of the command-line option, used in error messages.
    """
    if isinstance(specs, str):  # a single spec passed by mistake would be split into characters
        specs = [specs]
    result: dict[str, str] = {}
    valid = ", ".join(FIELD_TARGETS)
    for spec in specs:
        target, sep, source = spec.partition("=")
        target, source = target.strip(), source.strip()
        if not sep or not target or not source:
            raise ConfigError(
                f"invalid field mapping {spec!r}: expected TARGET=SOURCE (for example text=body); "
                f"valid targets: {valid}",
                file=option,
            )
        if target not in FIELD_TARGETS:
            raise ConfigError(
                f"invalid field mapping {spec!r}: unknown target {target!r}; valid targets: {valid}",
                file=option,
            )
        if target in result:
            raise ConfigError(
                f"invalid field mapping {spec!r}: target {target!r} is already mapped to "
                f"{result[target]!r}; valid targets: {valid}",
                file=option,
            )
        result[target] = source
    return result
