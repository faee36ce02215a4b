"""JSON recipes for the values SB3 pickles, resolved only through an explicit allow-list.

An SB3 model zip stores every attribute that is not plain JSON (the policy class, the spaces,
schedules, ``train_freq``, classes inside ``policy_kwargs``...) as a cloudpickle, which runs code
when it is read. seqtutor writes, beside each pickle, a *recipe*: plain JSON that says how to
rebuild the value, and never reads the pickle. A recipe is one of::

    {"type": {"alias": "MultiInputPolicy"}}            a policy by the algorithm's own alias
    {"type": {"class": "torch.optim.adam:Adam"}}       a class by "module:qualname"
    {"space": {...}}                                   a Gymnasium space (Dict, Discrete, MultiDiscrete, Box)
    {"train_freq": [4, "step"]}                        SB3's TrainFreq
    {"schedule": 0.001 | {"constant": c} | {"linear": [start, end, fraction]}}
    {"dict": {key: recipe | {"json": value}}}          a dict (``policy_kwargs`` and the like)
    {"json": value}                                    a plain JSON value

A recipe can name a class, and naming a class is where code could run: a stock SB3 policy calls
``features_extractor_class(observation_space, **features_extractor_kwargs)``, so a class such as
``subprocess.Popen`` with ``shell=True`` would be a shell command. So a class is never looked up
by walking module attributes. Each place a class may appear has a *role* -- ``policy_class`` is a
policy, ``policy_kwargs["optimizer_class"]`` an optimizer, ... -- and the name is looked up in that
role's allow-list (:func:`allowed_classes`): the policies of SB3's and sb3-contrib's algorithms,
SB3's features extractors and buffers, torch's activation and optimizer classes, and seqtutor's own
policies, buffers and extractor (registered with :func:`allow_class` where they are defined).
Anything else -- an unknown name, a class in the wrong role, a class where none belongs, a recipe of an
unknown form, keyword arguments the class does not take or that are not plain JSON -- raises
:class:`UnsafeModelError` naming the field and what it asked for.
:func:`decode_fields` checks *every* recipe of a file before it builds any value.

A user who trusts a class of their own (a custom features extractor, say) adds it with
:func:`allow_class`.
"""

from __future__ import annotations

import functools
import inspect
import json
import math
from collections.abc import Mapping
from typing import Any, cast

import numpy as np
from gymnasium import spaces
from stable_baselines3.common.type_aliases import TrainFreq, TrainFrequencyUnit
from stable_baselines3.common.utils import (
    ConstantSchedule,
    FloatSchedule,
    LinearSchedule,
)

from .limits import MAX_SPACE_ELEMENTS, MAX_SPACE_N


class ModelFileError(ValueError):
    """A model or checkpoint file is missing, damaged or not what it should be."""


class UnsafeModelError(ModelFileError):
    """A model file holds something seqtutor will not load: a pickle, or a recipe off the allow-list."""


# ---------------------------------------------------------------------------- the allow-list
ROLES = ("policy", "features_extractor", "activation", "optimizer", "replay_buffer", "rollout_buffer")
#: Top-level fields of a model's data that hold a class, and its role.
CLASS_FIELDS = {
    "policy_class": "policy",
    "replay_buffer_class": "replay_buffer",
    "rollout_buffer_class": "rollout_buffer",
}
#: Keys of ``policy_kwargs`` that hold a class, and its role.
POLICY_CLASS_KWARGS = {
    "features_extractor_class": "features_extractor",
    "activation_fn": "activation",
    "optimizer_class": "optimizer",
}
#: Keyword-argument dicts: top-level ones and the class field whose constructor receives them ...
KWARGS_FIELDS = {
    "policy_kwargs": "policy_class",
    "replay_buffer_kwargs": "replay_buffer_class",
    "rollout_buffer_kwargs": "rollout_buffer_class",
}
#: ... and those inside ``policy_kwargs``.
POLICY_KWARGS_OF = {"features_extractor_kwargs": "features_extractor_class", "optimizer_kwargs": "optimizer_class"}
#: Arguments SB3 passes itself to a class of each role: a recipe may not set them.
PASSED_BY_SB3 = {
    "policy": ("observation_space", "action_space", "lr_schedule"),
    "features_extractor": ("observation_space",),
    "optimizer": ("params", "lr"),
    "replay_buffer": ("buffer_size", "observation_space", "action_space", "device", "n_envs"),
    "rollout_buffer": ("buffer_size", "observation_space", "action_space", "device", "gae_lambda", "gamma", "n_envs"),
    "activation": (),
}
#: Fields that hold a space, a TrainFreq.
SPACE_FIELDS = ("observation_space", "action_space")
TRAIN_FREQ_FIELDS = ("train_freq",)

