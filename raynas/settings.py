"""Everything a search is run with: one dataclass, shared by the CLI, config files and ``raynas resume``.

Example:
    >>> s = SearchSettings.from_dict({"searcher": "sanas", "max-params": "20k", "num_samples": 6})
    >>> s.max_params, s.num_samples
    (20000, 6)
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import decimal
import importlib
import json
import math
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

SETTINGS_FILE = "raynas_search.json"
#: the ``searcher`` of a one-shot search, an ENAS search (their kinds of run, see :mod:`raynas.runs.registry`) and a
#: DARTS search
ONE_SHOT, ENAS, DARTS = "oneshot", "enas", "darts"
#: the searches on shared weights: their options are in ``SearchSettings.oneshot_options``
WEIGHT_SHARING = (ONE_SHOT, ENAS)
#: how messages name a setting: "settings" (``max_params``, for Python) or "flags" (``--max-params``, for the CLI)
_naming: contextvars.ContextVar[str] = contextvars.ContextVar("raynas_naming", default="settings")
#: whether settings are built for a stage of a one-shot search (see :func:`one_shot_stages`)
_stage: contextvars.ContextVar[bool] = contextvars.ContextVar("raynas_one_shot_stage", default=False)
NAMINGS = ("settings", "flags")


def named(setting: str) -> str:
    """The name of ``setting`` as whoever gave it sees it: the setting's own name (``max_params``) from Python or
    a config file, its flag (``--max-params``) while the CLI runs (see :func:`naming`). Errors name settings so.

    Example:
        >>> named("max_params")
        'max_params'
        >>> with naming("flags"):
        ...     named("max_params")
        '--max-params'
    """
    if _naming.get() == "flags":
        return f"--{setting.replace('_', '-')}"
    return setting.replace("-", "_")


def keyed(setting: str) -> str:
    """The name of ``setting``, one with no flag of its own, as whoever gave it sees it: the setting's name
    (``searcher_options``) from Python, its config-file key (``searcher-options``) while the CLI runs.

    Example:
        >>> with naming("flags"):
        ...     keyed("searcher_options")
        'searcher-options'
    """
    return named(setting).lstrip("-")


def naming_flags() -> bool:
    """Whether :func:`named` gives flags now (the CLI runs): for a message whose advice differs beyond the name."""
    return _naming.get() == "flags"


@contextlib.contextmanager
def naming(style: str) -> Iterator[None]:
    """Name settings in ``style`` ("flags" or "settings") in :func:`named`, until the block ends: the CLI runs
    its command within ``naming("flags")``, so that errors name the flags its user gave."""
    if style not in NAMINGS:
        raise ValueError(f"naming must be one of {', '.join(NAMINGS)}, got {style!r}")
    token = _naming.set(style)
    try:
        yield
    finally:
        _naming.reset(token)


#: trial schedulers a search accepts (None: every trial trains all epochs)
SCHEDULERS = (None, "asha")
#: short names of searchers (a one-shot search's subnet searcher may be given so)
ALIASES = {"sa": "sanas"}


@dataclass(frozen=True)
class Option:
    """One option of a searcher, declared once next to its class (``OPTIONS``). The searcher's constructor takes
    it as the keyword argument ``name`` with this ``default``; settings take it in ``searcher_options``, config
    files as a key, the CLI as ``--name`` (``-`` for ``_``).

    Example:
        >>> decay = Option("decay", float, 0.97, "T is multiplied by this each step", fits=lambda v: 0 < v <= 1,
        ...                must="above 0 and at most 1")
        >>> decay.convert("0.9"), decay.flag
        (0.9, '--decay')
        >>> decay.convert(2)
        Traceback (most recent call last):
        ValueError: decay must be above 0 and at most 1, got 2
    """

    name: str
    #: int, float, bool or str: what a value is converted to ("3" -> 3, "1e-3" -> 0.001)
    type: type
    default: Any
    help: str
    #: words a value may be besides one of ``type``: "auto" is kept as it is, "none" is None
    words: tuple[str, ...] = ()
    #: a converted value must pass this (e.g. ``lambda v: v >= 1``)
    fits: Callable[[Any], bool] | None = None
    #: what a value must be, for an error: the range ``fits`` checks, or with ``words`` the whole description
    must: str = ""

    @property
    def flag(self) -> str:
        return f"--{self.name.replace('_', '-')}"

    @property
    def nullable(self) -> bool:
        """Whether the option may be None (given as ``none``): when that is its default, or one of its words."""
        return self.default is None or "none" in self.words

    def convert(self, value: Any) -> Any:
        """``value`` as this option takes it; a value it does not take is a ``ValueError`` naming the option."""
        label = named(self.name)
        word = value.strip().lower() if isinstance(value, str) else value
        if value is None or word == "none":
            if self.nullable:
                return None
        elif word in self.words:
            return word
        kind = self.type.__name__
        try:
            converted = _convert(value, kind)
        except (TypeError, ValueError):
            wanted = self.must if self.words and self.must else " or ".join([KINDS[kind][1], *self.words])
            raise ValueError(f"{label} must be {wanted}, got {value!r}") from None
        if self.fits is not None and not self.fits(converted):
            shown = f"{converted:g}" if isinstance(converted, float) else repr(converted)
            raise ValueError(f"{label} must be {self.must}, got {shown}")
        return converted

    def shown_default(self) -> str:
        """The default as a flag or a config file gives it.

        Example:
            >>> Option("window", int, None, "").shown_default(), Option("on", bool, False, "").shown_default()
            ('none', 'false')
        """
        if self.default is None or isinstance(self.default, bool):
            return str(self.default).lower()
        return f"{self.default:g}" if isinstance(self.default, float) else str(self.default)


#: the searchers by name (a mapping of name -> class with ``OPTIONS``), given by :mod:`raynas.searchers` when it is
#: imported: it imports Ray, and settings sit below it (they are read without Ray)
_searchers: Mapping[str, Any] | None = None


def use_searchers(searchers: Mapping[str, Any]) -> None:
    """Read the options of each searcher from ``searchers`` (name -> class): :mod:`raynas.searchers` calls this."""
    global _searchers
    _searchers = searchers


def searcher_options(name: str) -> tuple[Option, ...] | None:
    """The options searcher ``name`` declares; ``None`` for a name that is no token searcher.

    Example:
        >>> [option.name for option in searcher_options("evolution")]
        ['population', 'sample_size', 'mutation_prob']
        >>> searcher_options("random"), searcher_options("darts")
        ((), None)
    """
    if _searchers is None:  # not imported yet: importing them hands them over (see use_searchers)
        importlib.import_module("raynas.searchers")
    assert _searchers is not None
    if not isinstance(name, str):
        return None
    cls = _searchers.get(ALIASES.get(name, name))
    return None if cls is None else tuple(cls.OPTIONS)


def option_owners() -> dict[str, list[str]]:
    """Option name -> the searchers that declare it, in the order of the searchers."""
    searcher_options("random")  # the searchers, imported
    assert _searchers is not None
    owners: dict[str, list[str]] = {}
    for name, cls in _searchers.items():
        for option in cls.OPTIONS:
            owners.setdefault(option.name, []).append(name)
    return owners


def options_searcher(searcher: str, subnet_searcher: str = "sanas") -> str:
    """The searcher whose options a search takes: its own, or for a one-shot search the subnets' searcher."""
    name = subnet_searcher if searcher == ONE_SHOT else searcher
    return ALIASES.get(name, name) if isinstance(name, str) else name


