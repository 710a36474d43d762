"""The finetune stage kind: options.py (what a recipe may say), stage.py (XTuner train + export) and
data.py (the fine-tuning data checks)."""
