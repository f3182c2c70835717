"""Everything a search is run with: one dataclass, shared by the CLI, config files and ``raynas resume``.

Example:
    >>> s = SearchSettings.from_dict({"searcher": "sanas", "max-params": "20k", "num_samples": 6})
    >>> s.max_params, s.num_samples
    (20000, 6)
"""

from __future__ import annotations

import dataclasses
import decimal
import json
import math
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
    far_moves: int | str = "auto"  # positions SA changes at once at a one-position local optimum (1: restart)
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
    def from_dict(cls, values: dict[str, Any]) -> SearchSettings:
        """Build from a dict whose keys are field names (``-`` or ``_``); unknown keys are an error."""
        names = {f.name for f in dataclasses.fields(cls)}
        kwargs = underscored(values)
        for name in kwargs:
            if name not in names:
                raise ValueError(f"unknown setting {name!r}; known settings: {', '.join(sorted(names))}")
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
                if getattr(self, name) < 0:
                    raise ValueError(
                        f"--{name.replace('_', '-')} must be a parameter count of 0 or more, got {value!r}"
                    )
        if self.max_params is not None and self.min_params is not None and self.min_params > self.max_params:
            raise ValueError(
                f"--min-params {self.min_params} is above --max-params {self.max_params}; no architecture "
                "fits between them"
            )
        for name, low, unit in (
            ("warm_start", 0, "evaluations (0: off)"),  # a count, or "auto"
            ("restart_after", 0, "evaluations (0: off)"),
            ("far_moves", 1, "positions, at least 1 (1: restart instead),"),
        ):
            value = getattr(self, name)
            try:
                count = value if value == "auto" else _convert(value, "int")
            except (TypeError, ValueError):
                count = low - 1
            if count != "auto" and count < low:
                raise ValueError(f"{name.replace('_', '-')} must be a whole number of {unit} or auto, got {value!r}")
            setattr(self, name, count)
        if not isinstance(self.space, (str, int, float, list, dict, type(None))):  # a space or a model: each
            # trial recreates the space from its name
            raise ValueError(
                f"space must be a name, not a {type(self.space).__name__} object: a built-in space, "
                "'tabular', or 'package.module:factory' of your own"
            )
        coerce_fields(self)
        if self.data_dir:
            self.data_dir = os.path.abspath(os.path.expanduser(self.data_dir))
        for key, value in self.space_kwargs.items():  # recorded as JSON, and recreated from it in every trial
            try:
                json.dumps(value, allow_nan=False)
            except (TypeError, ValueError):
                raise ValueError(
                    f"space-kwargs {key!r} is a {type(value).__name__}, which JSON cannot record; give "
                    "numbers, strings, true/false, null, lists or objects of them (e.g. int(value))"
                ) from None
        if isinstance(self.space_kwargs.get("path"), str):  # any other path is the space's to refuse
            self.space_kwargs["path"] = os.path.abspath(os.path.expanduser(self.space_kwargs["path"]))
        for name, low in (
            ("num_samples", 1),
            ("epochs", 1),
            ("concurrency", 1),
            ("reward_epochs", 1),
            ("batch_size", 1),
            ("max_failures", -1),
            ("supernet_epochs", 1),
            ("num_subnets", 1),
            ("supernet_batch_size", 1),
            ("seed", 0),
            ("retrain_top", 1),
            ("calibration_images", 1),
            ("screen_size", 1),
            ("retrain_epochs", 1),
        ):
            value = getattr(self, name)
            if value is not None and value < low:  # retrain_epochs None: --epochs
                raise ValueError(f"{name.replace('_', '-')} must be at least {low}, got {value}")
        if self.scheduler in ("", "none"):
            self.scheduler = None
        if self.scheduler not in SCHEDULERS:
            raise ValueError(
                f"unknown scheduler {self.scheduler!r}; choose one of: "
                f"{', '.join(s for s in SCHEDULERS if s)} (or none)"
            )
        if self.scheduler and not 1 <= self.grace_epochs <= self.epochs:
            raise ValueError(f"--grace-epochs must be between 1 and --epochs ({self.epochs}), got {self.grace_epochs}")
        if self.scheduler and self.reduction_factor <= 1:
            raise ValueError(f"--reduction-factor must be above 1, got {self.reduction_factor}")
        if self.scheduler and self.space == "tabular" and not self.trial_function:
            raise ValueError(
                f"--scheduler {self.scheduler} has nothing to stop early in a table replay (each "
                "architecture is one lookup); drop --scheduler"
            )
        if self.scheduler and self.searcher == "oneshot":
            raise ValueError(
                f"--scheduler {self.scheduler} has nothing to stop early in a one-shot search (each "
                "subnet is one evaluation on the shared weights); drop --scheduler"
            )
        if not self.cpus_per_trial > 0:
            raise ValueError(f"--cpus-per-trial must be above 0, got {self.cpus_per_trial:g}")
        if not self.gpus_per_trial >= 0:
            raise ValueError(f"--gpus-per-trial must be 0 or more, got {self.gpus_per_trial:g}")
        if not 0 < self.decay <= 1:
            raise ValueError(
                f"--decay must be above 0 and at most 1 (T is multiplied by it each step), got {self.decay:g}"
            )
        check_gpus("--gpus-per-trial", self.gpus_per_trial)
        for name in ("lr", "supernet_lr", "init_temperature", "reward_scale"):  # init_temperature None: calibrated
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ValueError(f"--{name.replace('_', '-')} must be above 0, got {value:g}")
        # the training recipe, which only Python or a --config file sets: a bad value would fail every trial
        for name, fits, what in (
            ("momentum", lambda v: 0 <= v <= 1, "between 0 and 1"),
            ("weight_decay", lambda v: v >= 0, "0 or more"),
            ("aux_weight", lambda v: v >= 0, "0 or more"),
            ("drop_path", lambda v: 0 <= v < 1, "a probability: at least 0 and below 1"),
        ):
            value = getattr(self, name)
            if not fits(value):
                raise ValueError(f"{name.replace('_', '-')} must be {what}, got {value:g}")
        if not self.grad_clip > 0:
            raise ValueError(f"grad-clip must be above 0 (the largest gradient norm), got {self.grad_clip:g}")
        if not 0 < self.val_fraction < 1:
            raise ValueError(f"val-fraction must be between 0 and 1, got {self.val_fraction:g}")
        if not 0 <= self.screened <= 1:
            raise ValueError(f"screened must be between 0 and 1, got {self.screened:g}")
        check_name(self.name)
        check_storage_path(self.storage_path)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def given(self) -> dict[str, Any]:
        """The settings that differ from their defaults: those a user gave, for :func:`check_applies`.

        Example:
            >>> SearchSettings(searcher="random", num_samples=20, max_params="20k").given()
            {'searcher': 'random', 'max_params': 20000}
        """
        defaults = SearchSettings()
        return {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if getattr(self, f.name) != getattr(defaults, f.name)
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)


