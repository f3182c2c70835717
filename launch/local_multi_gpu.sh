#!/usr/bin/env bash
# Run a search on one multi-GPU machine: one GPU per trial, as many trials at once as there are GPUs.
#
#   launch/local_multi_gpu.sh [sanas|evolution|tpe|random|oneshot|darts] [more raynas search flags...]
#   GPUS_PER_TRIAL=0.5 launch/local_multi_gpu.sh sanas --space darts_channel --data cifar10 --data-dir ~/data
#
# GPUS_PER_TRIAL (default 1) and CONCURRENCY (default GPUs / GPUS_PER_TRIAL) override the defaults; flags given
# here win over both, and a --gpus-per-trial flag sets the share the concurrency is computed from. Without a GPU
# (or nvidia-smi) it runs on the CPU with CONCURRENCY (default 2) trials. For darts the share goes to
# --gpus-per-worker, and its --seeds run side by side as Ray's resources allow.
set -euo pipefail

searcher="sanas"
if [[ $# -gt 0 && "$1" != -* ]]; then searcher="$1"; shift; fi
case "$searcher" in
  sanas|evolution|tpe|random|oneshot|darts) ;;
  *) echo "local_multi_gpu.sh: unknown searcher '$searcher'; choose one of: sanas, evolution, tpe, random," \
       "oneshot, darts" >&2
     exit 2 ;;
esac
gpu_flag="--gpus-per-trial"
if [[ "$searcher" == "darts" ]]; then gpu_flag="--gpus-per-worker"; fi

per_trial="${GPUS_PER_TRIAL:-1}"
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do  # a share given as a flag is the one the trials get
  case "${args[i]}" in
    "$gpu_flag") per_trial="${args[i + 1]:-}" ;;
    "$gpu_flag"=*) per_trial="${args[i]#*=}" ;;
  esac
done
if ! awk -v p="$per_trial" 'BEGIN { exit !(p ~ /^([0-9]+\.?[0-9]*|\.[0-9]+)$/ && p + 0 > 0) }'; then
  echo "local_multi_gpu.sh: GPUs per trial must be a number above 0 (GPUS_PER_TRIAL or $gpu_flag)," \
    "got '$per_trial'" >&2
  exit 2
fi

gpus="$( (nvidia-smi -L 2>/dev/null || true) | grep -c '^GPU' || true)"
if [[ "$gpus" -gt 0 ]]; then
  concurrency="${CONCURRENCY:-$(awk -v g="$gpus" -v p="$per_trial" 'BEGIN { n = int(g / p); print (n < 1 ? 1 : n) }')}"
  if [[ "$searcher" == "darts" ]]; then
    echo "$gpus GPU(s): $per_trial GPU(s) per data-parallel worker; the --seeds run side by side as they fit" >&2
  else
    echo "$gpus GPU(s): $concurrency trial(s) at a time, $per_trial GPU(s) each" >&2
  fi
else
  per_trial=0
  concurrency="${CONCURRENCY:-2}"
  if [[ "$searcher" == "darts" ]]; then
    echo "no GPU found: running on the CPU; the --seeds run side by side as the CPUs allow" >&2
  else
    echo "no GPU found: running on the CPU, $concurrency trial(s) at a time" >&2
  fi
fi

if [[ "$searcher" == "darts" ]]; then
  exec raynas search darts "$gpu_flag" "$per_trial" "$@"
fi
exec raynas search "$searcher" "$gpu_flag" "$per_trial" --concurrency "$concurrency" "$@"
