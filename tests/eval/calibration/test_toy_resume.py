"""The MQAR toy's training state survives a SIGTERM: stopped and resumed, it ends where an unbroken run ends."""
import os
import signal

import pytest
import torch

from data.synthetic.zoology_mqar import zoology_mqar
from eval.calibration.mqar_toy import ToyRun, ToyStopped, toy_model, train_toy, trained_seconds


def _model(seed: int):
    torch.manual_seed(seed)
    return toy_model("gated_deltanet", 32, 2, 64)


def test_stopped_and_resumed_equals_unbroken(tmp_path) -> None:
    segments = [zoology_mqar(64, 64, 16, 2, seed=1), zoology_mqar(64, 64, 32, 4, seed=2)]
    straight = _model(0)
    loss = train_toy(straight, segments, ToyRun(steps=24, batch=8, lr=3e-3))

    ckpt = str(tmp_path / "cell.pt")
    run = ToyRun(steps=24, batch=8, lr=3e-3, ckpt=ckpt, ckpt_every=5)

    def term_at_13(step: int, _loss) -> None:
        if step == 13:
            os.kill(os.getpid(), signal.SIGTERM)

    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(ToyStopped, match="step 13"):
        train_toy(_model(0), segments, run, on_step=term_at_13)
    assert signal.getsignal(signal.SIGTERM) is before  # the handler is put back
    assert torch.load(ckpt, weights_only=False)["step"] == 13
    first = trained_seconds(ckpt)
    assert first > 0

    resumed = _model(7)  # other weights: the checkpoint must replace them
    steps: list[int] = []
    resumed_loss = train_toy(resumed, segments, run, on_step=lambda s, _l: steps.append(s))
    assert steps == list(range(14, 25))
    assert trained_seconds(ckpt) > first  # both sittings counted
    assert resumed_loss == pytest.approx(loss, rel=1e-6)
    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        torch.testing.assert_close(b, a, rtol=1e-6, atol=1e-7, msg=name)

    again: list[int] = []  # finished: no step runs, the saved loss comes back
    assert train_toy(_model(7), segments, run, on_step=lambda s, _l: again.append(s)) == pytest.approx(loss,
                                                                                                      rel=1e-6)
    assert again == []
