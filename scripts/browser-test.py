#!/usr/bin/env python3
"""The web page at / in a real browser: Debian's Chromium, headless, driven by selenium through chromium-driver.

    scripts/browser-test.py [--binary .build/debug/chattts] [--screenshot docs/web-page.png]

It starts `chattts serve` on the tiny fixture model (random weights: the audio is noise, made by the real pipeline),
opens the page with --autoplay-policy=no-user-gesture-required and checks, from the page's own JavaScript state
(`window.chatttsPage`) and from the DOM:

- the controls come from the server: the text limit, the knobs with their defaults, the voices, the formats;
- Play streams: several chunks arrive, the first sound is scheduled and the AudioContext clock has passed it before
  the response ends, and every sample scheduled is played (the clock ran through them); the same for mp3 through
  MediaSource;
- the download link holds a file of the chosen format that ffmpeg decodes to the samples that were played;
- bad input (markup, a text over the limit, a knob out of range) shows the server's message and names the field;
- the status panel polls and shows the request in flight;
- with a keys file, the page asks for a key, and works once one is pasted;
- no Content-Security-Policy violation and no error in the browser console.

It saves a screenshot, and exits 0 only when every check held (each failure is printed as FAIL with what was seen).
Selenium lives in its own virtual environment, ~/.cache/chattts-browser-venv (BROWSER_VENV for another), made on
first use; Chromium and the driver come from Debian (`apt-get install chromium chromium-driver`).
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV = os.environ.get("BROWSER_VENV", os.path.expanduser("~/.cache/chattts-browser-venv"))
SELENIUM = "selenium>=4.20,<5"


def ensure_selenium():
    """Re-runs this script with the virtual environment's Python, making it (and installing selenium) if needed."""
    try:
        import selenium  # noqa: F401
        return
    except ImportError:
        pass
    python = os.path.join(VENV, "bin", "python")
    if os.path.realpath(sys.prefix) == os.path.realpath(VENV):
        sys.exit(f"FAIL: selenium is not importable in {VENV}")
    if not os.path.exists(python):
        subprocess.run([sys.executable, "-m", "venv", VENV], check=True)
    if subprocess.run([python, "-c", "import selenium"], capture_output=True).returncode != 0:
        print(f"installing {SELENIUM} into {VENV}", flush=True)
        subprocess.run([python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", SELENIUM], check=True)
    os.execv(python, [python, os.path.abspath(__file__)] + sys.argv[1:])


class Server:
    """`chattts serve` on a free port with the tiny model; its log lines are kept for failure messages."""

    def __init__(self, binary, extra=()):
        args = [binary, "serve", "--assets", os.path.join(ROOT, "Tests/Fixtures/tiny/asset"),
                "--asset-checksums", os.path.join(ROOT, "Tests/Fixtures/tiny.checksums.json"),
                "--host", "127.0.0.1", "--port", "0", "--rate-limit", "0", "--max-concurrent-per-client", "0",
                "--max-new-tokens", "200", "--stream-chunk-steps", "8", "--max-text-characters", "200",
                "--log-format", "json", *extra]
        self.process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines = []
        self.port = None
        found = threading.Event()

        def read():
            for line in self.process.stdout:
                self.lines.append(line.rstrip("\n"))
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue
                if entry.get("msg") == "listening" and self.port is None:
                    self.port = entry.get("port")
                    found.set()
            found.set()

        threading.Thread(target=read, daemon=True).start()
        if not found.wait(60) or self.port is None:
            self.stop()
            sys.exit("FAIL: chattts serve did not start:\n" + "\n".join(self.lines[-30:]))
        self.url = f"http://127.0.0.1:{self.port}"
        self.wait_ready()

    def wait_ready(self):
        import urllib.request
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.url + "/ready", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.1)
        sys.exit("FAIL: /ready never answered 200:\n" + "\n".join(self.lines[-30:]))

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()


class Abort(Exception):
    """A failure after which the remaining checks cannot run."""


class Checks:
    def __init__(self):
        self.failed = 0
        self.passed = 0

    def check(self, condition, what, seen=None):
        if condition:
            self.passed += 1
            print(f"ok    {what}", flush=True)
        else:
            self.failed += 1
            print(f"FAIL  {what}" + (f": {seen}" if seen is not None else ""), flush=True)
        return condition


def browser(chromium, driver_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                 "--autoplay-policy=no-user-gesture-required", "--window-size=1280,1000", "--hide-scrollbars",
                 "--no-first-run", "--disable-extensions", "--disable-background-networking"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(executable_path=driver_path), options=options)


def wait_for(driver, script, timeout, what):
    """Polls a JavaScript expression until it is truthy; returns its value, or None when the time is up."""
    from selenium.common.exceptions import JavascriptException
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = driver.execute_script("return (" + script + ");")
        except JavascriptException:
            value = None  # the page's script has not run (yet)
        if value:
            return value
        if time.monotonic() > deadline:
            print(f"      (timed out after {timeout} s waiting for {what})", flush=True)
            return None
        time.sleep(0.05)


def page_state(driver):
    return driver.execute_script("""
        const p = window.chatttsPage, r = p.last || {};
        return {loaded: p.loaded, statusPolls: p.statusPolls, maxRunningSeen: p.maxRunningSeen,
                errors: p.errors, csp: p.cspViolations, audioTime: p.audioTime(),
                run: r.format ? {format: r.format, mode: r.mode, engine: r.engine, status: r.status, chunks: r.chunks,
                  bytes: r.bytes, firstChunkMs: r.firstChunkMs, firstSoundMs: r.firstSoundMs,
                  responseDoneMs: r.responseDoneMs, playedAtDoneSeconds: r.playedAtDoneSeconds,
                  samplesScheduled: r.samplesScheduled, samplesPlayed: r.samplesPlayed, audioSeconds: r.audioSeconds,
                  finished: r.finished, playbackEnded: r.playbackEnded, failed: r.failed,
                  downloadName: r.downloadName, downloadBytes: r.downloadBytes, clockStart: r.clockStart,
                  clockEnd: r.clockEnd} : null};
    """)


def set_value(driver, element_id, value):
    element = driver.find_element("id", element_id)
    element.clear()
    element.send_keys(value)


def play(driver, timeout=40):
    """Clicks Play and waits until the run has finished playing or failed; returns the page's state."""
    runs = driver.execute_script("return window.chatttsPage.runs;")
    errors = driver.execute_script("return window.chatttsPage.errors.length;")
    driver.find_element("id", "play").click()
    wait_for(driver, f"window.chatttsPage.runs > {runs} && (window.chatttsPage.last.playbackEnded || "
                     f"window.chatttsPage.last.failed !== null || window.chatttsPage.errors.length > {errors})",
             timeout, "playback to end")
    return page_state(driver)


def download(driver, folder, timeout=15):
    """Clicks the download link as a user would; returns the file Chromium saved (bytes), or None."""
    link = driver.find_element("id", "download")
    name = link.get_attribute("download")
    path = os.path.join(folder, name)
    link.click()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.exists(path) and not os.path.exists(path + ".crdownload"):
            with open(path, "rb") as f:
                return f.read()
        time.sleep(0.05)
    print(f"      (no {name} in {folder} after {timeout} s: {os.listdir(folder)})", flush=True)
    return None


def metric(url, name):
    """One unlabelled value of the server's /metrics, or None."""
    import urllib.request
    with urllib.request.urlopen(url + "/metrics", timeout=5) as r:
        for line in r.read().decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[-1])
    return None


