"""Bench 5: the app in a real browser — cold start, then SMILES submitted → coloured 3D view (warm).

    python bench/app_latency.py

Starts `streamlit run app/main.py` and times the cold start as a first visitor meets it: server
up (health check), overview page finished, explorer's first 3D view drawn (the SMILES path:
model load and first forward pass).  Then drives Debian's Chromium with Playwright, types each
SMILES (≤ 60 atoms) into the explorer and times Enter → the persistent 3Dmol viewer reports
it has rendered the new molecule (its ``data-rendered`` token).  Prints p50/p95.  Target: p95 ≤ 1.0 s.
"""

import argparse
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WARM_UP = ["CCCO", "CCN", "CC=O", "c1ccncc1", "CCOC(C)=O"]
SMILES = ["CC(C)O", "CC(=O)O", "c1ccccc1O", "CC(C)Cc1ccc(cc1)C(C)C(=O)O", "CC(=O)Nc1ccc(O)cc1", "CCN(CC)CC",
          "OC(=O)CCC(=O)O", "CSCCC(N)C(=O)O", "Clc1ccc(cc1)C(F)(F)F", "CCCCCCCCCCCC", "CC(C)(C)OC(N)=O",
          "O=C1CCCCC1", "c1ccc2ccccc2c1", "CCC#N", "NCCO", "COc1ccccc1C=O", "CCCCCCCCCCCCCCCCCCO",
          "OCC(O)CO", "CC1=CC(=O)C=CC1=O", "FC(F)(F)C(=O)O"]
VIEW = "document.querySelector('[data-testid=mol3d]')"
RENDERED = f"() => {{ const v = {VIEW}; return !!(v && v.dataset.rendered && v.dataset.rendered !== 'stale'); }}"
MARK_STALE = f"() => {{ const v = {VIEW}; if (v) v.dataset.rendered = 'stale'; }}"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    from playwright.sync_api import sync_playwright

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--read-seconds", type=float, default=10.0,
                    help="time the first visitor spends on the overview before opening the explorer "
                         "(the server warms the model up meanwhile; 0 = the worst case)")
    args = ap.parse_args()
    port = free_port()
    t_start = time.perf_counter()
    server = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app/main.py", "--server.port", str(port),
                               "--server.headless", "true"], cwd=ROOT, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, env=dict(os.environ, OMP_NUM_THREADS="1"))
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(url + "/_stcore/health", timeout=1)
                break
            except OSError:
                time.sleep(0.2)
        t_health = time.perf_counter() - t_start
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            t0 = time.perf_counter()
            page.goto(url)
            page.wait_for_selector("[data-testid='stMetric']", timeout=120_000)
            page.wait_for_selector("[data-testid='stApp'][data-test-script-state='notRunning']", timeout=120_000)
            t_overview = time.perf_counter() - t0
            page.wait_for_timeout(1000 * args.read_seconds)
            t0 = time.perf_counter()
            page.click("[data-testid='stSidebarNav'] a[href$='/explorer']")
            page.get_by_text("Enter SMILES").click()
            page.wait_for_timeout(300)
            page.wait_for_selector("[data-testid='stApp'][data-test-script-state='notRunning']", timeout=120_000)
            page.wait_for_function(RENDERED, timeout=120_000)
            t_first_view = time.perf_counter() - t0
            box = page.get_by_label("SMILES", exact=True)
            box.wait_for(timeout=60_000)
            times = []
            for smi in WARM_UP + SMILES:  # new molecules each time: nothing is cached server-side
                page.evaluate(MARK_STALE)
                box.fill(smi)
                t0 = time.perf_counter()
                box.press("Enter")
                page.wait_for_function(RENDERED, timeout=60_000)
                if smi not in WARM_UP:
                    times.append(time.perf_counter() - t0)
            browser.close()
    finally:
        server.terminate()
    times.sort()
    print(f"# cold start: server up {t_health:.1f} s · overview drawn {t_overview:.1f} s after the first visit · "
          f"explorer's first live 3D view {t_first_view:.1f} s after clicking it "
          f"({args.read_seconds:g} s spent on the overview)")
    print(f"# app_latency: Chromium headless, streamlit on localhost, {len(times)} submissions (warm)")
    print(f"p50 {statistics.median(times) * 1e3:.0f} ms   p95 {times[int(0.95 * (len(times) - 1))] * 1e3:.0f} ms   "
          f"max {times[-1] * 1e3:.0f} ms")


if __name__ == "__main__":
    main()
