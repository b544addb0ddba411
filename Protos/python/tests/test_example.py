"""The runnable example does the whole workflow against its own daemon."""

import os
import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "workflow.py"


def test_workflow_example_runs(daemon):
    out = subprocess.run([sys.executable, str(EXAMPLE), "--subsidyd", daemon.binary],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "approved by the city: 500,000.00 yuan, APPROVED" in out.stdout
    assert "disbursed 2022-10-09: DISBURSED" in out.stdout
    assert "audit: 6/6 chains verify" in out.stdout


def test_workflow_example_runs_twice_on_one_data_dir(daemon):
    for _ in range(2):
        out = subprocess.run([sys.executable, str(EXAMPLE), "--data-dir", daemon.data_dir],
                             capture_output=True, text=True, timeout=120, env=dict(os.environ))
        assert out.returncode == 0, out.stdout + out.stderr
        assert out.stdout.rstrip().endswith("workflow complete")
