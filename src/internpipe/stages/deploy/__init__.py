"""The deploy stage kind: options.py (what a recipe may say) and stage.py (the server: LMDeploy or
`transformers serve`; its lifecycle is services.py)."""