_REGISTERED: dict[str, dict[str, type]] = {role: {} for role in ROLES}


def class_name(cls: type) -> str:
    """How a recipe names a class: ``module:qualname``."""
    return f"{cls.__module__}:{cls.__qualname__}"


@functools.lru_cache(maxsize=1)
def _builtin_allowed() -> dict[str, dict[str, type]]:
    """The SB3, sb3-contrib and torch classes a run can legitimately carry, by role (enumerated, never discovered).

    seqtutor's own policies, replay buffers and features extractor add themselves with
    :func:`allow_class` where they are defined.
    """
    import sb3_contrib
    import stable_baselines3 as sb3
    import torch as th
    from sb3_contrib.common.maskable.buffers import (
        MaskableDictRolloutBuffer,
        MaskableRolloutBuffer,
    )
    from sb3_contrib.common.recurrent.buffers import (
        RecurrentDictRolloutBuffer,
        RecurrentRolloutBuffer,
    )
    from stable_baselines3.common.buffers import (
        DictReplayBuffer,
        DictRolloutBuffer,
        ReplayBuffer,
        RolloutBuffer,
    )
    from stable_baselines3.common.sb2_compat.rmsprop_tf_like import RMSpropTFLike
    from stable_baselines3.common.torch_layers import (
        CombinedExtractor,
        FlattenExtractor,
        NatureCNN,
    )

    algorithms = (
        sb3.A2C,
        sb3.PPO,
        sb3.DQN,
        sb3.SAC,
        sb3.TD3,
        sb3.DDPG,
        sb3_contrib.QRDQN,
        sb3_contrib.RecurrentPPO,
        sb3_contrib.TQC,
        sb3_contrib.TRPO,
        sb3_contrib.ARS,
        sb3_contrib.MaskablePPO,
        sb3_contrib.CrossQ,
    )
    nn, optim = th.nn, th.optim
    by_role: dict[str, tuple[type, ...]] = {
        "policy": tuple(cls for algo in algorithms for cls in algo.policy_aliases.values()),
        "features_extractor": (FlattenExtractor, CombinedExtractor, NatureCNN),
        "activation": (
            nn.ReLU,
            nn.Tanh,
            nn.ELU,
            nn.LeakyReLU,
            nn.GELU,
            nn.SiLU,
            nn.Sigmoid,
            nn.Softplus,
            nn.Mish,
            nn.Identity,
            nn.SELU,
            nn.CELU,
            nn.Hardtanh,
            nn.ReLU6,
            nn.Hardswish,
            nn.Hardsigmoid,
            nn.Softsign,
            nn.Tanhshrink,
            nn.LogSigmoid,
        ),
        "optimizer": (
            optim.Adam,
            optim.AdamW,
            optim.SGD,
            optim.RMSprop,
            optim.Adagrad,
            optim.Adadelta,
            optim.Adamax,
            optim.NAdam,
            optim.RAdam,
            RMSpropTFLike,
        ),
        "replay_buffer": (ReplayBuffer, DictReplayBuffer),
        "rollout_buffer": (
            RolloutBuffer,
            DictRolloutBuffer,
            RecurrentRolloutBuffer,
            RecurrentDictRolloutBuffer,
            MaskableRolloutBuffer,
            MaskableDictRolloutBuffer,
        ),
    }
    return {role: {class_name(cls): cls for cls in classes} for role, classes in by_role.items()}


def allowed_classes(role: str) -> dict[str, type]:
    """The classes a recipe may name in ``role`` (one of :data:`ROLES`), by ``module:qualname``."""
    if role not in ROLES:
        raise ValueError(f"unknown recipe role {role!r}; roles are {', '.join(ROLES)}")
    return {**_builtin_allowed()[role], **_REGISTERED[role]}


