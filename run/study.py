"""A study: a recipe of runs. Base overrides x axes (a grid, or zipped) x seeds -> cells, each a train.py argv.

    recipes/studies/<name>.yaml            the `-m` quick form builds the same thing from the command line
    base:  {size: small, trainer.max_steps: 250}     train.py key=value for every cell (nested mappings allowed)
    axes:  {recipe: [full_attention, kda_3to1]}      every combination (a grid), in the order written
    zip:   {model.ratio: ["1:0", "3:1"], model.pattern: [null, null]}   advance together, as one more grid axis
    seeds: [0, 1]                                    `seed=` of each cell (the model init)
    baseline: {recipe: full_attention}               the cells every other cell is compared with
    launcher: {jobs_per_gpu: 3}                      defaults for the launcher (run/launchers/config.py)

Each cell has a stable name (`kda_3to1-s1`, `ratio3to1-s0`) and run directory `<out_dir>/<study>/<cell>/`, and every
cell's launch is checked as train.py checks it (`validate_cells`) before anything runs or is submitted. Cells
carry `resume=auto`: a relaunched or requeued cell continues from its newest valid checkpoint.
"""
from __future__ import annotations

import hashlib
import itertools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from run.errors import ConfigError, closest, unknown

STUDIES_DIR = Path(__file__).resolve().parent.parent / "recipes" / "studies"
STUDY_KEYS = ("description", "base", "axes", "zip", "seeds", "baseline", "launcher")


@dataclass
class Cell:
    """One run of a study: its axis values, seed, name and the train.py arguments that make it."""

    name: str
    """Stable cell name: the axis values then the seed, e.g. kda_3to1-s1; the run directory's name."""
    axes: dict[str, Any]
    """Axis key -> this cell's value (display form), in the study's axis order."""
    seed: int
    """The cell's `seed=`."""
    argv: list[str]
    """train.py key=value arguments of the cell (study and launcher keys already applied)."""
    run_dir: Path
    """<out_dir>/<study>/<cell>/."""

    @property
    def group(self) -> str:
        """The cell's name without its seed: cells of one group are one design, repeated over seeds."""
        return self.name.rsplit("-s", 1)[0]


@dataclass
class Study:
    """A parsed study: what varies, what is fixed, and against which cells the others are compared."""

    name: str
    """Study name: the directory under out_dir and the W&B group."""
    base: dict[str, Any] = field(default_factory=dict)
    """Flat dotted key -> value for every cell."""
    axes: dict[str, list[Any]] = field(default_factory=dict)
    """Grid axes: key -> values."""
    zip: dict[str, list[Any]] = field(default_factory=dict)
    """Zipped axes: key -> values, all of one length, advancing together."""
    seeds: list[int] = field(default_factory=lambda: [0])
    """Seeds every design is run with."""
    baseline: dict[str, Any] = field(default_factory=dict)
    """Axis key -> value selecting the baseline design (empty: the first design)."""
    launcher: dict[str, Any] = field(default_factory=dict)
    """Launcher defaults (launcher.<key> on the command line wins)."""
    description: str = ""
    """One paragraph: what the study asks."""


def available() -> list[str]:
    return sorted(p.stem for p in STUDIES_DIR.glob("*.yaml"))


def flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{'trainer': {'max_steps': 5}} -> {'trainer.max_steps': 5}; lists and scalars are leaves."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and v:
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out


def _values(where: str, key: str, values: Any) -> list[Any]:
    if not isinstance(values, list) or not values:
        raise ConfigError(f"{where}: axis {key!r} must be a non-empty list of values, got {values!r}")
    return values