#: settings that only one kind of search reads: given to another, they would silently do nothing
ONE_SHOT_FLAGS = (
    "subnet_searcher",
    "supernet_epochs",
    "supernet_batch_size",
    "supernet_lr",
    "num_subnets",
    "calibration_images",
    "retrain_top",
    "retrain_epochs",
)
SA_FLAGS = (
    "init_temperature",
    "warm_start",
    "restart_after",
    "far_moves",
    "screened",
    "screen_size",
    "decay",
    "reward_scale",
)
ASHA_FLAGS = ("grace_epochs", "reduction_factor")
#: settings raynas records itself (a trial function, a one-shot stage's supernet): never from a config file
INTERNAL_SETTINGS = ("trial_function", "supernet_checkpoint", "supernet_budget")
TRAINING_FLAGS = ("data", "data_dir", "epochs", "batch_size", "lr", "reward_epochs", "val_fraction")
DARTS_FLAGS = (
    "order",
    "layers",
    "init_channels",
    "arch_lr",
    "epochs_no_archopt",
    "seeds",
    "workers_per_trial",
    "cpus_per_worker",
    "gpus_per_worker",
)


def check_applies(values: dict[str, Any], trains: bool = True) -> None:
    """One clear line for a setting of ``values`` (flags given, a config file's keys, or the settings of
    :meth:`SearchSettings.given`, by name) that the search they describe would not read. ``trains=False``: a
    trial function of the user's runs the trials, and may read any training setting.

    Example:
        >>> check_applies({"searcher": "random", "decay": 0.9})
        Traceback (most recent call last):
        ValueError: --decay applies to SA (`raynas search sanas`, or oneshot with --searcher sanas) only; drop it \
from `raynas search random`
    """
    searcher = values.get("searcher", SearchSettings.searcher)
    sa = searcher == "sanas" or (searcher == "oneshot" and values.get("subnet_searcher", "sanas") in ("sanas", "sa"))
    replay = "table" in values or values.get("space") == "tabular"
    for names, applies, where in (
        (ONE_SHOT_FLAGS, searcher == "oneshot", "`raynas search oneshot`"),
        (SA_FLAGS, sa, "SA (`raynas search sanas`, or oneshot with --searcher sanas)"),
        (DARTS_FLAGS, searcher == "darts", "`raynas search darts`"),
        (ASHA_FLAGS, values.get("scheduler") not in (None, "", "none"), "a search with --scheduler asha"),
        (
            ("data_dir",),
            values.get("data", SearchSettings.data) != "digits",
            "--data mnist, fashion_mnist or cifar10 (digits is bundled)",
        ),
        (
            TRAINING_FLAGS,
            not (trains and replay),
            "searches that train networks (a --table replay looks accuracies up)",
        ),
    ):
        wrong = [name for name in names if name in values and not applies]
        if wrong:
            flag = "--searcher" if wrong[0] == "subnet_searcher" else f"--{wrong[0].replace('_', '-')}"
            raise ValueError(f"{flag} applies to {where} only; drop it from `raynas search {searcher}`")


