"""Seeds derived from what they seed, never from the order of calls.

A seed is a hash of named parts (run seed, round, episode id, turn, ...), so the same piece of work
gets the same seed however a run was interrupted, resumed or batched, and any integer the user
gives as a run seed works (the hash folds it into range).
"""

from __future__ import annotations

import hashlib


def derive_seed(*parts: object, bits: int = 63) -> int:
    """A `bits`-bit seed from `parts`; the same parts always give the same seed."""
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> (64 - bits)
