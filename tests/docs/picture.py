"""Screenshots of HTML pages with headless Chromium (Debian's `chromium`), sized to the page's content.

Two runs: the first prints the DOM after a script has measured the page's height, the second takes
a screenshot of exactly that height. Used by the test that keeps docs/img/slack-message.png in step
with the renderer; `python -m tests.docs.picture PAGE.html OUT.png` runs it by hand.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

WIDTH = 760
SCALE = 2  # sharp on high-density screens; GitHub shows it at WIDTH CSS pixels


def chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def _run(binary: str, args: list[str], profile: Path) -> str:
    cmd = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
           "--disable-dev-shm-usage", f"--user-data-dir={profile}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True).stdout


def screenshot(page: Path, out: Path, *, width: int = WIDTH, scale: int = SCALE) -> None:
    binary = chromium()
    if binary is None:
        raise RuntimeError("chromium is not installed (apt-get install -y chromium)")
    measured = page.with_suffix(".measure.html")
    script = ("<script>document.body.setAttribute('data-height',"
              " Math.ceil(document.documentElement.getBoundingClientRect().height));</script>")
    measured.write_text(page.read_text(encoding="utf-8").replace("</body>", script + "</body>"), encoding="utf-8")
    with tempfile.TemporaryDirectory(prefix="fyr-chromium-") as profile:
        try:
            dom = _run(binary, [f"--window-size={width},2000", "--dump-dom", measured.as_uri()], Path(profile))
        finally:
            measured.unlink(missing_ok=True)
        found = re.search(r'data-height="(\d+)"', dom)
        height = int(found.group(1)) if found else 1200
        _run(binary, [f"--window-size={width},{height}", f"--force-device-scale-factor={scale}",
                      f"--screenshot={out.resolve()}", page.resolve().as_uri()], Path(profile))


if __name__ == "__main__":
    screenshot(Path(sys.argv[1]), Path(sys.argv[2]))
