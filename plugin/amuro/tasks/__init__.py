"""Stage 1, the tasks: the 19 task sets (`registry`), their prompt formats (`templates`) and their rows (`data`).

The single source of truth that evaluation (`amuro.eval`, the generated lm-eval YAMLs) and training
(`amuro.train`) both read, so a model is never trained on one prompt and scored on a drifted copy of it.
"""
