"""The vocabulary and the lanes of the run index generator (`gen_run_index`): genres, artist
names, the weighted tables each field is drawn from, and the artist x genre lanes of a seed."""

from __future__ import annotations

import random
from dataclasses import dataclass
from itertools import accumulate

GENRES = (
    "synthwave", "lofi-hip-hop", "indie-folk", "dream-pop", "drum-and-bass", "deep-house",
    "techno", "trap", "boom-bap", "neo-soul", "gospel", "worship", "country", "americana",
    "bluegrass", "blues-rock", "hard-rock", "metalcore", "post-rock", "shoegaze", "ambient",
    "cinematic", "k-pop", "afrobeats", "reggaeton", "bossa-nova", "jazz-fusion", "chiptune",
    "hyperpop", "classical-crossover",
)  # fmt: skip
ADJECTIVES = (
    "neon", "velvet", "silver", "golden", "hollow", "quiet", "electric", "paper", "crimson",
    "lunar", "solar", "wild", "broken", "gentle", "iron", "glass", "amber", "midnight", "northern",
    "rusty", "cosmic", "little", "violet", "static", "honey", "marble", "copper", "faded",
)  # fmt: skip
NOUNS = (
    "harbor", "fox", "river", "echo", "garden", "signal", "choir", "lantern", "engine", "orchard",
    "sparrow", "tide", "canyon", "parade", "mirror", "comet", "hollow", "atlas", "meadow", "relay",
    "ember", "harvest", "pilot", "anthem", "drift", "summit", "prism", "wolves",
)  # fmt: skip
CREATED_BY = (("gpt", 0.40), ("claude", 0.30), ("windsurf", 0.15), ("human", 0.15))
MACHINES = (("C1", 0.55), ("C2", 0.40), ("other", 0.05))
GATE0 = (("PASS", 0.85), ("REWRITE_REQUIRED", 0.08), ("PIVOT_REQUIRED", 0.04), ("FAIL", 0.03))
GATE1 = (
    ("PASS", 0.70),
    ("PASS_WITH_MINOR_FIXES", 0.15),
    ("REWRITE_REQUIRED", 0.08),
    ("PIVOT_REQUIRED", 0.04),
    ("FAIL", 0.03),
)
GATE3 = (
    ("PASS", 0.75),
    ("PASS_WITH_MINOR_FIXES", 0.15),
    ("REWRITE_REQUIRED", 0.07),
    ("FAIL", 0.03),
)
CHECK = (("PASS", 0.931), ("FAIL", 0.019), ("NOT_RUN", 0.05))
NOTES = (
    "regenerated hook after listening pass",
    "bridge rewritten; verse 2 tightened",
    "tempo adjusted to lane default",
    "scripture reference double-checked",
    "second take kept; first one too close to an earlier hook",
    "mix notes in the run log",
    "imported from the C2 session",
)
OVERRIDE_REASONS = {
    "uniqueness_hook": (
        "hook overlap is the lane's signature motif; approved by the lane owner",
        "false positive of the hook similarity check (common phrase)",
    ),
    "uniqueness_scene": (
        "scene similarity limited to a stock opening; accepted",
        "same setting on purpose (sequel)",
    ),
    "uniqueness_scripture": (
        "shared scripture packet by design (series)",
        "same verse, different passage focus; reviewed",
    ),
}
AUGMENT_PROBABILITY = 0.11
"""Per new run: a later augmenting record is scheduled (some fall past the last record)."""
NEVER_SUCCEEDS = 0.05
"""Share of lanes whose runs never pass gate 2."""
ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
PAIRS = [a + b for a in ALPHABET for b in ALPHABET]
HHMM = [f"{h:02d}{m:02d}" for h in range(24) for m in range(60)]
HH_MM = [f"{h:02d}:{m:02d}" for h in range(24) for m in range(60)]


def _cumulative(table: tuple[tuple[str, float], ...]) -> tuple[list[float], list[str]]:
    """Cumulative thresholds (normalised to 1) and the values, for one `random()` draw each."""
    total = sum(weight for _value, weight in table)
    return [c / total for c in accumulate(w for _v, w in table)], [v for v, _w in table]


@dataclass(frozen=True)
class Lane:
    """One artist x genre lane: its share of the runs and its chance of passing gate 2."""

    artist_id: str
    genre_id: str
    weight: float
    success: float


def lanes(seed: int) -> list[Lane]:
    """The lanes the generator draws from for `seed` (deterministic, heaviest first)."""
    rng = random.Random(f"lanes:{seed}")
    slugs = [f"{a}-{n}" for a in ADJECTIVES for n in NOUNS if a != n]
    rng.shuffle(slugs)
    artists = [f"ART-{slug}" for slug in slugs[:200]]
    genres = [f"GEN-{slug}" for slug in GENRES]
    rng.shuffle(genres)
    genre_weight = [1 / (rank + 1) ** 0.8 for rank in range(len(genres))]
    found: list[Lane] = []
    for rank, artist in enumerate(artists):
        artist_weight = 1 / (rank + 1) ** 1.0
        count = min(8, 1 + int(rng.expovariate(0.6)))
        picked: list[str] = []
        while len(picked) < count:
            genre = rng.choices(genres, weights=genre_weight)[0]
            if genre not in picked:
                picked.append(genre)
        shares = [1 / (k + 1) ** 1.2 for k in range(count)]
        total = sum(shares)
        for genre, share in zip(picked, shares, strict=True):
            roll = rng.random()
            success = 0.0 if roll < NEVER_SUCCEEDS else 0.35 if roll < 0.15 else 0.80
            found.append(Lane(artist, genre, artist_weight * share / total, success))
    found.sort(key=lambda lane: -lane.weight)
    # the biggest lane succeeds (the benchmark's `latest` has an answer)
    top = found[0]
    found[0] = Lane(top.artist_id, top.genre_id, top.weight, 0.80)
    return found
