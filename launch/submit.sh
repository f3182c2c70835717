#!/usr/bin/env bash
# Run any command (usually `raynas search ...`) as a Ray job and wait for it; exit non-zero unless it SUCCEEDED.
#
#   launch/submit.sh [--address http://HOST:8265] [--working-dir DIR] -- raynas search sanas --data digits ...
#
# The command runs on the cluster's head node, so raynas must be installed there (launch/cluster.yaml does it).
# DIR (default: the repository root) is uploaded without .venv, .git and runs/. Outputs go to the command's
# --storage-path, which must be shared storage (s3://..., an NFS mount) when the cluster has several nodes.
#
# Token authentication (Ray 2.60): `ray start --head` turns it on by itself when a token exists (RAY_AUTH_TOKEN,
# the file named by RAY_AUTH_TOKEN_PATH, or ~/.ray/auth_token; `ray get-auth-token --generate` creates the file),
# and then the job server refuses requests without it; but the job CLI sends the token only if RAY_AUTH_MODE=token.
# So unless RAY_AUTH_MODE=disabled, this script exports RAY_AUTH_TOKEN from that file (when not already set) and
# RAY_AUTH_MODE=token whenever it has a token. Clusters from launch/cluster.yaml use the token of this machine.
set -euo pipefail

usage() {
  echo "usage: $0 [--address http://HOST:8265] [--working-dir DIR] -- COMMAND [ARGS...]" >&2
  exit 2
}

address="${RAY_API_SERVER_ADDRESS:-http://127.0.0.1:8265}"
working_dir="$(cd "$(dirname "$0")/.." && pwd)"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --address) [[ $# -ge 2 ]] || usage; address="$2"; shift 2 ;;
    --working-dir) [[ $# -ge 2 ]] || usage; working_dir="$2"; shift 2 ;;
    --) shift; break ;;
    -h|--help) usage ;;
    *) echo "unknown argument: $1" >&2; usage ;;
  esac
done
[[ $# -gt 0 ]] || usage
[[ -d "$working_dir" ]] || { echo "no such directory: $working_dir" >&2; exit 2; }

if [[ "${RAY_AUTH_MODE:-}" != "disabled" ]]; then
  token_file="${RAY_AUTH_TOKEN_PATH:-$HOME/.ray/auth_token}"
  if [[ -z "${RAY_AUTH_TOKEN:-}" && -s "$token_file" ]]; then
    RAY_AUTH_TOKEN="$(tr -d '[:space:]' < "$token_file")"
    export RAY_AUTH_TOKEN
  fi
  if [[ -n "${RAY_AUTH_TOKEN:-}" ]]; then
    export RAY_AUTH_MODE=token
  fi
fi

if ! listing="$(ray job list --address "$address" 2>&1)"; then
  echo "cannot reach a Ray job server at $address ($(tail -n 1 <<< "$listing")); start a head node" \
    "(ray start --head) or give its dashboard with --address http://HOST:8265" >&2
  exit 2
fi

job_id="raynas-$(date +%Y%m%d-%H%M%S)-$$"
runtime_env='{"excludes": [".venv/", ".git/", "/runs/", "__pycache__/", "*.egg-info/", ".pytest_cache/"]}'
echo "submitting job $job_id to $address (stop it with: ray job stop --address $address $job_id)" >&2
set +e
ray job submit --address "$address" --submission-id "$job_id" --working-dir "$working_dir" \
  --runtime-env-json "$runtime_env" -- "$@"
submit_status=$?
set -e

status="$(ray job status --address "$address" "$job_id" 2>&1 || true)"
if grep -q "Job '$job_id' succeeded" <<< "$status"; then
  exit 0
fi
echo "job $job_id did not succeed (ray job submit exited $submit_status):" >&2
echo "$status" >&2
exit 1
