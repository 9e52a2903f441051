"""The tutorial's prompt template: the one place it is written down.

The notebook (docs/notebooks/finetune_causal_lm.py), the chat demo
(snippets/chat.py), the tokenizer build (build_all.py) and the measurement
scripts all import it from here; tests/test_tutorial.py fails if another copy
appears. A training example is the prompt, a space, the answer and the
end-of-sequence token; at inference the model gets the prompt only.
"""

TEMPLATE = "### Instruction:\n{instruction}\n\n### Input: {input}\n\n### Response:"
TEMPLATE_NO_INPUT = "### Instruction:\n{instruction}\n\n### Response:"
# the answer follows "### Response:" after a space: ` five` and `five` are
# different tokens, and the base model knows the first far better
ANSWER_PREFIX = " "


def build_prompt(instruction: str, input: str = "") -> str:
    """Everything the model sees before its answer.

    Args:
        instruction: what to do, e.g. "Read this number aloud."
        input: what to do it to (may be empty: the template then has no
            `### Input:` line).
    """
    if not instruction.strip():
        raise ValueError("empty prompt: a record needs an instruction")
    if input:
        return TEMPLATE.format(instruction=instruction, input=input)
    return TEMPLATE_NO_INPUT.format(instruction=instruction)


def training_text(record: dict[str, str]) -> str:
    """Prompt + answer for one Alpaca-style record (end-of-sequence not included)."""
    prompt = build_prompt(record["instruction"], record.get("input", ""))
    return prompt + ANSWER_PREFIX + record["output"]
