"""The quantize stage kind: options.py (what a recipe may say) and stage.py (LMDeploy lite +
the drift check)."""
