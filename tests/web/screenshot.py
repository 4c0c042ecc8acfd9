"""Take docs/dashboard.png: the demo (`loomworks serve --demo` in a throwaway data directory on
a free port), signed in through the page, in headless Chromium.

    uv run python -m tests.web.screenshot [docs/dashboard.png [light|dark]]
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from playwright.async_api import async_playwright

from loomworks.demo.seed import DEMO_EMAIL, DEMO_PASSWORD
from tests.fixtures.browser import CHROMIUM_ARGS, find_browser

PROJECT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def _shoot(url: str, out: Path, scheme: str) -> None:
    browser_path = find_browser()
    if browser_path is None:
        raise SystemExit("no Chromium or Chrome found")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=browser_path, args=CHROMIUM_ARGS)
        page = await browser.new_page(
            viewport={"width": 1440, "height": 960},
            color_scheme="dark" if scheme == "dark" else "light",
        )
        await page.goto(url)
        await page.get_by_label("Email").fill(DEMO_EMAIL)
        await page.get_by_label("Password").fill(DEMO_PASSWORD)
        await page.get_by_role("button", name="Sign in").click()
        await page.locator('[data-zone="recent"] .items > li').first.wait_for()
        await page.wait_for_timeout(1500)
        await page.screenshot(path=str(out))
        await browser.close()


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else PROJECT / "docs" / "dashboard.png")
    port = _free_port()
    with tempfile.TemporaryDirectory() as data_dir:
        env = {**os.environ, "LOOMWORKS_DATA_DIR": data_dir}
        env.pop("LOOMWORKS_DATABASE_URL", None)
        command = [sys.executable, "-c", "from loomworks.cli import main; main()"]
        server = subprocess.Popen([*command, "serve", "--demo", "--port", str(port)], env=env)
        try:
            url = f"http://127.0.0.1:{port}/"
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                try:
                    if httpx.get(f"{url}healthz").status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.5)
            asyncio.run(_shoot(url, out, sys.argv[2] if len(sys.argv) > 2 else "light"))
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)
    print(f"saved {out}")


if __name__ == "__main__":
    main()
