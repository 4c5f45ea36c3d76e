"""Where database settings come from, resolved in one place.

Precedence, lowest first: the defaults of :class:`DatabaseConfig` < a YAML file < ``VECTORDB_*``
environment variables < the ``config=`` argument of ``vectordb.open``. The YAML file is the
``config_file=`` argument, else the path in ``VECTORDB_CONFIG``, else ``vectordb.yaml`` in the
database directory when it exists. Its top-level keys are ``DatabaseConfig``'s, plus
``collections:`` (per-collection overrides, see :class:`CollectionOverrides`). Every value is
validated on load; an error names the source, the key and the allowed values.

A ``DatabaseConfig`` object passed as ``config=`` is taken as complete: files and environment
are not consulted (pass a mapping to override only some keys).
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from vectordb.config import DatabaseConfig
from vectordb.errors import InvalidConfigError

__all__ = [
    "CONFIG_FILE_NAME",
    "ENV_KINDS",
    "ENV_PREFIX",
    "ResolvedConfig",
    "environment_settings",
    "find_config_file",
    "read_config_file",
    "resolve_database_config",
]

CONFIG_FILE_NAME = "vectordb.yaml"
ENV_PREFIX = "VECTORDB_"
#: environment variables that are not settings
_ENV_NOT_SETTINGS = {"VECTORDB_CONFIG", "VECTORDB_SLOW", "VECTORDB_NO_WARMUP"}

_TRUE = {"1", "true", "yes", "on"}
_WARNED: set[str] = set()
log = logging.getLogger("vectordb")
_FALSE = {"0", "false", "no", "off"}


@dataclasses.dataclass(frozen=True)
class ResolvedConfig:
    """The resolved settings and, for each key not at its default, where its value came from
    (``"file <path>"``, ``"environment VECTORDB_<KEY>"`` or ``"argument"``)."""

    config: DatabaseConfig
    sources: dict[str, str]
    config_file: Path | None


#: how an environment variable's text becomes each setting (every DatabaseConfig field but
#: ``collections``, which only a file or an argument can give)
ENV_KINDS = {
    "durability": "str",
    "lock_timeout": "float",
    "idempotency_window": "float",
    "checkpoint_records": "int",
    "checkpoint_bytes": "int",
    "initial_capacity": "int",
    "use_mmap": "bool",
    "verify_checksums_on_open": "bool",
    "warmup_on_open": "bool",
    "check_on_open": "bool",
    "threads": "int_or_str",
    "log_level": "str",
    "log_json": "bool",
    "slow_query_ms": "float",
    "compact_dead_share": "float",
    "compact_min_dead_bytes": "int",
    "max_vectors": "int",
    "max_bytes": "int",
    "min_free_disk_bytes": "int",
    "wal_archive": "str",
}


def _parse_env(name: str, kind: str, text: str) -> Any:
    value = text.strip()
    if value.lower() in ("", "none", "null") and kind != "bool":
        return None
    try:
        if kind == "bool":
            if value.lower() in _TRUE:
                return True
            if value.lower() in _FALSE:
                return False
            raise ValueError
        if kind == "int":
            return int(value)
        if kind == "float":
            return float(value)
        if kind == "int_or_str":
            return int(value) if value.lstrip("-").isdigit() else value
    except ValueError:
        allowed = {"bool": "true/false (or 1/0, yes/no, on/off)", "int": "an integer",
                   "float": "a number", "int_or_str": "a number or a name"}[kind]  # fmt: skip
        raise InvalidConfigError(
            f"environment variable {name}={text!r}: expected {allowed}"
        ) from None
    return value


def environment_settings(environ: Mapping[str, str]) -> dict[str, Any]:
    """The ``VECTORDB_<KEY>`` variables, parsed. An unknown ``VECTORDB_`` name is logged as a
    warning (once per process) and ignored: a misspelt setting is never silent, and another
    program's variable does not stop a database from opening."""
    kinds = ENV_KINDS
    found: dict[str, Any] = {}
    for name, text in environ.items():
        if not name.startswith(ENV_PREFIX) or name in _ENV_NOT_SETTINGS:
            continue
        key = name[len(ENV_PREFIX) :].lower()
        kind = kinds.get(key)
        if kind is None:
            # another program's variable, or a misspelt setting: say so, do not refuse to open
            if name not in _WARNED:
                _WARNED.add(name)
                settable = sorted(ENV_PREFIX + k.upper() for k in kinds)
                log.warning("ignoring environment variable %s: not a vectordb setting (%s)",
                            name, ", ".join(settable))  # fmt: skip
            continue
        found[key] = _parse_env(name, kind, text)
    return found


