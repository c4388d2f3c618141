#!/usr/bin/env bash
# The installed package, as a user gets it: build the wheel, install it into a fresh venv, and use it from a folder
# outside the checkout, with the checkout not importable. Run by .ci/run after the tests.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
# AMURO_CHECK_DIR=DIR keeps the folder (and reuses its venv) for a rerun while developing.
if [ -n "${AMURO_CHECK_DIR:-}" ]; then
    work=$AMURO_CHECK_DIR; mkdir -p "$work"; rm -rf "$work/wheel" "$work/user"
else
    work=$(mktemp -d /tmp/amuro-install.XXXXXX); trap 'rm -rf "$work"' EXIT
fi
step() { printf '\n== %s\n' "$*"; }

step "wheel"
python -m pip wheel -q --no-deps -w "$work/wheel" "$repo"
if [ ! -x "$work/venv/bin/python" ]; then
    python3 -m venv "$work/venv"
    "$work/venv/bin/pip" install -q torch==2.13.0
fi
"$work/venv/bin/pip" install -q --force-reinstall --no-deps "$work"/wheel/amuro-*.whl
"$work/venv/bin/pip" install -q "$(ls "$work"/wheel/amuro-*.whl)[deepspeed]"
export PATH="$work/venv/bin:$PATH"
unset PYTHONPATH VIRTUAL_ENV
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
mkdir "$work/user" && cd "$work/user"
python - "$repo" <<'PY'
import sys, amuro, amuro_tasks
repo = sys.argv[1]
for module in (amuro, amuro_tasks):
    assert not module.__file__.startswith(repo), f"{module.__name__} imported from the checkout: {module.__file__}"
print("amuro", amuro.__version__, "from", amuro.__file__)
PY

step "lm-eval lists the tasks"
n=$(lm_eval ls tasks 2>/dev/null | grep -c '^|amuro_[a-z0-9_]*_\(default\|io\|instruct\) ')
echo "$n amuro_<set>_<format> tasks listed"
test "$n" -eq 57

step "a 4-document --model amuro-hf eval"
amuro tiny-model tiny
AMURO_DATA_DIR="$repo/tests/fixtures/data" lm_eval --model amuro-hf --model_args pretrained=tiny,dtype=float32 \
    --tasks amuro_mnli_default,amuro_xsum_io --limit 4 --device cpu --batch_size 4 --output_path lm_eval_out
ls lm_eval_out/*/results_*.json

step "accelerate launch with the shipped ZeRO-2 config, from here"
AMURO_DATA_DIR="$repo/tests/fixtures/data" accelerate launch --config_file "$(amuro configs accelerate_1gpu)" \
    --num_processes 1 -m amuro.train.sft --model_name_or_path tiny --dataset_name mnli --max_steps 2 --use_cpu true \
    --output_dir sft
python -c "import json; c = json.load(open('sft/run_card.json')); assert c['deepspeed_zero_stage'] == 2, c; print('ZeRO', c['deepspeed_zero_stage'], 'steps', c['global_steps'])"

step "a tiny sweep that trains (the shipped spec, by name)"
amuro tiny-model tiny-olmo --checkpoints 2
AMURO_DATA_DIR="$repo/tests/fixtures/data" amuro sweep tiny --model tiny-olmo --out sweep
test -s sweep/results.csv && grep -q ',mnli,' sweep/results.csv

step "a reduced amuro demo"
amuro demo --out demo --pretrain-steps 60 --checkpoints 2 --train-examples 200 --eval-examples 8
test -s demo/report/report.md
echo "install check passed"
