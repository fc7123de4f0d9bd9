#!/usr/bin/env bash
# One command for a lent GPU (under 8 minutes on one H100): every GPU figure of README.md and docs/performance.md.
#   bash benchmarks/gpu_check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
timeout 420 python benchmarks/training.py --paper --skip-workflow
timeout 120 python benchmarks/metrics.py --pairs 4 || echo "metrics benchmark did not finish in 120 s"
