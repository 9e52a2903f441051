"""The experiments' data: generated here, deterministically, from a seed.

Two sets, both plain English sentences, written to CSV by `run_all.py`:

- The *task*: "two verdicts". Every review has two clauses about two things
  ("the food was not bad, but the service was hardly pleasant"), and each
  clause's verdict may hide behind a negation ("not", "never", "hardly").
  The label is the pair of verdicts, in order: 0 = negative then negative,
  1 = negative then positive, 2 = positive then negative, 3 = positive then
  positive. A classifier must resolve negation inside each clause *and* keep
  track of which clause came first; pretrained sentence embeddings blur both
  (a mean over tokens forgets word order), so a classifier on the frozen
  encoder is far from perfect and fine-tuning has something to learn.
- The *generic* text: short scene descriptions in the style of the STS
  benchmark's image captions ("a woman is slicing an onion in the kitchen"),
  with no sentiment words. They are never trained on; they measure how much
  the encoder's original similarity judgments survive fine-tuning.

Taught in docs/choosing-rank.md and docs/forgetting.md (which show examples).
"""

import random

NOUNS = [
    "movie", "food", "service", "hotel", "book", "concert", "game", "class",
    "room", "staff", "show", "album", "trip", "meal", "course", "app",
]  # fmt: skip
POSITIVE = [
    "good", "great", "excellent", "wonderful", "pleasant", "fantastic",
    "lovely", "enjoyable", "superb", "fun",
]  # fmt: skip
NEGATIVE = [
    "bad", "terrible", "awful", "boring", "dull", "horrible", "poor",
    "disappointing", "mediocre", "unpleasant",
]  # fmt: skip
NEGATIONS = ["not", "never", "hardly"]

PEOPLE = [
    "a man", "a woman", "a child", "an old man", "a young girl", "a boy",
    "a chef", "a musician", "a dog", "a cat",
]  # fmt: skip
ACTIONS = [
    "is playing a guitar", "is slicing an onion", "is riding a horse",
    "is reading a newspaper", "is swimming", "is cooking pasta",
    "is playing the piano", "is running", "is eating an apple",
    "is climbing a wall", "is painting a picture", "is sleeping",
    "is talking on the phone", "is riding a bicycle", "is dancing",
    "is writing a letter", "is washing a car", "is drinking coffee",
]  # fmt: skip
PLACES = [
    "in the kitchen", "on the beach", "in a park", "on a stage",
    "in the street", "at home", "in a field", "near the river",
]  # fmt: skip


def clause(rng: random.Random) -> tuple[str, int]:
    """One clause 'the <noun> was [negation] <adjective>' and its polarity (1 = +)."""
    positive = rng.random() < 0.5
    adjective = rng.choice(POSITIVE if positive else NEGATIVE)
    negated = rng.random() < 0.5
    negation = rng.choice(NEGATIONS) + " " if negated else ""
    return f"the {rng.choice(NOUNS)} was {negation}{adjective}", int(
        positive != negated
    )


CONNECTORS = [", and ", ", but ", ", while ", "; "]
N_CLASSES = 4  # (first verdict, second verdict): 2 * first + second


def review(rng: random.Random) -> tuple[str, int]:
    """Two clauses; the label is 2 * (first is positive) + (second is positive)."""
    first, label_first = clause(rng)
    second, label_second = clause(rng)
    return f"{first}{rng.choice(CONNECTORS)}{second}", 2 * label_first + label_second


def make_task(n_train: int, n_test: int, seed: int = 0) -> dict[str, list]:
    """Distinct reviews split into train and test; no sentence is in both.

    Returns:
        {"train": [(text, label), ...], "test": [(text, label), ...]}
    """
    rng = random.Random(seed)
    seen: dict[str, int] = {}
    while len(seen) < n_train + n_test:
        text, label = review(rng)
        seen.setdefault(text, label)
    pairs = list(seen.items())
    return {"train": pairs[:n_train], "test": pairs[n_train : n_train + n_test]}


def make_generic(n: int, seed: int = 1) -> list[str]:
    """`n` distinct caption-style sentences with no sentiment words."""
    if n > len(PEOPLE) * len(ACTIONS) * len(PLACES):
        raise ValueError(f"only {len(PEOPLE) * len(ACTIONS) * len(PLACES)} exist")
    rng = random.Random(seed)
    seen: dict[str, None] = {}
    while len(seen) < n:
        text = f"{rng.choice(PEOPLE)} {rng.choice(ACTIONS)} {rng.choice(PLACES)}"
        seen.setdefault(text)
    return list(seen)
