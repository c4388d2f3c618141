"""Stage 4, the study runner: run specs (`spec`), a model's checkpoints (`checkpoints`), the plan of models to
train and evaluate (`plan`), running it (`sweep`) and the tidy results table it writes (`results`)."""
