#!/usr/bin/env bash
# GPU check of the vLLM path (no GPU, no vLLM on the development machines): one amuro TokenProb task and one
# generation task under `--model vllm` (prefix caching on, as the sweep passes it) next to `--model hf` on the same
# local tiny OLMo, offline, and the sweep itself with `evaluate: {model: vllm}` on one checkpoint.
#
#   bash bench/gpu_check_vllm.sh            # needs: a CUDA GPU, `pip install vllm` (or lm_eval[vllm]), amuro
#
# Prints the two backends' scores per task and exits non-zero if vLLM's TokenProb accuracy differs from hf's by
# more than 2 documents in 100 (bf16/fp32 kernels differ, so near-ties may flip; the choices themselves are
# checked on CPU by tests/study/test_backends.py). Writes everything under ${OUT:-/tmp/amuro-vllm-check}.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
out=${OUT:-/tmp/amuro-vllm-check}
mkdir -p "$out"
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export AMURO_DATA_DIR="$repo/tests/fixtures/data" PYTHONUNBUFFERED=1
python -c "import vllm, torch; assert torch.cuda.is_available(); print('vllm', vllm.__version__, torch.cuda.get_device_name())"

# A tiny OLMo whose head size vLLM's attention kernels take (256 / 4 heads = 64), two revisions for the sweep.
[ -f "$out/model/revisions.txt" ] || amuro tiny-model "$out/model" --checkpoints 2 --hidden-size 256 --layers 2
model="$out/model/step200-tokens2M"
tasks=amuro_mnli_default,amuro_paws_instruct,amuro_xsum_default
for backend in hf vllm; do
    args="pretrained=$model,dtype=float32"
    [ "$backend" = vllm ] && args="$args,enable_prefix_caching=True,gpu_memory_utilization=0.3,max_model_len=1024"
    lm_eval --model "$backend" --model_args "$args" --tasks "$tasks" --num_fewshot 1 --limit 100 \
        --batch_size 16 --output_path "$out/$backend" 2>&1 | tee "$out/$backend.log" | grep -E "^\|" || true
done

python - "$out" <<'EOF'
import glob, json, sys
out = sys.argv[1]
def scores(backend):
    path = sorted(glob.glob(f"{out}/{backend}/**/results_*.json", recursive=True))[-1]
    return {t: m for t, m in json.load(open(path))["results"].items()}
hf, vl = scores("hf"), scores("vllm")
bad = []
for task in sorted(hf):
    metric = "acc,none" if "acc,none" in hf[task] else "rougeL,none"
    print(f"{task:<24} {metric:<12} hf {hf[task][metric]:.4f}  vllm {vl[task][metric]:.4f}")
    if metric == "acc,none" and abs(hf[task][metric] - vl[task][metric]) > 0.02:
        bad.append(task)
sys.exit(f"vLLM and hf disagree on {bad}" if bad else 0)
EOF

# The sweep's own call (amuro.study.backends): base evaluation of one checkpoint under vLLM.
cat > "$out/vllm_spec.yaml" <<EOF
name: vllm_check
model: $out/model
checkpoints: {revisions: [step200-tokens2M]}
train: []
evaluate: {model: vllm, formats: [default], base: [mnli], num_fewshot: 1, limit: 50,
           model_args: {dtype: float32, gpu_memory_utilization: 0.3, max_model_len: 1024}}
EOF
amuro sweep "$out/vllm_spec.yaml" --out "$out/sweep"
python -c "import json,sys; r=json.load(open(sys.argv[1])); print('sweep model_args', r['amuro']['model_args']); \
print('sweep acc', r['results']['amuro_mnli_default']['acc,none'])" "$out/sweep/lm_eval/step200-tokens2M/base.json"
