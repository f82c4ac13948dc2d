"""The policies shipped inside the package, by name.

The package carries its policy (``safeguard/policies/community.yaml``, the term lists it reads and its
test cases), so an installed wheel moderates with nothing else on disk: ``--rules community`` (the
command line's default) and ``Moderator.from_file("community")`` name it wherever the process runs.
A ruleset argument that is an existing file is always that file; a bare name (no directory, no
extension) that is not one is looked up here.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["POLICY_DIR", "policy_name", "ruleset_path", "shipped_policies"]

#: Where the shipped policies live, inside the installed package.
POLICY_DIR = Path(__file__).resolve().parent.parent / "policies"

_SUFFIX = ".yaml"
_TEST_SUFFIX = ".test.yaml"


def shipped_policies() -> dict[str, Path]:
    """Each shipped policy's name and ruleset file (test case files are not policies)."""
    files = sorted(POLICY_DIR.glob("*" + _SUFFIX))
    return {p.name[: -len(_SUFFIX)]: p for p in files if not p.name.endswith(_TEST_SUFFIX)}


def ruleset_path(value: str | os.PathLike[str], base: str | os.PathLike[str] | None = None) -> Path:
    """``value`` as a ruleset file (read relative to the directory ``base`` when given): an existing
    file as given; a bare name such as ``community`` as that shipped policy's file; anything else
    unchanged, so that the error reading it names what was given."""
    path = Path(value)
    given = Path(base) / path if base is not None else path
    if given.exists() or path.suffix or len(path.parts) != 1:
        return given
    return shipped_policies().get(path.name, given)


def policy_name(path: str | os.PathLike[str]) -> str | None:
    """The name of the shipped policy whose file ``path`` is, or None."""
    real = Path(path).resolve()
    return next((name for name, file in shipped_policies().items() if file == real), None)
