"""Fine-tune a pre-training checkpoint with TRL's SFTTrainer, the paper's recipe by default: a thin launcher.

The code lives in the package, `amuro.train.sft` (as TRL keeps `trl/scripts/sft.py`); these three run the same
thing with the same flags:

```bash
accelerate launch training/sft.py --model_name_or_path allenai/OLMo-1B-hf --model_revision step342000-tokens1433B \
    --dataset_name mnli --output_dir runs/sft/olmo1b-step342000-mnli            # from a checkout
accelerate launch -m amuro.train.sft --model_name_or_path ... --dataset_name mnli --output_dir ...   # from anywhere
amuro sweep runs/tiny.yaml                                                 # the study runner trains through it
```
`python training/sft.py --help` prints every flag and more copy-paste commands (Tulu, DeepSpeed, YAML configs).
"""

import sys

from amuro.train.sft import cli

if __name__ == "__main__":
    sys.exit(cli())
