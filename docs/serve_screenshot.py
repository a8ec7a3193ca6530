"""The README's screenshot of the ``textgen serve`` page (``docs/serve.png``), made in headless Chromium.

    python docs/serve_screenshot.py --run-dir runs/default                  # docs/serve.png, desktop width
    python docs/serve_screenshot.py --run-dir runs/default --width 390 --out /tmp/phone.png

Starts ``textgen serve`` on a free port, generates from the first speaker with a fixed seed, looks
up a word's neighbours, hovers one word (its popup open), then saves the page cropped to its content
as a small palette PNG. Needs Debian's ``chromium`` + ``chromium-driver`` and selenium (dev extra).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image
from selenium import webdriver
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

REPO = Path(__file__).resolve().parents[1]


def serve(run_dir: Path) -> tuple[subprocess.Popen[str], str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "textgen", "serve", "--run-dir", str(run_dir), "--port", "0", "--device", "cpu"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("serving at "):
            return proc, line.split()[2]
    raise SystemExit("textgen serve did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run-dir", type=Path, default=Path("runs/default"))
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "serve.png")
    parser.add_argument("--width", type=int, default=1180)
    parser.add_argument("--seed", default="3")
    parser.add_argument("--max-turns", default="7")
    parser.add_argument("--word", default="jerry", help="Looked up in the neighbours panel.")
    parser.add_argument("--hover", type=int, default=14, help="Which generated token shows its popup.")
    args = parser.parse_args()

    proc, url = serve(args.run_dir)
    options = webdriver.ChromeOptions()
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        f"--window-size={args.width},1400",
    ):
        options.add_argument(arg)
    options.binary_location = "/usr/bin/chromium"
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService("/usr/bin/chromedriver"))
    try:
        if args.width < 500:  # narrower than a desktop window may be: emulate the phone
            metrics = {"width": args.width, "height": 1400, "deviceScaleFactor": 1, "mobile": True}
            driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
        driver.get(url)
        wait = WebDriverWait(driver, 120, poll_frequency=0.1)
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#speaker option"))
        for field, value in (("seed", args.seed), ("max_turns", args.max_turns), ("temperature", "0.8")):
            box = driver.find_element(By.ID, field)
            box.clear()
            box.send_keys(value)
        driver.find_element(By.ID, "seed").send_keys(Keys.ENTER)
        wait.until(lambda d: d.find_element(By.ID, "status").text.startswith("done"))
        driver.find_element(By.ID, "word").send_keys(args.word, Keys.ENTER)
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#neighbours li"))
        driver.execute_script("document.activeElement.blur(); window.scrollTo(0, 0)")
        tokens = driver.find_elements(By.CSS_SELECTOR, ".tok:not(.prime)")
        ActionChains(driver).move_to_element(tokens[min(args.hover, len(tokens) - 1)]).perform()
        wait.until(lambda d: d.find_element(By.ID, "popup").is_displayed())
        bottom = driver.execute_script(
            "return Math.max(document.querySelector('.layout').getBoundingClientRect().bottom,"
            " document.getElementById('popup').getBoundingClientRect().bottom) + 12"
        )
        with tempfile.TemporaryDirectory() as tmp:
            raw = Path(tmp) / "raw.png"
            driver.save_screenshot(str(raw))
            image = Image.open(raw).convert("RGB")
            image = image.crop((0, 0, image.width, min(image.height, int(bottom))))
            image.quantize(colors=96, method=Image.Quantize.MEDIANCUT).save(args.out, optimize=True)
        print(f"wrote {args.out} ({args.out.stat().st_size / 1024:.0f} KiB)")
    finally:
        driver.quit()
        proc.terminate()
        proc.wait(timeout=60)


if __name__ == "__main__":
    main()
