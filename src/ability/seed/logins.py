"""Who the seeded users are: e-mail addresses and password.

Apart from the generator so that clients (``ability bench``, the Locust
scenarios) can name the seeded logins without loading the database layer.
"""

from __future__ import annotations

import random

SEED_PASSWORD = "seed-password"
DEFAULT_SEED = 42


def draw_tag(rng: random.Random) -> str:
    """The first draw of a seeded generator: the tag in its e-mail addresses."""
    return f"{rng.randrange(16**6):06x}"


def seed_tag(seed: int = DEFAULT_SEED) -> str:
    """The tag in the e-mail addresses that a generator seeded ``seed`` makes."""
    return draw_tag(random.Random(seed))


def seeded_email(role: str, company: int, tag: str) -> str:
    """The login of ``role`` in the ``company``-th seeded company (from 1)."""
    return f"{role}@c{company:04d}.{tag}.example"
