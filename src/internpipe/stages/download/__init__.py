"""The download stage kind: options.py (what a recipe may say) and stage.py (the
behaviour: a hub client or a local folder → a complete model folder)."""
