"""What every kind of run shares."""

from __future__ import annotations

from raynas.settings import named


def same_resources(kind: str, name: str, **resources: float | None) -> None:
    """A ``kind`` of search that continues only with the resources it started with (``resources``: the
    ``cpus_per_trial`` and ``gpus_per_trial`` asked for, ``None`` when not): asking for others is one error.

    Example:
        >>> same_resources("one-shot", "s", cpus_per_trial=None, gpus_per_trial=None)
        >>> same_resources("one-shot", "s", cpus_per_trial=None, gpus_per_trial=0)
        Traceback (most recent call last):
        ValueError: a one-shot search continues with the resources it was started with; drop gpus_per_trial \
(it applies to resuming sanas, evolution, tpe and random searches), or start 's' again under another name
    """
    given = [named(key) for key, value in resources.items() if value is not None]
    if given:
        raise ValueError(
            f"a {kind} search continues with the resources it was started with; drop "
            f"{' and '.join(given)} (it applies to resuming sanas, evolution, tpe and random searches),"
            f" or start {name!r} again under another {named('name')}"
        )
