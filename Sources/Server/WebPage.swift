import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// The web page at `/`: one self-contained HTML document (its style and script inline, no external resource, no
/// build step), so the one-file binary serves it offline. It knows nothing the server does not tell it: the knob
/// controls, their limits and defaults, the formats and the text limit come from `/openapi.json` (the engine's knob
/// table), the voices from `/v1/voices`, the live panel from `/v1/status`; errors shown are the server's own
/// `{"error": {"message", "param", ...}}`.
///
/// Play posts to `/v1/tts` with `stream_format: audio` and plays the bytes as they come: `pcm` and `wav` through
/// Web Audio (each chunk an `AudioBuffer` scheduled after the previous one), other formats through MediaSource
/// where the browser can append them (mp3 in Chromium), else once complete. `window.chatttsPage` exposes what
/// happened (bytes, chunks, first-chunk and first-sound times, samples played) for `scripts/browser-test.py`.
///
/// The Content-Security-Policy allows exactly the inline script and style by their sha256 (no `unsafe-inline`),
/// fetches to this origin, and media from `blob:` (MediaSource and the download link); nothing else loads.
enum WebPage {
    static let path = "/"

    static let contentType = "text/html; charset=utf-8"

    static let contentSecurityPolicy: String = [
        "default-src 'none'",
        "script-src '\(sha256(script))'",
        "style-src '\(sha256(style))'",
        "connect-src 'self'",
        "media-src 'self' blob:",
        "img-src 'self' data:",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
        "require-trusted-types-for 'script'",
    ].joined(separator: "; ")

    static let html = """
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>ChatTTS</title>
        <link rel="icon" href="data:,">
        <style>\(style)</style>
        </head>
        \(body)
        <script>\(script)</script>
        </html>

        """

    private static let bytes = ByteBuffer(string: html)

    static func response() -> Response {
        Response(status: .ok, headers: [
            .contentType: contentType,
            .contentSecurityPolicy: contentSecurityPolicy,
            .xContentTypeOptions: "nosniff",
            .referrerPolicy: "no-referrer",
            .cacheControl: "no-cache",
        ], body: .init(byteBuffer: bytes))
    }

    /// A CSP source expression for an inline element's exact text.
    static func sha256(_ text: String) -> String {
        "sha256-" + Data(SHA256.hash(data: Data(text.utf8))).base64EncodedString()
    }

    static let body = """
        <body>
        <header>
          <h1>ChatTTS</h1>
          <span id="engine-badge" class="badge">…</span>
          <nav><a href="/openapi.json">OpenAPI</a> · <a href="/metrics">metrics</a></nav>
        </header>
        <main>
        <section id="compose" aria-label="Synthesis">
          <div id="key-box" class="key-box" hidden>
            <label for="key">API key</label>
            <input id="key" type="password" autocomplete="off" spellcheck="false" placeholder="ctts_…">
            <button id="key-use" type="button">Use key</button>
            <small>This server needs a key. It stays in this page's memory and is sent as Authorization: Bearer.</small>
          </div>
          <label for="text">Text</label>
          <textarea id="text" rows="6" spellcheck="true">Hello! This is ChatTTS, speaking from your own server. [uv_break] It streams as it speaks.</textarea>
          <div class="counter"><span id="count">0</span> / <span id="limit">…</span> characters</div>
          <div class="row">
            <label>Voice <select id="voice"><option value="">server default</option></select></label>
            <label>or a voice: seed:N or a voice string
              <input id="voice-custom" type="text" spellcheck="false" placeholder="seed:42"></label>
            <label>Format <select id="format"></select></label>
          </div>
          <fieldset id="knobs"><legend>Knobs</legend><p class="muted">loading the server's description…</p></fieldset>
          <details id="more"><summary>More knobs</summary><div id="more-knobs" class="knob-grid"></div></details>
          <div class="actions">
            <button id="play" type="button" disabled>Play</button>
            <button id="stop" type="button" disabled>Stop</button>
            <a id="download" hidden>Download</a>
          </div>
          <p id="mode-note" class="muted"></p>
          <div id="error" class="error" role="alert" hidden>
            <strong id="error-title"></strong>
            <p><code id="error-param" hidden></code> <span id="error-message"></span> <code id="error-code" hidden></code></p>
          </div>
          <p id="progress" class="muted" aria-live="polite"></p>
          <audio id="player" controls hidden></audio>
        </section>
        <aside id="status-panel" aria-label="Server status">
          <h2>Server</h2>
          <dl>
            <dt>state</dt><dd id="st-state">…</dd>
            <dt>engine</dt><dd id="st-engine">…</dd>
            <dt>queue</dt><dd id="st-queue">…</dd>
            <dt>batch</dt><dd id="st-batch">…</dd>
            <dt>requests</dt><dd id="st-running">…</dd>
            <dt>speed</dt><dd id="st-speed">…</dd>
            <dt>RTF</dt><dd id="st-rtf">…</dd>
            <dt>audio made</dt><dd id="st-audio">…</dd>
            <dt>uptime</dt><dd id="st-uptime">…</dd>
          </dl>
          <p id="status-updated" class="muted"></p>
        </aside>
        </main>
        </body>
        """