def oneshot_declared(searcher: str = ONE_SHOT) -> tuple[Option, ...]:
    """The options of a one-shot search (``searcher="enas"``: of an ENAS search), declared next to it (``OPTIONS``
    of :mod:`raynas.runs.oneshot` / :mod:`raynas.runs.enas`, imported when first needed: they import Ray and torch,
    and settings sit below them).

    Example:
        >>> [option.name for option in oneshot_declared()][:3]
        ['subnet_searcher', 'supernet_epochs', 'supernet_batch_size']
        >>> "controller_lr" in [option.name for option in oneshot_declared("enas")]
        True
    """
    return tuple(importlib.import_module(f"raynas.runs.{'enas' if searcher == ENAS else 'oneshot'}").OPTIONS)


def shared_owners() -> dict[str, list[str]]:
    """Option name -> the searches on shared weights (``oneshot``, ``enas``) that declare it."""
    owners: dict[str, list[str]] = {}
    for kind in WEIGHT_SHARING:
        for option in oneshot_declared(kind):
            owners.setdefault(option.name, []).append(kind)
    return owners


def scheduler_declared() -> dict[str | None, tuple[Option, ...]]:
    """The options of each trial scheduler, by its name, declared next to it (``OPTIONS`` of
    :mod:`raynas.tune.schedulers`, imported when first needed: it imports Ray, and settings sit below it).

    Example:
        >>> [option.name for option in scheduler_declared()["asha"]]
        ['grace_epochs', 'reduction_factor']
    """
    return dict(importlib.import_module("raynas.tune.schedulers").OPTIONS)


