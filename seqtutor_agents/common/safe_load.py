"""Model files that cannot run code: save SB3 zips with JSON recipes, load them without unpickling.

An SB3 model zip stores every attribute that is not plain JSON (the policy class, the spaces,
schedules, ``train_freq``, the last observation...) as base64 *cloudpickle*, and SB3's ``load``
unpickles it: a ``model.zip`` from someone else can run arbitrary code on load. Users share run
folders, so seqtutor never unpickles them:

* :func:`save_model` writes the usual SB3 zip (still loadable by plain SB3) plus, in the same
  JSON, ``seqtutor_safe_fields``: a plain-JSON recipe for every field SB3 pickles
  (:mod:`~seqtutor_agents.common.recipes`), and ``seqtutor_algorithm`` (the class name) so that a
  file cannot be loaded as another algorithm. The write is atomic.
* :func:`load_model` reads the zip's JSON itself, checks every recipe against the allow-list
  (:func:`~seqtutor_agents.common.recipes.decode_fields`: a class is only ever one the list names,
  with keyword arguments its signature takes), rebuilds every pickled field from its recipe (or
  drops it, for run-time state such as the last observation), and hands SB3 those values as
  ``custom_objects`` -- SB3 then never touches the pickles. A pickled field with no recipe, or a
  recipe off the list, is refused with :class:`UnsafeModelError` naming the field. Fields SB3
  never saves (``env``, ``policy``, ``device``, ...) are refused too. The weights are read by SB3
  with ``torch.load(weights_only=True)``.

Replay buffers are saved as ``.npz`` arrays plus JSON by :func:`save_replay_buffer` (never as a
pickle) and loaded into the model's own freshly built buffer by :func:`load_replay_buffer`.
"""

from __future__ import annotations

import inspect
import io
import json
import pickle
import re
import warnings
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch as th
from stable_baselines3.common.base_class import BaseAlgorithm

from seqtutor_envs.io import atomic_write, atomic_write_bytes, atomic_write_text

from .limits import MAX_MODEL_ELEMENTS, TensorBudget, check_buffer_size, check_zip_members, parse_json
from .recipes import ModelFileError, UnsafeModelError, decode_fields, is_json, to_recipe
from .vec_env import SeqTutorEnvMixin

SAFE_FIELDS_KEY = "seqtutor_safe_fields"
ALGORITHM_KEY = "seqtutor_algorithm"
#: Run-time state SB3 pickles but a loaded model rebuilds or does not need.
DROPPED_FIELDS = frozenset(
    {
        "_last_obs",
        "_last_original_obs",
        "_last_episode_starts",
        "_last_lstm_states",
        "ep_info_buffer",
        "ep_success_buffer",
        "lr_schedule",
        "exploration_schedule",
        # seqtutor < 0.2 stored its episode assembly on the algorithm
        "_ep_rewards",
        "_ep_log_probs",
    }
)

#: Attributes SB3 never writes (``_excluded_save_params``); a file holding one is not SB3's: SB3's load
#: would set it on the model (``env`` would even be passed to ``gym.make``, importing a module by name).
NEVER_SAVED = frozenset(
    {
        "env",
        "policy",
        "device",
        "replay_buffer",
        "rollout_buffer",
        "_vec_normalize_env",
        "_episode_storage",
        "_logger",
        "_custom_logger",
        "q_net",
        "q_net_target",
    }
)


# ---------------------------------------------------------------------------- models
def save_model(model: BaseAlgorithm, path: str | Path) -> Path:
    """Save an SB3 model atomically, with JSON recipes for every field SB3 pickles."""
    path = Path(path)
    if path.suffix != ".zip":
        path = path.with_name(path.name + ".zip")
    excluded = set(model._excluded_save_params())
    recipes = {}
    for key, value in model.__dict__.items():
        if key in excluded or key in DROPPED_FIELDS or is_json(value):
            continue
        recipe = to_recipe(value, getattr(model, "policy_aliases", None))
        if recipe is not None:
            recipes[key] = recipe
    setattr(model, SAFE_FIELDS_KEY, recipes)
    setattr(model, ALGORITHM_KEY, type(model).__name__)
    try:
        atomic_write(path, lambda name: BaseAlgorithm.save(model, name), suffix=".zip")
    finally:
        delattr(model, SAFE_FIELDS_KEY)
        delattr(model, ALGORITHM_KEY)
    return path


