"""The evaluate stage kind: options.py (what a recipe may say), stage.py (the OpenCompass
run and its result checks), config.py (the generated OpenCompass config), checks.py (what
is checked before launch), data.py (custom data rows), datasets.py (built-in dataset lookup)."""