def allow_class(role: str, cls: type) -> None:
    """Trust one more class in ``role`` for every model file loaded by this process.

    Only for classes you wrote or trust: a model file naming it will have it built with keyword
    arguments from the file (checked against its signature). E.g.
    ``allow_class("features_extractor", MyExtractor)``.
    """
    if role not in ROLES:
        raise ValueError(f"unknown recipe role {role!r}; roles are {', '.join(ROLES)}")
    if not isinstance(cls, type):
        raise TypeError(f"allow_class takes a class, got {cls!r}")
    _REGISTERED[role][class_name(cls)] = cls


# ---------------------------------------------------------------------------- encoding (saving)
def space_to_json(space: spaces.Space) -> dict[str, Any]:
    """A Gymnasium space as plain JSON (Dict, Discrete, MultiDiscrete, Box)."""
    if isinstance(space, spaces.Dict):
        return {"type": "Dict", "spaces": {k: space_to_json(v) for k, v in space.spaces.items()}}
    if isinstance(space, spaces.Discrete):
        return {"type": "Discrete", "n": int(space.n), "start": int(space.start)}
    if isinstance(space, spaces.MultiDiscrete):
        return {"type": "MultiDiscrete", "nvec": space.nvec.tolist(), "dtype": str(space.dtype)}
    if isinstance(space, spaces.Box):
        return {"type": "Box", "low": space.low.tolist(), "high": space.high.tolist(), "dtype": str(space.dtype)}
    raise TypeError(f"cannot describe {type(space).__name__} spaces as JSON")


