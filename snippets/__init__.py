"""Scripts behind the handbook: figures, experiments, the tutorial, benchmarks.

Run them as modules from the repository root, e.g.
`python -m snippets.figures.fig_params_vs_rank --help`.
"""