def scheduler_owners() -> dict[str, list[str]]:
    """Option name -> the trial schedulers that declare it."""
    owners: dict[str, list[str]] = {}
    for scheduler, options in scheduler_declared().items():
        for option in options:
            owners.setdefault(option.name, []).append(str(scheduler))
    return owners


def checked_scheduler(scheduler: str | None, options: Any) -> dict[str, Any]:
    """``options`` of trial scheduler ``scheduler``, each converted as its :class:`Option` declares and those at
    their default left out; an option it does not declare or a value it does not take is a ``ValueError`` naming
    the option.

    Example:
        >>> checked_scheduler("asha", {"grace-epochs": "2", "reduction_factor": 3})
        {'grace_epochs': 2}
        >>> checked_scheduler(None, {"grace_epochs": 2})
        Traceback (most recent call last):
        ValueError: grace_epochs applies to a search with scheduler asha only; drop it
    """
    if not isinstance(options, dict):
        raise ValueError(f"{keyed('scheduler_options')} must be a JSON object of option -> value, got {options!r}")
    options = underscored(options, keyed("scheduler_options"))
    if not options:
        return options
    declared = {option.name: option for option in scheduler_declared().get(scheduler, ())}
    owners = scheduler_owners()
    out = {}
    for key, value in options.items():
        if key not in declared:
            if key in owners:
                raise ValueError(f"{named(key)} applies to {_scheduled(owners[key])} only; drop it")
            raise ValueError(f"no trial scheduler has an option {key!r}; their options: {', '.join(owners)}")
        value = declared[key].convert(value)
        if not _same(value, declared[key].default):
            out[key] = value
    return out


@contextlib.contextmanager
def one_shot_stages() -> Iterator[None]:
    """Settings built until the block ends may hold ``oneshot_options`` whatever their searcher: the stages of a
    one-shot search (:mod:`raynas.runs.oneshot` runs them so) search with the subnets' searcher and read them."""
    token = _stage.set(True)
    try:
        yield
    finally:
        _stage.reset(token)


def checked_oneshot(searcher: str, options: dict[str, Any], stage: bool = False) -> dict[str, Any]:
    """``options`` of a one-shot search, each converted as its :class:`Option` declares and those at their default
    left out; an option it does not declare, a value it does not take, or any option given to another search (but
    a ``stage`` of a one-shot search) is a ``ValueError`` naming the option.

    Example:
        >>> checked_oneshot("oneshot", {"num-subnets": "50", "supernet_lr": 0.05})
        {'num_subnets': 50}
        >>> checked_oneshot("sanas", {"num_subnets": 50})
        Traceback (most recent call last):
        ValueError: num_subnets applies to `raynas search oneshot` or `raynas search enas` only; drop it from \
`raynas search sanas`
    """
    if not isinstance(options, dict):
        raise ValueError(f"{keyed('oneshot_options')} must be a JSON object of option -> value, got {options!r}")
    options = underscored(options, keyed("oneshot_options"))
    if not options:
        return options
    kinds = (searcher,) if searcher in WEIGHT_SHARING else WEIGHT_SHARING  # a stage: of either
    declared = {option.name: option for kind in kinds for option in oneshot_declared(kind)}
    owners = shared_owners()
    for key in options:
        if key in owners and key not in declared:  # an option of the other search on shared weights
            raise ValueError(f"{named(key)} applies to {_shared_where(owners[key])} only; drop it")
        if key not in declared:
            what = "an ENAS" if searcher == ENAS else "a one-shot"
            raise ValueError(f"{what} search has no option {key!r}; its options: {', '.join(declared)}")
    if searcher not in WEIGHT_SHARING and not stage and not _stage.get():
        key = next(iter(options))
        raise ValueError(
            f"{named(key)} applies to {_shared_where(shared_owners()[key])} only; drop it from `raynas search "
            f"{searcher}`"
        )
    out = {}
    for key, value in options.items():
        value = declared[key].convert(value)
        if key == "subnet_searcher":
            value = ALIASES.get(value, value)
        if not _same(value, declared[key].default):
            out[key] = value
    return out


#: the options of SA that were settings of their own before ``searcher_options``, with their defaults: records
#: written then hold all of them (:func:`gather_options` moves them)
SA_SETTINGS = {
    "init_temperature": None,
    "decay": 0.97,
    "reward_scale": 1.0,
    "warm_start": "auto",
    "restart_after": "auto",
    "far_moves": "auto",
    "screened": 0.5,
    "screen_size": 5,
}


