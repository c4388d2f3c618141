"""Pre-train a tiny OLMo from scratch and publish its intermediate checkpoints the way OLMo does: one
`step<N>-tokens<T>K` folder per checkpoint (model + tokenizer) and a `revisions.txt` listing them, which is
what `amuro sweep` reads as a local model's revisions. Used by `amuro demo`.
"""

from __future__ import annotations

from pathlib import Path

from amuro.study.checkpoints import REVISIONS_FILE


def revision_name(step: int, tokens: int) -> str:
    return f"step{step}-tokens{tokens // 1000}K"


def pretrain(out: str | Path, texts: list[str], *, steps: int, checkpoint_steps: list[int], batch_size: int = 8,
             seq_len: int = 128, learning_rate: float = 3e-3, hidden_size: int = 64, num_layers: int = 2,
             vocab_size: int = 1000, seed: int = 0) -> list[str]:
    """Causal-LM pre-training with transformers' Trainer on `texts` (packed into `seq_len` blocks, EOS between
    documents); saves the model at each of `checkpoint_steps`. Returns the revision names, in step order."""
    import datasets
    from transformers import (AutoModelForCausalLM, AutoTokenizer, DataCollatorForLanguageModeling, Trainer,
                              TrainerCallback, TrainingArguments)

    from amuro.demo.tiny import build_tiny_model

    out = Path(out)
    # A vocabulary large enough that label words are single tokens, as they are for real tokenizers.
    init = build_tiny_model(out / "init", vocab_size=vocab_size, hidden_size=hidden_size, num_layers=num_layers,
                            seed=seed, texts=texts)
    tokenizer = AutoTokenizer.from_pretrained(init)
    model = AutoModelForCausalLM.from_pretrained(init)
    ids = [i for text in texts for i in tokenizer(text).input_ids + [tokenizer.eos_token_id]]
    blocks = [ids[i:i + seq_len] for i in range(0, len(ids) - seq_len + 1, seq_len)]
    names = {step: revision_name(step, step * batch_size * seq_len) for step in sorted(checkpoint_steps)}

    class PublishCheckpoints(TrainerCallback):
        def on_step_end(self, args, state, control, model=None, **kwargs):
            if state.global_step in names:
                model.save_pretrained(out / names[state.global_step])
                tokenizer.save_pretrained(out / names[state.global_step])

    args = TrainingArguments(
        output_dir=str(out / "trainer"), max_steps=steps, per_device_train_batch_size=batch_size,
        learning_rate=learning_rate, lr_scheduler_type="cosine", warmup_steps=0.05, weight_decay=0.01, seed=seed,
        save_strategy="no", logging_steps=max(1, steps // 10), report_to="none",
        dataloader_pin_memory=False, disable_tqdm=False)
    trainer = Trainer(model=model, args=args, train_dataset=datasets.Dataset.from_dict({"input_ids": blocks}),
                      data_collator=DataCollatorForLanguageModeling(tokenizer, mlm=False),
                      callbacks=[PublishCheckpoints()])
    trainer.train()
    (out / REVISIONS_FILE).write_text("".join(f"{name}\n" for name in names.values()))  # written last: done
    return list(names.values())