def read_model_data(path: str | Path) -> dict[str, Any]:
    """The JSON ``data`` entry of an SB3 model zip, read without unpickling anything."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no model file at {path}")
    try:
        check_zip_members(path, error=ModelFileError)  # sizes from the zip's directory, before inflating anything
        with zipfile.ZipFile(path) as archive:
            if "data" not in archive.namelist():
                raise ModelFileError(f"{path} is a zip without the 'data' entry of an SB3 model")
            text = archive.read("data").decode("utf-8")
    except zipfile.BadZipFile as exc:
        raise ModelFileError(f"{path} is not a model file (not a zip archive: {exc})") from None
    except UnicodeDecodeError as exc:
        raise ModelFileError(f"{path}: its 'data' entry is not UTF-8 text ({exc})") from None
    try:
        data = parse_json(text, f"{path}: its 'data' entry", error=ModelFileError)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelFileError(f"{path}: its 'data' entry is not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ModelFileError(f"{path}: its 'data' entry holds a {type(data).__name__}, expected a JSON object")
    return data


def safe_custom_objects(
    cls: type[BaseAlgorithm], data: dict[str, Any], path: Path, env: Any = None, custom_objects: dict | None = None
) -> dict[str, Any]:
    """``custom_objects`` that replace every pickled field of ``data`` (see the module docstring).

    :raises UnsafeModelError: a pickled field has no recipe and no safe stand-in, a recipe is off
        the allow-list, or the file holds a field SB3 never saves.
    """
    custom_objects = custom_objects or {}
    foreign = sorted(NEVER_SAVED & set(data) - set(custom_objects))
    if foreign:
        raise UnsafeModelError(
            f"{path} holds {', '.join(map(repr, foreign))}, which SB3 never saves; this file was "
            "not written by SB3 or seqtutor and is refused"
        )
    pickled = [
        key
        for key, item in data.items()
        if isinstance(item, dict) and ":serialized:" in item and key not in custom_objects
    ]
    recipes = data.get(SAFE_FIELDS_KEY)
    recipes = {} if recipes is None else recipes
    if isinstance(recipes, dict):  # a field the caller supplies is not rebuilt, so its recipe does not matter
        recipes = {key: recipe for key, recipe in recipes.items() if key not in custom_objects}
    decoded = decode_fields(recipes, pickled, data, str(path), getattr(cls, "policy_aliases", None))
    custom: dict[str, Any] = {}
    for key in pickled:
        item = data[key]
        if key in decoded:
            custom[key] = decoded[key]
        elif key in DROPPED_FIELDS:
            custom[key] = None
        elif key in ("observation_space", "action_space"):
            if env is None:
                raise UnsafeModelError(
                    f"{path} predates seqtutor's safe model format: its {key} is readable only by unpickling. "
                    "Pass env= (a seqtutor env of the run's settings) and the spaces are taken from it"
                )
            custom[key] = getattr(env, key)
        elif key == "policy_class" and getattr(cls, "policy_aliases", None):
            custom[key] = _legacy_policy_class(cls.policy_aliases, path)
        elif key == "train_freq":
            default = inspect.signature(cls.__init__).parameters["train_freq"].default
            warnings.warn(
                f"{path} predates seqtutor's safe model format: its train_freq is not readable "
                f"without unpickling; using {cls.__name__}'s default {default!r}",
                stacklevel=3,
            )
            custom[key] = default
        else:
            raise UnsafeModelError(
                f"{path}: field {key!r} holds pickled Python ({item.get(':type:', 'unknown type')}); seqtutor never "
                "unpickles model files, since loading one could run code. Re-save the model with seqtutor, or pass "
                f"custom_objects={{{key!r}: ...}} if you trust and know its value"
            )
    return custom


def _legacy_policy_class(aliases: dict[str, type], path: Path) -> type:
    """The policy of a model saved before the safe format: the algorithm's only one, or its Dict-input one."""
    classes = set(aliases.values())
    if len(classes) == 1:
        return classes.pop()
    for alias in ("MultiInputPolicy", "MultiInputLstmPolicy"):
        if alias in aliases:
            return aliases[alias]
    raise UnsafeModelError(f"{path}: its policy class is pickled and this algorithm has several; pass custom_objects")