@dataclass
class RunSettings:
    """What every kind of run shares (a search, a DARTS search, a pipeline): its data, its seed and where it
    stores. Each kind's settings extend it, and give their run a ``name`` of their own."""

    data: str = "digits"
    data_dir: str | None = None
    seed: int = 0
    storage_path: str = "./runs"


@dataclass
class TrialSettings(RunSettings):
    """What the runs of trials that train (a search, a DARTS search) share besides: the space's arguments, the
    validation split, the cluster and the retries of a failed trial."""

    space_kwargs: dict[str, Any] = field(default_factory=dict)
    val_fraction: float = 0.2
    address: str | None = None
    #: retries of a trial that failed, from its newest checkpoint (-1: always)
    max_failures: int = 0


def defaults(cls: type[Any], names: Iterable[str] | None = None) -> dict[str, Any]:
    """The defaults of the fields ``names`` (all, when None) of the dataclass ``cls``, by name: a trial's
    defaults, taken from the settings that declare them.

    Example:
        >>> defaults(RunSettings)
        {'data': 'digits', 'data_dir': None, 'seed': 0, 'storage_path': './runs'}
        >>> defaults(TrialSettings, ("space_kwargs", "val_fraction"))
        {'space_kwargs': {}, 'val_fraction': 0.2}
    """
    declared = {f.name: f for f in dataclasses.fields(cls)}
    out = {}
    for name in declared if names is None else names:
        factory = declared[name].default_factory
        out[name] = declared[name].default if factory is dataclasses.MISSING else factory()
    return out


