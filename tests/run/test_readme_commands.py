"""The README's training commands, as written: each one composes and passes every check a launch makes before it
builds or writes anything (run/preflight.py), so a README example that would fail is caught here."""
from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import torch

from run.build import build_module
from run.load import load_run_config
from run.preflight import prepare

ROOT = Path(__file__).resolve().parents[2]


def readme_commands() -> list[list[str]]:
    """argv of every `python train.py ...` in the README's ```bash blocks (comments and `&& ...` tails dropped)."""
    text = (ROOT / "README.md").read_text()
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        for line in block.splitlines():
            for hit in re.finditer(r"python3? train\.py([^#&|;]*)", line):
                commands.append(shlex.split(hit.group(1)))
    return commands


def _resume_target(tmp: Path, name: str, argv: list[str]) -> None:
    """A run named `name` with a checkpoint of the model `argv` describes, for the README's resume example."""
    cfg = load_run_config([a for a in argv if not a.startswith(("ckpt_path=", "name="))])
    module = build_module(cfg, 768)
    ckpt = tmp / "runs" / name / "checkpoints" / "last.ckpt"
    ckpt.parent.mkdir(parents=True)
    torch.save({"state_dict": module.state_dict(), "hyper_parameters": dict(module.hparams), "global_step": 10}, ckpt)


COMMANDS = readme_commands()


def test_the_readme_has_training_commands():
    assert len(COMMANDS) >= 8, COMMANDS
    assert ["recipe=kda_3to1", "model.ratio=7:1", "model.linear.allow_neg_eigval=true"] in COMMANDS


@pytest.mark.parametrize("argv", COMMANDS, ids=[" ".join(c) or "(no args)" for c in COMMANDS])
def test_a_readme_command_composes_and_validates(argv, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    if "--help" in argv:
        import train

        assert train.main(argv) == 0 and "model.ratio" in capsys.readouterr().out
        return
    if any(a in ("-m", "--multirun") or a.startswith("study=") for a in argv):  # a study: every cell checked, dry
        import train

        assert train.main([*argv, "--dry-run"]) == 0, capsys.readouterr().err
        assert " cells (" in capsys.readouterr().out and not (tmp_path / "runs").exists()
        return
    argv = [a.replace("<run>", "readme-run") for a in argv]
    if any(a.startswith("ckpt_path=") for a in argv):
        _resume_target(tmp_path, "readme-run", argv)
    launch = prepare(argv)
    if "model.ratio=7:1" in argv:
        assert launch.cfg.model.ratio == "7:1"
    assert not (tmp_path / "runs").exists() or any(a.startswith("ckpt_path=") for a in argv)  # a dry check
