"""The SFTTrainer of one run: the model (full or LoRA), its rows, padding-free batches, the loss average, the batch.

- **Padding-free batches** (the default): the examples of a batch are joined into one row with per-example position
  ids, which the attention turns into a block-diagonal mask: no pad token is computed, no example sees another.
- **Loss averaging**: `per_token` (TRL's: every completion token of the optimizer step weighs the same, so long
  completions weigh more) or `per_example` (the authors': each example's mean token loss, averaged over the step's
  examples, what batch 1 x 8 accumulation steps with a mean loss gives; docs/study.md §4).
- **The batch** is `--total_batch_size` examples per optimizer step on any number of processes (the paper's 8);
  per-device batch and accumulation steps are derived from it, or checked against it when given.
"""

from __future__ import annotations

import logging as pylogging
import sys

import torch
from transformers.utils import logging
from trl import SFTTrainer

from amuro.errors import AmuroError
from amuro.tasks.registry import INSTRUCTION_TUNING
from amuro.train.rows import TULU_CHAT_TEMPLATE, sft_rows, tulu_rows

logger = logging.get_logger("amuro.sft")


class _ExpectedPrefixWarning(pylogging.Filter):
    """TRL warns, once, that "the tokenized prompt is not a prefix of the tokenized prompt+completion" whenever a
    prompt ends in a space: BPE joins that space to the completion's first token (` entailment`). Here it is
    intended: lm-eval scores the same way (HFLM moves a context's trailing whitespace into the continuation), and
    the authors' re-tokenised prompts did the same. Said once, in those words, instead of TRL's alarm; a prefix
    mismatch of anything but whitespace still gets TRL's own warning."""

    def filter(self, record) -> bool:
        message = record.getMessage()
        if "is not a prefix of the tokenized prompt+completion" not in message:
            return True
        left_out = message.split("training sequence: ", 1)[-1].split(". The model", 1)[0]
        if left_out.strip("'\" ").strip() == "":
            logger.info("the prompts end in a space that BPE joins to the completion's first token, as lm-eval "
                        "scores it and as the authors trained: TRL's prefix warning does not apply")
            return False
        return True
LOSS_AVERAGING = ("per_token", "per_example")


def load_model_and_tokenizer(model_args, dtype: torch.dtype | None = None):
    """The checkpoint and its tokenizer. Full fine-tuning loads fp32 weights even for bf16 training: bf16 autocast
    (or DeepSpeed's bf16 with fp32 master weights) computes in bf16, while updates of lr 2e-6 would mostly round away
    on bf16 weights. A LoRA run may load its frozen base in `--dtype`."""
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import is_flash_attn_2_available
    from trl import get_quantization_config

    name, revision = model_args.model_name_or_path, model_args.model_revision
    where = name + (f" at revision {revision}" if revision and revision != "main" else "")
    attention = model_args.attn_implementation
    if attention in (None, "auto"):  # flash-attention's varlen kernels make padding-free batches cost nothing extra
        attention = "flash_attention_2" if torch.cuda.is_available() and is_flash_attn_2_available() else "sdpa"
    quantization = get_quantization_config(model_args)
    try:
        tokenizer = AutoTokenizer.from_pretrained(name, revision=revision)
        model = AutoModelForCausalLM.from_pretrained(
            name, revision=revision, dtype=dtype or torch.float32, attn_implementation=attention,
            quantization_config=quantization, device_map={"": torch.cuda.current_device()} if quantization else None)
    except (OSError, ValueError) as e:
        raise AmuroError(f"cannot load {where}: {str(e).strip().splitlines()[0]}") from None
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer


def round_rotary_to_bf16(model) -> int:
    """Round every rotary embedding's `inv_freq` buffer to bf16 precision (kept in its dtype): what DeepSpeed's bf16
    engine did to the authors' OLMo-1B while training (it casts every floating buffer; the rotary code computes in
    fp32 from the rounded values). The buffer is not saved, so the fine-tuned model is evaluated with exact
    frequencies, as theirs was. Returns how many buffers were rounded."""
    n = 0
    for module in model.modules():
        freq = getattr(module, "inv_freq", None)
        if isinstance(freq, torch.Tensor) and freq.is_floating_point():
            freq.copy_(freq.to(torch.bfloat16).to(freq.dtype))
            n += 1
    return n


def training_rows(script_args, seed: int) -> list[dict]:
    """Prompt/completion rows of a per-dataset SFT set, or Tulu messages."""
    if script_args.dataset_name == INSTRUCTION_TUNING:
        return tulu_rows(script_args.fraction, seed)
    return sft_rows(script_args.dataset_name, script_args.prompt_format, script_args.max_examples, seed)


