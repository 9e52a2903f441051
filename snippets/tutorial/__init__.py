"""Builds the tutorial's data, tokenizer and base model, and runs its notebook."""
