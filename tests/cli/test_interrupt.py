"""Ctrl-C during a command is one line naming how to resume and exit status 130, not a traceback (#16 item 9)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time


def test_sigint_during_a_command_is_one_line(tmp_path):
    # a command that blocks until interrupted, as a long generation does between writes
    driver = tmp_path / "driver.py"
    driver.write_text(textwrap.dedent("""
        import sys, time
        from sbert_med import cli
        from sbert_med.cli import models_command

        def slow(args):
            print("started", flush=True)
            time.sleep(60)
        models_command.run_list = slow  # registered by add_arguments when main() builds the parser
        sys.exit(cli.main(["models", "list"]))
    """))
    # a terminal's Ctrl-C reaches a foreground program; a test run started in the background (`cmd &`) inherits an
    # ignored SIGINT, which Python then keeps ignoring: give the command the disposition it has in a terminal
    proc = subprocess.Popen([sys.executable, str(driver)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    assert proc.stdout.readline().strip() == "started"
    time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert "Traceback" not in err
    assert err.strip().splitlines() == ["sbert-med models: interrupted; rerun the same command to resume"]
