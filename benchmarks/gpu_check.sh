#!/usr/bin/env bash
# One command for a lent GPU (under 8 minutes on one H100/H200): every GPU figure of README.md, written to
# results/gpu-check/summary.md and summary.json (benchmarks/gpu_check.py says what each stage measures).
#   bash benchmarks/gpu_check.sh                # on the GPU
#   bash benchmarks/gpu_check.sh --cpu-smoke    # every stage, tiny, on the CPU (the test suite runs this)
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ " $* " != *" --cpu-smoke "* ]]; then
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
fi
timeout 470 python benchmarks/gpu_check.py "$@"
