"""amuro.eval.scoring against values worked out by hand: Rouge-L F-measure, TokenProb choice strings (with the
whole-word fallback and the shared-first-subtoken error), the authors' candidate order."""

from fractions import Fraction as F

import pytest

import oracles
from amuro.errors import AmuroError
from amuro.eval.scoring import first_subtoken_choices, paper_candidates, rouge_l

# (reference, prediction, LCS, tokens in reference, tokens in prediction), tokens as rouge-score splits them:
# lowercase, any run of characters other than a-z0-9 separates, nothing stemmed.
HAND = [
    ("the cat sat on the mat", "the cat sat on the mat", 6, 6, 6),
    ("the cat sat on the mat", "on the mat the cat sat", 3, 6, 6),      # "the cat sat" or "on the mat"
    ("one two three four five", "one three five", 3, 5, 3),            # P 1, R 3/5
    ("The Cat", "the CAT", 2, 2, 2),                                    # case is ignored
    ("Hello, world!", "hello world", 2, 2, 2),                          # punctuation separates, is not a token
    ("don't stop-believing", "dont stop believing", 2, 4, 3),          # don t stop believing / dont stop believing
    ("café au lait", "cafe au lait", 2, 3, 3),                          # é is a separator: caf au lait
    ("In 2024 there were 3 cats", "there were 3 cats in 2024", 4, 6, 6),
    ("a a a b", "a b b b", 2, 4, 4),
    ("running dogs", "run dog", 0, 2, 2),                               # no stemming
    ("line one\nline two", "line one line two", 4, 4, 4),
    ("snake_case name", "snake case", 2, 3, 2),                         # "_" separates too
    ("a b c", "", 0, 3, 0),                                             # empty prediction
    ("", "a b", 0, 0, 2),                                               # empty reference
    ("", "", 0, 0, 0),
    ("!!!", "...", 0, 0, 0),                                            # punctuation only: no tokens
]


def hand_f(lcs, n_ref, n_pred):
    if lcs == 0:
        return F(0)
    p, r = F(lcs, n_pred), F(lcs, n_ref)
    return 2 * p * r / (p + r)


@pytest.mark.parametrize("reference,prediction,lcs,n_ref,n_pred", HAND)
def test_rouge_l_is_the_f_measure_of_the_lcs(reference, prediction, lcs, n_ref, n_pred):
    assert len(oracles.rouge_tokens(reference)) == n_ref and len(oracles.rouge_tokens(prediction)) == n_pred
    assert rouge_l(reference, prediction) == pytest.approx(float(hand_f(lcs, n_ref, n_pred)), abs=1e-12)


def test_hand_values_are_not_precision_or_recall():
    # The cases where P != R: a precision or recall in place of the F-measure would fail above.
    values = {(r, p): float(hand_f(lcs, a, b)) for r, p, lcs, a, b in HAND}
    assert values[("one two three four five", "one three five")] == 0.75
    assert values[("don't stop-believing", "dont stop believing")] == pytest.approx(4 / 7)


def test_rouge_scores_own_published_examples():
    # rouge_score/rouge_scorer_test.py (google-research/rouge): reference first, then prediction.
    assert rouge_l("testing one two", "testing one") == pytest.approx(4 / 5)      # P 1, R 2/3
    assert rouge_l("testing one two", "testing two") == pytest.approx(4 / 5)      # non-consecutive
    assert rouge_l("testing one two", "testing") == pytest.approx(1 / 2)          # P 1, R 1/3
    assert rouge_l("testing one two", "") == 0
    assert rouge_l("first text", "text first") == pytest.approx(1 / 2)


def test_the_oracle_agrees_with_the_hand_values():
    for reference, prediction, lcs, n_ref, n_pred in HAND:
        assert oracles.rouge_l_f(reference, prediction) == pytest.approx(float(hand_f(lcs, n_ref, n_pred)))


# --- TokenProb choice strings --------------------------------------------------------------------------------