#: the declared field types that :func:`coerce_fields` converts to, and how a message names each
KINDS = {
    "int": (int, "a whole number"),
    "float": (float, "a number"),
    "str": (str, "a string"),
    "bool": (bool, "true or false"),
    "dict": (dict, "a JSON object of argument -> value"),
}


def underscored(values: Any, source: str = "settings") -> dict[str, Any]:
    """``values`` with every key's ``-`` turned into ``_``; a key given both ways is an error.

    Example:
        >>> underscored({"max-params": "20k", "seed": 1})
        {'max_params': '20k', 'seed': 1}
    """
    if not isinstance(values, dict):
        raise ValueError(f"{source} must be a mapping of setting -> value, got a {type(values).__name__}")
    out: dict[str, Any] = {}
    spelled: dict[str, Any] = {}
    for key, value in values.items():
        name = str(key).replace("-", "_")
        if name in out:
            raise ValueError(f"{source}: {spelled[name]!r} and {key!r} are the same setting; keep one of them")
        out[name], spelled[name] = value, key
    return out


def coerce_fields(settings: Any, prefix: str = "") -> None:
    """Convert every field of the dataclass ``settings`` to its declared type (``"1e-3"`` -> 0.001, ``"3"`` -> 3,
    ``2.0`` -> 2); a value that does not convert is a ``ValueError`` naming the setting (``prefix`` + flag name).
    Fields of other types (``Any``, tuples) are left to the setting's own checks.

    Example:
        >>> s = SearchSettings(lr="1e-3", seed="3")
        >>> s.lr, s.seed
        (0.001, 3)
    """
    for f in dataclasses.fields(settings):
        value = getattr(settings, f.name)
        declared = [part.strip().split("[")[0] for part in str(f.type).split("|")]  # "int | None" -> int, None
        kinds = [kind for kind in declared if kind in KINDS]
        if not kinds or (value is None and "None" in declared):
            continue
        for kind in kinds:
            try:
                setattr(settings, f.name, _convert(value, kind))
                break
            except (TypeError, ValueError):
                continue
        else:
            wanted = " or ".join(KINDS[kind][1] for kind in kinds)
            raise ValueError(f"{prefix}{f.name.replace('_', '-')} must be {wanted}, got {value!r}")


