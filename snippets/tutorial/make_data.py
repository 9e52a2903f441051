"""Generate the tutorial's data: an Alpaca-style task set and a pretraining corpus.

The fine-tuning task ("read digits aloud", in Chinese and English) is checkable
by exact match: every answer is a pure function of the input. Four kinds:

- digits_to_zh: 4071 -> 四零七一          - zh_to_digits: 四零七一 -> 4071
- digits_to_en: 4071 -> four zero seven one  - en_to_digits: the reverse

The pretraining corpus teaches the small base model the *language* of these
prompts (digits, their Chinese and English names, short sentences in both
languages) but never the instruction format, so the base model cannot do the
task as asked and a LoRA fine-tune has something to teach. Everything is
seeded: the same files come out on every run.

Usage: python -m snippets.tutorial.make_data --out DIR
(writes train.jsonl and heldout.jsonl to DIR/data and corpus.txt to DIR: into a
temporary folder first, then moved into DIR; other files in DIR are kept).
"""

import argparse
import json
import random
import tempfile
from pathlib import Path

from snippets.tutorial.files import move_files

ZH_DIGITS = "零一二三四五六七八九"
EN_DIGITS = "zero one two three four five six seven eight nine".split()

# a few paraphrases per task, so the model follows instructions, not one string
INSTRUCTIONS = {
    "digits_to_zh": ["把下面的数字逐位写成汉字。", "请用汉字逐位读出这个数字。"],
    "zh_to_digits": ["把下面的汉字数字写成阿拉伯数字。", "请把这些汉字写成数字。"],
    "digits_to_en": [
        "Spell out each digit of the number in English words.",
        "Read this number aloud, one digit at a time.",
    ],
    "en_to_digits": [
        "Write these digit words as a number.",
        "Turn the spoken digits into a number.",
    ],
}
N_TRAIN, N_HELDOUT = 400, 80  # per task: 100 train, 20 held out


def to_zh(digits: str) -> str:
    return "".join(ZH_DIGITS[int(c)] for c in digits)


def to_en(digits: str) -> str:
    return " ".join(EN_DIGITS[int(c)] for c in digits)


def example(task: str, digits: str, rng: random.Random) -> dict[str, str]:
    """One Alpaca-style record: instruction, input, output (+ the task name)."""
    question, answer = {
        "digits_to_zh": (digits, to_zh(digits)),
        "zh_to_digits": (to_zh(digits), digits),
        "digits_to_en": (digits, to_en(digits)),
        "en_to_digits": (to_en(digits), digits),
    }[task]
    instruction = rng.choice(INSTRUCTIONS[task])
    return {
        "instruction": instruction,
        "input": question,
        "output": answer,
        "task": task,
    }


def random_number(rng: random.Random) -> str:
    n = rng.randint(3, 6)  # 3 to 6 digits, no leading zero
    return str(rng.randint(1, 9)) + "".join(
        str(rng.randint(0, 9)) for _ in range(n - 1)
    )


def make_dataset(seed: int = 0) -> tuple[list[dict], list[dict]]:
    """Train and held-out splits; no number appears in both."""
    rng = random.Random(seed)
    numbers: list[str] = []
    seen: set[str] = set()
    while len(numbers) < N_TRAIN + N_HELDOUT:
        x = random_number(rng)
        if x not in seen:
            seen.add(x)
            numbers.append(x)
    tasks = list(INSTRUCTIONS)
    records = [
        example(tasks[i % len(tasks)], x, rng) for i, x in enumerate(numbers)
    ]  # tasks interleaved, so both splits are balanced
    return records[:N_TRAIN], records[N_TRAIN:]


