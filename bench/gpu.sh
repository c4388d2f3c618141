#!/usr/bin/env bash
# Every benchmark on one GPU (H100 or H200), in under 8 minutes in all, into one Markdown table.
#
#   bash bench/gpu.sh --dry-run     # what it would run, each step's time budget and the total
#   bash bench/gpu.sh               # needs a CUDA GPU and amuro installed; writes ${OUT:-/tmp/amuro-gpu}/gpu_table.md
#
# Steps (each under `timeout` at its budget; a step that fails or runs out is marked so in the table):
#   TokenProb in the three few-shot modes (the paper profile's rule and first-k demonstrations, the corrected
#   profile's rule and shared draw, a draw per document), 4-shot generation in both profiles, SFT tokens/s in bf16
#   (padding-free vs the authors' batch 1 x 8; flash-attention where `pip install flash-attn` works), the compute
#   plan calibrated on this GPU, and one amuro task under `--model vllm` where `pip install vllm` works.
# The table names the device, the dtype and the versions. Model sizes are a 1B-like OLMo width at fewer layers, so
# that every step fits its budget; the ratios, not the absolute rates, are what to compare with the CPU's.
set -uo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
out=${OUT:-/tmp/amuro-gpu}
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false PYTHONUNBUFFERED=1
B="python $repo/bench"
GPU="--device cuda --dtype bfloat16"
# name | budget (s) | command
STEPS=(
  "flash-attn install|25|pip install -q flash-attn --no-build-isolation"
  "TokenProb, paper profile (lenient, first-k)|45|$B/bench_tokenprob.py --profile paper $GPU --docs 1024 --hidden-size 2048 --layers 8 --batch-size 64"
  "TokenProb, corrected profile (first subtoken, shared draw)|45|$B/bench_tokenprob.py --profile corrected $GPU --docs 1024 --hidden-size 2048 --layers 8 --batch-size 64"
  "TokenProb, paper rule, a draw per document|45|$B/bench_tokenprob.py --profile paper --fewshot random $GPU --docs 1024 --hidden-size 2048 --layers 8 --batch-size 64"
  "generation 4-shot, paper profile|45|$B/bench_generate.py --profile paper $GPU --docs 64 --hidden-size 2048 --layers 8 --batch-size 32"
  "generation 4-shot, corrected profile|40|$B/bench_generate.py --profile corrected $GPU --docs 64 --hidden-size 2048 --layers 8 --batch-size 32"
  "SFT tokens/s, bf16|80|$B/bench_sft.py --profile paper --hidden-size 2048 --layers 8 --steps 24 --rounds 1"
  "compute plan, --calibrate|45|amuro sweep olmo1b_paper --dry-run --calibrate --out $out/plan"
  "vLLM install|25|pip install -q vllm"
  "one amuro task under --model vllm|60|amuro tiny-model $out/vllm_model --hidden-size 256 --layers 2 --force && AMURO_DATA_DIR=$repo/tests/fixtures/data lm_eval --model vllm --model_args pretrained=$out/vllm_model,dtype=bfloat16,enable_prefix_caching=True,enforce_eager=True,gpu_memory_utilization=0.3,max_model_len=1024 --tasks amuro_mnli_default --num_fewshot 4 --limit 100 --batch_size auto"
)

total=0
for step in "${STEPS[@]}"; do IFS='|' read -r _ budget _ <<<"$step"; total=$((total + budget)); done
if [ "${1:-}" = "--dry-run" ]; then
  for step in "${STEPS[@]}"; do
    IFS='|' read -r name budget cmd <<<"$step"
    printf '%4s s  %-58s %s\n' "$budget" "$name" "$cmd"
  done
  echo "total budget: ${total} s (under 480 s); output: $out/gpu_table.md"
  exit 0
fi

mkdir -p "$out"
python -c "import torch; assert torch.cuda.is_available(), 'no CUDA GPU'" || exit 1
i=0
for step in "${STEPS[@]}"; do
  IFS='|' read -r name budget cmd <<<"$step"
  i=$((i + 1))
  echo "[$i/${#STEPS[@]}] $name (budget ${budget} s)"
  start=$(date +%s)
  timeout "$budget" bash -c "$cmd" >"$out/step$i.log" 2>&1
  code=$?
  echo "$name|$code|$(( $(date +%s) - start ))" >"$out/step$i.status"
done

python - "$out" "${#STEPS[@]}" <<'EOF' | tee "$out/gpu_table.md"
import importlib.metadata as md, pathlib, sys
import torch
out, n = pathlib.Path(sys.argv[1]), int(sys.argv[2])
def version(p):
    try:
        return md.version(p)
    except md.PackageNotFoundError:
        return "not installed"
print(f"GPU benchmarks (bench/gpu.sh): {torch.cuda.get_device_name()}, bf16; torch {torch.__version__}, "
      + ", ".join(f"{p} {version(p)}" for p in ("transformers", "lm_eval", "trl", "flash_attn", "vllm")) + "\n")
print("| step | status | s | result |\n|---|---|---|---|")
for i in range(1, n + 1):
    name, code, seconds = (out / f"step{i}.status").read_text().strip().split("|")
    log = (out / f"step{i}.log").read_text(errors="replace").splitlines()
    keep = [l.strip() for l in log if any(k in l for k in ("device:", "model:", "ratio to authors", "like for like",
                                                           "hours ours", "total ", "acc", "rougeL"))]
    status = "ok" if code == "0" else "ran out of time" if code == "124" else f"failed ({code})"
    result = "<br>".join(keep[:8]) or (log[-1][:200] if log else "")
    print(f"| {name} | {status} | {seconds} | {result.replace('|', '/')} |")
EOF
