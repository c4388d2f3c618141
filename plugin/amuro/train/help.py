"""`python -m amuro.train.sft --help`: amuro's flags first, then the recipe's (TRL's and transformers' names);
`--help-all` adds the long tail of SFTConfig and ModelConfig, some 800 lines a reader rarely needs."""

from __future__ import annotations

import argparse


class HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    pass


# `--help` shows amuro's own flags, then these of TRL's and transformers' (the model, the recipe, where it goes);
# `--help-all` adds the long tail of SFTConfig and ModelConfig after them.
RECIPE_FLAGS = ("model_name_or_path", "model_revision", "output_dir", "learning_rate", "num_train_epochs",
                "max_steps", "per_device_train_batch_size", "gradient_accumulation_steps", "max_length",
                "max_grad_norm", "warmup_steps", "lr_scheduler_type", "weight_decay", "seed", "bf16", "dtype",
                "attn_implementation", "padding_free", "use_peft", "lora_r", "lora_alpha", "lora_target_modules",
                "load_in_4bit", "deepspeed", "gradient_checkpointing", "report_to", "logging_steps", "save_strategy")


class Help(argparse.Action):
    """`--help`: amuro's flags and RECIPE_FLAGS; `--help-all`: every flag, in the same order."""

    def __init__(self, option_strings, dest, help=None, every=False):
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help=help)
        self.every = every

    def __call__(self, parser, namespace, values, option_string=None):
        tail = parser._action_groups[-1]._group_actions  # the long tail: TRL's and transformers' other flags
        if not self.every:
            for action in tail:
                action.help = argparse.SUPPRESS
            parser.epilog = f"{len(tail)} more flags of TRL's SFTConfig and ModelConfig: --help-all"
        parser.print_help()
        parser.exit()


def arrange_help(parser: argparse.ArgumentParser, own: list[str]) -> None:
    """Groups in the order a reader needs them: amuro's flags (`own`), the recipe's, the rest."""
    by_dest = {a.dest: a for a in parser._actions}
    options = parser._optionals._group_actions
    for title, names in (("amuro's flags", own),
                         ("the model and the paper's recipe (TRL's and transformers' names)", RECIPE_FLAGS),
                         ("TRL's and transformers' other flags (SFTConfig, ModelConfig)", None)):
        group = parser.add_argument_group(title)
        moved = [by_dest[n] for n in names] if names else [a for a in options if not isinstance(a, Help)]
        for action in moved:
            options.remove(action)
            group._group_actions.append(action)
