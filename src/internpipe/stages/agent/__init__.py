"""The agent stage kind: options.py (what a recipe may say) and stage.py (Lagent + AgentLego on the
served model)."""
