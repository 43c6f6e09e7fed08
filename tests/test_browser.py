"""Real-browser test: the Streamlit server driven by Playwright with Debian's Chromium.

Every page loads with no console errors; the 3D canvas and the plots render; a screenshot
of each page is saved under test-artifacts/.  Needs /usr/bin/chromium (``apt-get install
chromium``; .ci/run installs it); without it the test is skipped with that reason.
"""

import os
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = os.path.join(ROOT, "test-artifacts")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PAGES = [("overview", "", ".js-plotly-plot, [data-testid='stMetric']"),
         ("explorer", "explorer", "[data-testid='mol3d'] canvas"),
         ("compare", "compare", "[data-testid='mol3d'] canvas"),
         ("bde", "bde", ".js-plotly-plot"),
         ("bond_types", "bond_types", ".js-plotly-plot"),
         ("datasets", "datasets", ".js-plotly-plot"),
         ("upload", "upload", "[data-testid='stFileUploader']")]

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="needs Debian's chromium at /usr/bin/chromium")]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server():
    port = free_port()
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app/main.py", "--server.port", str(port),
                             "--server.headless", "true", "--browser.gatherUsageStats", "false"],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    for _ in range(120):
        try:
            if urllib.request.urlopen(url + "/_stcore/health", timeout=1).status == 200:
                break
        except OSError:
            time.sleep(0.5)
    else:
        proc.kill()
        pytest.fail("streamlit did not start: " + proc.stderr.read().decode()[-2000:])
    yield url
    proc.terminate()
    proc.wait(timeout=20)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


def wait_idle(page, timeout_ms=120_000):
    """Until Streamlit has finished running the page's script."""
    page.wait_for_selector("[data-testid='stApp'][data-test-script-state='notRunning']", timeout=timeout_ms)
    page.wait_for_timeout(300)
    page.wait_for_selector("[data-testid='stApp'][data-test-script-state='notRunning']", timeout=timeout_ms)


@pytest.mark.parametrize("name, path, selector", PAGES)
def test_page_in_browser(server, browser, name, path, selector):
    os.makedirs(ARTIFACTS, exist_ok=True)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(server)  # deep links make Streamlit probe /<page>/_stcore/* (404s); navigate like a user instead
    wait_idle(page)
    if path:
        page.click(f"[data-testid='stSidebarNav'] a[href$='/{path}']")
        wait_idle(page)
    page.wait_for_selector(selector, timeout=60_000)
    assert not page.query_selector("[data-testid='stException']"), "a Python exception is shown"
    if name == "explorer":
        page.wait_for_function("() => !!document.querySelector('[data-testid=mol3d]').dataset.rendered", timeout=60_000)
        # a new molecule re-draws the same persistent viewer (no new canvas, no reload)
        first = page.eval_on_selector("[data-testid='mol3d']", "v => v.dataset.rendered")
        page.get_by_text("Enter SMILES").click()
        wait_idle(page)
        page.get_by_label("SMILES", exact=True).fill("c1ccccc1O")
        page.get_by_label("SMILES", exact=True).press("Enter")
        page.wait_for_function(f"() => !['', '{first}'].includes(document.querySelector('[data-testid=mol3d]').dataset.rendered)",
                               timeout=60_000)
        for toggle in ("Non-bonded pairs", "Labels"):  # dashed pair cylinders and bond labels draw too
            before = page.eval_on_selector("[data-testid='mol3d']", "v => v.dataset.rendered")
            page.get_by_text(toggle, exact=True).click()
            page.wait_for_function(
                f"() => !['', '{before}'].includes(document.querySelector('[data-testid=mol3d]').dataset.rendered)",
                timeout=60_000)
        assert len(page.query_selector_all("[data-testid='mol3d'] canvas")) == 1
        page.wait_for_timeout(800)
        page.screenshot(path=os.path.join(ARTIFACTS, "explorer.png"), full_page=True)
        # select the weakest bond (the first row's marker): its stretch scan, then where its energy goes when cut
        grid = page.query_selector("[data-testid='stDataFrame']").bounding_box()
        page.mouse.click(grid["x"] + 18, grid["y"] + 35 + 17)
        page.get_by_text("Stretch scan of bond").wait_for(timeout=120_000)
        page.get_by_text("Where the bond's energy goes when it breaks").click()
        page.get_by_text("ΣΔD at radical centres").wait_for(timeout=120_000)
        page.get_by_text("D_cut − rigid BDE = Σ ΔD", exact=False).wait_for(timeout=60_000)
        wait_idle(page)
    if name == "compare":  # both models drawn, one viewer each
        page.wait_for_function("() => [...document.querySelectorAll('[data-testid=mol3d]')]"
                               ".filter(v => v.dataset.rendered).length === 2", timeout=60_000)
    if selector == ".js-plotly-plot":
        page.wait_for_selector(".js-plotly-plot .main-svg", timeout=60_000)
    page.wait_for_timeout(800)
    shot = "explorer-bond" if name == "explorer" else name  # (the explorer's first view is saved above)
    page.screenshot(path=os.path.join(ARTIFACTS, f"{shot}.png"), full_page=True)
    page.close()
    assert not errors, errors


