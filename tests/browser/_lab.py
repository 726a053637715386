"""JupyterLab + headless Chromium for the browser tests and the browser benchmark.

What is known to work on these machines is in /work/shared/browser-testing.md: JupyterLab on
127.0.0.1 with temporary config/runtime/settings folders, Debian's /usr/bin/chromium driven
by Python playwright through ``executable_path`` (no downloaded browser), every request
to another host aborted and recorded.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage",
]
LOCAL_HOSTS = {"127.0.0.1", "localhost"}
REPO = Path(__file__).resolve().parents[2]
INSTALL_HINT = ("Chromium is not installed at /usr/bin/chromium; install it with "
                "`apt-get install chromium` (Debian) to run the browser tests")


def chromium_missing() -> str | None:
    """None when Chromium is there, else the message saying how to install it."""
    return None if CHROMIUM.exists() and os.access(CHROMIUM, os.X_OK) else INSTALL_HINT


def when_chromium_is_missing(env: dict[str, str] | os._Environ[str]) -> str:
    """What the browser tests do without Chromium: ``"fail"`` in CI (``CI=true``), else
    ``"skip"`` (with :data:`INSTALL_HINT`)."""
    return "fail" if env.get("CI", "").strip().lower() in {"true", "1", "yes"} else "skip"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Lab:
    """A JupyterLab server on 127.0.0.1 with its own temporary folders (see ``start``)."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.root = base / "root"
        self.port = free_port()
        self.token = secrets.token_hex(16)
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = base / "jupyterlab.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        dirs = {}
        for name in ("config", "runtime", "ipython", "settings", "workspaces", "data"):
            d = self.base / name
            d.mkdir(parents=True, exist_ok=True)
            dirs[name] = d
        settings = dirs["settings"]
        tracker = settings / "@jupyterlab" / "notebook-extension"
        tracker.mkdir(parents=True, exist_ok=True)
        (tracker / "tracker.jupyterlab-settings").write_text(
            json.dumps({"windowingMode": "none"}))
        notif = settings / "@jupyterlab" / "apputils-extension"
        notif.mkdir(parents=True, exist_ok=True)
        (notif / "notification.jupyterlab-settings").write_text(
            json.dumps({"fetchNews": "false", "checkForUpdates": False}))
        env.update({
            "JUPYTER_CONFIG_DIR": str(dirs["config"]),
            "JUPYTER_RUNTIME_DIR": str(dirs["runtime"]),
            "IPYTHONDIR": str(dirs["ipython"]),
            "JUPYTERLAB_SETTINGS_DIR": str(settings),
            "JUPYTERLAB_WORKSPACES_DIR": str(dirs["workspaces"]),
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")])),
            "ESTIME_PROGRESS": "0",
        })
        env.pop("PYTEST_CURRENT_TEST", None)
        return env

    def start(self, timeout: float = 60.0) -> Lab:
        """Start the server and wait until ``/api/status`` answers 200."""
        self.root.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1",
               f"--port={self.port}", "--port-retries=0", "--allow-root",
               f"--IdentityProvider.token={self.token}", f"--ServerApp.root_dir={self.root}",
               "--LabApp.expose_app_in_browser=True", "--LabApp.news_url=None",
               "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
        log = self.log_path.open("wb")
        self.proc = subprocess.Popen(cmd, env=self._env(), stdout=log, stderr=subprocess.STDOUT,
                                     cwd=self.root)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"JupyterLab exited with {self.proc.returncode}; see "
                                   f"{self.log_path}:\n{self.log_path.read_text()[-3000:]}")
            try:
                if self._request("GET", "/api/status") == 200:
                    return self
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.25)
        self.stop()
        raise TimeoutError(f"JupyterLab did not answer within {timeout:.0f} s; see {self.log_path}")

    def _request(self, method: str, path: str, body: Any = None) -> int:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, method=method, data=data,
                                     headers={"Authorization": f"token {self.token}",
                                              "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as resp:
            return int(resp.status)

    def start_kernel(self, name: str) -> None:
        """Start the notebook's kernel session now, so it boots while the page loads."""
        self._request("POST", "/api/sessions", {
            "path": name, "name": name, "type": "notebook", "kernel": {"name": "python3"}})

    def stop(self) -> None:
        """``POST /api/shutdown`` (kernels stop too), then wait; kill by PID as a fallback."""
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(urllib.error.URLError, ConnectionError, TimeoutError):
            self._request("POST", "/api/shutdown")
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def write_notebook(self, name: str, cells: Iterable[str]) -> Path:
        """A notebook of code cells (with a kernelspec, so no kernel dialog blocks the page)."""
        nb = {
            "nbformat": 4, "nbformat_minor": 5,
            "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                        "language": "python"},
                         "language_info": {"name": "python"}},
            "cells": [{"cell_type": "code", "execution_count": None, "id": f"c{i}",
                       "metadata": {}, "outputs": [], "source": src}
                      for i, src in enumerate(cells)],
        }
        path = self.root / name
        path.write_text(json.dumps(nb, indent=1))
        return path

    def page_url(self, name: str) -> str:
        return f"{self.url}/lab/tree/{name}?reset&token={self.token}"


