"""SeenIds (8-byte digests in a sorted array) answers exactly as a plain set of the ids does."""

from __future__ import annotations

import random
import tracemalloc

from safeguard.io.ids import PlainSeenIds, SeenIds


def test_seen_ids_agree_with_the_plain_set_on_generated_streams() -> None:
    rng = random.Random(7)
    alphabet = "abcé😀\u202e0123456789-_:"
    pool = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12))) for _ in range(40_000)]
    pool += [f"k{i}" for i in range(20_000)] + ["lone \udc00", ""]
    stream = [rng.choice(pool) for _ in range(60_000)]  # many blocks, about half repeats
    fast, plain = SeenIds(block=1000), PlainSeenIds()
    answers = [(fast.seen(i), plain.seen(i)) for i in stream]
    assert [a for a, _ in answers] == [b for _, b in answers]
    assert len(fast) == len(plain)
    assert any(a for a, _ in answers) and not all(a for a, _ in answers)


def test_seen_ids_take_a_fraction_of_a_set_of_strings() -> None:
    sizes = []
    for seen in (SeenIds(block=4096), PlainSeenIds()):
        tracemalloc.start()
        for i in range(200_000):
            seen.seen(f"post-{i}")  # a new string per post, as a run reads them
        sizes.append(tracemalloc.get_traced_memory()[0])
        tracemalloc.stop()
    assert sizes[0] * 4 < sizes[1], sizes