def _convert(value: Any, kind: str) -> Any:
    """``value`` as the type named ``kind``; ``TypeError`` or ``ValueError`` when it is not one. Numbers may be
    given as text (a YAML ``1e-3`` is a string); a bool is never a number."""
    if kind == "str" and isinstance(value, os.PathLike):  # a pathlib.Path
        return os.fspath(value)
    if kind in ("str", "bool", "dict"):
        if not isinstance(value, KINDS[kind][0]):
            raise TypeError(f"not a {kind}")
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise TypeError("not a number")
    if kind == "float":
        number = float(value)
        if not math.isfinite(number):
            raise ValueError("not a finite number")
        return number
    if isinstance(value, float) and not value.is_integer():
        raise ValueError("not a whole number")
    return int(value)  # an int, a whole float, or the text of an int such as "3"


def check_gpus(flag: str, value: float) -> None:
    """Ray gives a task a fraction of one GPU or whole GPUs, nothing in between.

    Example:
        >>> check_gpus("--gpus-per-trial", 0.5); check_gpus("--gpus-per-trial", 2)
        >>> check_gpus("--gpus-per-trial", 1.5)
        Traceback (most recent call last):
        ValueError: --gpus-per-trial must be a fraction below 1 or a whole number (Ray shares a GPU in fractions \
of one only), got 1.5
    """
    if value > 1 and value != int(value):
        raise ValueError(
            f"{flag} must be a fraction below 1 or a whole number (Ray shares a GPU in fractions of one "
            f"only), got {value:g}"
        )


def check_storage_path(path: str) -> None:
    """A URI is written as URIs are: a space in it is ``%20``.

    Example:
        >>> check_storage_path("file:///data/my runs")
        Traceback (most recent call last):
        ValueError: --storage-path 'file:///data/my runs' is a URI with a space in it; write the space as %20 \
(file:///data/my%20runs) or give a plain folder
    """
    if path.startswith("file:") and not path.startswith("file://"):  # else a local folder named "file:"
        raise ValueError(
            f"--storage-path {path!r}: write a file URI with three slashes "
            f"(file:///{path[len('file:') :].lstrip('/')}) or give a plain folder"
        )
    if "://" in path and any(c.isspace() for c in path):
        raise ValueError(
            f"--storage-path {path!r} is a URI with a space in it; write the space as %20 "
            f"({path.replace(' ', '%20')}) or give a plain folder"
        )


def check_name(name: str) -> None:
    """A search's name is one folder under the storage path."""
    if not name.strip() or name in (".", "..") or "/" in name or "\\" in name:
        raise ValueError(
            f"--name must be a plain folder name (not blank, no '/' or '\\', not '.' or '..'), got {name!r}"
        )


def parse_count(value: Any, name: str = "count") -> int:
    """``12000``, ``"12000"``, ``"12k"``, ``"3.77M"`` -> int. Parameter counts are whole, so a fraction is exact
    when rounded inwards: a ``min_params`` rounds up, any other count down.

    Example:
        >>> parse_count("3.77M"), parse_count(20000.5, "max_params"), parse_count("20.0005k", "min_params")
        (3770000, 20000, 20001)
    """
    message = f"{name.replace('_', '-')} must be a number like 20000, 20k or 3.5M, got {value!r}"
    if isinstance(value, bool):
        raise ValueError(message)
    if isinstance(value, int):
        return value
    text = str(value).strip().lower().replace("_", "")
    scale = {"k": 1_000, "m": 1_000_000}.get(text[-1:], 1)
    try:
        count = decimal.Decimal(text[:-1] if scale > 1 else text) * scale
        if not count.is_finite():
            raise ValueError(message)
        return int(count.to_integral_value(decimal.ROUND_CEILING if name == "min_params" else decimal.ROUND_FLOOR))
    except decimal.InvalidOperation:  # not a number
        raise ValueError(message) from None
