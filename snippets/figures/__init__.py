"""One script per figure: `python -m snippets.figures.fig_<name> [--out DIR]`."""