@dataclass
class SearchSettings(TrialSettings):
    """One architecture search: what to search, on what data, with what budget and resources. The settings every
    search shares are fields; the options of one searcher (its class's ``OPTIONS``) are in ``searcher_options``,
    those of a one-shot search (``OPTIONS`` of :mod:`raynas.runs.oneshot`) in ``oneshot_options``, those of the
    trial scheduler (``OPTIONS`` of :mod:`raynas.tune.schedulers`) in ``scheduler_options``."""

    searcher: str = "sanas"
    space: str = "small_channel"
    max_params: int | None = None
    min_params: int | None = None
    num_samples: int = 20
    epochs: int = 3
    concurrency: int = 2
    cpus_per_trial: float = 1.0
    gpus_per_trial: float = 0.0
    name: str = "search"
    # training recipe (SANAS / DARTS defaults)
    batch_size: int = 96
    lr: float = 0.025
    momentum: float = 0.9
    weight_decay: float = 3e-4
    grad_clip: float = 5.0
    aux_weight: float = 0.4
    drop_path: float = 0.2
    reward_epochs: int = 2
    #: the options of the searcher (of the subnets' searcher, in a one-shot search), by name: those its class
    #: declares in ``OPTIONS`` (e.g. ``{"decay": 0.9}`` for sanas, ``{"population": 50}`` for evolution)
    searcher_options: dict[str, Any] = field(default_factory=dict)
    #: the options of a one-shot search (`raynas search oneshot`: supernet -> subnet search -> retrain of the
    #: best) by name, those at their default left out: e.g. ``{"num_subnets": 50, "subnet_searcher": "random"}``;
    #: :meth:`oneshot` gives all of them
    oneshot_options: dict[str, Any] = field(default_factory=dict)
    # recorded by a one-shot search itself
    supernet_budget: bool = True
    supernet_checkpoint: str | None = None
    # early stopping: a Tune scheduler on the epoch
    scheduler: str | None = None
    #: the options of the scheduler, by name, those at their default left out: those :mod:`raynas.tune.schedulers`
    #: declares for it in ``OPTIONS`` (e.g. ``{"grace_epochs": 2}`` for asha)
    scheduler_options: dict[str, Any] = field(default_factory=dict)
    #: ``module:name`` of the trial function given to ``raynas.run`` in place of the built-in training
    trial_function: str | None = None
    #: ``module:name`` of the class of a searcher or scheduler object given to ``raynas.run`` in place of
    #: ``searcher`` / ``scheduler``
    own_searcher: str | None = None
    own_scheduler: str | None = None

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> SearchSettings:
        """Build from a dict whose keys are field names (``-`` or ``_``); unknown keys are an error. A searcher
        option, an option of a one-shot search or of the scheduler may be given at the top level too
        (``{"decay": 0.9}``, as config files and the records of earlier versions give them): see
        :func:`gather_options`.

        Example:
            >>> SearchSettings.from_dict({"searcher": "evolution", "population": 20}).searcher_options
            {'population': 20}
            >>> SearchSettings.from_dict({"searcher": "oneshot", "num-subnets": 20}).oneshot_options
            {'num_subnets': 20}
        """
        names = {f.name for f in dataclasses.fields(cls)}
        kwargs = gather_options(underscored(values))
        for name in kwargs:
            if name not in names:
                raise ValueError(
                    f"unknown setting {name!r}; known settings: {', '.join(sorted(names))}; searcher "
                    f"options: {', '.join(option_owners())}"
                )
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
                    raise ValueError(f"{named(name)} must be a parameter count of 0 or more, got {value!r}")
        if self.max_params is not None and self.min_params is not None and self.min_params > self.max_params:
            raise ValueError(
                f"{named('min_params')} {self.min_params} is above {named('max_params')} {self.max_params}; no "
                "architecture fits between them"
            )
        if not isinstance(self.space, (str, int, float, list, dict, type(None))):  # a space or a model: each
            # trial recreates the space from its name
            raise ValueError(
                f"space must be a name, not a {type(self.space).__name__} object: a built-in space, "
                "'tabular', or 'package.module:factory' of your own"
            )
        coerce_fields(self)
        self.oneshot_options = checked_oneshot(self.searcher, self.oneshot_options, bool(self.supernet_checkpoint))
        subnet_searcher = self.oneshot_options.get("subnet_searcher", "sanas")
        self.searcher_options = checked_options(self.searcher, subnet_searcher, self.searcher_options)
        if self.data_dir:
            self.data_dir = os.path.abspath(os.path.expanduser(self.data_dir))
        for key, value in self.space_kwargs.items():  # recorded as JSON, and recreated from it in every trial
            try:
                json.dumps(value, allow_nan=False)
            except (TypeError, ValueError):
                raise ValueError(
                    f"{named('space_kwargs')} {key!r} is a {type(value).__name__}, which JSON cannot record; give "
                    "numbers, strings, true/false, null, lists or objects of them (e.g. int(value))"
                ) from None
        path = self.space_kwargs.get("path")
        # recorded absolute (any other path is the space's to refuse), but for a table's word that names no file
        # here: a published table's name, which raynas.spaces.tables finds on any machine that downloaded it
        if isinstance(path, str) and (self.space != "tabular" or os.sep in path or os.path.exists(path)):
            self.space_kwargs["path"] = os.path.abspath(os.path.expanduser(path))
        for name, low in (
            ("num_samples", 1),
            ("epochs", 1),
            ("concurrency", 1),
            ("reward_epochs", 1),
            ("batch_size", 1),
            ("max_failures", -1),
            ("seed", 0),
        ):
            value = getattr(self, name)
            if value < low:
                raise ValueError(f"{named(name)} must be at least {low}, got {value}")
        if self.scheduler in ("", "none"):
            self.scheduler = None
        if self.scheduler not in SCHEDULERS:
            raise ValueError(
                f"unknown scheduler {self.scheduler!r}; choose one of: "
                f"{', '.join(s for s in SCHEDULERS if s)} (or none)"
            )
        self.scheduler_options = checked_scheduler(self.scheduler, self.scheduler_options)
        grace = self.scheduler_options.get("grace_epochs")  # ASHA's: left out at its default, 1
        if grace is not None and not 1 <= grace <= self.epochs:
            raise ValueError(
                f"{named('grace_epochs')} must be between 1 and {named('epochs')} ({self.epochs}), got {grace}"
            )
        if self.scheduler and self.space == "tabular" and not self.trial_function:
            raise ValueError(
                f"{named('scheduler')} {self.scheduler} has nothing to stop early in a table replay (each "
                f"architecture is one lookup); drop {named('scheduler')}"
            )
        if self.scheduler and self.searcher in WEIGHT_SHARING:
            raise ValueError(
                f"{named('scheduler')} {self.scheduler} has nothing to stop early in a one-shot search (each "
                f"subnet is one evaluation on the shared weights); drop {named('scheduler')}"
            )
        if not self.cpus_per_trial > 0:
            raise ValueError(f"{named('cpus_per_trial')} must be above 0, got {self.cpus_per_trial:g}")
        if not self.gpus_per_trial >= 0:
            raise ValueError(f"{named('gpus_per_trial')} must be 0 or more, got {self.gpus_per_trial:g}")
        check_gpus("gpus_per_trial", self.gpus_per_trial)
        if not self.lr > 0:
            raise ValueError(f"{named('lr')} must be above 0, got {self.lr:g}")
        # the training recipe, which only Python or a --config file sets: a bad value would fail every trial
        for name, fits, what in (
            ("momentum", lambda v: 0 <= v <= 1, "between 0 and 1"),
            ("weight_decay", lambda v: v >= 0, "0 or more"),
            ("aux_weight", lambda v: v >= 0, "0 or more"),
            ("drop_path", lambda v: 0 <= v < 1, "a probability: at least 0 and below 1"),
        ):
            value = getattr(self, name)
            if not fits(value):
                raise ValueError(f"{named(name)} must be {what}, got {value:g}")
        if not self.grad_clip > 0:
            raise ValueError(
                f"{named('grad_clip')} must be above 0 (the largest gradient norm), got {self.grad_clip:g}"
            )
        if not 0 < self.val_fraction < 1:
            raise ValueError(f"{named('val_fraction')} must be between 0 and 1, got {self.val_fraction:g}")
        check_name(self.name)
        check_storage_path(self.storage_path)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def oneshot(self) -> dict[str, Any]:
        """Every option of a one-shot search: ``oneshot_options`` over the defaults its declaration gives.

        Example:
            >>> options = SearchSettings(searcher="oneshot", oneshot_options={"num_subnets": 8}).oneshot()
            >>> options["num_subnets"], options["supernet_epochs"], options["subnet_searcher"]
            (8, 60, 'sanas')
        """
        declared = oneshot_declared(self.searcher)
        return {**{option.name: option.default for option in declared}, **self.oneshot_options}

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


