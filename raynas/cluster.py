"""Connecting the driver to Ray: a local Ray on this machine, or the cluster at ``--address``.

Example:
    >>> check_reachable("localhost")
    Traceback (most recent call last):
    ...
    ConnectionError: --address must look like HOST:PORT or ray://HOST:PORT, got 'localhost'
"""
from __future__ import annotations

import os
import socket
from typing import Any

import ray

from raynas.settings import SearchSettings


def start(address: str | None, runtime_env: dict[str, Any] | None = None) -> None:
    """Start Ray locally (``address`` ``None``), or join the cluster at ``address`` after checking it answers;
    nothing when Ray is running already."""
    if ray.is_initialized():
        return
    if address and address != "auto":
        check_reachable(address)
    ray.init(address=address, include_dashboard=False, log_to_driver=False, configure_logging=True,
             logging_level="WARNING", runtime_env=runtime_env)


def connect(settings: SearchSettings) -> None:
    """:func:`start` Ray for a search; on a local Ray, check that one trial fits on this machine."""
    if ray.is_initialized():
        return
    start(settings.address, _user_code_env(settings))
    if not settings.address:
        _check_fits(settings, ray.cluster_resources())


def _user_code_env(settings: SearchSettings) -> dict[str, Any] | None:
    """Workers find a user space (``module:factory``) where the driver does: the current folder and the
    driver's ``PYTHONPATH`` (same machine or shared disk).

    In a job of ``ray job submit --working-dir``, the uploaded folder is on the workers' path already.
    """
    if ":" not in settings.space or "RAY_JOB_CONFIG_JSON_ENV_VAR" in os.environ:
        return None
    path = os.pathsep.join(filter(None, [os.getcwd(), os.environ.get("PYTHONPATH")]))
    return {"env_vars": {"PYTHONPATH": path}}


def _check_fits(settings: SearchSettings, resources: dict[str, float]) -> None:
    """On a local Ray (no autoscaler to add nodes), a trial larger than the machine would wait forever."""
    for flag, need, have in (("--cpus-per-trial", settings.cpus_per_trial, resources.get("CPU", 0)),
                             ("--gpus-per-trial", settings.gpus_per_trial, resources.get("GPU", 0))):
        if need > have:
            ray.shutdown()
            raise ValueError(f"{flag} {need:g} asks for more than this machine has ({have:g}); lower it, or "
                             "pass --address of a cluster that has them")


def check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """Fail fast with one line when nothing listens at ``address`` (Ray itself waits minutes)."""
    hostport = address.split("://", 1)[-1].rstrip("/")
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise ConnectionError(f"--address must look like HOST:PORT or ray://HOST:PORT, got {address!r}")
    try:
        socket.create_connection((host, int(port)), timeout=timeout_s).close()
    except OSError as exc:
        raise ConnectionError(f"cannot reach the Ray cluster at --address {address} ({exc.strerror or exc}); "
                              "start it with `ray start --head` or fix the address") from None
