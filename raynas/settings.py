"""Everything a search is run with: one dataclass, shared by the CLI, config files and ``raynas resume``.

Example:
    >>> s = SearchSettings.from_dict({"searcher": "sanas", "max-params": "20k", "num_samples": 6})
    >>> s.max_params, s.num_samples
    (20000, 6)
"""
from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from typing import Any

SETTINGS_FILE = "raynas_search.json"
#: trial schedulers a search accepts (None: every trial trains all epochs)
SCHEDULERS = (None, "asha")


@dataclass
class SearchSettings:
    """One architecture search: what to search, on what data, with what budget and resources."""
    searcher: str = "sanas"
    space: str = "small_channel"
    space_kwargs: dict[str, Any] = field(default_factory=dict)
    data: str = "digits"
    data_dir: str | None = None
    max_params: int | None = None
    min_params: int | None = None
    num_samples: int = 20
    epochs: int = 3
    concurrency: int = 2
    cpus_per_trial: float = 1.0
    gpus_per_trial: float = 0.0
    storage_path: str = "./runs"
    name: str = "search"
    seed: int = 0
    # training recipe (SANAS / DARTS defaults)
    batch_size: int = 96
    lr: float = 0.025
    momentum: float = 0.9
    weight_decay: float = 3e-4
    grad_clip: float = 5.0
    aux_weight: float = 0.4
    drop_path: float = 0.2
    reward_epochs: int = 2
    val_fraction: float = 0.2
    # simulated annealing
    init_temperature: float | None = None  # None: calibrated from the warm start
    decay: float = 0.97
    reward_scale: float = 1.0
    # one-shot (`raynas search oneshot`): supernet -> subnet search -> retrain of the best
    subnet_searcher: str = "sanas"
    supernet_epochs: int = 60
    supernet_batch_size: int = 32
    supernet_lr: float = 0.05
    supernet_budget: bool = True
    num_subnets: int = 100
    retrain_top: int = 3
    retrain_epochs: int | None = None
    calibration_images: int = 2000
    supernet_checkpoint: str | None = None
    warm_start: int | str = "auto"  # 0: start from the space's start architecture
    restart_after: int | str = "auto"  # 0: never
    far_moves: int = 1  # 2: two-position moves at a one-position local optimum instead of a restart
    screened: float = 0.5  # share of SA's moves screened by the mean reward of each value (0: SANAS's)
    screen_size: int = 5  # untried mutations drawn per screened move
    # early stopping: a Tune scheduler on the epoch
    scheduler: str | None = None
    grace_epochs: int = 1
    reduction_factor: float = 3.0
    # cluster and fault tolerance
    address: str | None = None
    max_failures: int = 0
    #: ``module:name`` of the trial function given to ``raynas.search.run`` in place of the built-in training
    trial_function: str | None = None

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "SearchSettings":
        """Build from a dict whose keys are field names (``-`` or ``_``); unknown keys are an error."""
        names = {f.name: f for f in dataclasses.fields(cls)}
        kwargs = {}
        for key, value in values.items():
            name = key.replace("-", "_")
            if name not in names:
                raise ValueError(f"unknown setting {key!r}; known settings: {', '.join(sorted(names))}")
            kwargs[name] = value
        return cls(**kwargs)

    def __post_init__(self) -> None:
        self.normalize()  # settings built in Python are checked like those from the CLI or a config file

    def normalize(self) -> None:
        """Coerce types, make paths absolute (trials run in their own directories) and check every value:
        a bad one is a ``ValueError`` that names the setting."""
        for name in ("max_params", "min_params"):
            value = getattr(self, name)
            if value is not None:
                setattr(self, name, parse_count(value, name))
        if not isinstance(self.space_kwargs, dict):
            raise ValueError(f"space-kwargs must be a JSON object of argument -> value, got {self.space_kwargs!r}")
        if self.data_dir:
            self.data_dir = os.path.abspath(os.path.expanduser(self.data_dir))
        if "path" in self.space_kwargs:
            self.space_kwargs["path"] = os.path.abspath(os.path.expanduser(self.space_kwargs["path"]))
        for name, low in (("num_samples", 1), ("epochs", 1), ("concurrency", 1), ("reward_epochs", 1),
                          ("batch_size", 1), ("max_failures", -1), ("supernet_epochs", 1), ("num_subnets", 1),
                          ("supernet_batch_size", 1),
                          ("retrain_top", 1), ("calibration_images", 1), ("far_moves", 1),
                          ("screen_size", 1), ("retrain_epochs", 1)):
            value = getattr(self, name)
            if value is None and name == "retrain_epochs":  # unset: --epochs
                continue
            whole = isinstance(value, int) or (isinstance(value, str) and value.strip().lstrip("-").isdigit())
            if not whole or isinstance(value, bool):
                raise ValueError(f"{name.replace('_', '-')} must be a whole number, got {value!r}")
            value = int(value)
            setattr(self, name, value)
            if value < low:
                raise ValueError(f"{name.replace('_', '-')} must be at least {low}, got {value}")
        if self.scheduler in ("", "none"):
            self.scheduler = None
        if self.scheduler not in SCHEDULERS:
            raise ValueError(f"unknown scheduler {self.scheduler!r}; choose one of: "
                             f"{', '.join(s for s in SCHEDULERS if s)} (or none)")
        if self.scheduler and not 1 <= int(self.grace_epochs) <= int(self.epochs):
            raise ValueError(f"grace-epochs must be between 1 and --epochs ({self.epochs}), got {self.grace_epochs}")
        if self.scheduler and float(self.reduction_factor) <= 1:
            raise ValueError(f"reduction-factor must be above 1, got {self.reduction_factor}")
        if self.scheduler and self.space == "tabular" and not self.trial_function:
            raise ValueError(f"--scheduler {self.scheduler} has nothing to stop early in a table replay (each "
                             "architecture is one lookup); drop --scheduler")
        if self.scheduler and self.searcher == "oneshot":
            raise ValueError(f"--scheduler {self.scheduler} has nothing to stop early in a one-shot search (each "
                             "subnet is one evaluation on the shared weights); drop --scheduler")
        if self.cpus_per_trial <= 0 or self.gpus_per_trial < 0:
            raise ValueError("cpus-per-trial must be > 0 and gpus-per-trial >= 0")
        for name in ("lr", "supernet_lr"):
            if not float(getattr(self, name)) > 0:
                raise ValueError(f"{name.replace('_', '-')} must be above 0, got {getattr(self, name)}")
        if not 0 < float(self.val_fraction) < 1:
            raise ValueError(f"val-fraction must be between 0 and 1, got {self.val_fraction}")
        if not 0 <= float(self.screened) <= 1:
            raise ValueError(f"screened must be between 0 and 1, got {self.screened}")
        check_name(self.name)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)


def check_name(name: str) -> None:
    """A search's name is one folder under the storage path."""
    if not name or name in (".", "..") or "/" in name or "\\" in name:
        raise ValueError(f"--name must be a plain folder name (not empty, no '/' or '\\', not '.' or '..'), "
                         f"got {name!r}")


def parse_count(value: Any, name: str = "count") -> int:
    """``12000``, ``"12000"``, ``"12k"``, ``"3.77M"`` -> int.

    Example:
        >>> parse_count("3.77M")
        3770000
    """
    message = f"{name.replace('_', '-')} must be a number like 20000, 20k or 3.5M, got {value!r}"
    if isinstance(value, bool):
        raise ValueError(message)
    if isinstance(value, int):
        return value
    text = str(value).strip().lower().replace("_", "")
    scale = {"k": 1_000, "m": 1_000_000}.get(text[-1:], 1)
    try:
        return int(round(float(text[:-1] if scale > 1 else text) * scale))
    except (ValueError, OverflowError):  # not a number, or inf / nan
        raise ValueError(message) from None