def build_trainer(script_args, training_args, model_args) -> tuple[SFTTrainer, list[dict]]:
    """The SFTTrainer for one run, and its training rows."""
    import datasets
    from trl import get_peft_config

    rows = training_rows(script_args, training_args.seed)
    trl_logger = pylogging.getLogger("trl.trainer.sft_trainer")
    if not any(isinstance(f, _ExpectedPrefixWarning) for f in trl_logger.filters):
        trl_logger.addFilter(_ExpectedPrefixWarning())
    dtype = getattr(torch, model_args.dtype) if model_args.use_peft and model_args.dtype not in (None, "auto") else None
    model, tokenizer = load_model_and_tokenizer(model_args, dtype)
    if script_args.round_rotary_to_bf16:
        round_rotary_to_bf16(model)
    if script_args.dataset_name == INSTRUCTION_TUNING:
        tokenizer.chat_template = TULU_CHAT_TEMPLATE
    if training_args.padding_free and not supports_padding_free(model):
        logger.warning(f"{type(model).__name__} cannot keep padding-free examples apart; training on padded batches")
        training_args.padding_free = False
    # TRL refuses padding-free batches with a max_length unless it packs (which would change the paper's 8 examples
    # per step), so build the trainer without max_length and truncate its prepared dataset as TRL would have.
    max_length = training_args.max_length
    own_truncation = training_args.padding_free and not training_args.packing and max_length is not None
    if own_truncation:
        training_args.max_length = None
    trainer_class = PerExampleLossTrainer if script_args.loss_averaging == "per_example" else SFTTrainer
    try:
        trainer = trainer_class(model=model, args=training_args, train_dataset=datasets.Dataset.from_list(rows),
                                processing_class=tokenizer, peft_config=get_peft_config(model_args))
    finally:
        training_args.max_length = max_length
    if own_truncation:
        trainer.train_dataset = truncate(trainer.train_dataset, max_length)
    if len(trainer.train_dataset) == 0:
        raise AmuroError(f"no {script_args.dataset_name} example has a token to learn within --max_length {max_length}")
    return trainer, rows


def supports_padding_free(model) -> bool:
    """Whether `model` keeps the examples of a padding-free row apart: flash/flex attention kernels read the
    sequence boundaries, and models whose masks come from transformers' `create_causal_mask` turn restarting
    position ids into a block-diagonal mask (OLMo, Llama, Qwen, ... in transformers >= 4.54)."""
    attention = getattr(model.config, "_attn_implementation", None) or ""
    if "flash" in attention or attention == "flex_attention":
        return True
    return hasattr(sys.modules[type(model).__module__], "create_causal_mask")


def truncate(dataset, max_length: int):
    """TRL's own truncation of a prepared dataset (keep the start) and its drop of examples left without loss."""
    dataset = dataset.map(lambda ex: {"input_ids": ex["input_ids"][:max_length], "labels": ex["labels"][:max_length]},
                          desc="Truncating train dataset")
    return dataset.filter(lambda ex: any(label != -100 for label in ex["labels"]),
                          desc="Dropping fully masked examples from train dataset")


def split_batch(total: int, world: int, per_device: int | None, accumulation: int | None) -> tuple[int, int]:
    """(per-device batch, accumulation steps) that make `total` examples per optimizer step on `world` processes.
    Given values are checked; missing ones derived (accumulation 1 where the total divides evenly)."""
    if per_device and accumulation:
        if per_device * accumulation * world != total:
            raise AmuroError(f"--per_device_train_batch_size {per_device} x --gradient_accumulation_steps "
                             f"{accumulation} x {world} processes = {per_device * accumulation * world} examples per "
                             f"step, not --total_batch_size {total}")
        return per_device, accumulation
    if per_device:
        if total % (per_device * world):
            raise AmuroError(f"--total_batch_size {total} is not a multiple of --per_device_train_batch_size "
                             f"{per_device} x {world} processes")
        return per_device, total // (per_device * world)
    accumulation = accumulation or 1
    if total % (accumulation * world):
        raise AmuroError(f"--total_batch_size {total} cannot be split over {world} processes x {accumulation} "
                         "accumulation steps; pass a total they divide, or --per_device_train_batch_size and "
                         "--gradient_accumulation_steps")
    return total // (accumulation * world), accumulation


class PerExampleLossTrainer(SFTTrainer):
    """SFTTrainer whose loss is each example's mean token loss, averaged over the batch's examples (the Trainer then
    divides by the accumulation steps): the authors' loss for any batch layout, padded or padding-free."""

    loss_is_scaled_for_ga = False  # a mean over this micro-batch: let the Trainer average the accumulation steps

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        inputs["use_cache"] = False
        outputs = model(**inputs, fused_lm_head=True)  # TRL's fused head: per-token log-probs of the shifted labels
        mask = outputs.label_mask
        if "attention_mask" in inputs:  # padded: one example per row
            example = torch.arange(mask.size(0), device=mask.device)[:, None].expand_as(mask)
        else:  # padding-free: an example starts where the position ids restart at 0
            example = (inputs["position_ids"] == 0).cumsum(-1)[:, 1:]
        _, index = example[mask].unique(return_inverse=True)
        n = int(index.max()) + 1 if index.numel() else 1
        zeros = torch.zeros(n, device=mask.device, dtype=outputs.log_probs.dtype)
        nll = zeros.index_add(0, index, -outputs.log_probs[mask])
        count = zeros.index_add(0, index, torch.ones_like(nll[index]))
        loss = (nll / count.clamp(min=1)).mean() if index.numel() else outputs.log_probs.sum() * 0
        if self.model.training:  # the tokens-seen count TRL's own compute_loss keeps (the run card reads it)
            seen = inputs["attention_mask"].sum() if "attention_mask" in inputs else inputs["position_ids"].size(1)
            seen = self.accelerator.gather_for_metrics(torch.as_tensor(seen, device=mask.device))
            self._total_train_tokens += int(seen.sum())
            self._metrics["train"]["num_tokens"] = [self._total_train_tokens]
        return (loss, outputs) if return_outputs else loss
