"""Serve the browser view (``model/app.py``) with ``solara run``: used by ``carepath viz``.

The server runs as a child process::

    solara run <repo>/model/app.py --host H --port N --production --no-open --no-check-version

``--production`` serves the pre-built front-end files that ``solara[assets]`` installs (the page
works with no internet); ``--no-check-version`` avoids a blocking request to the package index at
start-up. The scenario reaches the app through the ``CAREPATH_SCENARIO`` environment variable.
The page binds to 127.0.0.1 unless another address is asked for (``--host 0.0.0.0`` shares it
with a classroom network).
"""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from .params import CarePathError, ParameterError
from .scenarios import DEFAULT_SCENARIO, check_scenario

__all__ = ["APP", "free_port", "serve", "solara_command", "start", "stop", "url_for", "wait_until_up"]

#: Host values that mean "every network address".
ANY_ADDRESS = ("0.0.0.0", "", "::")
#: The app file ``solara run`` serves.
APP = Path(__file__).resolve().with_name("app.py")


def url_for(host: str, port: int) -> str:
    shown = "127.0.0.1" if host in ANY_ADDRESS else host
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"
    return f"http://{shown}:{port}/"


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on ``host`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _check_port(host: str, port: int) -> None:
    if not 1 <= port <= 65535:
        raise ParameterError("port", port, "an integer in [1, 65535]", "--port")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            raise CarePathError(
                f"cannot serve the browser view on {host}:{port} ({exc.strerror or exc}); "
                "choose another port with --port, or another address with --host") from None


def solara_command(host: str, port: int) -> list[str]:
    """The ``solara run`` command line for the app."""
    solara = Path(sys.executable).with_name("solara")
    prog = [str(solara)] if solara.exists() else [sys.executable, "-m", "solara"]
    return [*prog, "run", str(APP), "--host", host, "--port", str(port), "--production",
            "--no-open", "--no-check-version"]


def start(scenario: str | None = None, port: int = 8765, host: str = "127.0.0.1",
          env: dict[str, str] | None = None, **popen_kwargs) -> subprocess.Popen:
    """Start the server as a child process and return it (does not wait for it to answer).

    ``env`` adds environment variables (e.g. ``SOLARA_HOME``/``MPLCONFIGDIR`` in tests)."""
    name = check_scenario(scenario or DEFAULT_SCENARIO, "--scenario")
    _check_port(host, port)
    if importlib.util.find_spec("solara") is None:  # before the child would fail on it
        raise CarePathError("the browser view needs the 'viz' extra (solara is not installed); "
                            "run `make setup` or `pip install -e '.[viz]'`")
    # (app.py puts the repository root on sys.path itself, ahead of solara's app directory.)
    # Solara's "This website runs on Solara" corner banner covers the charts' legends in a
    # classroom projection; off unless the user's environment says otherwise.
    child_env = {"SOLARA_THEME_SHOW_BANNER": "false", **os.environ, **(env or {}),
                 "CAREPATH_SCENARIO": name}
    return subprocess.Popen(solara_command(host, port), env=child_env, **popen_kwargs)


def wait_until_up(url: str, timeout: float = 60.0,
                  process: subprocess.Popen | None = None) -> float:
    """Poll ``url`` until it answers HTTP 200; returns the seconds waited.

    Raises :class:`CarePathError` on timeout or if ``process`` exits first."""
    t0 = time.monotonic()
    while True:
        if process is not None and process.poll() is not None:
            raise CarePathError(f"the browser-view server exited with code {process.returncode} "
                                f"before answering at {url}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return time.monotonic() - t0
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            pass
        if time.monotonic() - t0 > timeout:
            raise CarePathError(f"the browser-view server did not answer at {url} "
                                f"within {timeout:.0f} s")
        time.sleep(0.25)


def serve(scenario: str | None, port: int, host: str = "127.0.0.1") -> int:
    """Run the browser view until interrupted (Ctrl+C); returns an exit code.

    Prints the address to open."""
    url = url_for(host, port)
    proc = start(scenario, port, host)
    print(f"carepath browser view ({scenario or DEFAULT_SCENARIO}): {url}", flush=True)
    if host in ANY_ADDRESS:
        print(f"  listening on all network addresses: others open http://<this machine's "
              f"address>:{port}/", flush=True)
    print("  press Ctrl+C to stop", flush=True)
    # Stop the server with us: Ctrl+C, or a SIGTERM from a process manager.
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    try:
        return proc.wait()
    except KeyboardInterrupt:
        return 0  # the server is stopped below
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        if proc.poll() is None:
            stop(proc)


def _raise_keyboard_interrupt(signum, frame):
    raise KeyboardInterrupt


def stop(proc: subprocess.Popen, timeout: float = 10) -> None:
    """Terminate the server process, killing it if it does not exit within ``timeout`` s."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