    static let style = """
        :root { color-scheme: light dark; --fg: #1b1f24; --bg: #f6f7f9; --card: #fff; --line: #d5d9e0; --muted: #5b6470;
          --accent: #2557d6; --bad: #b3261e; --bad-bg: #fdecea; --ok: #1a7f37; }
        @media (prefers-color-scheme: dark) { :root { --fg: #e6e8eb; --bg: #15181c; --card: #1e2228; --line: #363c45;
          --muted: #9aa3ad; --accent: #7aa2ff; --bad: #ffb4ab; --bad-bg: #3b1b18; --ok: #6fdc8c; } }
        * { box-sizing: border-box; }
        body { margin: 0; font: 15px/1.45 system-ui, sans-serif; color: var(--fg); background: var(--bg); }
        header { display: flex; align-items: center; gap: 12px; padding: 12px 24px; border-bottom: 1px solid var(--line); }
        header h1 { font-size: 20px; margin: 0; }
        header nav { margin-left: auto; font-size: 13px; }
        a { color: var(--accent); }
        .badge { font-size: 12px; padding: 2px 8px; border-radius: 10px; border: 1px solid var(--line); color: var(--muted); }
        .badge.ready { color: var(--ok); border-color: var(--ok); }
        main { display: grid; grid-template-columns: minmax(0, 1fr) 260px; gap: 20px; padding: 20px 24px; max-width: 1200px; }
        @media (max-width: 800px) { main { grid-template-columns: 1fr; } }
        section, aside { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 16px; }
        aside { align-self: start; position: sticky; top: 12px; }
        label { display: block; font-weight: 600; font-size: 13px; }
        textarea, input[type=text], input[type=number], input[type=password], select {
          width: 100%; font: inherit; padding: 6px 8px; margin-top: 4px; color: var(--fg); background: var(--bg);
          border: 1px solid var(--line); border-radius: 6px; }
        textarea { resize: vertical; }
        .counter { text-align: right; font-size: 12px; color: var(--muted); }
        .counter.over { color: var(--bad); font-weight: 700; }
        .row { display: grid; grid-template-columns: 1fr 1.3fr 0.6fr; gap: 12px; margin: 12px 0; }
        fieldset { border: 1px solid var(--line); border-radius: 6px; margin: 12px 0; }
        legend { font-size: 13px; font-weight: 600; padding: 0 4px; }
        .knob-grid, fieldset { display: grid; grid-template-columns: repeat(auto-fill, minmax(180px, 1fr)); gap: 10px 14px; }
        fieldset legend { grid-column: 1 / -1; }
        .knob small { display: block; font-weight: 400; color: var(--muted); font-size: 11px; }
        .knob input[type=checkbox] { margin-right: 6px; }
        details { margin: 8px 0 12px; } summary { cursor: pointer; font-size: 13px; font-weight: 600; }
        details .knob-grid { margin-top: 10px; }
        .actions { display: flex; align-items: center; gap: 12px; margin-top: 8px; }
        button { font: inherit; font-weight: 600; padding: 8px 18px; border-radius: 6px; border: 1px solid var(--accent);
          background: var(--accent); color: #fff; cursor: pointer; }
        button#stop, button#key-use { background: transparent; color: var(--accent); }
        button:disabled { opacity: 0.45; cursor: default; }
        .invalid { border-color: var(--bad) !important; outline: 2px solid var(--bad); }
        .error { margin-top: 12px; padding: 10px 12px; border-radius: 6px; background: var(--bad-bg); color: var(--bad);
          border: 1px solid var(--bad); }
        .error p { margin: 4px 0 0; }
        code { font: 12px ui-monospace, monospace; padding: 1px 4px; border-radius: 4px; border: 1px solid currentColor; }
        .muted { color: var(--muted); font-size: 13px; }
        .key-box { margin-bottom: 12px; padding: 10px; border: 1px dashed var(--accent); border-radius: 6px; }
        .key-box input { width: 60%; }
        aside h2 { font-size: 15px; margin: 0 0 8px; }
        aside dl { display: grid; grid-template-columns: auto 1fr; gap: 4px 10px; margin: 0; font-size: 13px; }
        aside dt { color: var(--muted); } aside dd { margin: 0; font-variant-numeric: tabular-nums; }
        aside.offline dd { color: var(--muted); }
        audio { width: 100%; margin-top: 8px; }
        """
}

extension HTTPField.Name {
    static let referrerPolicy = HTTPField.Name("Referrer-Policy")!
}
