"""Connecting the driver to Ray: a local Ray on this machine, or the cluster at ``--address``.

Example:
    >>> check_reachable("localhost")
    Traceback (most recent call last):
    ...
    ConnectionError: address must look like HOST:PORT or ray://HOST:PORT, got 'localhost'
"""

from __future__ import annotations

import importlib.util
import logging
import os
import socket
from typing import Any

import ray

from raynas.log import logger
from raynas.settings import SearchSettings, named


class _NeverReported(logging.Filter):
    """Drops Tune's warning, when it gathers results, about trials with no result file: those that failed before
    reporting or were waiting when a search was interrupted. raynas reports both kinds itself."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Failed to fetch metrics")


class _TunesResumeHint(logging.Filter):
    """Drops Tune's "Resume experiment with: Tuner.restore(...)" on Ctrl-C: raynas prints its own resume command,
    which also restores the searcher and the results file."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Resume experiment with:" not in record.getMessage()


NEVER_REPORTED = _NeverReported()
TUNES_RESUME_HINT = _TunesResumeHint()


def start(address: str | None, runtime_env: dict[str, Any] | None = None) -> None:
    """Start Ray locally (``address`` ``None``), or join the cluster at ``address`` after checking it answers;
    nothing when Ray is running already."""
    logging.getLogger("ray.tune.analysis.experiment_analysis").addFilter(NEVER_REPORTED)
    logging.getLogger("ray.tune.tune").addFilter(TUNES_RESUME_HINT)
    if ray.is_initialized():
        return
    if address and address != "auto":
        check_reachable(address)
    if address:
        use_token_auth()
    ray.init(
        address=address,
        include_dashboard=False,
        log_to_driver=False,
        configure_logging=True,
        logging_level=logging.WARNING,
        runtime_env=runtime_env,
    )


def use_token_auth() -> None:
    """Send this machine's Ray token to a cluster, as ``launch/submit.sh`` does.

    A Ray 2.60 head started where a token exists (``RAY_AUTH_TOKEN``, the file ``RAY_AUTH_TOKEN_PATH`` names, or
    ``~/.ray/auth_token``) requires it, but a driver sends it only with ``RAY_AUTH_MODE=token``; a cluster
    without authentication ignores it. A mode the user set is kept.
    """
    if "RAY_AUTH_MODE" in os.environ:
        return
    path = os.environ.get("RAY_AUTH_TOKEN_PATH") or os.path.expanduser("~/.ray/auth_token")
    if os.environ.get("RAY_AUTH_TOKEN") or (os.path.isfile(path) and os.path.getsize(path) > 0):
        os.environ["RAY_AUTH_MODE"] = "token"


def connect(settings: SearchSettings) -> None:
    """:func:`start` Ray for a search; on a local Ray, check that one trial fits on this machine."""
    if ray.is_initialized():
        return
    start(settings.address, user_code_env(settings.space))
    if not settings.address:
        _check_fits(settings, ray.cluster_resources())
    else:
        warn_if_no_node_fits(
            settings.address,
            {"CPU": settings.cpus_per_trial, "GPU": settings.gpus_per_trial},
            f"a trial ({named('cpus_per_trial')}, {named('gpus_per_trial')})",
        )


def user_code_env(space: str) -> dict[str, Any] | None:
    """Workers find a user space (``module:factory``) where the driver does: the folder the driver imported
    it from (a notebook's ``sys.path`` entry too), the current folder and the driver's ``PYTHONPATH`` (same
    machine or shared disk).

    In a job of ``ray job submit --working-dir``, the uploaded folder is on the workers' path already.
    """
    if ":" not in space or "RAY_JOB_CONFIG_JSON_ENV_VAR" in os.environ:
        return None
    folders = [*_import_roots(space.partition(":")[0]), os.getcwd(), os.environ.get("PYTHONPATH")]
    return {"env_vars": {"PYTHONPATH": os.pathsep.join(dict.fromkeys(filter(None, folders)))}}


def _import_roots(module: str) -> list[str]:
    """The ``sys.path`` folders the driver imports ``module``'s top-level package from: one, or each folder
    of a namespace package (a package without ``__init__.py``); none when it is not found."""
    try:
        spec = importlib.util.find_spec(module.split(".")[0])
    except (ImportError, ValueError):
        return []
    if spec is None:
        return []
    if spec.origin and os.path.isabs(spec.origin):
        top = os.path.dirname(spec.origin)  # a package's __init__.py sits in the package's own folder
        return [os.path.dirname(top) if spec.submodule_search_locations else top]
    return [os.path.dirname(folder) for folder in spec.submodule_search_locations or () if os.path.isabs(folder)]


def _check_fits(settings: SearchSettings, resources: dict[str, float]) -> None:
    """On a local Ray (no autoscaler to add nodes), a trial larger than the machine would wait forever."""
    for setting, need, have in (
        ("cpus_per_trial", settings.cpus_per_trial, resources.get("CPU", 0)),
        ("gpus_per_trial", settings.gpus_per_trial, resources.get("GPU", 0)),
    ):
        if need > have:
            ray.shutdown()
            raise ValueError(
                f"{named(setting)} {need:g} asks for more than this machine has ({have:g}); lower it, or "
                f"pass {named('address')} of a cluster that has them"
            )


def warn_if_no_node_fits(address: str, request: dict[str, float], what: str) -> None:
    """On a cluster, warn when no live node has ``request`` (kind -> amount) for ``what``: the trials would wait
    for a node that has it, which only an autoscaler can add."""
    nodes = [node.get("Resources", {}) for node in ray.nodes() if node.get("Alive")]
    if any(all(node.get(kind, 0) >= need for kind, need in request.items()) for node in nodes):
        return
    asked = " and ".join(f"{need:g} {kind}" for kind, need in request.items() if need)
    logger.info(
        f"warning: no node of the cluster at {address} has {asked} for {what}; the trials wait until "
        "a node that has them joins (an autoscaler may add one), so lower the request if none will"
    )


def check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """Fail fast with one line when nothing listens at ``address`` (Ray itself waits minutes)."""
    hostport = address.split("://", 1)[-1].rstrip("/")
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise ConnectionError(f"{named('address')} must look like HOST:PORT or ray://HOST:PORT, got {address!r}")
    try:
        socket.create_connection((host, int(port)), timeout=timeout_s).close()
    except OSError as exc:
        raise ConnectionError(
            f"cannot reach the Ray cluster at {named('address')} {address} ({exc.strerror or exc}); "
            "start it with `ray start --head` or fix the address"
        ) from None
