"""A tiny OLMo, built offline in seconds: `OlmoForCausalLM` (OLMo-1B's architecture at toy sizes) plus a
tokenizer trained locally with `tokenizers`. Used by the tests, the benchmarks and `amuro tiny-model OUT`.

Two tokenizer styles, because TokenProb depends on how labels split into subtokens:
- `bpe`: byte-level BPE without BOS, like OLMo-1B's GPT-NeoX tokenizer (eos `<|endoftext|>`, pad `<|padding|>`);
- `sentencepiece`: a Metaspace BPE that prepends `<s>`, like Llama's.
At the default vocabulary of 400 the label words split into several subtokens (`Ġent|a|il|ment`), so TokenProb
differs from scoring whole words, as it does on real tokenizers. Both carry the Tulu chat template with `{% generation %}` markers (TRL's assistant-only loss needs them).
"""

from __future__ import annotations

import random
from pathlib import Path

from amuro.study.checkpoints import REVISIONS_FILE
from amuro.tasks.templates import TEMPLATES
from amuro.train.rows import TULU_CHAT_TEMPLATE

STYLES = ("bpe", "sentencepiece")

_WORDS = ("the a an of to in and is was for on with as by at from that this it he she they we you his her their "
          "man woman child dog cat people team city river school market doctor teacher student player police "
          "government company report study science water energy cell plant animal earth sun light heat sound "
          "said says went came saw found made took gave asked told wanted played walked looked bought sold "
          "new old big small good bad first last long short early late happy sad quick slow red blue green "
          "year day week time home game match music film book story news question answer summary text "
          "because but so if when while after before during into over under about between through "
          "not no yes true false entailment neutral contradiction paraphrase inference relation sentence "
          "enter entire entry enemy yet yellow next never contract control").split()


def corpus(n_sentences: int = 3000, seed: int = 0) -> list[str]:
    """Deterministic training text for the tokenizer: the prompt templates and random sentences over a small
    English vocabulary that includes the label words."""
    rnd = random.Random(seed)
    texts = [t for family in TEMPLATES.values() for t in family.values()]
    for _ in range(n_sentences):
        words = [rnd.choice(_WORDS) for _ in range(rnd.randint(4, 14))]
        texts.append(" ".join(words).capitalize() + rnd.choice([".", "?", "!", ","]))
    return texts


def build_tokenizer(style: str = "bpe", vocab_size: int = 400, seed: int = 0, texts: list[str] | None = None):
    """A tokenizer trained on `corpus(seed)`, plus `texts` when given (e.g. the demo's pre-training corpus)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    if style not in STYLES:
        from amuro.errors import AmuroError
        raise AmuroError(f"unknown tokenizer style {style!r}; known: {', '.join(STYLES)}")
    chat = ["<|system|>", "<|user|>", "<|assistant|>"]
    if style == "bpe":
        special = ["<|endoftext|>", "<|padding|>", *chat]
        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        tok.post_processor = processors.ByteLevel(trim_offsets=False)
        alphabet = pre_tokenizers.ByteLevel.alphabet()
        names = dict(eos_token="<|endoftext|>", bos_token="<|endoftext|>", unk_token="<|endoftext|>",
                     pad_token="<|padding|>")
    else:
        special = ["<unk>", "<s>", "</s>", "<pad>", *chat]
        tok = Tokenizer(models.BPE(unk_token="<unk>"))
        tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="first", split=True)
        tok.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme="first", split=True)
        alphabet = [chr(c) for c in range(32, 127)] + ["\u2581", "\n", "\u2019"]
        names = dict(eos_token="</s>", bos_token="<s>", unk_token="<unk>", pad_token="<pad>")
    tok.train_from_iterator(corpus(seed=seed) + list(texts or []), trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=special, initial_alphabet=alphabet, show_progress=False))
    if style == "sentencepiece":
        bos = tok.token_to_id("<s>")
        tok.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A <s> $B",
                                                           special_tokens=[("<s>", bos)])
    hf = PreTrainedTokenizerFast(tokenizer_object=tok, model_max_length=1024, **names)
    hf.chat_template = TULU_CHAT_TEMPLATE
    return hf


def build_tiny_model(out: str | Path, style: str = "bpe", vocab_size: int = 400, hidden_size: int = 64,
                     num_layers: int = 2, num_heads: int = 4, max_positions: int = 1024, seed: int = 0,
                     texts: list[str] | None = None) -> Path:
    """Write a randomly initialised tiny OlmoForCausalLM and its tokenizer (trained on `texts` too) to `out`;
    returns the folder."""
    import torch
    from transformers import OlmoConfig, OlmoForCausalLM

    out = Path(out)
    tok = build_tokenizer(style, vocab_size, seed, texts)
    config = OlmoConfig(
        vocab_size=len(tok), hidden_size=hidden_size, num_hidden_layers=num_layers,
        num_attention_heads=num_heads, num_key_value_heads=num_heads, intermediate_size=4 * hidden_size,
        max_position_embeddings=max_positions, tie_word_embeddings=True, eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id)
    torch.manual_seed(seed)
    model = OlmoForCausalLM(config)
    model.generation_config.pad_token_id = tok.pad_token_id
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


def build_tiny_checkpoints(out: str | Path, n: int = 2, **kwargs) -> Path:
    """`n` tiny models (different seeds) as the revisions of one model, laid out as `amuro sweep` reads a local
    model: `out/step<k>-tokens<m>M/` sub-folders and `out/revisions.txt` listing them."""
    out = Path(out)
    names = [f"step{100 * k}-tokens{k}M" for k in range(1, n + 1)]
    for k, name in enumerate(names):
        build_tiny_model(out / name, seed=k, **kwargs)
    (out / REVISIONS_FILE).write_text("".join(f"{name}\n" for name in names))
    return out
