"""The experiment kit behind the Experiments chapters."""