def study_from_dict(name: str, body: dict[str, Any], where: str) -> Study:
    """Check a study mapping's shape (not its cells: see validate_cells) and build the Study."""
    for key in body:
        if key not in STUDY_KEYS:
            hits = closest(key, STUDY_KEYS)
            hint = f"; did you mean {hits[0]!r}?" if hits else ""
            raise ConfigError(f"{where}: unknown study key {key!r}{hint} (valid: {', '.join(STUDY_KEYS)})")
    for key in ("base", "axes", "zip", "baseline", "launcher"):
        if not isinstance(body.get(key) or {}, dict):
            raise ConfigError(f"{where}: {key} must be a mapping, got {type(body[key]).__name__}")
    axes = {k: _values(where, k, v) for k, v in flatten(body.get("axes") or {}).items()}
    zipped = {k: _values(where, k, v) for k, v in flatten(body.get("zip") or {}).items()}
    if len({len(v) for v in zipped.values()}) > 1:
        lengths = ", ".join(f"{k}: {len(v)}" for k, v in zipped.items())
        raise ConfigError(f"{where}: zipped axes must have one length each ({lengths})")
    both = set(axes) & set(zipped)
    if both:
        raise ConfigError(f"{where}: {sorted(both)[0]!r} is both a grid axis and a zipped axis; keep one")
    seeds = body.get("seeds", [0])
    seeds = [seeds] if isinstance(seeds, int) else seeds
    if not isinstance(seeds, list) or not seeds or not all(isinstance(s, int) and s >= 0 for s in seeds):
        raise ConfigError(f"{where}: seeds must be a list of integers >= 0, e.g. [0, 1, 2]; got {seeds!r}")
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"{where}: seeds {seeds} repeat a seed")
    base = flatten(body.get("base") or {})
    for key in ("seed", "name"):
        if key in base or key in axes or key in zipped:
            raise ConfigError(f"{where}: {key!r} is set by the study (seeds: and the cell name); remove it")
    baseline = flatten(body.get("baseline") or {})
    for key in baseline:
        if key not in axes and key not in zipped:
            raise ConfigError(f"{where}: baseline key {key!r} is not an axis (axes: {', '.join([*axes, *zipped])})")
    return Study(name=name, base=base, axes=axes, zip=zipped, seeds=seeds, baseline=baseline,
                 launcher=flatten(body.get("launcher") or {}), description=str(body.get("description") or ""))


def load_study(name: str) -> Study:
    """recipes/studies/<name>.yaml (or a path to a .yaml) -> Study."""
    path = Path(name)
    if path.suffix not in (".yaml", ".yml"):
        if name not in available():
            raise unknown("study", name, available())
        path = STUDIES_DIR / f"{name}.yaml"
    elif not path.is_file():
        raise ConfigError(f"study={name!r}: no such file")
    from run.load import _read_yaml

    return study_from_dict(path.stem, _read_yaml(path, "study (base, axes, seeds, ...)"), str(path))


def split_commas(value: str) -> list[str]:
    """'a,b,[c,d]' -> ['a', 'b', '[c,d]']: commas inside brackets or quotes do not split."""
    parts, depth, quote, cur = [], 0, "", ""
    for ch in value:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "[{(":
            depth += 1
        elif ch in "]})":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
            continue
        cur += ch
    return [*parts, cur]


def multirun_study(overrides: list[str]) -> tuple[Study, list[str]]:
    """The `-m` quick form: every `key=a,b` becomes a grid axis (`seed=0,1` the seeds); returns (study, the rest).

    The study's name is stable for the same command (multirun-<hash of the axes and overrides>), so running the same
    command again resumes it."""
    axes: dict[str, list[Any]] = {}
    seeds: list[int] = [0]
    rest = []
    for arg in overrides:
        key, _, value = arg.partition("=")
        parts = split_commas(value)
        if key.startswith(("launcher", "study.")) or len(parts) == 1:
            if key == "seed":
                seeds = [_seed(value)]
            else:
                rest.append(arg)
            continue
        if key == "seed":
            seeds = [_seed(p) for p in parts]
        else:
            axes[key] = [_Raw(p) for p in parts]
    digest = hashlib.sha1(json.dumps([sorted((k, [str(v) for v in vs]) for k, vs in axes.items()), seeds,
                                      sorted(a for a in rest if not a.startswith(("launcher", "study.")))]
                                     ).encode()).hexdigest()[:8]
    body = {"axes": axes, "seeds": seeds}
    return study_from_dict(f"multirun-{digest}", body, "command line"), rest


def _seed(text: str) -> int:
    if not text.strip().isdigit():
        raise ConfigError(f"seed={text!r}: a seed is an integer >= 0 (e.g. seed=0,1,2)")
    return int(text)


class _Raw(str):
    """A value typed on the command line: passed to train.py as written."""


