"""Pre-train a tiny OLMo from scratch and publish its intermediate checkpoints as a model family does: one folder
per checkpoint (model + tokenizer), named in the family's style (`NAMINGS`: OLMo's `step<N>-tokens<T>K` by
default), and a `revisions.txt` listing them, which is what `amuro sweep` reads as a local model's revisions.
revisions.txt grows as training goes: a name is added once its folder is complete, so `amuro sweep --watch` can
follow a run that is still training. Used by `amuro demo` and the watch-mode test.
"""

from __future__ import annotations

from pathlib import Path

from amuro.errors import AmuroError, did_you_mean
from amuro.files import write_atomic
from amuro.study.checkpoints import REVISIONS_FILE

# How each family names its checkpoint branches (amuro.study.checkpoints parses every one), at toy scale: tokens
# in thousands (K) where the family's names carry tokens at all.
NAMINGS = {
    "olmo": "step{step}-tokens{ktokens}K",  # allenai/OLMo-1B-hf: step738000-tokens3094B
    "olmo2": "stage1-step{step}-tokens{ktokens}K",  # allenai/OLMo-2-0425-1B: stage1-step10000-tokens21B
    "pythia": "step{step}",  # EleutherAI/pythia-160m: step143000
    "smollm2": "step-{step}",  # HuggingFaceTB/SmolLM2-1.7B-intermediate-checkpoints: step-125000
}


def revision_name(step: int, tokens: int, naming: str = "olmo") -> str:
    if naming not in NAMINGS:
        raise AmuroError(f"unknown checkpoint naming {naming!r}{did_you_mean(naming, list(NAMINGS))}; "
                         f"known: {', '.join(NAMINGS)}")
    return NAMINGS[naming].format(step=step, ktokens=tokens // 1000)


def pretrain(out: str | Path, texts: list[str], *, steps: int, checkpoint_steps: list[int], batch_size: int = 8,
             seq_len: int = 128, learning_rate: float = 3e-3, hidden_size: int = 64, num_layers: int = 2,
             vocab_size: int = 1000, seed: int = 0, naming: str = "olmo") -> list[str]:
    """Causal-LM pre-training with transformers' Trainer on `texts` (packed into `seq_len` blocks, EOS between
    documents); publishes the model at each of `checkpoint_steps`, named in `naming`'s style. Returns the revision
    names, in step order. An interrupted run called again on the same `out` resumes from its last training
    checkpoint (weights, optimizer, scheduler, data order and RNG restored: the same models as without the stop)."""
    import datasets
    from transformers import (AutoModelForCausalLM, AutoTokenizer, DataCollatorForLanguageModeling, PrinterCallback,
                              Trainer, TrainerCallback, TrainingArguments)

    from amuro.demo.tiny import build_tiny_model

    out = Path(out)
    # A vocabulary large enough that label words are single tokens, as they are for real tokenizers.
    init = build_tiny_model(out / "init", vocab_size=vocab_size, hidden_size=hidden_size, num_layers=num_layers,
                            seed=seed, texts=texts)
    tokenizer = AutoTokenizer.from_pretrained(init)
    model = AutoModelForCausalLM.from_pretrained(init)
    ids = [i for text in texts for i in tokenizer(text).input_ids + [tokenizer.eos_token_id]]
    blocks = [ids[i:i + seq_len] for i in range(0, len(ids) - seq_len + 1, seq_len)]
    names = {step: revision_name(step, step * batch_size * seq_len, naming) for step in sorted(checkpoint_steps)}
    listed = out / REVISIONS_FILE
    published = listed.read_text().split() if listed.is_file() else []  # a resumed run keeps what it published

    class PublishCheckpoints(TrainerCallback):
        def on_step_end(self, args, state, control, model=None, **kwargs):
            if state.global_step in names:
                name = names[state.global_step]
                model.save_pretrained(out / name)
                tokenizer.save_pretrained(out / name)
                if name not in published:  # a run resumed from before a checkpoint publishes it again
                    published.append(name)  # listed only once its folder is complete
                write_atomic(out / REVISIONS_FILE, "".join(f"{n}\n" for n in published))
                print(f"  published {name}", flush=True)

        def on_log(self, args, state, control, logs=None, **kwargs):  # a line per tenth of the run, not a bar
            if logs and "loss" in logs:
                print(f"  step {state.global_step}/{steps}: loss {logs['loss']:.3f}", flush=True)

    args = TrainingArguments(
        output_dir=str(out / "trainer"), max_steps=steps, per_device_train_batch_size=batch_size,
        learning_rate=learning_rate, lr_scheduler_type="cosine", warmup_steps=0.05, weight_decay=0.01, seed=seed,
        # Training checkpoints to resume from after a stop (only the latest is kept).
        save_strategy="steps", save_steps=max(1, steps // 10), save_total_limit=1, logging_steps=max(1, steps // 10),
        report_to="none",
        dataloader_pin_memory=False, disable_tqdm=True)
    trainer = Trainer(model=model, args=args, train_dataset=datasets.Dataset.from_dict({"input_ids": blocks}),
                      data_collator=DataCollatorForLanguageModeling(tokenizer, mlm=False),
                      callbacks=[PublishCheckpoints()])
    trainer.remove_callback(PrinterCallback)  # its raw log dicts; PublishCheckpoints prints the progress
    trainer.train(resume_from_checkpoint=_last_complete_checkpoint(Path(args.output_dir)))
    return list(names.values())


def _last_complete_checkpoint(folder: Path) -> str | None:
    """The newest training checkpoint that was saved to the end. The Trainer writes trainer_state.json last, so a
    checkpoint without it was cut short by a stop (Ctrl-C while saving) and is removed; the older, complete one is
    still there (rotation deletes it only after the new one is saved)."""
    import shutil

    from transformers.trainer_utils import get_last_checkpoint

    if not folder.is_dir():
        return None
    for partial in folder.glob("checkpoint-*"):
        if partial.is_dir() and not (partial / "trainer_state.json").is_file():
            shutil.rmtree(partial)
    return get_last_checkpoint(str(folder))
