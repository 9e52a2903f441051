"""The experiment kit behind the Experiments chapters.

`python -m snippets.experiments.run_all [--quick] [--out DIR]` runs it;
`data` generates the sentences, `kit` fine-tunes and measures MiniLM.
"""
