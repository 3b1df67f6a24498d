"""Showing a person a URL: the system's web browser where there is one."""

from __future__ import annotations

import os
import sys
import webbrowser


class SystemBrowser:
    """The ``Browser`` port over :mod:`webbrowser`.

    Only where a graphical browser is plausible (macOS, Windows, a Linux/BSD desktop with
    ``DISPLAY`` or ``WAYLAND_DISPLAY``, or an explicit ``BROWSER``): on a headless server
    :mod:`webbrowser` would start a text browser such as lynx in the operator's terminal and
    wait for it, hiding the URL the command prints.
    """

    def __repr__(self) -> str:
        return "SystemBrowser()"

    def open(self, url: str) -> bool:
        if not self.available():
            return False
        try:
            return bool(webbrowser.open(url, new=2))
        except webbrowser.Error:
            return False

    @staticmethod
    def available() -> bool:
        if os.environ.get("BROWSER"):
            return True
        if sys.platform in ("darwin", "win32"):
            return True
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


class NoBrowser:
    """The ``Browser`` port that never opens anything (``auth setup --no-browser``)."""

    def __repr__(self) -> str:
        return "NoBrowser()"

    def open(self, url: str) -> bool:
        return False