def load_model(
    cls: type[BaseAlgorithm],
    path: str | Path,
    env: Any = None,
    device: Any = "auto",
    custom_objects: dict[str, Any] | None = None,
    **kwargs: Any,
) -> BaseAlgorithm:
    """Load an SB3 model zip without unpickling (see the module docstring).

    :raises FileNotFoundError: no file at ``path``.
    :raises ModelFileError: the file is not an SB3 model, or holds another algorithm.
    :raises UnsafeModelError: a pickled field cannot be rebuilt safely.
    """
    path = Path(path)
    if not path.exists() and path.suffix != ".zip" and path.with_name(path.name + ".zip").is_file():
        path = path.with_name(path.name + ".zip")  # like SB3: save("m1") wrote m1.zip, load("m1") reads it
    data = read_model_data(path)
    saved_as = data.get(ALGORITHM_KEY)
    if saved_as is not None and saved_as != cls.__name__:
        raise ModelFileError(f"{path} holds a {saved_as} model, not a {cls.__name__} one")
    custom = safe_custom_objects(cls, data, path, env, custom_objects)
    custom.update(custom_objects or {})
    custom.setdefault(SAFE_FIELDS_KEY, None)
    custom.setdefault(ALGORITHM_KEY, None)
    observation_space = custom.get("observation_space", getattr(env, "observation_space", None))
    check_buffer_size(data.get("buffer_size"), observation_space, str(path), error=ModelFileError)
    try:
        with TensorBudget(MAX_MODEL_ELEMENTS, str(path), error=ModelFileError):  # refuses a huge net before it is built
            model = BaseAlgorithm.load.__func__(cls, path, env=env, device=device, custom_objects=custom, **kwargs)  # type: ignore[attr-defined]  # the classmethod's function, called with our cls
    except pickle.UnpicklingError:
        raise UnsafeModelError(_pickled_member(path)) from None
    except (KeyError, RuntimeError, TypeError, AttributeError, AssertionError) as exc:
        raise ModelFileError(
            f"{path} does not hold a usable {cls.__name__} model: {type(exc).__name__}: {exc}"
        ) from exc
    for key in (SAFE_FIELDS_KEY, ALGORITHM_KEY):
        model.__dict__.pop(key, None)
    return model


def _pickled_member(path: Path) -> str:
    """Name the ``.pth`` member of a model zip that ``torch.load(weights_only=True)`` refuses, and why."""
    with zipfile.ZipFile(path) as archive:
        for name in archive.namelist():
            if not name.endswith(".pth"):
                continue
            try:
                th.load(io.BytesIO(archive.read(name)), map_location="cpu", weights_only=True)
            except pickle.UnpicklingError as exc:
                found = re.search(r"Unsupported global: GLOBAL (\S+)", str(exc))
                what = f"pickled objects ({found.group(1)})" if found else "pickled objects"
                return (
                    f"{path}: {name} holds {what}, not plain tensors; seqtutor loads weights only "
                    f"(torch.load(weights_only=True)) and will not unpickle it"
                )
    return f"{path}: a member is not a plain tensor file; seqtutor will not unpickle it"


class SafeLoadMixin(SeqTutorEnvMixin):
    """Gives an SB3 algorithm seqtutor's safe, atomic ``save`` and unpickling-free ``load``, and (from
    :class:`~seqtutor_agents.common.vec_env.SeqTutorEnvMixin`) the ``_wrap_env`` that turns any env of a
    seqtutor env a user passes into the native vector env the collector steps."""

    def save(self, path, exclude=None, include=None) -> None:
        if isinstance(path, io.BufferedIOBase):
            return BaseAlgorithm.save(self, path, exclude=exclude, include=include)  # type: ignore[arg-type]  # a mixin: self is the SB3 algorithm it is mixed into
        save_model(self, path)  # type: ignore[arg-type]  # a mixin: self is the SB3 algorithm it is mixed into

    @classmethod
    def load(
        cls, path, env=None, device="auto", custom_objects=None, print_system_info=False, force_reset=True, **kwargs
    ):
        return load_model(
            cls,  # type: ignore[arg-type]  # cls: the algorithm class mixed into
            path,
            env=env,
            device=device,
            custom_objects=custom_objects,
            print_system_info=print_system_info,
            force_reset=force_reset,
            **kwargs,
        )

    def set_parameters(self, load_path_or_dict, exact_match: bool = True, device="auto") -> None:
        """SB3's ``set_parameters``, with a model file's member sizes bounded and a pickled member named."""
        if isinstance(load_path_or_dict, dict):
            return BaseAlgorithm.set_parameters(self, load_path_or_dict, exact_match, device)  # type: ignore[arg-type]  # a mixin: self is the SB3 algorithm it is mixed into
        path = Path(load_path_or_dict)
        if not path.exists() and path.suffix != ".zip" and path.with_name(path.name + ".zip").is_file():
            path = path.with_name(path.name + ".zip")
        try:
            check_zip_members(path, error=ModelFileError)
            BaseAlgorithm.set_parameters(self, str(path), exact_match, device)  # type: ignore[arg-type]  # a mixin: self is the SB3 algorithm it is mixed into
        except zipfile.BadZipFile as exc:
            raise ModelFileError(f"{path} is not a model file (not a zip archive: {exc})") from None
        except pickle.UnpicklingError:
            raise UnsafeModelError(_pickled_member(path)) from None

    def save_replay_buffer(self, path) -> None:
        save_replay_buffer(self, path)  # type: ignore[arg-type]  # a mixin: self is the SB3 algorithm it is mixed into

    def load_replay_buffer(self, path, truncate_last_traj: bool = True) -> None:
        load_replay_buffer(self, path)  # type: ignore[arg-type]  # a mixin: self is the SB3 algorithm it is mixed into