def toy_tokenizer(words, vocab_size=280):
    """A byte-level BPE trained on bare words only: no merge starts with a space byte, so after a prompt's
    trailing space the first token of a label is the space alone ("Ġ"), which cannot be written as a choice."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(words * 5, trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=["<|endoftext|>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False))
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>")


NLI = ["entailment", "neutral", "contradiction"]
TOY_WORDS = [*NLI, "yes", "no", "relation", "The", "is", "neutron"]


def merging_tokenizer(texts, vocab_size=400):
    """A byte-level BPE without the pre-tokenizer's word split, trained on `texts`: its merges cross the end of a
    prompt into the label (`Inference:Ġentailment` is one token), so no first subtoken of a label follows the
    prompt's own tokens and TokenProb must fall back to whole words."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(texts * 5, trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=["<|endoftext|>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False))
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>")


NLI_ENDINGS = [f"### Inference: {w}" for w in NLI]  # how the default format's prompt ends, with each label


def test_first_subtokens_after_a_bare_space_token_and_after_a_colon():
    tok = toy_tokenizer(TOY_WORDS)
    assert tok.convert_ids_to_tokens(tok("is neutral")["input_ids"])[1] == "Ġ"  # the bare space token
    choices, fallbacks = first_subtoken_choices(tok, ["The relation is ", "Label:", "Label: "], NLI, "")
    assert fallbacks == 0
    for prompt, row in zip(["The relation is ", "Label:", "Label: "], choices):
        # a proper prefix of each label, and exactly the token the label starts with after the prompt's own tokens
        # (after a space: after the bare space token, the same one for every label)
        assert row != NLI and all(w.startswith(c) and c for w, c in zip(NLI, row))
        own = len(tok(prompt.rstrip())["input_ids"]) + prompt.endswith(" ")  # the prompt's tokens, bare space too
        for word, piece in zip(NLI, row):
            ids = tok(prompt + piece)["input_ids"]
            assert len(ids) == own + 1 and ids == tok(prompt + word)["input_ids"][:own + 1]


def test_whole_word_fallback_where_the_prompt_merges_into_the_label():
    tok = merging_tokenizer(NLI_ENDINGS)
    assert tok.convert_ids_to_tokens(tok("### Inference: entailment")["input_ids"])[-1].endswith("Ġentailment")
    choices, fallbacks = first_subtoken_choices(tok, ["Premise.\n### Inference: ", "Label:"], NLI, "")
    assert fallbacks == 1 and choices[0] == NLI  # whole words where no first subtoken can be split off
    assert choices[1] != NLI


def test_labels_sharing_a_first_subtoken_are_an_error():
    tok = toy_tokenizer(TOY_WORDS)
    assert tok("Label:neutral")["input_ids"][5] == tok("Label:neutron")["input_ids"][5]
    with pytest.raises(AmuroError, match=r"labels \['neutral', 'neutron'\] share a first subtoken .*cannot tell"):
        first_subtoken_choices(tok, ["Label:"], ["neutral", "neutron"], "")


def test_the_fallback_reaches_the_task_with_a_warning(tmp_path):
    from amuro.eval.hooks import load_task_dataset

    path = tmp_path / "toy"
    merging_tokenizer(NLI_ENDINGS).save_pretrained(path)
    with pytest.warns(UserWarning, match=r"amuro_mnli_default: for 12 of 12 documents the first subtoken"):
        data = load_task_dataset("mnli", "default", pretrained=str(path))
    rows = data["validation_matched"]
    assert [r["amuro_tp_choices"] for r in rows] == [NLI] * 12


def test_paper_candidates_in_the_authors_order(tiny_bpe):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_bpe)
    labels = ["yes", "no"]
    expected = [(i, 0) for i in tok("yes")["input_ids"]] + [(i, 1) for i in tok("no")["input_ids"]] + \
        [(i, 0) for i in tok(" yes")["input_ids"]] + [(i, 1) for i in tok(" no")["input_ids"]]
    assert paper_candidates(tok, labels) == expected and len(expected) > 4  # some words split here
