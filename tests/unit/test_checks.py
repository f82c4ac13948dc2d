"""The shared checks of numeric options: one wording, no booleans, no NaN."""

from __future__ import annotations

import math

import pytest

from safeguard import checks


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: checks.integer("window", 0), "window must be a positive integer, got 0"),
        (lambda: checks.integer("window", True), "window must be an integer, got True"),
        (lambda: checks.integer("window", 2.0), "window must be an integer, got 2.0"),
        (lambda: checks.integer("min_posts", 1, 2), "min_posts must be an integer of at least 2, got 1"),
        (lambda: checks.integer("shingle", 33, 1, 32), "shingle must be an integer between 1 and 32, got 33"),
        (lambda: checks.number("rise", 0, 0.0, 1.0, low_open=True), r"rise must be a number in \(0, 1\], got 0"),
        (lambda: checks.number("hours", math.nan, 0.0, low_open=True), "hours must be a positive number, got nan"),
        (lambda: checks.number("hours", False, 0.0, low_open=True), "hours must be a positive number, got False"),
        (lambda: checks.number("x", math.inf), "x must be a finite number, got inf"),
        (lambda: checks.probability("score", 1.5), r"score must be a number in \[0, 1\], got 1.5"),
        (lambda: checks.number("factor", 1, 1.0, low_open=True), "factor must be a number above 1, got 1"),
    ],
)
def test_a_bad_value_names_the_option_and_what_it_must_be(call: object, message: str) -> None:
    with pytest.raises(ValueError, match=f"^{message}$"):
        call()  # type: ignore[operator]


def test_good_values_come_back_converted() -> None:
    assert checks.integer("window", 3) == 3
    assert checks.number("threshold", 1, 0.0, 1.0, low_open=True) == 1.0
    assert isinstance(checks.probability("score", 0), float)
    assert checks.integer("seed", 0, 0, 2**32 - 1) == 0