def read_config_file(path: Path) -> dict[str, Any]:
    """The mapping in a YAML file (PyYAML, the ``config`` extra)."""
    try:
        import yaml
    except ImportError:
        raise InvalidConfigError(
            f"{path} is a YAML config file and PyYAML is not installed: "
            'pip install "vectordb[config]"'
        ) from None
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise InvalidConfigError(f"cannot read config file {path}: {error}") from error
    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise InvalidConfigError(f"config file {path} is not valid YAML: {error}") from error
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise InvalidConfigError(
            f"config file {path} must hold a mapping of settings; got {type(loaded).__name__}"
        )
    return _yaml_off_is_off(loaded)


def _yaml_off_is_off(values: dict[str, Any]) -> dict[str, Any]:
    """YAML 1.1 reads a bare ``off`` as False: ``durability: off`` means the durability."""
    fixed = dict(values)
    if fixed.get("durability") is False:
        fixed["durability"] = "off"
    collections = fixed.get("collections")
    if isinstance(collections, dict):
        fixed["collections"] = {
            name: _yaml_off_is_off(settings) if isinstance(settings, dict) else settings
            for name, settings in collections.items()
        }
    return fixed


def find_config_file(
    root: Path, config_file: str | os.PathLike[str] | None, environ: Mapping[str, str]
) -> Path | None:
    if config_file is not None:
        path = Path(config_file)
        if not path.is_file():
            raise InvalidConfigError(f"config file {path} does not exist")
        return path
    named = environ.get("VECTORDB_CONFIG")
    if named:
        path = Path(named)
        if not path.is_file():
            raise InvalidConfigError(f"VECTORDB_CONFIG names {path}, which does not exist")
        return path
    default = root / CONFIG_FILE_NAME
    return default if default.is_file() else None


def resolve_database_config(
    root: Path,
    explicit: DatabaseConfig | Mapping[str, Any] | None,
    *,
    config_file: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> ResolvedConfig:
    """Merge defaults < file < environment < ``explicit`` and validate the result."""
    if isinstance(explicit, DatabaseConfig):
        return ResolvedConfig(explicit, {}, None)
    if explicit is not None and not isinstance(explicit, Mapping):
        raise InvalidConfigError(f"config must be a mapping or a DatabaseConfig; got {explicit!r}")
    environ = os.environ if environ is None else environ
    path = find_config_file(root, config_file, environ)
    layers: list[tuple[str, dict[str, Any]]] = []
    if path is not None:
        layers.append((f"file {path}", read_config_file(path)))
    layers.append(("environment", environment_settings(environ)))
    layers.append(("argument", dict(explicit or {})))
    merged: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for source, values in layers:
        for key, value in values.items():
            if key == "collections" and isinstance(value, Mapping):
                overrides = dict(merged.get("collections") or {})
                for name, settings in value.items():
                    overrides[name] = {**dict(overrides.get(name) or {}), **dict(settings or {})}
                value = overrides
            merged[key] = value
            sources[key] = (
                f"environment {ENV_PREFIX}{key.upper()}" if source == "environment" else source
            )
    try:
        config = DatabaseConfig.from_mapping(merged)
    except InvalidConfigError as error:
        where = _blame(str(error), sources)
        raise InvalidConfigError(f"{where}{error}") from None
    return ResolvedConfig(config, sources, path)


def _blame(message: str, sources: dict[str, str]) -> str:
    """``"<source>: "`` for the key an error message names first, if it can tell."""
    for key, source in sources.items():
        if message.startswith(key) or f" {key} " in message or f"'{key}'" in message:
            return f"{source}: "
    return ""
