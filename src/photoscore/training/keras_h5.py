"""Read the weights out of a Keras HDF5 file, whatever Keras wrote it, without Keras.

Three layouts are understood:

- ``save-weights``: Keras 1/2, tf.keras and Keras 3 ``save_weights`` to ``.h5``/``.hdf5`` (idealo's files):
  root attribute ``layer_names``; per layer a group with attribute ``weight_names``; the arrays at
  ``<layer>/<weight name>``, e.g. ``conv1_bn/conv1_bn/gamma:0``.
- ``full-model``: ``model.save("x.h5")``: the same inside a ``model_weights`` group, plus the model's JSON
  config in the root attribute ``model_config``.
- ``keras3-weights``: Keras 3 ``.weights.h5``: ``layers/<name>/vars/<i>``. The names are made from the
  layer class in the model's layer order (``conv2d_3``), not the layer names, and the variables are
  numbered, not named.
"""

from __future__ import annotations

import json
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import h5py
import numpy as np

Layout = Literal["save-weights", "full-model", "keras3-weights"]

# Variable names as Keras writes them (``depthwise_kernel`` in Keras 2, ``kernel`` in Keras 3).
_CANONICAL = {"depthwise_kernel": "kernel"}
# Keras 3 numbers a layer's variables in creation order: trainable ones first.
_KERAS3_VARS = {
    "batch_normalization": ("gamma", "beta", "moving_mean", "moving_variance"),
    "conv2d": ("kernel", "bias"),
    "depthwise_conv2d": ("kernel", "bias"),
    "dense": ("kernel", "bias"),
}


class KerasImportError(ValueError):
    """A file that cannot be imported; the message says why and what would work."""


@dataclass(frozen=True)
class KerasWeights:
    """The arrays of every layer that has weights, in file order, keyed by layer name then variable name.

    ``keras3-weights`` files key layers by class-derived names (``conv2d_3``, nested models as
    ``functional/conv2d_3``).
    """

    layout: Layout
    layers: dict[str, dict[str, np.ndarray]]
    keras_version: str | None = None
    backend: str | None = None
    model_config: dict[str, Any] | None = None


def read_keras_weights(path: str | Path) -> KerasWeights:
    """Read a Keras weights file; raise KerasImportError for anything that is not one."""
    path = Path(path)
    if not path.is_file():
        raise KerasImportError(f"{path}: file not found")
    if not h5py.is_hdf5(path):
        if zipfile.is_zipfile(path):
            raise KerasImportError(
                f"{path}: a Keras 3 .keras archive, not an HDF5 file; load it in Keras and save the weights "
                'with model.save_weights("model.weights.h5") (MobileNet) or model.save("model.h5")'
            )
        raise KerasImportError(f"{path}: not an HDF5 file (expected a Keras .h5/.hdf5 weights file)")
    with h5py.File(path, "r") as file:
        if "layer_names" in file.attrs or "layer_names0" in file.attrs:
            return KerasWeights("save-weights", _read_save_weights(file), *_versions(file))
        if "model_weights" in file:
            config = _text(file.attrs.get("model_config", ""))
            return KerasWeights(
                "full-model",
                _read_save_weights(file["model_weights"]),
                *_versions(file["model_weights"]),
                model_config=json.loads(config) if config else None,
            )
        if "layers" in file:
            return KerasWeights("keras3-weights", _read_keras3(file["layers"]))
        raise KerasImportError(
            f"{path}: an HDF5 file, but not Keras weights: expected a root attribute 'layer_names' "
            "(save_weights), a 'model_weights' group (model.save) or a 'layers' group (Keras 3 "
            f".weights.h5); found {sorted(file.keys())[:5] or 'nothing'}"
        )


def _read_save_weights(group: h5py.Group) -> dict[str, dict[str, np.ndarray]]:
    layers: dict[str, dict[str, np.ndarray]] = {}
    for layer_name in _attr_list(group, "layer_names"):
        layer = group[layer_name]
        for weight_name in _attr_list(layer, "weight_names"):
            parts = weight_name.split("/")
            owner = parts[-2] if len(parts) > 1 else layer_name  # nested models list their layers' weights
            var = parts[-1].split(":")[0]
            arrays = layers.setdefault(owner, {})
            var = _CANONICAL.get(var, var)
            if var in arrays:
                raise KerasImportError(f"two weights named {owner}/{var}: nested models with clashing names")
            arrays[var] = np.asarray(layer[weight_name])
    return layers


def _read_keras3(group: h5py.Group, prefix: str = "") -> dict[str, dict[str, np.ndarray]]:
    layers: dict[str, dict[str, np.ndarray]] = {}
    for name in sorted(group, key=_natural):
        node = group[name]
        if "layers" in node:  # a nested model
            layers.update(_read_keras3(node["layers"], f"{prefix}{name}/"))
        elif "vars" in node and len(node["vars"]):
            arrays = [np.asarray(node["vars"][i]) for i in sorted(node["vars"], key=int)]
            kind = re.sub(r"_\d+$", "", name)
            var_names = _KERAS3_VARS.get(kind, tuple(str(i) for i in range(len(arrays))))
            layers[prefix + name] = dict(zip(var_names, arrays, strict=False))
    return layers


def _attr_list(node: h5py.Group, name: str) -> list[str]:
    """A list attribute; Keras splits long ones into ``name0``, ``name1``, ..."""
    if name in node.attrs:
        values = list(node.attrs[name])
    else:
        values, i = [], 0
        while f"{name}{i}" in node.attrs:
            values.extend(node.attrs[f"{name}{i}"])
            i += 1
    return [_text(v) for v in values]


def _versions(node: h5py.Group) -> tuple[str | None, str | None]:
    return (
        _text(node.attrs["keras_version"]) if "keras_version" in node.attrs else None,
        _text(node.attrs["backend"]) if "backend" in node.attrs else None,
    )


def _text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes | np.bytes_) else str(value)


def _natural(name: str) -> tuple[str, int]:
    """``conv2d`` < ``conv2d_2`` < ``conv2d_10``."""
    stem, _, number = name.rpartition("_")
    return (stem, int(number)) if number.isdigit() else (name, -1)
