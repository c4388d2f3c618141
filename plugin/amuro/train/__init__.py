"""Stage 3, fine-tuning with TRL: training rows rendered by the evaluation templates (`rows`) and the SFT script
(`sft`: `make_parser()`, `main()`; `accelerate launch -m amuro.train.sft ...` or `training/sft.py`)."""

RUN_CARD = "run_card.json"  # written last by a finished training run: its presence means "trained"


def cli_values(value) -> list[str]:
    """A YAML value as command-line words for the SFT script: true/false, lists as several words."""
    if isinstance(value, bool):
        return ["true" if value else "false"]
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    return [str(value)]