class Watch:
    """Records what a page did: requests to other hosts (aborted), console errors, dialogs."""

    def __init__(self) -> None:
        self.blocked: list[str] = []
        self.console_errors: list[str] = []
        self.dialogs: list[str] = []
        self.page_errors: list[str] = []

    def attach(self, context: Any, page: Any) -> None:
        def route(r: Any) -> None:
            host = urlparse(r.request.url).hostname
            if r.request.url.startswith(("data:", "blob:")) or host in LOCAL_HOSTS:
                r.continue_()
            else:
                self.blocked.append(r.request.url)
                r.abort()

        context.route("**/*", route)
        page.on("console", lambda m: self.console_errors.append(m.text)
                if m.type == "error" else None)
        page.on("pageerror", lambda e: self.page_errors.append(str(e)))

        def dialog(d: Any) -> None:
            self.dialogs.append(f"{d.type}: {d.message}")
            d.dismiss()

        page.on("dialog", dialog)


def launch(playwright: Any) -> Any:
    """Headless Chromium with the flags known to work here."""
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)


def open_and_run(page: Any, lab: Lab, name: str, *, timeout: float = 90.0) -> None:
    """Open a notebook, wait for its kernel to be idle, and run every cell."""
    ms = timeout * 1000
    page.goto(lab.page_url(name), wait_until="domcontentloaded", timeout=ms)
    page.wait_for_function("() => !!window.jupyterapp", timeout=ms)
    page.wait_for_function(
        """() => {
            const w = window.jupyterapp.shell.currentWidget;
            const k = w && w.sessionContext && w.sessionContext.session
                      && w.sessionContext.session.kernel;
            return !!k && k.status === 'idle';
        }""", timeout=ms)
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")


def wait_idle(page: Any, timeout: float = 120.0) -> None:
    """Wait until the notebook's kernel is idle (every queued cell has run)."""
    page.wait_for_function(
        """() => {
            const w = window.jupyterapp.shell.currentWidget;
            const k = w.sessionContext.session.kernel;
            const busy = [...document.querySelectorAll('.jp-InputArea-prompt')]
                .some(p => p.textContent.includes('*'));
            return k.status === 'idle' && !busy;
        }""", timeout=timeout * 1000)


def copy_screenshots(src: Path, names: Iterable[str], dest: Path = REPO / "docs") -> list[Path]:
    """Copy screenshots ``names`` from ``src`` to ``docs/`` (when asked to refresh them)."""
    dest.mkdir(parents=True, exist_ok=True)
    out = []
    for n in names:
        if (src / n).exists():
            out.append(Path(shutil.copy2(src / n, dest / n)))
    return out