#: settings that only one kind of search reads: given to another, they would silently do nothing (and those of a
#: one-shot search, :func:`oneshot_declared`, and of a scheduler, :func:`scheduler_declared`)
#: settings raynas records itself (a trial function, a one-shot stage's supernet): never from a config file
INTERNAL_SETTINGS = ("trial_function", "own_searcher", "own_scheduler", "supernet_checkpoint", "supernet_budget")
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
    trial function of the user's runs the trials, and may read any training setting. A searcher option may be
    given at the top level (a flag) or in ``searcher_options``, an option of a one-shot search so or in
    ``oneshot_options``, an option of the scheduler so or in ``scheduler_options``.

    Example:
        >>> check_applies({"searcher": "random", "decay": 0.9})
        Traceback (most recent call last):
        ValueError: decay applies to SA (`raynas search sanas`, or oneshot with --searcher sanas) only; drop it \
from `raynas search random`
    """
    searcher = values.get("searcher", SearchSettings.searcher)
    options = values.get("searcher_options")
    nested = (options, values.get("oneshot_options"), values.get("scheduler_options"))
    given = {key: value for held in nested if isinstance(held, dict) for key, value in underscored(held).items()}
    given.update(values)
    subnet_searcher = given.get("subnet_searcher", "sanas")
    declared = searcher_options(options_searcher(searcher, subnet_searcher)) or ()
    own = {option.name for option in declared}
    replay = "table" in values or values.get("space") == "tabular"
    shared = shared_owners()
    own_shared = {name for name, kinds in shared.items() if searcher in kinds}
    for names, applies, where in (
        *(((name,), searcher in kinds, _shared_where(kinds)) for name, kinds in shared.items() if name != "seeds"),
        (("seeds",), searcher in (DARTS, ENAS), "`raynas search darts` or `raynas search enas`"),
        *(((name,), name in own, _owners(owners)) for name, owners in option_owners().items()),
        (tuple(n for n in DARTS_FLAGS if n != "seeds"), searcher == DARTS, "`raynas search darts`"),
        *(
            ((name,), values.get("scheduler") in owners, _scheduled(owners))
            for name, owners in scheduler_owners().items()
        ),
        (
            ("data_dir",),
            values.get("data", SearchSettings.data) != "digits",
            f"{named('data')} mnist, fashion_mnist or cifar10 (digits is bundled)",
        ),
        (
            TRAINING_FLAGS,
            not (trains and replay),
            f"searches that train networks (a {named('table')} replay looks accuracies up)",
        ),
    ):
        wrong = [name for name in names if name in given and not applies and name not in own_shared]
        if wrong:
            flag = "--searcher" if wrong[0] == "subnet_searcher" and naming_flags() else named(wrong[0])
            raise ValueError(f"{flag} applies to {where} only; drop it from `raynas search {searcher}`")


def _shared_where(kinds: list[str]) -> str:
    """Where an option of searches on shared weights applies: "`raynas search oneshot` or ..."."""
    return " or ".join(f"`raynas search {kind}`" for kind in kinds)


def _scheduled(schedulers: list[str]) -> str:
    """Where an option of trial schedulers applies: "a search with scheduler asha"."""
    return " or ".join(f"a search with {named('scheduler')} {scheduler}" for scheduler in schedulers)


def _owners(searchers: list[str]) -> str:
    """Where the searchers of an option run: ``SA (`raynas search sanas`, or oneshot with --searcher sanas)``."""
    return " or ".join(
        f"{'SA' if s == 'sanas' else s} (`raynas search {s}`, or oneshot with --searcher {s})" for s in searchers
    )


def gather_options(values: dict[str, Any]) -> dict[str, Any]:
    """``values`` (settings by name) with each searcher option given at the top level moved into
    ``searcher_options``, each option of a one-shot search into ``oneshot_options`` and each option of a
    scheduler into ``scheduler_options``, as :meth:`SearchSettings.from_dict` takes them: config files may give
    them either way, and the records of raynas 0.1 hold SA's, the one-shot search's and ASHA's at the top level
    (all of them, :data:`SA_SETTINGS`, :func:`oneshot_declared` and :func:`scheduler_declared`; those at their
    defaults are left out, as a search given none records none). An option given both ways is an error.

    Example:
        >>> gather_options({"searcher": "sanas", "decay": 0.9, "warm_start": "auto", "seed": 1})
        {'searcher': 'sanas', 'seed': 1, 'searcher_options': {'decay': 0.9}}
        >>> gather_options({"searcher": "oneshot", "num_subnets": 8, "supernet_lr": 0.05})
        {'searcher': 'oneshot', 'oneshot_options': {'num_subnets': 8}}
        >>> gather_options({"scheduler": "asha", "grace_epochs": 2, "reduction_factor": 3.0})
        {'scheduler': 'asha', 'scheduler_options': {'grace_epochs': 2}}
    """
    fields = {f.name for f in dataclasses.fields(SearchSettings)}
    extra = [key for key in values if key not in fields]
    # both kinds' options (those of the other are refused by name when the settings are checked)
    shot = {option.name: option.default for kind in WEIGHT_SHARING for option in oneshot_declared(kind)}
    shot = shot if extra else {}
    schedule = {option.name: option.default for options in scheduler_declared().values() for option in options}
    schedule = schedule if extra else {}
    defaults = [
        key
        for key in extra
        if (key in SA_SETTINGS and _same(values[key], SA_SETTINGS[key]))
        or (key in shot and _same(values[key], shot[key]))
        or (key in schedule and _same(values[key], schedule[key]))
    ]
    extra = [key for key in extra if key not in defaults]
    shot_moved = [key for key in extra if key in shot]
    schedule_moved = [key for key in extra if key in schedule]
    owners = option_owners() if len(extra) > len(shot_moved) + len(schedule_moved) else {}
    moved = [key for key in extra if key in owners]
    out = {key: value for key, value in values.items() if key not in defaults + moved + shot_moved + schedule_moved}
    for field_name, keys, what in (
        ("oneshot_options", shot_moved, "one-shot"),
        ("searcher_options", moved, "searcher"),
        ("scheduler_options", schedule_moved, "scheduler"),
    ):
        if keys:
            out[field_name] = _merged(values, field_name, keys, what)
    return out


def _merged(values: dict[str, Any], field_name: str, keys: list[str], what: str) -> dict[str, Any]:
    """The options dict ``values[field_name]`` with the top-level ``keys`` of ``values`` moved into it."""
    source = keyed(field_name)
    given = values.get(field_name, {})
    if not isinstance(given, dict):
        raise ValueError(f"{source} must be a JSON object of option -> value, got {given!r}")
    given = underscored(given, source)
    twice = next((key for key in keys if key in given), None)
    if twice:
        raise ValueError(f"{what} option {twice!r} is given as a setting and in {source}; give it once")
    return {**given, **{key: values[key] for key in keys}}


def upgrade_record(record: dict[str, Any]) -> dict[str, Any]:
    """A record of settings (:meth:`SearchSettings.to_dict`, with keys of its own perhaps) in the shape this
    version writes: one an earlier version wrote holds SA's options, the one-shot search's and ASHA's at the top
    level, and no searcher_options, oneshot_options or scheduler_options.

    Example:
        >>> upgrade_record({"searcher": "sanas", "decay": 0.97, "screened": 0.0, "grace_epochs": 1})
        {'searcher': 'sanas', 'searcher_options': {'screened': 0.0}, 'oneshot_options': {}, 'scheduler_options': {}}
    """
    out = gather_options(record)
    return {**out, **{key: out.get(key, {}) for key in ("searcher_options", "oneshot_options", "scheduler_options")}}


def _same(value: Any, default: Any) -> bool:
    """Whether a recorded ``value`` is ``default`` (``1`` is ``1.0``; ``True`` is no number)."""
    return value == default and isinstance(value, bool) == isinstance(default, bool)


def checked_options(searcher: str, subnet_searcher: str, options: dict[str, Any]) -> dict[str, Any]:
    """``options`` of the searcher that ``searcher`` (with ``subnet_searcher``, for a one-shot search) runs, each
    converted as its :class:`Option` declares; one it does not declare, or a value it does not take, is a
    ``ValueError`` naming the option.

    Example:
        >>> checked_options("tpe", "sanas", {"n-startup-trials": "5"})
        {'n_startup_trials': 5}
        >>> checked_options("random", "sanas", {"decay": 0.9})
        Traceback (most recent call last):
        ValueError: searcher 'random' has no option 'decay' (an option of sanas); its options: none
    """
    options = underscored(options, keyed("searcher_options"))
    if not options:
        return options
    name = options_searcher(searcher, subnet_searcher)
    declared = searcher_options(name)
    who = f"{name!r} (the subnets' searcher of this one-shot search)" if searcher == ONE_SHOT else repr(name)
    if declared is None:
        raise ValueError(
            f"searcher {who} takes no searcher options, got {', '.join(map(repr, options))}; the token searchers "
            f"({', '.join(_searchers or ())}) take them"
        )
    by_name = {option.name: option for option in declared}
    for key in options:
        if key not in by_name:
            owners = option_owners().get(key)
            belongs = f" (an option of {' and '.join(owners)})" if owners else ""
            raise ValueError(
                f"searcher {who} has no option {key!r}{belongs}; its options: {', '.join(by_name) or 'none'}"
            )
    return {key: by_name[key].convert(value) for key, value in options.items()}


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


def coerce_fields(settings: Any) -> None:
    """Convert every field of the dataclass ``settings`` to its declared type (``"1e-3"`` -> 0.001, ``"3"`` -> 3,
    ``2.0`` -> 2); a value that does not convert is a ``ValueError`` naming the setting (see :func:`named`).
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
            raise ValueError(f"{named(f.name)} must be {wanted}, got {value!r}")


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


