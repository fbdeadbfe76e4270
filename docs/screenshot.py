"""Regenerate docs/screenshot.png: start the app, run the interpolation tab on an example pair, take a screenshot.

    python docs/screenshot.py      (needs chromium: apt-get install chromium)
"""
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]
PORT = 7871


def main() -> None:
    env = dict(os.environ, GRADIO_SERVER_PORT=str(PORT), GRADIO_SERVER_NAME="127.0.0.1")
    app = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env)
    try:
        for _ in range(240):
            try:
                socket.create_connection(("127.0.0.1", PORT), timeout=1).close()
                break
            except OSError:
                time.sleep(0.5)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=[
                "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"])
            page = browser.new_page(viewport={"width": 1400, "height": 1050})
            page.goto(f"http://127.0.0.1:{PORT}", wait_until="networkidle")
            page.get_by_role("tab", name="Frame interpolation").click()
            pair = ROOT / "examples" / "pairs" / "juggle"
            page.get_by_text("First frame", exact=True).first.wait_for()
            uploads = page.locator("input[type=file]")
            shown = [i for i in range(uploads.count()) if uploads.nth(i).evaluate(
                "e => !!e.closest('.block') && e.closest('.block').offsetParent !== null")]
            uploads.nth(shown[0]).set_input_files(str(pair / "frame0.png"))
            uploads.nth(shown[1]).set_input_files(str(pair / "frame1.png"))
            page.get_by_role("button", name="Interpolate", exact=True).click()
            page.get_by_text("t = 0.5").first.wait_for(timeout=120_000)
            time.sleep(2)
            page.screenshot(path=str(ROOT / "docs" / "screenshot.png"))
            browser.close()
    finally:
        app.terminate()
        app.wait(timeout=20)


if __name__ == "__main__":
    main()