def decoded_samples(data, fmt):
    """Samples ffmpeg decodes from the file (24 kHz mono), or None when it cannot."""
    with tempfile.NamedTemporaryFile(suffix="." + fmt) as f:
        f.write(data)
        f.flush()
        args = ["ffmpeg", "-v", "error", "-nostdin"]
        if fmt == "pcm":
            args += ["-f", "s16le", "-ar", "24000", "-ac", "1"]
        args += ["-i", f.name, "-f", "s16le", "-ac", "1", "-ar", "24000", "pipe:1"]
        result = subprocess.run(args, capture_output=True)
        return len(result.stdout) // 2 if result.returncode == 0 else None


def check_streamed(c, state, fmt, mode, steps):
    run = state["run"] or {}
    c.check(run.get("format") == fmt and run.get("playbackEnded"), f"{fmt}: the run played to the end",
            {k: run.get(k) for k in ("status", "failed", "mode")} | {"errors": state["errors"][-1:]})
    c.check(run.get("mode") == mode, f"{fmt}: played through {mode}", run.get("mode"))
    c.check(run.get("engine") == "chattts", f"{fmt}: X-Engine names the engine", run.get("engine"))
    c.check((run.get("chunks") or 0) >= 3, f"{fmt}: the response came in several chunks", run.get("chunks"))
    first, done = run.get("firstSoundMs"), run.get("responseDoneMs")
    c.check(first is not None and done is not None and first < done,
            f"{fmt}: the first sound started before the response ended", f"first sound {first} ms, done {done} ms")
    c.check((run.get("playedAtDoneSeconds") or 0) > 0.05,
            f"{fmt}: audio had been playing for a while when the response ended",
            f"{run.get('playedAtDoneSeconds')} s played at done ({run.get('firstChunkMs')} ms to the first chunk)")
    expected = steps * 512 / 24000
    seconds = run.get("audioSeconds") or 0
    c.check(abs(seconds - expected) < 0.25 * expected, f"{fmt}: about {expected:.2f} s of audio reached the page",
            seconds)
    played, scheduled = run.get("samplesPlayed") or 0, run.get("samplesScheduled") or 0
    c.check(scheduled > 0 and abs(played - scheduled) <= 0.05 * scheduled,
            f"{fmt}: the audio clock played every sample", f"{played} of {scheduled}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--binary", default=os.path.join(ROOT, ".build/debug/chattts"))
    parser.add_argument("--screenshot", default=os.path.join(ROOT, "docs/web-page.png"))
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    parser.add_argument("--driver", default=shutil.which("chromedriver") or "/usr/bin/chromedriver")
    args = parser.parse_args()
    for path, package in [(args.chromium, "chromium"), (args.driver, "chromium-driver")]:
        if not os.path.exists(path):
            sys.exit(f"FAIL: {path} is missing: apt-get install chromium chromium-driver ({package})")
    if not os.path.exists(args.binary):
        sys.exit(f"FAIL: {args.binary} is missing: swift build first")
    if shutil.which("ffmpeg") is None:
        sys.exit("FAIL: ffmpeg is missing: apt-get install ffmpeg")
    ensure_selenium()
    from selenium.webdriver.support.ui import Select

    started = time.monotonic()
    c = Checks()
    server = Server(args.binary)
    keyed = None
    driver = None
    keys_dir = tempfile.mkdtemp(prefix="chattts-browser-")
    try:
        driver = browser(args.chromium, args.driver)
        driver.set_script_timeout(30)
        downloads = os.path.join(keys_dir, "downloads")
        os.makedirs(downloads)
        driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": downloads})
        driver.get(server.url + "/")
        if not c.check(wait_for(driver, "window.chatttsPage.loaded && window.chatttsPage.statusPolls > 0", 20,
                                "the page to load"), "the page loaded the server's description, voices and status",
                       [e.get("message") for e in driver.get_log("browser")][:5]):
            raise Abort("the page did not load: nothing else can be checked")

        # Controls made from the server.
        c.check(driver.find_element("id", "limit").text == "200", "the text limit is the server's (200)",
                driver.find_element("id", "limit").text)
        defaults = {name: driver.find_element("id", "knob-" + name).get_attribute("value")
                    for name in ["temperature", "top_P", "top_K", "prompt", "seed"]}
        c.check(defaults == {"temperature": "0.3", "top_P": "0.7", "top_K": "20", "prompt": "[speed_5]", "seed": ""},
                "the knobs show the server's defaults", defaults)
        c.check(driver.find_element("id", "knob-refine").is_selected(), "refine is on by default")
        cap = driver.find_element("id", "knob-max_new_token").get_attribute("max")
        c.check(cap == "200", "max_new_token is capped at the server's maxNewTokens", cap)
        voices = [o.get_attribute("value") for o in Select(driver.find_element("id", "voice")).options]
        c.check("alloy" in voices and "" in voices, "the voice picker lists the server's voices", voices[:6])
        formats = [o.get_attribute("value") for o in Select(driver.find_element("id", "format")).options]
        c.check(formats == ["mp3", "opus", "flac", "wav", "pcm"], "the format picker lists the server's formats",
                formats)

        # Bad input: the server's message, naming the field.
        for text, code, words in [("<b>x</b> marks the spot", "markup_not_allowed", None),
                                  ("a" * 201, "string_above_max_length", "200")]:
            set_value(driver, "text", text)
            state = play(driver)
            last = state["errors"][-1] if state["errors"] else {}
            shown_param = driver.find_element("id", "error-param").text
            shown_message = driver.find_element("id", "error-message").text
            c.check(driver.find_element("id", "error").is_displayed() and last.get("status") == 400
                    and last.get("code") == code and shown_param == "text" and shown_message == last.get("message")
                    and (words is None or words in shown_message),
                    f"{code}: the error box shows the server's message and names 'text'",
                    {"shown": [shown_param, shown_message], "page": last})
            c.check("invalid" in driver.find_element("id", "text").get_attribute("class"),
                    f"{code}: the text box is marked")
        c.check("over" in driver.find_element("id", "count").find_element("xpath", "..").get_attribute("class"),
                "the counter shows the text is over the limit")
        # One sentence: one utterance (split_text makes one per sentence, each of max_new_token steps).
        set_value(driver, "text", "Hello from a real browser, streamed as it is spoken")
        set_value(driver, "knob-temperature", "0")
        state = play(driver)
        last = state["errors"][-1] if state["errors"] else {}
        c.check(last.get("param") == "temperature" and "(0, 5]" in (last.get("message") or "")
                and driver.find_element("id", "error-param").text == "temperature",
                "a knob out of range: the error names temperature and its range", last)
        set_value(driver, "knob-temperature", "0.3")

        # A voice, refine off, a fixed seed and a fixed length (150 steps: 3.2 s), then every format.
        steps = 150
        Select(driver.find_element("id", "voice")).select_by_value("alloy")
        driver.find_element("id", "knob-refine").click()
        set_value(driver, "knob-seed", "18446744073709551615")
        driver.find_element("css selector", "#more summary").click()
        set_value(driver, "knob-max_new_token", str(steps))
        set_value(driver, "knob-min_new_token", str(steps))
        Select(driver.find_element("id", "speed")).select_by_value("6")
        c.check(driver.find_element("id", "knob-prompt").get_attribute("value") == "[speed_6]",
                "the speed picker writes [speed_N] into the prompt")
        # opus (no streaming decoder in Chromium: it plays once complete), mp3 through MediaSource, raw pcm; then wav.
        Select(driver.find_element("id", "format")).select_by_value("opus")
        state = play(driver)
        run = state["run"] or {}
        opus = download(driver, downloads)
        c.check(run.get("playbackEnded") and run.get("samplesPlayed", 0) > 0 and opus is not None
                and opus[:4] == b"OggS" and decoded_samples(opus, "opus"),
                f"opus plays ({run.get('mode')}) and downloads as Ogg Opus", run)

        Select(driver.find_element("id", "format")).select_by_value("mp3")
        state = play(driver)
        check_streamed(c, state, "mp3", "mediasource", steps)
        mp3 = download(driver, downloads)
        samples = decoded_samples(mp3, "mp3") if mp3 else None
        c.check(mp3 is not None and (state["run"] or {}).get("downloadName", "").endswith(".mp3") and samples
                and abs(samples / 24000 - steps * 512 / 24000) < 0.3,
                "the downloaded mp3 decodes to the audio's length", samples)
        Select(driver.find_element("id", "format")).select_by_value("pcm")
        state = play(driver)
        check_streamed(c, state, "pcm", "web audio", steps)
        pcm = download(driver, downloads)
        c.check(pcm is not None and (state["run"] or {}).get("downloadName", "").endswith(".pcm")
                and len(pcm) == 2 * state["run"]["samplesScheduled"], "the downloaded pcm holds every sample played",
                None if pcm is None else len(pcm))

        polls_before = state["statusPolls"]
        uptime_before = driver.find_element("id", "st-uptime").text
        Select(driver.find_element("id", "format")).select_by_value("wav")
        state = play(driver)
        c.check(driver.find_element("id", "error").is_displayed() is False, "a good request clears the error box")
        check_streamed(c, state, "wav", "web audio", steps)
        run = state["run"] or {}
        clock = (run.get("clockEnd") or 0) - (run.get("clockStart") or 0)
        c.check(run.get("clockStart") is not None and clock >= 0.95 * (run.get("audioSeconds") or 1),
                "the AudioContext clock ran from the first sound through the audio's length",
                f"{clock:.2f} s for {run.get('audioSeconds')} s of audio")
        wav = download(driver, downloads)
        name = (state["run"] or {}).get("downloadName") or ""
        link = driver.find_element("id", "download")
        c.check(link.is_displayed() and name.endswith(".wav") and link.get_attribute("download") == name,
                "the download link offers a .wav file", name)
        samples = decoded_samples(wav, "wav") if wav else None
        c.check(wav is not None and wav[:4] == b"RIFF" and samples is not None
                and abs(samples - state["run"]["samplesScheduled"]) <= 1,
                "the downloaded wav decodes to the samples that were played",
                f"{samples} decoded, {state['run']['samplesScheduled']} played")
        c.check(state["maxRunningSeen"] >= 1, "the status panel saw the request in flight", state["maxRunningSeen"])
        c.check(state["statusPolls"] > polls_before and driver.find_element("id", "st-uptime").text != uptime_before,
                "the status panel keeps updating", [polls_before, state["statusPolls"], uptime_before,
                                                    driver.find_element("id", "st-uptime").text])
        c.check("chattts" in driver.find_element("id", "st-engine").text
                and float(driver.find_element("id", "st-audio").text.split(" ")[0]) > 0,
                "the status panel shows the engine and the audio made",
                [driver.find_element("id", "st-engine").text, driver.find_element("id", "st-audio").text])

        # The screenshot: the page after that run, the extra knobs folded, from the top.
        driver.find_element("css selector", "#more summary").click()
        driver.execute_script("document.activeElement.blur(); window.scrollTo(0, 0);")
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                               {"width": 1280, "height": 800, "deviceScaleFactor": 1, "mobile": False})
        os.makedirs(os.path.dirname(os.path.abspath(args.screenshot)), exist_ok=True)
        driver.save_screenshot(args.screenshot)
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
        c.check(os.path.getsize(args.screenshot) > 10_000,
                f"screenshot saved to {os.path.relpath(args.screenshot, ROOT)}")

        # Stop while it streams: the page drops the connection, the server cancels the job.
        Select(driver.find_element("id", "format")).select_by_value("pcm")
        driver.find_element("css selector", "#more summary").click()
        set_value(driver, "knob-max_new_token", "200")
        set_value(driver, "knob-min_new_token", "200")
        disconnects = metric(server.url, "chattts_client_disconnects_total")
        runs = driver.execute_script("return window.chatttsPage.runs;")
        driver.find_element("id", "play").click()
        wait_for(driver, f"window.chatttsPage.runs > {runs} && window.chatttsPage.last.samplesScheduled > 0", 20,
                 "the first audio")
        driver.find_element("id", "stop").click()
        stopped = wait_for(driver, "window.chatttsPage.last.failed !== null && window.chatttsPage.current === null"
                           " && window.chatttsPage.status.running_requests === 0"
                           " && window.chatttsPage.status.active_batch === 0", 10, "the stop to reach the server")
        state = page_state(driver)
        run = state["run"] or {}
        c.check(stopped and not run.get("finished") and not run.get("playbackEnded")
                and driver.find_element("id", "progress").text == "stopped"
                and not driver.find_element("id", "error").is_displayed(),
                "Stop ends the stream and the sound; the page says stopped", run)
        after = metric(server.url, "chattts_client_disconnects_total")
        c.check(after is not None and disconnects is not None and after > disconnects,
                "the server saw the page go away (its job was cancelled)", [disconnects, after])
        c.check(driver.find_element("id", "play").is_enabled() and not driver.find_element("id", "stop").is_enabled(),
                "after Stop, Play is ready again")

        state = page_state(driver)
        c.check(state["csp"] == [], "no Content-Security-Policy violation", state["csp"])
        console = [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"
                   and "status of 400" not in e.get("message", "")]
        c.check(console == [], "no error in the browser console (but the 400s asked for)", console)

        # With a keys file: the page asks for the key, and works with it.
        key, entry = None, None
        out = subprocess.run([args.binary, "keys", "add", "browser-test"], capture_output=True, text=True,
                             check=True).stdout
        for line in out.splitlines():
            if line.startswith("key:"):
                key = line.split(None, 1)[1].strip()
            if line.startswith("entry:"):
                entry = line.split(None, 1)[1].strip()
        keys_file = os.path.join(keys_dir, "keys.json")
        with open(keys_file, "w") as f:
            f.write('{"keys": [' + entry + "]}")
        keyed = Server(args.binary, ["--keys-file", keys_file])
        driver.get(keyed.url + "/")
        wait_for(driver, "window.chatttsPage.statusPolls > 0 && window.chatttsPage.errors.length > 0", 20,
                 "the status and the refusal")
        state = page_state(driver)
        c.check(driver.find_element("id", "key-box").is_displayed() and not state["loaded"]
                and state["errors"] and state["errors"][-1]["status"] == 401,
                "with a keys file: the page asks for a key (the status route stays open, the rest says 401)",
                state["errors"])
        set_value(driver, "key", key)
        driver.find_element("id", "key-use").click()
        c.check(wait_for(driver, "window.chatttsPage.loaded", 20, "the page to load with the key"),
                "with the key pasted, the page loads the description and voices")
        set_value(driver, "text", "With a key.")
        driver.find_element("css selector", "#more summary").click()
        set_value(driver, "knob-max_new_token", "40")
        driver.find_element("id", "knob-refine").click()
        state = play(driver)
        run = state["run"] or {}
        c.check(run.get("status") == 200 and run.get("playbackEnded"), "with the key, Play works", run)

        # Another engine: the controls are that engine's knobs, read from its document.
        keyed.stop()
        keyed = Server(args.binary, ["--engine", "espeak"])
        driver.get(keyed.url + "/")
        c.check(wait_for(driver, "window.chatttsPage.loaded", 20, "the espeak page to load"), "espeak: the page loads")
        knobs = driver.execute_script("return window.chatttsPage.knobs.map((k) => k.name);")
        rate = driver.find_element("id", "knob-rate").get_attribute("value")
        c.check(sorted(knobs) == ["pitch", "rate"] and rate == "175",
                "espeak: the knobs are espeak's own (rate, pitch), with its defaults", knobs)
        voices = [o.get_attribute("value") for o in Select(driver.find_element("id", "voice")).options]
        c.check("en" in voices and "zh" in voices, "espeak: its voices are offered", voices[:5])
        set_value(driver, "text", "Hello from espeak in a browser")
        Select(driver.find_element("id", "voice")).select_by_value("en")
        set_value(driver, "knob-rate", "220")
        state = play(driver)
        run = state["run"] or {}
        c.check(run.get("engine") == "espeak" and run.get("playbackEnded") and run.get("samplesPlayed", 0) > 12000,
                "espeak: Play streams and plays its speech", run)
    except Abort as stop:
        c.check(False, str(stop))
    except Exception as error:  # a missing element or a broken session: a failure with its cause, not a crash
        first_line = str(error).splitlines()[0] if str(error) else ""
        c.check(False, f"the test broke off: {type(error).__name__}: {first_line}")
    finally:
        if driver is not None:
            driver.quit()
        server.stop()
        if keyed is not None:
            keyed.stop()
        shutil.rmtree(keys_dir, ignore_errors=True)
    print(f"{c.passed} passed, {c.failed} failed in {time.monotonic() - started:.1f} s")
    sys.exit(1 if c.failed else 0)


if __name__ == "__main__":
    main()