def schedule_to_json(value: Any) -> Any:
    """A float or one of SB3's constant/linear schedules as JSON; None if it is something else."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, FloatSchedule):
        return schedule_to_json(value.value_schedule)
    if isinstance(value, ConstantSchedule):
        return {"constant": float(value.val)}
    if isinstance(value, LinearSchedule):
        return {"linear": [float(value.start), float(value.end), float(value.end_fraction)]}
    return None


def is_json(value: Any) -> bool:
    try:
        json.dumps(value, allow_nan=True)
    except (TypeError, ValueError):
        return False
    return True


def to_recipe(value: Any, aliases: dict[str, type] | None) -> dict[str, Any] | None:
    """A JSON recipe for a value SB3 would pickle, or None when there is none."""
    if isinstance(value, spaces.Space):
        try:
            return {"space": space_to_json(value)}
        except TypeError:
            return None
    if isinstance(value, TrainFreq):
        return {"train_freq": [int(value.frequency), value.unit.value]}
    if isinstance(value, type):
        for alias, cls in (aliases or {}).items():
            if cls is value:
                return {"type": {"alias": alias}}
        return {"type": {"class": class_name(value)}}
    schedule = schedule_to_json(value)
    if schedule is not None:
        return {"schedule": schedule}
    if isinstance(value, dict):
        items = {}
        for key, item in value.items():
            recipe = {"json": item} if is_json(item) else to_recipe(item, None)
            if recipe is None:
                return None
            items[key] = recipe
        return {"dict": items}
    return None


# ---------------------------------------------------------------------------- decoding (loading)
class _Decoder:
    """Checks (``build=False``) or builds (``build=True``) the values of a model file's recipes.

    :param source: the file, for messages.
    :param aliases: the algorithm's ``policy_aliases``.
    """

    def __init__(self, source: str, aliases: dict[str, type] | None) -> None:
        self.source, self.aliases = source, aliases or {}

    def refuse(self, where: str, what: str) -> UnsafeModelError:
        return UnsafeModelError(
            f"{self.source}: {where} {what}; refused before building anything (seqtutor builds "
            "only what its allow-list names: see seqtutor_agents.common.recipes)"
        )

    # -- classes
    def resolve_class(self, where: str, role: str, spec: Any) -> type:
        if not isinstance(spec, dict) or len(spec) != 1 or not isinstance(next(iter(spec.values())), str):
            raise self.refuse(
                where,
                f"holds the class description {_short(spec)}, which is neither "
                '{"alias": name} nor {"class": "module:qualname"}',
            )
        kind, name = next(iter(spec.items()))
        if kind == "alias" and role == "policy":
            if name in self.aliases:
                return self.aliases[name]
            raise self.refuse(
                where, f"asks for the policy alias {name!r}; this algorithm's are {', '.join(self.aliases) or 'none'}"
            )
        if kind != "class":
            raise self.refuse(
                where, f"asks for a class by {kind!r} ({name!r}); only 'class' (and 'alias' for policies) is understood"
            )
        allowed = allowed_classes(role)
        if name in allowed:
            return allowed[name]
        listed = ", ".join(sorted(allowed)[:6]) + (f", ... ({len(allowed)} in all)" if len(allowed) > 6 else "")
        raise self.refuse(
            where,
            f"asks for the class {name!r}, which is not on the allow-list of {role.replace('_', ' ')} "
            f"classes ({listed}); a class of your own can be trusted with "
            f"seqtutor_agents.common.recipes.allow_class({role!r}, cls)",
        )

    def check_kwargs(self, where: str, role: str, cls: type[Any], kwargs: Any) -> None:
        """Keyword arguments of a class: a dict of plain JSON whose names the class accepts and SB3 does not pass."""
        if not isinstance(kwargs, dict) or not all(isinstance(k, str) for k in kwargs):
            raise self.refuse(where, f"holds {_short(kwargs)}, not a dict of keyword arguments")
        # Classes inside policy_kwargs were resolved through the allow-list already; the rest must be plain JSON.
        plain = {k: v for k, v in kwargs.items() if not (role == "policy" and k in POLICY_CLASS_KWARGS)}
        if not is_json(plain):
            raise self.refuse(where, "holds values that are not plain JSON")
        parameters: Mapping[str, inspect.Parameter]
        try:
            parameters = inspect.signature(cls.__init__).parameters
        except (TypeError, ValueError):  # pragma: no cover - builtin classes without a signature
            parameters = {}
        open_ended = any(p.kind == p.VAR_KEYWORD for p in parameters.values())
        accepted = [name for name, p in parameters.items() if name != "self" and p.kind != p.VAR_POSITIONAL]
        for name in kwargs:
            if role == "policy" and name == "device":  # older SB3 saved it; SB3's load drops it
                continue
            if name in PASSED_BY_SB3[role]:
                raise self.refuse(where, f"sets {name!r}, which SB3 passes to {cls.__name__} itself")
            if name not in accepted and not open_ended:
                raise self.refuse(
                    where,
                    f"passes {name!r} to {class_name(cls)}, which takes no such argument "
                    f"(it takes {', '.join(a for a in accepted if a not in PASSED_BY_SB3[role])})",
                )

    # -- fields
    def form(self, where: str, recipe: Any) -> tuple[str, Any]:
        """``(kind, body)`` of a one-key recipe of a known kind, else refused."""
        if isinstance(recipe, dict) and len(recipe) == 1:
            kind = next(iter(recipe))
            if kind in ("type", "space", "train_freq", "schedule", "dict", "json"):
                return kind, recipe[kind]
        raise self.refuse(where, f"holds the recipe {_short(recipe)}, of no form seqtutor knows")

    def field(self, key: str, recipe: Any, build: bool) -> Any:
        where = f"field {key!r}"
        kind, body = self.form(where, recipe)
        if kind == "type":
            if key not in CLASS_FIELDS:
                raise self.refuse(where, f"names a class ({_short(body)}) but this field never holds one")
            return self.resolve_class(where, CLASS_FIELDS[key], body)
        if kind == "space":
            if key not in SPACE_FIELDS:
                raise self.refuse(where, f"holds the space {_short(body)} but this field never holds one")
            return self.space(where, body, build)
        if kind == "train_freq":
            if key not in TRAIN_FREQ_FIELDS:
                raise self.refuse(where, f"holds the train frequency {_short(body)} but this field never holds one")
            return self.train_freq(where, body, build)
        if kind == "schedule":
            if key in CLASS_FIELDS or key in SPACE_FIELDS or key in KWARGS_FIELDS:
                raise self.refuse(where, f"holds the schedule {_short(body)} but this field never holds one")
            return self.schedule(where, body, build)
        if kind == "json":
            return body
        # kind == "dict": only keyword-argument dicts are rebuilt from per-key recipes
        if key not in KWARGS_FIELDS:
            raise self.refuse(
                where,
                f"holds the dict of recipes {_short(body)} but only keyword-argument dicts "
                f"({', '.join(KWARGS_FIELDS)}) may",
            )
        return self.kwargs_dict(key, body, build)

    def kwargs_dict(self, key: str, items: Any, build: bool) -> dict[str, Any]:
        where = f"field {key!r}"
        if not isinstance(items, dict):
            raise self.refuse(where, f"holds {_short(items)}, not a dict")
        out: dict[str, Any] = {}
        for name, recipe in items.items():
            item_where = f"{where}[{name!r}]"
            kind, body = self.form(item_where, recipe)
            if kind == "json":
                out[name] = body
            elif kind == "type" and key == "policy_kwargs" and name in POLICY_CLASS_KWARGS:
                out[name] = self.resolve_class(item_where, POLICY_CLASS_KWARGS[name], body)
            elif kind == "type":
                raise self.refuse(
                    item_where, f"names a class ({_short(body)}) but this keyword argument never holds one"
                )
            else:
                raise self.refuse(
                    item_where,
                    f"holds the {kind} recipe {_short(body)}; keyword arguments hold plain "
                    "JSON (or, in policy_kwargs, an allowed class)",
                )
        return out

    def check_policy_kwargs(self, policy_class: Any, kwargs: dict[str, Any]) -> None:
        """``policy_kwargs`` against the policy's signature, and the kwargs of the classes inside it."""
        where = "field 'policy_kwargs'"
        if not isinstance(kwargs, dict):
            raise self.refuse(where, f"holds {_short(kwargs)}, not a dict")
        for name in POLICY_CLASS_KWARGS:
            if name in kwargs and not isinstance(kwargs[name], type):
                raise self.refuse(f"{where}[{name!r}]", f"holds {_short(kwargs[name])}, not a class recipe")
        defaults: Mapping[str, inspect.Parameter]
        if isinstance(policy_class, type):
            policy_type: type[Any] = policy_class  # a class, its __init__ its own (a bare `type` reads type.__init__)
            self.check_kwargs(where, "policy", policy_type, kwargs)
            defaults = inspect.signature(policy_type.__init__).parameters
        else:
            defaults = {}
        for kwargs_name, class_key in POLICY_KWARGS_OF.items():
            if kwargs_name not in kwargs:
                continue
            cls = kwargs.get(class_key)
            if cls is None and class_key in defaults and isinstance(defaults[class_key].default, type):
                cls = defaults[class_key].default
            if isinstance(cls, type):
                self.check_kwargs(f"{where}[{kwargs_name!r}]", POLICY_CLASS_KWARGS[class_key], cls, kwargs[kwargs_name])
            elif not is_json(kwargs[kwargs_name]):
                raise self.refuse(f"{where}[{kwargs_name!r}]", "holds values that are not plain JSON")

    # -- values built from numbers only
    def space(self, where: str, spec: Any, build: bool) -> spaces.Space | None:
        kind = spec.get("type") if isinstance(spec, dict) else None
        try:
            if kind == "Dict":
                members = {str(k): self.space(f"{where}.{k}", v, build) for k, v in dict(spec["spaces"]).items()}
                # build=True builds every member
                return spaces.Dict(cast(dict[str, spaces.Space], members)) if build else None
            if kind == "Discrete":
                n, start = _bounded(spec["n"], "n", 1), _bounded(spec.get("start", 0), "start", -MAX_SPACE_N)
                return spaces.Discrete(n, start=start) if build else None
            if kind in ("MultiDiscrete", "Box"):
                dtype = np.dtype(str(spec["dtype"]))
                if dtype.kind not in "iuf":
                    raise ValueError(f"dtype {dtype} is not numeric")
                if kind == "MultiDiscrete":
                    nvec = np.array([_bounded(v, "nvec entry", 1) for v in _bounded_list(spec["nvec"])], dtype=np.int64)
                    return spaces.MultiDiscrete(nvec, dtype=dtype) if build else None
                low, high = np.array(spec["low"], dtype=dtype), np.array(spec["high"], dtype=dtype)
                if low.size > MAX_SPACE_ELEMENTS:
                    raise ValueError(f"{low.size:,} elements, over the limit of {MAX_SPACE_ELEMENTS:,}")
                return spaces.Box(low, high, dtype=dtype) if build else None
        except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as exc:
            raise ModelFileError(f"{self.source}: {where}: cannot rebuild the space {_short(spec)} ({exc})") from None
        raise self.refuse(where, f"describes a space of unknown type {kind!r}")

    def train_freq(self, where: str, spec: Any, build: bool) -> TrainFreq | None:
        if not (isinstance(spec, list) and len(spec) == 2 and spec[1] in [u.value for u in TrainFrequencyUnit]):
            raise self.refuse(where, f"holds the train frequency {_short(spec)}; expected [n, 'step' | 'episode']")
        return TrainFreq(_integer(spec[0]), TrainFrequencyUnit(spec[1])) if build else None

    def schedule(self, where: str, spec: Any, build: bool) -> Any:
        if _number(spec):
            return float(spec)
        if isinstance(spec, dict) and len(spec) == 1 and "constant" in spec and _number(spec["constant"]):
            return ConstantSchedule(float(spec["constant"])) if build else None
        if (
            isinstance(spec, dict)
            and len(spec) == 1
            and isinstance(spec.get("linear"), list)
            and len(spec["linear"]) == 3
            and all(_number(v) for v in spec["linear"])
        ):
            return LinearSchedule(*map(float, spec["linear"])) if build else None
        raise self.refuse(
            where,
            f"holds the schedule {_short(spec)}; seqtutor rebuilds only a number, "
            '{"constant": c} and {"linear": [start, end, fraction]}',
        )


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _integer(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{value!r} is not an integer")
    return value


def _bounded(value: Any, name: str, low: int) -> int:
    """An integer in ``[low, MAX_SPACE_N]``, checked before numpy sees it (10**20 would overflow int64)."""
    value = _integer(value)
    if not low <= value <= MAX_SPACE_N:
        raise ValueError(f"{name} {value} is outside [{low}, {MAX_SPACE_N:,}] (the limit)")
    return value


def _bounded_list(value: Any) -> list[Any]:
    if not isinstance(value, list) or len(value) > MAX_SPACE_ELEMENTS:
        raise ValueError(f"expected a list of at most {MAX_SPACE_ELEMENTS:,} sizes (the limit)")
    return value


def _short(value: Any, limit: int = 120) -> str:
    text = json.dumps(value, default=repr) if is_json(value) else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def decode_fields(
    recipes: Any,
    wanted: list[str],
    data: dict[str, Any],
    source: str,
    aliases: dict[str, type] | None,
) -> dict[str, Any]:
    """The values of fields ``wanted`` rebuilt from their ``recipes``; every recipe of the file is checked first.

    :param recipes: the file's ``seqtutor_safe_fields`` (field -> recipe).
    :param wanted: the fields to rebuild (those the file pickled).
    :param data: the file's JSON data (plain-JSON ``policy_kwargs`` are checked too).
    :param source: the file, named in messages.
    :param aliases: the algorithm's ``policy_aliases``.
    :raises UnsafeModelError: a recipe off the allow-list (naming the field and what it asked for).
    :raises ModelFileError: a recipe that is malformed.
    """
    if not isinstance(recipes, dict):
        raise UnsafeModelError(f"{source}: its recipes are {_short(recipes)}, not a JSON object of field -> recipe")
    decoder = _Decoder(source, aliases)
    checked = {key: decoder.field(key, recipe, build=False) for key, recipe in recipes.items()}
    # Keyword arguments against the classes that receive them, whether they came as recipes or plain JSON.
    values = {**{k: v for k, v in data.items() if not _pickled(v)}, **checked}
    if "policy_kwargs" in values and values["policy_kwargs"] is not None:
        policy = values.get("policy_class")
        if isinstance(policy, str):
            policy = decoder.aliases.get(policy)
        decoder.check_policy_kwargs(policy, values["policy_kwargs"])
    for kwargs_key, class_key in KWARGS_FIELDS.items():
        if kwargs_key != "policy_kwargs" and values.get(kwargs_key) and isinstance(values.get(class_key), type):
            decoder.check_kwargs(
                f"field {kwargs_key!r}", CLASS_FIELDS[class_key], values[class_key], values[kwargs_key]
            )
    return {key: decoder.field(key, recipes[key], build=True) for key in wanted if key in recipes}


def _pickled(value: Any) -> bool:
    return isinstance(value, dict) and ":serialized:" in value


def is_recipe_value(value: Any) -> bool:
    """True for what :func:`decode_fields` may return: allowed classes, spaces, TrainFreq, schedules, JSON."""
    if isinstance(value, type):
        return any(value in allowed_classes(role).values() for role in ROLES)
    if isinstance(value, (spaces.Space, TrainFreq, ConstantSchedule, LinearSchedule)):
        return True
    if isinstance(value, dict):
        return all(is_recipe_value(v) for v in value.values())
    return is_json(value)
