#!/usr/bin/env bash
# Run a search on one multi-GPU machine: one GPU per trial, as many trials at once as there are GPUs.
#
#   launch/local_multi_gpu.sh [sanas|random] [more raynas search flags...]
#   GPUS_PER_TRIAL=0.5 launch/local_multi_gpu.sh sanas --space darts_channel --data cifar10 --data-dir ~/data
#
# GPUS_PER_TRIAL (default 1) and CONCURRENCY (default GPUs / GPUS_PER_TRIAL) override the defaults; flags given
# here win over both. Without a GPU (or nvidia-smi) it runs on the CPU with CONCURRENCY (default 2) trials.
set -euo pipefail

searcher="sanas"
if [[ $# -gt 0 && "$1" != -* ]]; then searcher="$1"; shift; fi

gpus="$( (nvidia-smi -L 2>/dev/null || true) | grep -c '^GPU' || true)"
if [[ "$gpus" -gt 0 ]]; then
  per_trial="${GPUS_PER_TRIAL:-1}"
  concurrency="${CONCURRENCY:-$(awk -v g="$gpus" -v p="$per_trial" 'BEGIN { n = int(g / p); print (n < 1 ? 1 : n) }')}"
  echo "$gpus GPU(s): $concurrency trial(s) at a time, $per_trial GPU(s) each" >&2
else
  per_trial=0
  concurrency="${CONCURRENCY:-2}"
  echo "no GPU found: running on the CPU, $concurrency trial(s) at a time" >&2
fi

exec raynas search "$searcher" --gpus-per-trial "$per_trial" --concurrency "$concurrency" "$@"
