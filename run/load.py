"""Compose a RunConfig from the command line: defaults <- size preset <- recipe <- data preset <- key=value overrides.

Everything is checked before any work starts: unknown recipes/presets/keys and wrongly typed values raise a
one-line ConfigError naming the culprit and the closest valid names.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterable

import yaml
from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from run.errors import ConfigError, closest, unknown
from run.schema import RunConfig

RECIPES_DIR = Path(__file__).resolve().parent.parent / "recipes"
PRESET_GROUPS = ("size", "data")  # `size=tiny` / `data=synthetic` load recipes/<group>/<name>.yaml


class _Loader(yaml.SafeLoader):
    """YAML without YAML 1.1's base-60 numbers: `ratio: 3:1` is the string '3:1', not the integer 181."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, re.compile(r"(?!.*:)" + rx.pattern, rx.flags) if tag.endswith((":int", ":float")) else rx)
            for tag, rx in resolvers]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_BASE60 = re.compile(r"[-+]?[0-9][0-9_]*(?::[0-9_]+)+(?:\.[0-9_]*)?")


def _keep_ratio(value: str) -> str:
    """Quote a command-line value that YAML 1.1 would read as a base-60 number (`7:1` -> 421)."""
    return f"'{value.strip()}'" if _BASE60.fullmatch(value.strip()) else value


def available(group: str | None = None) -> list[str]:
    folder = RECIPES_DIR / group if group else RECIPES_DIR
    return sorted(p.stem for p in folder.glob("*.yaml"))


def _read_yaml(path: Path, what: str) -> dict:
    try:
        loaded = yaml.load(path.read_text(), Loader=_Loader) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML ({str(e).splitlines()[0]})") from None
    if not isinstance(loaded, dict):
        raise ConfigError(f"{path}: a {what} must be a mapping of config keys, got {type(loaded).__name__}")
    return loaded


def _flat_keys(d: dict, prefix: str = "") -> Iterable[str]:
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and v:
            yield from _flat_keys(v, key + ".")
        else:
            yield key


def all_keys(node: Any = None, prefix: str = "") -> list[str]:
    """Every dotted key of the schema, e.g. 'model.linear.variant'."""
    node = OmegaConf.structured(RunConfig) if node is None else node
    keys = []
    for k in node:
        full = f"{prefix}{k}"
        child = node._get_node(k)
        if isinstance(child, DictConfig) and OmegaConf.get_type(child) not in (dict, None):
            keys += all_keys(child, full + ".")
        else:
            keys.append(full)
    return keys


def _check_key(schema: DictConfig, key: str, source: str) -> None:
    node: Any = schema
    for i, part in enumerate(key.split(".")):
        if isinstance(node, DictConfig):
            if OmegaConf.get_type(node) in (dict, None):  # an open mapping such as data.mixture
                return
            if part in node:
                node = node._get_node(part)
                continue
        elif isinstance(node, ListConfig) and part.isdigit():
            return
        bad = ".".join(key.split(".")[: i + 1])
        hits = closest(key, all_keys()) or closest(bad, all_keys())  # the whole key first: 'modle.d_model'
        hint = f"; did you mean {' or '.join(repr(h) for h in hits)}?" if hits else ""
        raise ConfigError(f"{source}: unknown config key {bad!r}{hint} (`python train.py --help` lists all keys)")


def _merge(cfg: DictConfig, update: dict | DictConfig, source: str) -> DictConfig:
    plain = OmegaConf.to_container(update) if isinstance(update, DictConfig) else update
    for key in _flat_keys(plain):
        _check_key(cfg, key, source)
    try:
        return OmegaConf.merge(cfg, update)
    except OmegaConfBaseException as e:
        msg = str(getattr(e, "msg", e)).splitlines()[0]
        where = getattr(e, "full_key", None)
        raise ConfigError(f"{source}: {where + ': ' if where else ''}{msg}") from None


def _parse_argv(argv: list[str]) -> tuple[dict[str, str], list[str]]:
    presets: dict[str, str] = {}
    dotlist: list[str] = []
    for arg in argv:
        if "=" not in arg or arg.startswith("="):
            raise ConfigError(f"argument {arg!r} is not key=value (e.g. recipe=kda_3to1 size=tiny optim.lr=1e-3)")
        key, value = arg.split("=", 1)
        key = key.lstrip("+")
        if key == "recipe" or key in PRESET_GROUPS:
            presets[key] = value
        else:
            dotlist.append(f"{key}={_keep_ratio(value)}")
    return presets, dotlist


def _listify(cfg: DictConfig, item: str) -> str:
    """`data.paths=a.jsonl` means `data.paths=[a.jsonl]` when the key holds a list."""
    key, value = item.split("=", 1)
    try:
        node = OmegaConf.select(cfg, key, throw_on_missing=False)
    except OmegaConfBaseException:
        return item
    if isinstance(node, ListConfig) and not value.lstrip().startswith("["):
        return f"{key}=[{value}]"
    return item


def load_run_config(argv: list[str]) -> DictConfig:
    """argv like ['recipe=kda_3to1', 'size=tiny', 'optim.lr=3e-3'] -> validated RunConfig (as a DictConfig)."""
    presets, dotlist = _parse_argv(argv)
    cfg = OmegaConf.structured(RunConfig)

    recipe = presets.get("recipe", cfg.recipe)
    if recipe not in available():
        raise unknown("recipe", recipe, available())
    recipe_body = _read_yaml(RECIPES_DIR / f"{recipe}.yaml", "recipe")
    for group in PRESET_GROUPS:
        if group in recipe_body and isinstance(recipe_body[group], str):  # `size: small` inside a recipe
            presets.setdefault(group, recipe_body.pop(group))

    size = presets.get("size", cfg.size)
    if size not in available("size"):
        raise unknown("size preset", size, available("size"))
    cfg = _merge(cfg, _read_yaml(RECIPES_DIR / "size" / f"{size}.yaml", "size preset"), f"recipes/size/{size}.yaml")
    cfg = _merge(cfg, recipe_body, f"recipes/{recipe}.yaml")
    if "data" in presets:
        name = presets["data"]
        if name not in available("data"):
            raise unknown("data preset", name, available("data"))
        cfg = _merge(cfg, _read_yaml(RECIPES_DIR / "data" / f"{name}.yaml", "data preset"), f"recipes/data/{name}.yaml")
    dotlist = [_listify(cfg, item) for item in dotlist]
    try:
        overrides = OmegaConf.from_dotlist(dotlist)
    except OmegaConfBaseException as e:
        raise ConfigError(f"command line: {str(e).splitlines()[0]}") from None
    cfg = _merge(cfg, overrides, "command line")
    cfg.recipe, cfg.size = recipe, size

    from run.validate import validate  # after merging: choices and cross-field checks

    validate(cfg)
    if cfg.eval.regular_kinds is None:  # derived, so the saved config says what the regular-prompt loss averaged
        from eval.scoring.regular import trained_kinds

        cfg.eval.regular_kinds = trained_kinds(cfg.data.loss_on)
    return cfg
