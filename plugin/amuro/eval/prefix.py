"""Prefix reuse: inputs that share a long token prefix (the same few-shot demonstrations before every document) run
that prefix once and continue from a copy of its KV cache. `--model amuro-hf` scores log-likelihoods and greedy
generation this way; what it computes is what the model computes on the whole input (the tests compare it with
plain lm-eval and plain `generate`).
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from transformers import StaticCache
from transformers.cache_utils import DynamicLayer

MIN_SHARED_PREFIX = 32  # tokens; shorter common prefixes are not worth a separate pass


def shared_prefix_groups(contexts: list[tuple[int, ...]], min_prefix: int) -> list[tuple[int, list]]:
    """Group token sequences that share a prefix of at least `min_prefix` tokens (leaving each at least one
    token of its own). Returns (prefix length, members); length 0 for sequences without such a group."""
    groups: list[tuple[int, list]] = []
    for ctx in sorted(contexts):
        if groups and groups[-1][0]:
            length, members = groups[-1]
            common = 0
            while common < min(length, len(ctx) - 1) and members[0][common] == ctx[common]:
                common += 1
            if common >= min_prefix:
                groups[-1] = (common, members + [ctx])
                continue
        groups.append((len(ctx) - 1 if len(ctx) - 1 >= min_prefix else 0, [ctx]))
    lone = [ctx for length, members in groups if length == 0 or len(members) == 1 for ctx in members]
    return [(length, members) for length, members in groups if length and len(members) > 1] + \
        ([(0, lone)] if lone else [])


@torch.no_grad()
def prefix_cache(model, prefix: list[int]):
    """The KV cache of `prefix`, computed once (batch 1)."""
    return model(torch.tensor([prefix], device=model.device), use_cache=True).past_key_values


@torch.no_grad()
def continuation_scores(model, prefix: list[int], rows: list[tuple[list[int], list[int]]], batch_size: int,
                        progress=None) -> list[tuple[float, bool]]:
    """For each (suffix, continuation) row, the summed log-probability of `continuation` right after
    prefix + suffix (suffix non-empty) and whether greedy decoding produces it, as lm-eval's HFLM scores a request;
    the prefix runs once, every batch continues from its cache (`batch_caches`), and rows with the same input (the
    one-token choices of a document) share one. An empty prefix: the rows run whole, batched."""
    cache = prefix_cache(model, prefix) if prefix else None
    by_input: dict[tuple[int, ...], list[int]] = {}
    for i, (suffix, continuation) in enumerate(rows):
        by_input.setdefault(tuple(suffix + continuation[:-1]), []).append(i)
    inputs = sorted(by_input, key=len)  # similar lengths together: little padding
    past_for = batch_caches(cache, min(batch_size, len(inputs)), len(inputs[-1])) if cache is not None else None
    out: list[tuple[float, bool] | None] = [None] * len(rows)
    for start in range(0, len(inputs), batch_size):
        batch = inputs[start:start + batch_size]
        width = max(map(len, batch))
        # Right padding needs no mask: causal attention never lets a real token see the padding after it.
        ids = torch.tensor([list(x) + [x[-1]] * (width - len(x)) for x in batch], device=model.device)
        # The positions whose logits predict a continuation token, and only those get logits (a 100k vocabulary).
        spans = {i: range(len(rows[i][0]) - 1, len(x)) for x in batch for i in by_input[x]}
        keep = sorted({p for span in spans.values() for p in span})
        past = {"past_key_values": past_for(len(batch)), "use_cache": True} if past_for else {"use_cache": False}
        logits = model(ids, **past, logits_to_keep=torch.tensor(keep, device=model.device)).logits
        column = {p: k for k, p in enumerate(keep)}
        for j, x in enumerate(batch):
            for i in by_input[x]:
                logp = F.log_softmax(logits[j, [column[p] for p in spans[i]]].float(), dim=-1)
                target = torch.tensor(rows[i][1], device=logp.device)
                out[i] = (float(logp.gather(1, target[:, None]).sum()), bool((logp.argmax(-1) == target).all()))
        if progress is not None:
            progress.update(sum(len(by_input[x]) for x in batch))
    return out


class _SharedPrefixLayer(DynamicLayer):
    """A batch-1 prefix's keys and values, copied once into a buffer of `rows` rows with room for `width` more
    positions. Each forward writes its new keys and values after the prefix and attends over the buffer's first rows;
    the prefix stays as it was, so every batch continues from it without copying it again (a growing cache would
    concatenate the whole prefix onto every batch, in every layer)."""

    def __init__(self, prefix: DynamicLayer, rows: int, width: int):
        super().__init__()
        self.lazy_initialization(prefix.keys, prefix.values)
        self.keys, self.values = prefix.keys, prefix.values  # what get_seq_length and the attention mask read
        length = prefix.keys.shape[-2]
        self.buffers = [t.new_empty(rows, t.shape[1], length + width, t.shape[3]) for t in (self.keys, self.values)]
        for buffer, t in zip(self.buffers, (self.keys, self.values)):
            buffer[:, :, :length] = t

    def update(self, key_states, value_states, *args, **kwargs):
        n, length, end = key_states.shape[0], self.keys.shape[-2], self.keys.shape[-2] + key_states.shape[-2]
        for buffer, new in zip(self.buffers, (key_states, value_states)):
            buffer[:n, :, length:end] = new
        return self.buffers[0][:n, :, :end], self.buffers[1][:n, :, :end]


def batch_caches(cache, rows: int, width: int):
    """For batches of up to `rows` rows that continue from the batch-1 `cache`, each adding up to `width` positions:
    a function of a batch's size giving the cache it runs on. A dynamic cache's prefix is copied once per layer
    (`_SharedPrefixLayer`) and shared by every batch; caches of other layer types (sliding windows) are copied per
    batch."""
    if not all(type(layer) is DynamicLayer for layer in cache.layers):
        return lambda n: _batch_copy(cache, n)
    shared = copy.copy(cache)
    shared.layers = [_SharedPrefixLayer(layer, rows, width) for layer in cache.layers]
    return lambda n: shared


def _batch_copy(cache, n: int):
    """`n` copies of a batch-1 cache, stacked along the batch."""
    cache = copy.deepcopy(cache)
    if isinstance(cache, StaticCache):  # transformers' static layers have no batch_repeat_interleave
        for layer in cache.layers:
            layer.keys, layer.values = layer.keys.repeat_interleave(n, 0), layer.values.repeat_interleave(n, 0)
            layer.batch_size = n
    else:
        cache.batch_repeat_interleave(n)
    return cache


@torch.no_grad()
def generate_from_prefix(model, prefix: list[int], suffixes: list[list[int]], batch_size: int, pad_token_id: int,
                         max_new_tokens: int, stopping_criteria=None, progress=None,
                         **generate_kwargs) -> list[list[int]]:
    """Greedy `model.generate` of prefix + each suffix, the prefix run once. Documents are decoded in batches that
    continue from copies of the prefix's cache; a shorter suffix is padded between the prefix and itself, the
    padding masked out (positions follow the attention mask, as in any left-padded batch). The cache is static
    where the model supports one: written in place, where a growing cache would copy itself at every step. Returns
    each document's new tokens (up to its EOS). `stopping_criteria(input_length, batch)` gives a batch's criteria."""
    if getattr(model, "_can_compile_fullgraph", False):
        cache = StaticCache(config=model.config, max_cache_len=len(prefix) + max(map(len, suffixes)) + max_new_tokens)
        model(torch.tensor([prefix], device=model.device), past_key_values=cache, use_cache=True)
    else:
        cache = prefix_cache(model, prefix)
    eos = model.generation_config.eos_token_id
    eos = set(eos if isinstance(eos, list) else [] if eos is None else [eos])
    order = sorted(range(len(suffixes)), key=lambda i: len(suffixes[i]))  # similar lengths: little padding
    out: list[list[int] | None] = [None] * len(suffixes)
    for start in range(0, len(order), batch_size):
        index = order[start:start + batch_size]
        width = max(len(suffixes[i]) for i in index)
        ids = torch.tensor([prefix + [pad_token_id] * (width - len(suffixes[i])) + suffixes[i] for i in index],
                           device=model.device)
        mask = torch.ones_like(ids)
        for row, i in enumerate(index):
            mask[row, len(prefix):len(prefix) + width - len(suffixes[i])] = 0
        criteria = stopping_criteria(ids.shape[1], len(index)) if stopping_criteria else None
        generated = model.generate(input_ids=ids, attention_mask=mask, past_key_values=_batch_copy(cache, len(index)),
                                   use_cache=True, stopping_criteria=criteria, pad_token_id=pad_token_id,
                                   max_new_tokens=max_new_tokens, **generate_kwargs)
        for row, i in enumerate(index):
            tokens = generated[row, ids.shape[1]:].tolist()
            out[i] = tokens[:next((k + 1 for k, t in enumerate(tokens) if t in eos), len(tokens))]
        if progress is not None:
            progress.update(len(index))
    return out
