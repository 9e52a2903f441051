"""Train the tutorial's byte-level BPE tokenizer with `tokenizers`.

Byte-level BPE (as in GPT-2 and Qwen2) starts from the 256 byte values, so any
text, Chinese included, can be encoded; merges learned from the corpus then
give common Chinese characters and English words their own tokens. Digits are
split one per token first (as Llama and Qwen2 do), so "4071" is four tokens,
and so is every Chinese character (BPE may still merge its three UTF-8 bytes
into one token, but never two characters into one): the digit-reading task
then lines up token by token.

The result is saved as a Hugging Face tokenizer directory, loadable with
`AutoTokenizer.from_pretrained(dir)` like any hub tokenizer.

Usage: python -m snippets.tutorial.train_tokenizer --corpus CORPUS.txt --out DIR
(trains into a temporary folder, then replaces DIR).
"""

import argparse
import tempfile
from pathlib import Path

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

from snippets.tutorial.files import replace_dir

VOCAB_SIZE = 2048
# CJK ideographs and CJK/full-width punctuation: one pre-token per character
CJK = "[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]"
SPECIAL = {"bos_token": "<s>", "eos_token": "</s>", "pad_token": "<pad>"}


def train_tokenizer(texts: list[str], out_dir: Path) -> PreTrainedTokenizerFast:
    """Train on `texts` and save to `out_dir`; returns the HF tokenizer."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.Split(Regex(CJK), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        special_tokens=list(SPECIAL.values()),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),  # all 256 bytes
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    hf = PreTrainedTokenizerFast(tokenizer_object=tok, **SPECIAL)
    hf.save_pretrained(out_dir)
    return hf


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, required=True, help="text, one per line")
    parser.add_argument("--out", type=Path, required=True, help="tokenizer folder")
    args = parser.parse_args(argv)
    corpus = args.corpus.read_text(encoding="utf-8").splitlines()
    with tempfile.TemporaryDirectory() as tmp:
        tok = train_tokenizer(corpus, Path(tmp) / "tokenizer")
        replace_dir(Path(tmp) / "tokenizer", args.out)
    print(f"{len(tok):,} tokens, written to {args.out}")


if __name__ == "__main__":
    main()