def check_gpus(setting: str, value: float) -> None:
    """Ray gives a task a fraction of one GPU or whole GPUs, nothing in between; an error names ``setting``.

    Example:
        >>> check_gpus("gpus_per_trial", 0.5); check_gpus("gpus_per_trial", 2)
        >>> check_gpus("gpus_per_trial", 1.5)
        Traceback (most recent call last):
        ValueError: gpus_per_trial must be a fraction below 1 or a whole number (Ray shares a GPU in fractions \
of one only), got 1.5
    """
    if value > 1 and value != int(value):
        raise ValueError(
            f"{named(setting)} must be a fraction below 1 or a whole number (Ray shares a GPU in fractions of one "
            f"only), got {value:g}"
        )


def check_storage_path(path: str) -> None:
    """A URI is written as URIs are: a space in it is ``%20``.

    Example:
        >>> check_storage_path("file:///data/my runs")
        Traceback (most recent call last):
        ValueError: storage_path 'file:///data/my runs' is a URI with a space in it; write the space as %20 \
(file:///data/my%20runs) or give a plain folder
    """
    if path.startswith("file:") and not path.startswith("file://"):  # else a local folder named "file:"
        raise ValueError(
            f"{named('storage_path')} {path!r}: write a file URI with three slashes "
            f"(file:///{path[len('file:') :].lstrip('/')}) or give a plain folder"
        )
    if "://" in path and any(c.isspace() for c in path):
        raise ValueError(
            f"{named('storage_path')} {path!r} is a URI with a space in it; write the space as %20 "
            f"({path.replace(' ', '%20')}) or give a plain folder"
        )


def check_name(name: str) -> None:
    """A search's name is one folder under the storage path."""
    if not name.strip() or name in (".", "..") or "/" in name or "\\" in name:
        raise ValueError(
            f"{named('name')} must be a plain folder name (not blank, no '/' or '\\', not '.' or '..'), got {name!r}"
        )


def parse_count(value: Any, name: str = "count") -> int:
    """``12000``, ``"12000"``, ``"12k"``, ``"3.77M"`` -> int. Parameter counts are whole, so a fraction is exact
    when rounded inwards: a ``min_params`` rounds up, any other count down.

    Example:
        >>> parse_count("3.77M"), parse_count(20000.5, "max_params"), parse_count("20.0005k", "min_params")
        (3770000, 20000, 20001)
    """
    message = f"{named(name)} must be a number like 20000, 20k or 3.5M, got {value!r}"
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