def as_arg(key: str, value: Any) -> str:
    """key=value as train.py parses it; a YAML string that would not read back as itself (3:1 is a base-60 integer
    in YAML 1.1) is quoted."""
    if isinstance(value, _Raw):
        return f"{key}={value}"
    if isinstance(value, str):
        text = value
        if not text or yaml.safe_load(text) != text or "," in text:
            text = json.dumps(value)
    elif value is None:
        text = "null"
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, (list, tuple)):
        text = "[" + ",".join(as_arg("_", v).split("=", 1)[1] for v in value) + "]"
    else:
        text = str(value)
    return f"{key}={text}"


def _token(key: str, value: Any) -> str:
    """The part of a cell name for one axis value: the value for recipe/size/data, key+value otherwise."""
    short = key.rsplit(".", 1)[-1]
    text = "null" if value is None else "-".join(map(str, value)) if isinstance(value, list) else str(value)
    text = text.replace(":", "to").replace(".", "p")
    text = re.sub(r"[^A-Za-z0-9_+-]+", "", text)
    return text if key in ("recipe", "size", "data") else f"{short}{text}"


def designs(study: Study) -> list[dict[str, Any]]:
    """Every combination of the axes (zipped axes as one), in the order written: key -> value."""
    grid = [[(k, v) for v in vs] for k, vs in study.axes.items()]
    if study.zip:
        n = len(next(iter(study.zip.values())))
        grid.append([tuple((k, vs[i]) for k, vs in study.zip.items()) for i in range(n)])  # type: ignore[misc]
    out = []
    for combo in itertools.product(*grid):
        design: dict[str, Any] = {}
        for item in combo:
            for k, v in (item if isinstance(item[0], tuple) else (item,)):
                design[k] = v
        out.append(design)
    return out


def expand(study: Study, overrides: list[str], out_dir: str | None = None) -> list[Cell]:
    """The study's cells: base + command-line overrides + axis values + seed + name/out_dir/W&B keys."""
    base = [as_arg(k, v) for k, v in study.base.items() if k != "out_dir"]
    root = Path(out_dir or study.base.get("out_dir") or "runs") / study.name
    cells = []
    for design in designs(study):
        stem = "-".join(_token(k, v) for k, v in design.items()) or _fixed_recipe(study, overrides)
        for seed in study.seeds:
            name = f"{stem}-s{seed}"
            tags = [f"{k.rsplit('.', 1)[-1]}={v}" for k, v in design.items()] + [f"seed={seed}"]
            argv = [*base, *(as_arg(k, v) for k, v in design.items()), *overrides,
                    f"seed={seed}", f"name={name}", f"out_dir={root}", "resume=auto",
                    f"trainer.wandb_group={study.name}", as_arg("trainer.wandb_tags", [str(t) for t in tags])]
            cells.append(Cell(name=name, axes={k: _plain(v) for k, v in design.items()}, seed=seed, argv=argv,
                              run_dir=root / name))
    names = [c.name for c in cells]
    dup = next((n for n in names if names.count(n) > 1), None)
    if dup:
        raise ConfigError(f"study {study.name}: two cells are both named {dup!r}; make the axis values distinct")
    return cells


def _fixed_recipe(study: Study, overrides: list[str]) -> str:
    """A study without axes (seeds only) names its cells after its one recipe."""
    named = [a.split("=", 1)[1] for a in overrides if a.startswith("recipe=")]
    return named[-1] if named else str(study.base.get("recipe", "cell"))


def _plain(v: Any) -> Any:
    return str(v) if isinstance(v, _Raw) else v


def baseline_group(study: Study, cells: list[Cell]) -> str:
    """The group name of the baseline design (the first design when the study names none)."""
    if not study.baseline:
        return cells[0].group
    for c in cells:
        if all(str(c.axes.get(k)) == str(v) for k, v in study.baseline.items()):
            return c.group
    want = ", ".join(f"{k}={v}" for k, v in study.baseline.items())
    raise ConfigError(f"study {study.name}: no cell has the baseline's {want}; valid groups: "
                      + ", ".join(dict.fromkeys(c.group for c in cells)))


def validate_cells(cells: list[Cell]) -> None:
    """Check every cell's launch as train.py does before it builds anything (config, eval settings, run directory,
    the checkpoint a resumed cell would load); the first bad cell raises ConfigError naming it."""
    from run.preflight import prepare

    for cell in cells:
        try:
            prepare(cell.argv)
        except ValueError as e:  # ConfigError is a ValueError
            raise ConfigError(f"cell {cell.name}: {e}") from None