# ---------------------------------------------------------------------------- replay buffers
def _buffer_arrays(buffer: Any) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """A buffer's numpy arrays (dicts of arrays flattened as ``key/sub``) and its plain scalars."""
    arrays, scalars = {}, {}
    for key, value in vars(buffer).items():
        if isinstance(value, np.ndarray):
            arrays[key] = value
        elif isinstance(value, dict) and value and all(isinstance(v, np.ndarray) for v in value.values()):
            arrays.update({f"{key}/{sub}": v for sub, v in value.items()})
        elif isinstance(value, (bool, int, float, str)) and not isinstance(value, np.generic):
            scalars[key] = value
    return arrays, scalars


def save_replay_buffer(model: BaseAlgorithm, path: str | Path) -> Path:
    """Write ``model.replay_buffer`` as an ``.npz`` of its arrays (scalars and class name in JSON), atomically."""
    buffer = getattr(model, "replay_buffer", None)
    if buffer is None:
        raise ValueError(f"{type(model).__name__} has no replay buffer to save")
    arrays, scalars = _buffer_arrays(buffer)
    meta = {"class": type(buffer).__name__, "scalars": scalars}
    stream = io.BytesIO()
    np.savez(stream, __meta__=np.array(json.dumps(meta)), **arrays)  # type: ignore[arg-type]  # mypy matches **arrays against savez's allow_pickle: bool too
    return atomic_write_bytes(path, stream.getvalue())


def load_replay_buffer(model: BaseAlgorithm, path: str | Path) -> None:
    """Fill ``model``'s own (freshly built) replay buffer from a file of :func:`save_replay_buffer`.

    :raises ModelFileError: the file is missing pieces, damaged, or was written by another buffer type/size.
    """
    path = Path(path)
    buffer = getattr(model, "replay_buffer", None)
    if buffer is None:
        raise ValueError(f"{type(model).__name__} has no replay buffer to fill")
    if not path.is_file():
        raise FileNotFoundError(f"no replay buffer file at {path}")
    own, _ = _buffer_arrays(buffer)
    try:  # no stored array may be larger than the largest of this model's own buffer (plus the npy header)
        check_zip_members(
            path,
            error=ModelFileError,
            data_member="__meta__.npy",
            max_member=max((a.nbytes for a in own.values()), default=0) + 2**20,
        )
        with np.load(path, allow_pickle=False) as archive:
            meta = json.loads(str(archive["__meta__"]))
            stored = {key: archive[key] for key in archive.files if key != "__meta__"}
    except ModelFileError:
        raise
    except Exception as exc:  # zip, npy and JSON errors all mean the same thing to the user
        raise ModelFileError(f"{path} is not a readable replay buffer file ({type(exc).__name__}: {exc})") from None
    if meta.get("class") != type(buffer).__name__:
        raise ModelFileError(
            f"{path} holds a {meta.get('class')} replay buffer; this model uses {type(buffer).__name__}"
        )
    if hasattr(buffer, "upgrade_stored"):  # a file of an earlier release may lack arrays it can derive
        stored = buffer.upgrade_stored(stored)
    arrays, scalars = _buffer_arrays(buffer)
    if set(stored) != set(arrays):
        raise ModelFileError(f"{path} holds arrays {sorted(stored)}; a {type(buffer).__name__} has {sorted(arrays)}")
    for key, value in stored.items():
        if value.shape != arrays[key].shape or value.dtype != arrays[key].dtype:
            raise ModelFileError(
                f"{path}: array {key!r} is {value.dtype}{list(value.shape)}, this model's buffer needs "
                f"{arrays[key].dtype}{list(arrays[key].shape)} (was it saved with other settings?)"
            )
    for key, value in stored.items():
        if "/" in key:
            outer, sub = key.split("/", 1)
            getattr(buffer, outer)[sub] = value
        else:
            setattr(buffer, key, value)
    for key, value in meta.get("scalars", {}).items():
        if key in scalars and key != "device":
            setattr(buffer, key, type(scalars[key])(value))


def write_json(path: str | Path, payload: Any) -> Path:
    """Pretty JSON, written atomically."""
    return atomic_write_text(path, json.dumps(payload, indent=2, default=str) + "\n")