def test_model_choice_survives_page_changes(server, browser):
    """The sidebar picker (drawn by the entry point): a model chosen on one page stays chosen on the next."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(server)
    wait_idle(page)
    picker = "[data-testid='stSidebar'] [data-testid='stSelectbox']"
    page.click(picker)
    page.get_by_role("option", name="qm9-h298-4k — B3LYP/6-31G(2df,p)").click()
    wait_idle(page)
    for path in ("bde", "explorer"):
        page.click(f"[data-testid='stSidebarNav'] a[href$='/{path}']")
        wait_idle(page)
        assert "model qm9-h298-4k ·" in page.inner_text("[data-testid='stSidebar']"), path  # the provenance line
    page.close()


COUNT_CANVASES = """
// canvases given a WebGL or bitmap context: 3Dmol.js 2.5 draws with one shared WebGL2 OffscreenCanvas and
// gives each viewer its own visible canvas (a bitmaprenderer context), so this counts viewers + 1
// (2d canvases, for labels and plots, are not counted)
window.__e3dCanvases = 0;
for (const proto of [HTMLCanvasElement.prototype, OffscreenCanvas.prototype]) {
  const getContext = proto.getContext;
  proto.getContext = function (...args) {
    const ctx = getContext.apply(this, args);
    if (ctx && !this.__e3dCounted && /webgl|bitmap/.test(String(args[0]))) { this.__e3dCounted = true; window.__e3dCanvases += 1; }
    return ctx;
  };
}
"""


def test_viewer_survives_remounts(server, browser):
    """Streamlit remounts the viewer when the elements above it change (here: the source radio); each
    remount must reuse the page's 3Dmol viewer, not leave another one (its canvas, listeners and
    geometry) behind."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.add_init_script(COUNT_CANVASES)
    page.goto(server)
    wait_idle(page)
    page.click("[data-testid='stSidebarNav'] a[href$='/explorer']")
    wait_idle(page)
    rendered = "() => !!(document.querySelector('[data-testid=mol3d]') || {dataset: {}}).dataset.rendered"

    def remount(times):
        for k in range(times):
            page.get_by_text("Enter SMILES" if k % 2 == 0 else "Shipped corpus", exact=True).click()
            wait_idle(page)
            page.wait_for_function(rendered, timeout=60_000)
        return page.evaluate("window.__e3dCanvases")

    # while a rerun runs Streamlit keeps the old element on screen beside the new one: two viewers at most
    warm = remount(4)
    assert warm <= 3, warm  # the shared WebGL canvas + at most two viewers
    assert remount(10) == warm
    assert len(page.query_selector_all("[data-testid='mol3d'] canvas")) == 1
    for path in ("compare", "explorer", "compare", "explorer"):  # two viewers side by side, then one again
        page.click(f"[data-testid='stSidebarNav'] a[href$='/{path}']")
        wait_idle(page)
        page.wait_for_function(rendered, timeout=60_000)
    assert page.evaluate("window.__e3dCanvases") <= warm + 2
    page.close()


# ten different bond counts, so each page's caption names its own molecule whatever the model's f_bond
CONCURRENT_SMILES = ["c1ccccc1O", "CC#N", "CC(=O)OC", "CCCCCl", "FC(F)F", "CSC", "NCC(=O)O", "C1CCNCC1",
                     "CCCO", "CC"]


def test_ten_concurrent_sessions_see_only_their_own_molecule(server, browser):
    """Ten browser sessions (separate contexts = separate Streamlit sessions) submit ten molecules at
    once; each page then shows its own molecule's bond count and f_bond, computed here by the library."""
    import re

    import e3d
    from e3d.pairs import decomposability

    model = e3d.load_model()
    expected = {}
    for smi, result in zip(CONCURRENT_SMILES, e3d.edge_energies(model, [e3d.from_smiles(s) for s in CONCURRENT_SMILES])):
        pairs = e3d.pair_table(result)
        expected[smi] = (int(pairs["bonded"].sum()), f"{decomposability(pairs):.2f}")
    assert len(set(expected.values())) == len(expected)  # the captions tell the molecules apart

    contexts = [browser.new_context(viewport={"width": 1400, "height": 1000}) for _ in CONCURRENT_SMILES]
    pages = [c.new_page() for c in contexts]
    try:
        for page, smi in zip(pages, CONCURRENT_SMILES):
            page.goto(server)
            wait_idle(page)
            page.click("[data-testid='stSidebarNav'] a[href$='/explorer']")
            wait_idle(page)
            page.get_by_text("Enter SMILES", exact=True).click()
            wait_idle(page)
            page.get_by_label("SMILES", exact=True).fill(smi)
        for page in pages:  # all at once: the server runs the ten reruns concurrently
            page.get_by_label("SMILES", exact=True).press("Enter")
        for page, smi in zip(pages, CONCURRENT_SMILES):
            n_bonds, f_bond = expected[smi]
            want = f"= {f_bond} over {n_bonds} bonds"
            try:
                page.wait_for_function(f"() => document.body.innerText.includes('{want}')", timeout=120_000)
            except Exception:
                shown = re.search(r"f_bond = .*? bonds", page.inner_text("body"))
                raise AssertionError(f"{smi}: expected '{want}', the page shows {shown and shown.group(0)!r}") from None
            assert not page.query_selector("[data-testid='stException']")
    finally:
        for c in contexts:
            c.close()
