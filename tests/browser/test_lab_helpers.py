"""The browser-test helpers themselves (no browser needed)."""

from __future__ import annotations

import json
from pathlib import Path

import _lab
import pytest


def test_missing_chromium_fails_in_ci_and_skips_locally():
    assert _lab.when_chromium_is_missing({"CI": "true"}) == "fail"
    assert _lab.when_chromium_is_missing({"CI": "1"}) == "fail"
    assert _lab.when_chromium_is_missing({}) == "skip"
    assert _lab.when_chromium_is_missing({"CI": "false"}) == "skip"
    assert "apt-get install chromium" in _lab.INSTALL_HINT


def test_chromium_missing_names_the_install_command(monkeypatch, tmp_path):
    monkeypatch.setattr(_lab, "CHROMIUM", tmp_path / "no-chromium")
    assert "apt-get install chromium" in (_lab.chromium_missing() or "")


def test_lab_settings_and_notebooks(tmp_path):
    lab = _lab.Lab(tmp_path)
    env = lab._env()
    settings = Path(env["JUPYTERLAB_SETTINGS_DIR"]) / "@jupyterlab"
    tracker = json.loads((settings / "notebook-extension" /
                          "tracker.jupyterlab-settings").read_text())
    notif = json.loads((settings / "apputils-extension" /
                        "notification.jupyterlab-settings").read_text())
    assert tracker == {"windowingMode": "none"}
    assert notif == {"fetchNews": "false", "checkForUpdates": False}
    for key in ("JUPYTER_CONFIG_DIR", "JUPYTER_RUNTIME_DIR", "IPYTHONDIR",
                "JUPYTERLAB_WORKSPACES_DIR"):
        assert Path(env[key]).is_relative_to(tmp_path)
    lab.root.mkdir(parents=True)
    nb = json.loads(lab.write_notebook("x.ipynb", ["1 + 1", "print(2)"]).read_text())
    assert nb["metadata"]["kernelspec"]["name"] == "python3"
    assert [c["source"] for c in nb["cells"]] == ["1 + 1", "print(2)"]
    assert lab.page_url("x.ipynb").startswith(f"http://127.0.0.1:{lab.port}/lab/tree/x.ipynb")


@pytest.mark.parametrize("url, blocked", [
    ("http://127.0.0.1:8888/api/status", False), ("http://localhost/x", False),
    ("https://cdn." + "jsdelivr.net/npm/vega@5", True), ("https://example.com/", True)])
def test_watch_aborts_every_request_to_another_host(url, blocked):
    watch = _lab.Watch()
    handlers = {}

    class Ctx:
        def route(self, pattern, fn):
            handlers["route"] = fn

    class Page:
        def on(self, name, fn):
            handlers[name] = fn

    class Route:
        def __init__(self):
            self.request = type("Req", (), {"url": url})()
            self.done = None

        def continue_(self):
            self.done = "continued"

        def abort(self):
            self.done = "aborted"

    watch.attach(Ctx(), Page())
    r = Route()
    handlers["route"](r)
    assert r.done == ("aborted" if blocked else "continued")
    assert watch.blocked == ([url] if blocked else [])
