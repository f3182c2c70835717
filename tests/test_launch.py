"""launch/submit.sh end to end: a token-authenticated local head node, a search submitted as a Ray job."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from contextlib import ExitStack
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent  # the environment raynas is installed in: `ray` and `raynas` live here


def _free_ports(n: int) -> list[int]:
    with ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(n)]
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def _wait_for_dashboard(url: str, head: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert head.poll() is None, f"ray start --head exited with {head.returncode}"
        try:
            if _get(url + "/api/gcs_healthz")[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"the dashboard at {url} did not answer within {timeout} s")


def _stop(head: subprocess.Popen, temp_dir: str) -> None:
    """Stop the head node we started, and only it: never `ray stop`, which would stop every Ray on the machine.

    SIGTERM to `ray start --block` alone shuts its processes down in a few seconds (SIGTERM to the whole group
    at once can hang); then SIGKILL whatever is left of its process group, and any process that left the group
    but runs out of this head's own temp dir."""
    head.send_signal(signal.SIGTERM)
    try:
        head.wait(timeout=20)
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(head.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    head.wait(timeout=10)
    marks = (temp_dir.encode() + b"/", temp_dir.encode() + b"\0")
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit() and int(proc.name) != os.getpid():
            try:
                cmdline = (proc / "cmdline").read_bytes() + b"\0"
                if any(mark in cmdline for mark in marks):
                    os.kill(int(proc.name), signal.SIGKILL)
            except OSError:
                pass


@pytest.mark.slow
def test_submit_search_as_ray_job_with_token_auth(tmp_path):
    home = tmp_path / "home"  # the token lives in ~/.ray/auth_token: use a home of our own
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_", "PYTEST_"))}
    env.update(HOME=str(home), PATH=os.pathsep.join([str(BIN), env.get("PATH", "")]), PYTHONUNBUFFERED="1")
    # as a user would: create a token, then start the head, which turns token authentication on by itself
    subprocess.run([BIN / "ray", "get-auth-token", "--generate"], env=env, check=True, capture_output=True)
    token = (home / ".ray" / "auth_token").read_text().strip()
    assert token

    gcs, dash, client, agent_http, agent_grpc, runtime_env, metrics, node_mgr, obj_mgr = _free_ports(9)
    temp_dir = tempfile.mkdtemp(prefix="rn")  # short: unix socket paths are limited to about 107 characters
    url = f"http://127.0.0.1:{dash}"
    with open(tmp_path / "head.log", "wb") as log:
        head = subprocess.Popen(
            [
                BIN / "ray",
                "start",
                "--head",
                "--block",
                "--node-ip-address",
                "127.0.0.1",
                "--port",
                str(gcs),
                "--num-cpus",
                "2",
                "--num-gpus",
                "0",
                "--include-dashboard",
                "true",
                "--dashboard-host",
                "127.0.0.1",
                "--dashboard-port",
                str(dash),
                "--ray-client-server-port",
                str(client),
                "--dashboard-agent-listen-port",
                str(agent_http),
                "--dashboard-agent-grpc-port",
                str(agent_grpc),
                "--runtime-env-agent-port",
                str(runtime_env),
                "--metrics-export-port",
                str(metrics),
                "--node-manager-port",
                str(node_mgr),
                "--object-manager-port",
                str(obj_mgr),
                "--temp-dir",
                temp_dir,
                "--disable-usage-stats",
            ],
            env=env,
            cwd=tmp_path,
            start_new_session=True,
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def submit(*command: str, timeout: float = 150) -> tuple[int, str, str]:
        done = subprocess.run(
            [REPO / "launch" / "submit.sh", "--address", url, "--working-dir", str(REPO), "--", *command],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        out = done.stdout + done.stderr
        job_ids = [line.split()[2] for line in out.splitlines() if line.startswith("submitting job ")]
        assert len(job_ids) == 1, out
        request = urllib.request.Request(f"{url}/api/jobs/{job_ids[0]}", headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(request, timeout=10) as response:
            return done.returncode, json.loads(response.read())["status"], out

    try:
        _wait_for_dashboard(url, head)
        assert json.loads(_get(url + "/api/authentication_mode")[1])["authentication_mode"] == "token"
        assert _get(url + "/api/jobs/")[0] == 401  # without the token the job server refuses

        storage = tmp_path / "jobruns"
        code, status, out = submit(
            "raynas",
            "search",
            "sanas",
            "--data",
            "digits",
            "--max-params",
            "38k",
            "--num-samples",
            "3",
            "--epochs",
            "1",
            "--concurrency",
            "1",
            "--storage-path",
            str(storage),
            "--name",
            "job",
        )
        assert code == 0 and status == "SUCCEEDED", out
        results = pd.read_csv(storage / "job" / "results.csv")
        assert len(results) == 3 and (results.status == "TERMINATED").all(), results
        best = json.loads((storage / "job" / "best_arch.json").read_text())
        assert best["params"] <= 38_000

        # a command that fails on the cluster fails the script
        code, status, out = submit("raynas", "params", "--space", "no_such_space", "--tokens", "1", timeout=60)
        assert code != 0 and status == "FAILED" and "did not succeed" in out, out
        # and bad arguments get the usage
        usage = subprocess.run(
            [REPO / "launch" / "submit.sh", "--bogus"], env=env, capture_output=True, text=True, timeout=10
        )
        assert usage.returncode == 2 and "usage:" in usage.stderr
    finally:
        _stop(head, temp_dir)
        shutil.rmtree(temp_dir, ignore_errors=True)


def test_submit_to_an_address_where_nothing_listens_is_one_line(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_", "PYTEST_"))}
    env.update(HOME=str(tmp_path), PATH=os.pathsep.join([str(BIN), env.get("PATH", "")]))
    url = f"http://127.0.0.1:{_free_ports(1)[0]}"
    done = subprocess.run(
        [REPO / "launch" / "submit.sh", "--address", url, "--", "raynas", "spaces"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.splitlines() == [
        f"cannot reach a Ray job server at {url} (ConnectionError: Failed to connect "
        f"to Ray at address: {url}.); start a head node (ray start --head) or give "
        "its dashboard with --address http://HOST:8265"
    ]


@pytest.mark.parametrize(
    "gpus, extra_env, flags, expected",
    [
        (4, {}, [], "random --gpus-per-trial 1 --concurrency 4"),
        (4, {"GPUS_PER_TRIAL": "0.5"}, [], "random --gpus-per-trial 0.5 --concurrency 8"),
        (4, {}, ["--gpus-per-trial", "0.5"], "random --gpus-per-trial 0.5 --concurrency 8 --gpus-per-trial 0.5"),
        (4, {"CONCURRENCY": "3"}, [], "random --gpus-per-trial 1 --concurrency 3"),
        (0, {}, [], "random --gpus-per-trial 0 --concurrency 2"),
        (2, {}, ["darts"], "darts --gpus-per-worker 1"),
        (0, {}, ["darts"], "darts --gpus-per-worker 0"),
    ],
)
def test_local_multi_gpu_defaults_from_nvidia_smi(tmp_path, gpus, extra_env, flags, expected):
    """The script only picks defaults: stand-ins for nvidia-smi and raynas show what it would run."""
    done = _local_multi_gpu(tmp_path, gpus, extra_env, flags if flags[:1] == ["darts"] else ["random", *flags])
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"raynas search {expected} --epochs 5"


@pytest.mark.parametrize("gpus", [2, 0])  # a typo is an error on a machine without a GPU too
@pytest.mark.parametrize("share", ["0", "abc", "-1"])
def test_local_multi_gpu_rejects_a_share_that_is_not_a_positive_number(tmp_path, share, gpus):
    done = _local_multi_gpu(tmp_path, gpus, {"GPUS_PER_TRIAL": share}, ["random"])
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.splitlines() == [
        f"local_multi_gpu.sh: GPUs per trial must be a number above 0 (GPUS_PER_TRIAL "
        f"or --gpus-per-trial), got '{share}'"
    ]


def test_local_multi_gpu_names_the_searchers_and_what_darts_runs_at_once(tmp_path):
    done = _local_multi_gpu(tmp_path / "a", 2, {}, ["sana"])
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.splitlines() == [
        "local_multi_gpu.sh: unknown searcher 'sana'; choose one of: sanas, evolution, tpe, random, oneshot, darts"
    ]
    done = _local_multi_gpu(tmp_path / "b", 2, {"CONCURRENCY": "5"}, ["darts"])
    assert done.returncode == 0 and "trial(s) at a time" not in done.stderr  # DARTS has no --concurrency
    assert "1 GPU(s) per data-parallel worker; the --seeds run side by side" in done.stderr


def _local_multi_gpu(tmp_path, gpus: int, extra_env: dict, args: list[str]) -> subprocess.CompletedProcess:
    stubs = tmp_path / "bin"
    stubs.mkdir(parents=True)
    lines = "".join(f'echo "GPU {i}: Fake GPU (UUID: GPU-{i})"\n' for i in range(gpus))
    (stubs / "nvidia-smi").write_text("#!/bin/sh\n" + (lines or 'echo "No devices were found"; exit 6\n'))
    (stubs / "raynas").write_text('#!/bin/sh\necho "raynas $*"\n')
    for stub in stubs.iterdir():
        stub.chmod(0o755)
    env = {**os.environ, **extra_env, "PATH": f"{stubs}{os.pathsep}/usr/bin{os.pathsep}/bin"}
    return subprocess.run(
        [REPO / "launch" / "local_multi_gpu.sh", *args, "--epochs", "5"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
