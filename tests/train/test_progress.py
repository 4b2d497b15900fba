import io

from rich.console import Console

from visim.train.progress import LiveDisplay, PlainDisplay, SilentDisplay, make_display

RECORD = {
    "step": 40,
    "epoch": 1,
    "loss": -40.9,
    "loss_vs_uniform": -0.13,
    "kappa_mean": 12.3,
    "kappa_min": 1.2,
    "kappa_max": 40.1,
    "cosine": 0.812,
    "z_std": 0.021,
    "z_std_ideal": 0.022,
    "collapse": False,
    "images_per_s": 512.0,
    "data_wait": 0.03,
    "lr": 0.1,
    "lr_predictor": 0.1,
    "nonfinite_steps": 0,
    "eta_s": 80.0,
}


def test_plain_lines_carry_the_essentials(capsys):
    display = PlainDisplay()
    display.start(epochs=2, steps_per_epoch=80, epoch=0, batch=0)
    display.show(RECORD)
    line = capsys.readouterr().out.strip()
    assert line.startswith("epoch 1/2 step 40/160 | loss -40.9000 (vs uniform -0.130)")
    for part in ("kappa 12.3 [1.2, 40.1]", "512 img/s", "data wait 3%", "ETA 0:01:20"):
        assert part in line


def test_live_display_draws_bars_and_status_on_a_terminal():
    console = Console(file=io.StringIO(), force_terminal=True, width=160)
    display = LiveDisplay(console)
    display.start(epochs=2, steps_per_epoch=80, epoch=0, batch=0)
    display.advance(epoch=0, batch=40)
    display.show({**RECORD, "collapse": True})
    display.message("a message above the bars")
    display.close()
    screen = console.file.getvalue()
    for part in ("epoch", "step", "40/80", "loss -40.9000", "WARNING: collapse", "a message"):
        assert part in screen


def test_only_rank_zero_shows_anything_and_quiet_means_plain():
    assert isinstance(make_display(is_main_process=False, quiet=False), SilentDisplay)
    assert isinstance(make_display(is_main_process=True, quiet=True), PlainDisplay)
