"""The command line works without ROS: --help of every command, and no rclpy import."""

from __future__ import annotations

import subprocess
import sys

import pytest

from bottlefit_ros.training.cli import main


def test_help_runs_in_a_process_without_rclpy() -> None:
    code = ("import sys, runpy; sys.argv = ['x', '--help']\n"
            "try:\n    runpy.run_module('bottlefit_ros.training', run_name='__main__')\n"
            "except SystemExit as e:\n    assert e.code == 0, e.code\n"
            "assert 'rclpy' not in sys.modules, 'the training CLI imported rclpy'\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    for command in ("train", "evaluate", "grid", "report", "export"):
        assert command in out.stdout


@pytest.mark.parametrize("command", ["train", "evaluate", "grid", "report", "export"])
def test_each_command_has_help(command: str, capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main([command, "--help"])
    assert exc.value.code == 0
    assert "usage" in capsys.readouterr().out


def test_unknown_method_is_refused(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["train", "nope"])
    assert "invalid choice" in capsys.readouterr().err


def test_a_missing_photo_folder_is_one_error_line(tmp_path, capsys) -> None:
    """`evaluate` on a user's own photos: a wrong path says so, without a traceback."""
    missing = tmp_path / "no-such-photos"
    code = main(["evaluate", "-c", "config/training/smoke.yaml", "--set", "data.source=folder",
                 "--set", f"data.root={missing}", "--set", f"out_dir={tmp_path / 'run'}"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: ") and str(missing) in err and "Traceback" not in err
