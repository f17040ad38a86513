#!/usr/bin/env bash
# One device call: the Triton kernels' tests on the GPU, then the kernel benchmark. Logs and the benchmark's dated
# record go to $OUT. Usage (device tool, from the repo root): bash benchmarks/gpu_check.sh [pytest -k expr]
set -o pipefail
export PYTHONUNBUFFERED=1 PYTHONPATH=.:$PYTHONPATH
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
python -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__)"
STAGES=${STAGES:-"small gpu prof bench"}  # also: variants, step; bench alone fits a call (BENCH_ARGS="--budget 0.15 --torch-path-max-tokens 0")
if [[ $STAGES == *small* ]]; then
  timeout ${SMALL_TIMEOUT:-300} python -m pytest -q -p no:cacheprovider tests/kernels 2>&1 | tee "$OUT/small.log" | tail -5
fi
if [[ $STAGES == *gpu* ]]; then
  timeout ${GPU_TIMEOUT:-300} python -m pytest -q -rA -p no:cacheprovider -m gpu tests/kernels/test_triton_gpu.py ${1:+-k "$1"} 2>&1 \
    | tee "$OUT/gpu.log" | grep -E "passed|failed|error|Error|PASSED|FAILED" | tail -40
fi
if [[ $STAGES == *prof* ]]; then
  for op in kda gated_delta_rule; do timeout 90 python benchmarks/kernel_dev/kernels_profile.py --op $op 2>&1 | tee "$OUT/prof_$op.log" | head -32; done
fi
if [[ $STAGES == *bench* ]]; then
  timeout ${BENCH_TIMEOUT:-300} python benchmarks/kernels.py --record "$OUT" $BENCH_ARGS 2>&1 | tee "$OUT/bench.log" | tail -30
fi
if [[ $STAGES == *variants* ]]; then  # the forward's launch variants (benchmarks/kernel_dev/launch_variants.py): an A/B
  timeout ${VARIANTS_TIMEOUT:-300} python benchmarks/kernel_dev/launch_variants.py $VARIANTS_ARGS 2>&1 | tee "$OUT/variants.log" | grep "^|"
fi
if [[ $STAGES == *step* ]]; then  # a packed training step of the validation mixture (experiments/minimax_gap_validation/validate_gpu.py)
  MIX="data.loss_on=answers $(python -c 'from experiments.minimax_gap_validation.validate_gpu import MIXTURE as m; print(" ".join(f"data.mixture.{k}={v}" for k, v in m.items()))')"
  for r in full_attention kda_3to1; do
    timeout 150 python benchmarks/step_profile.py --recipe $r --steps 8 $MIX 2>&1 | tee "$OUT/step_$r.log" | grep -v Warning | head -12
  done
fi
