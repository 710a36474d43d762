"""The command line: one module per command. This package is the only place that prints
errors and chooses exit codes."""