# --- pretraining corpus: the prompts' language, never their format ---
NAMES_EN = ["Tom", "Mary", "Alex", "Lily", "Sam", "Anna", "Ben", "Emma"]
NAMES_ZH = ["小明", "小红", "小刚", "小丽", "老王", "小李", "小张", "妈妈"]
THINGS_EN = ["apples", "books", "cats", "cups", "pens", "birds", "boxes", "trees"]
THINGS_ZH = ["苹果", "书", "猫", "杯子", "笔", "鸟", "盒子", "树"]
MEASURE_ZH = ["个", "本", "只", "个", "支", "只", "个", "棵"]
PLACES_EN = ["the park", "school", "the shop", "home", "the library", "the station"]
PLACES_ZH = ["公园", "学校", "商店", "家", "图书馆", "车站"]


def corpus_sentence(rng: random.Random) -> str:
    """One short sentence in English or Chinese; digits read in running text."""
    x = random_number(rng)
    i, j = rng.randrange(len(NAMES_EN)), rng.randrange(len(THINGS_EN))
    k, p = rng.randint(1, 9), rng.randrange(len(PLACES_EN))
    options = [
        f"The number {x} is read {to_en(x)}.",
        f"{to_en(x).capitalize()} is the number {x}.",
        f"{NAMES_EN[i]} called {x}, that is {to_en(x)}.",
        f"{NAMES_EN[i]} has {EN_DIGITS[k]} {THINGS_EN[j]}.",
        f"{NAMES_EN[i]} went to {PLACES_EN[p]} with {k} {THINGS_EN[j]}.",
        f"Room {x} is near {PLACES_EN[p]}. We say {to_en(x)}.",
        f"{NAMES_EN[i]} can write numbers, read words and spell each digit.",
        f"数字 {x} 读作{to_zh(x)}。",
        f"{to_zh(x)}就是 {x}。",
        f"{NAMES_ZH[i]}的电话号码是 {x}，也就是{to_zh(x)}。",
        f"{NAMES_ZH[i]}有{ZH_DIGITS[k]}{MEASURE_ZH[j]}{THINGS_ZH[j]}。",
        f"{NAMES_ZH[i]}带着 {k} {MEASURE_ZH[j]}{THINGS_ZH[j]}去{PLACES_ZH[p]}。",
        f"{PLACES_ZH[p]}的房间号是 {x}，读作{to_zh(x)}。",
        f"{NAMES_ZH[i]}会写汉字，也会读阿拉伯数字。",
        f"{NAMES_EN[i]} likes to read numbers aloud, one digit at a time.",
        f"{NAMES_EN[i]} can turn spoken English words into written text.",
        f"请{NAMES_ZH[i]}把这些{THINGS_ZH[j]}带到{PLACES_ZH[p]}。",
        f"{NAMES_ZH[i]}逐个检查了下面的{THINGS_ZH[j]}。",
    ]
    if rng.random() < 0.6:  # most lines read a number aloud, in one language
        return rng.choice([o for o in options if x in o])
    return rng.choice(options)


def make_corpus(n_lines: int = 30000, seed: int = 1) -> list[str]:
    """Lines of 1-3 sentences each."""
    rng = random.Random(seed)
    return [
        " ".join(corpus_sentence(rng) for _ in range(rng.randint(1, 3)))
        for _ in range(n_lines)
    ]


def write_jsonl(records: list[dict], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps(r, ensure_ascii=False) for r in records]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def write_all(out_dir: Path) -> None:
    """Write data/train.jsonl, data/heldout.jsonl and corpus.txt into `out_dir`."""
    train, heldout = make_dataset()
    write_jsonl(train, out_dir / "data" / "train.jsonl")
    write_jsonl(heldout, out_dir / "data" / "heldout.jsonl")
    corpus = make_corpus()
    (out_dir / "corpus.txt").write_text("\n".join(corpus) + "\n", encoding="utf-8")
    print(f"{len(train)} train, {len(heldout)} held-out, {len(corpus)} corpus lines")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        write_all(Path(tmp) / "out")
        for path in move_files(Path(tmp) / "out", args.out):
            print("wrote", path)


if __name__ == "__main__":
    main()
