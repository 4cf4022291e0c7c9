"""`lockgate serve` tells Step Functions clients the one setting they need on loopback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import free_port, wait_for_port


def test_serve_prints_the_host_prefix_setting(home: Path) -> None:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "lockgate", "serve", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert wait_for_port(port, 30)
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert "AWS_DISABLE_HOST_PREFIX_INJECTION=true" in err and "inject_host_prefix=False" in err
