"""Stage 3, fine-tuning with TRL: training rows rendered by the evaluation templates (`rows`) and the SFT script
(`sft`: `make_parser()`, `main()`; `accelerate launch -m amuro.train.sft ...` or `training/sft.py`)."""

RUN_CARD = "run_card.json"  # written last by a finished training run: its presence means "trained"
