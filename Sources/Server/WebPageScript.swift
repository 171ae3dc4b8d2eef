/// The web page's script (see `WebPage`): loads the knob table, voices and limits from the server, builds the
/// controls, streams Play into Web Audio or MediaSource, and polls `/v1/status` for the live panel. In its own file
/// so that `WebPage.swift` reads as the page's Swift side; the Content-Security-Policy allows it by its sha256.
extension WebPage {
    static let script = #"""
        'use strict';
        (() => {
          const $ = (id) => document.getElementById(id);
          // Fields of /v1/tts that are the server's, not the engine's knobs; every other property is a knob.
          const SERVER_FIELDS = new Set(['text', 'voice', 'response_format', 'stream_format']);
          const MAIN_KNOBS = ['prompt', 'temperature', 'top_P', 'top_K', 'refine', 'seed'];
          const MIME = {mp3: 'audio/mpeg', opus: 'audio/ogg; codecs="opus"', flac: 'audio/flac', wav: 'audio/wav',
                        pcm: 'audio/pcm'};
          const EXTENSION = {mp3: 'mp3', opus: 'opus', flac: 'flac', wav: 'wav', pcm: 'pcm'};

          // Everything the page knows and did, for people in the console and for scripts/browser-test.py.
          const page = {
            key: '', status: null, loaded: false, knobs: [], textLimit: null, current: null, last: null, runs: 0,
            statusPolls: 0, statusErrors: 0, maxRunningSeen: 0, maxActiveSeen: 0, errors: [], cspViolations: [],
          };
          window.chatttsPage = page;
          document.addEventListener('securitypolicyviolation', (e) => {
            page.cspViolations.push(e.violatedDirective + ' ' + (e.blockedURI || 'inline'));
          });

          class APIError extends Error {
            constructor(status, error) {
              super(error.message || ('HTTP ' + status));
              this.status = status;
              this.param = error.param ?? null;
              this.code = error.code ?? null;
            }
          }

          function authHeaders(more) {
            const headers = new Headers(more || {});
            if (page.key) headers.set('Authorization', 'Bearer ' + page.key);
            return headers;
          }

          async function errorOf(response) {
            let body = null;
            try { body = await response.json(); } catch (_) { /* not JSON */ }
            const error = body && typeof body.error === 'object' && body.error !== null ? body.error
              : {message: 'HTTP ' + response.status + ' ' + response.statusText};
            return new APIError(response.status, error);
          }

          async function getJSON(path) {
            const response = await fetch(path, {headers: authHeaders(), cache: 'no-store'});
            if (!response.ok) throw await errorOf(response);
            return response.json();
          }

          // ---- errors: the server's message, the field it names, its code

          function fieldInput(param) {
            if (param === 'text') return $('text');
            if (param === 'voice') return $('voice-custom').value.trim() ? $('voice-custom') : $('voice');
            if (param === 'response_format') return $('format');
            const knob = page.knobs.find((k) => k.name === param);
            return knob ? knob.input : null;
          }

          function showError(error, title) {
            $('error-title').textContent = title + (error.status ? ' (HTTP ' + error.status + ')' : '');
            $('error-param').textContent = error.param || '';
            $('error-param').hidden = !error.param;
            $('error-message').textContent = error.message;
            $('error-code').textContent = error.code || '';
            $('error-code').hidden = !error.code;
            $('error').hidden = false;
            page.errors.push({title, status: error.status || 0, param: error.param || null, code: error.code || null,
                              message: error.message});
            const input = error.param ? fieldInput(error.param) : null;
            if (input) { input.classList.add('invalid'); input.focus(); }
          }

          function clearError() {
            $('error').hidden = true;
            for (const element of document.querySelectorAll('.invalid')) element.classList.remove('invalid');
          }

          // ---- the live panel

          function duration(seconds) {
            const s = Math.floor(seconds), d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600);
            const m = Math.floor(s % 3600 / 60);
            if (d) return d + ' d ' + h + ' h';
            if (h) return h + ' h ' + m + ' min';
            return m ? m + ' min ' + (s % 60) + ' s' : (s % 60) + ' s';
          }

          function renderStatus(s) {
            $('st-state').textContent = s.status + (s.draining ? ' (draining)' : '');
            $('st-engine').textContent = s.engine + ' ' + s.version;
            $('st-queue').textContent = s.queue_depth + ' waiting of ' + s.max_queue;
            $('st-batch').textContent = s.active_batch + ' of ' + s.max_batch;
            $('st-running').textContent = s.running_requests + ' in flight';
            $('st-speed').textContent = s.steps_per_second.toFixed(1) + ' steps/s';
            $('st-rtf').textContent = s.real_time_factor > 0 ? s.real_time_factor.toFixed(3) : '–';
            $('st-audio').textContent = s.audio_seconds_total.toFixed(1) + ' s, ' + s.completed_requests + ' requests';
            $('st-uptime').textContent = duration(s.uptime_seconds);
            $('status-updated').textContent = 'updated ' + new Date().toLocaleTimeString();
            const badge = $('engine-badge');
            badge.textContent = s.engine + ' · ' + s.status;
            badge.classList.toggle('ready', s.ready);
            $('key-box').hidden = !s.keys_required;
            if (page.textLimit === null) setLimit(s.max_text_characters);
          }

          async function pollStatus() {
            try {
              const s = await getJSON('/v1/status');
              page.status = s;
              page.statusPolls += 1;
              page.maxRunningSeen = Math.max(page.maxRunningSeen, s.running_requests);
              page.maxActiveSeen = Math.max(page.maxActiveSeen, s.active_batch);
              renderStatus(s);
              $('status-panel').classList.remove('offline');
            } catch (error) {
              page.statusErrors += 1;
              $('st-state').textContent = 'unreachable';
              $('status-panel').classList.add('offline');
            }
            setTimeout(pollStatus, page.current ? 250 : 1000);
          }

          // ---- the text and its limit (code points, as the server counts)

          function setLimit(limit) {
            page.textLimit = limit;
            $('limit').textContent = String(limit);
            countText();
          }

          function countText() {
            const n = [...$('text').value].length;
            $('count').textContent = String(n);
            $('count').parentElement.classList.toggle('over', page.textLimit !== null && n > page.textLimit);
          }

          // ---- controls made from the OpenAPI document

          class Raw { constructor(text) { this.text = text; } }

          function baseType(schema) {
            return Array.isArray(schema.type) ? schema.type.find((t) => t !== 'null') : schema.type;
          }

          function bound(value) {
            return value >= 18446744073709551615 ? '2^64−1' : String(value);
          }

          function limitText(schema, type) {
            if (type === 'boolean') return 'on or off';
            if (type === 'string') return schema.maxLength ? 'at most ' + schema.maxLength + ' characters' : '';
            const open = schema.exclusiveMinimum !== undefined;
            const low = open ? schema.exclusiveMinimum : schema.minimum;
            if (low === undefined || schema.maximum === undefined) return '';
            if (type === 'integer') return bound(low) + '…' + bound(schema.maximum);
            return (open ? '(' : '[') + low + ', ' + schema.maximum + ']';
          }

          function makeKnob(name, schema) {
            const type = baseType(schema);
            const id = 'knob-' + name;
            const wrap = document.createElement('div');
            wrap.className = 'knob';
            const label = document.createElement('label');
            label.htmlFor = id;
            label.title = schema.description || '';
            const knob = {name, schema, type, input: null, file: null};
            let input;
            if (type === 'boolean') {
              input = document.createElement('input');
              input.type = 'checkbox';
              input.checked = schema.default === true;
              label.append(input, name);
            } else {
              if (type === 'string' && schema.format === 'chattts-wav-base64') {
                input = document.createElement('input');
                input.type = 'file';
                input.accept = '.wav,audio/wav';
                input.addEventListener('change', () => readFile(knob));
              } else if (type === 'string' && (schema.maxLength || 0) > 4096) {
                input = document.createElement('textarea');
                input.rows = 2;
              } else {
                input = document.createElement('input');
                const safe = type === 'number' || (type === 'integer' && schema.maximum <= Number.MAX_SAFE_INTEGER);
                input.type = safe ? 'number' : 'text';
                if (safe) {
                  input.step = type === 'integer' ? '1' : 'any';
                  const low = schema.minimum ?? schema.exclusiveMinimum;
                  if (low !== undefined) input.min = String(low);
                  if (schema.maximum !== undefined) input.max = String(schema.maximum);
                } else if (type === 'integer') {
                  input.inputMode = 'numeric';
                }
              }
              if (input.type !== 'file') {
                input.value = schema.default === undefined ? '' : String(schema.default);
                const absent = /absent: ([^;)]+)/.exec(schema.description || '');
                if (absent) input.placeholder = absent[1];
              }
              label.append(name, input);
            }
            input.id = id;
            input.spellcheck = false;
            knob.input = input;
            const hint = document.createElement('small');
            const limits = input.type === 'file' ? 'a WAV file, sent as base64' : limitText(schema, type);
            const parts = [];
            if (limits) parts.push(limits);
            if (schema.default !== undefined && schema.default !== '') parts.push('default ' + schema.default);
            hint.textContent = parts.join(', ');
            label.append(hint);
            wrap.append(label);
            knob.element = wrap;
            return knob;
          }

          function readFile(knob) {
            knob.file = null;
            const file = knob.input.files[0];
            if (!file) return;
            const reader = new FileReader();
            reader.onload = () => { knob.file = String(reader.result).replace(/^data:[^,]*,/, ''); };
            reader.readAsDataURL(file);
          }

          // What a knob adds to the request: nothing when it is at the server's default, so the server decides.
          function knobValue(knob) {
            const schema = knob.schema;
            if (knob.type === 'boolean') {
              return knob.input.checked === (schema.default === true) ? undefined : knob.input.checked;
            }
            if (knob.input.type === 'file') return knob.file === null ? undefined : knob.file;
            const text = knob.input.value.trim();
            if (knob.type === 'integer' || knob.type === 'number') {
              if (text === '') return undefined;
              if (schema.default !== undefined && Number(text) === schema.default) return undefined;
              // A JSON number as typed (a seed keeps all 64 bits); anything else goes as a string: the server names it.
              return /^-?\d+(\.\d+)?([eE][-+]?\d+)?$/.test(text) ? new Raw(text) : text;
            }
            const value = knob.input.value;
            if (value === (schema.default ?? '')) return undefined;
            return value;
          }

          function serialize(fields) {
            return '{' + Object.entries(fields).map(([key, value]) =>
              JSON.stringify(key) + ':' + (value instanceof Raw ? value.text : JSON.stringify(value))).join(',') + '}';
          }

          // [speed_N] of the prompt as a picker, when the engine's prompt knob carries one.
          function addSpeedPicker(knob) {
            const select = document.createElement('select');
            select.id = 'speed';
            for (let n = 0; n <= 9; n += 1) {
              select.append(new Option('[speed_' + n + ']' + (n === 5 ? ' normal' : ''), String(n)));
            }
            const sync = () => {
              const match = /\[speed_(\d)\]/.exec(knob.input.value);
              select.value = match ? match[1] : '5';
            };
            select.addEventListener('change', () => {
              const tag = '[speed_' + select.value + ']';
              const prompt = knob.input.value;
              knob.input.value = /\[speed_\d\]/.test(prompt) ? prompt.replace(/\[speed_\d\]/, tag) : tag + prompt;
            });
            knob.input.addEventListener('input', sync);
            sync();
            const label = document.createElement('label');
            label.htmlFor = 'speed';
            label.append('speed', select);
            const hint = document.createElement('small');
            hint.textContent = 'sets [speed_N] in prompt';
            label.append(hint);
            const wrap = document.createElement('div');
            wrap.className = 'knob';
            wrap.append(label);
            return wrap;
          }

          async function loadSpec() {
            const doc = await getJSON('/openapi.json');
            const schemas = doc.components.schemas;
            const properties = schemas.TTSRequest.properties;
            if (properties.text && properties.text.maxLength) setLimit(properties.text.maxLength);
            const format = $('format');
            const chosen = format.value || (properties.response_format || {}).default || 'wav';
            format.replaceChildren(...schemas.ResponseFormat.enum.map((f) => new Option(f, f)));
            format.value = schemas.ResponseFormat.enum.includes(chosen) ? chosen : schemas.ResponseFormat.enum[0];
            const names = Object.keys(properties).filter((name) => !SERVER_FIELDS.has(name));
            // Few knobs (espeak): all in view. ChatTTS: the main ones in view, the rest folded.
            const main = names.length <= 6 ? names : MAIN_KNOBS.filter((name) => names.includes(name));
            const rest = names.filter((name) => !main.includes(name)).sort();
            page.knobs = [];
            const mainBox = $('knobs'), moreBox = $('more-knobs');
            mainBox.replaceChildren(mainBox.querySelector('legend'));
            moreBox.replaceChildren();
            for (const name of main.concat(rest)) {
              const knob = makeKnob(name, properties[name]);
              page.knobs.push(knob);
              (main.includes(name) ? mainBox : moreBox).append(knob.element);
              if (name === 'prompt' && /\[speed_\d\]/.test(properties[name].default || '')) {
                mainBox.append(addSpeedPicker(knob));
              }
            }
            $('more').hidden = rest.length === 0;
          }

          async function loadVoices() {
            const list = await getJSON('/v1/voices');
            const select = $('voice');
            const chosen = select.value;
            const groups = new Map();
            for (const voice of list.data) {
              const group = voice.source.startsWith('configured') ? 'Configured voices'
                : voice.source.startsWith('seed:') ? 'OpenAI names (seed voices)' : voice.source;
              if (!groups.has(group)) groups.set(group, []);
              const label = voice.source.startsWith('seed:') ? voice.id + ' (' + voice.source + ')'
                : voice.source === 'configured sample' ? voice.id + ' (sample)' : voice.id;
              groups.get(group).push(new Option(label, voice.id));
            }
            const children = [new Option('server default', '')];
            for (const [name, options] of groups) {
              const optgroup = document.createElement('optgroup');
              optgroup.label = name;
              optgroup.append(...options);
              children.push(optgroup);
            }
            select.replaceChildren(...children);
            select.value = list.data.some((v) => v.id === chosen) ? chosen : '';
          }

          async function loadAll() {
            try {
              await loadSpec();
              await loadVoices();
              page.loaded = true;
              $('play').disabled = false;
              clearError();
              modeNote();
            } catch (error) {
              page.loaded = false;
              $('play').disabled = true;
              showError(error, error.status === 401 || error.status === 403
                ? 'This server needs an API key: paste one above' : 'Could not load the server\'s description');
            }
          }

          // ---- playback

          let audioContext = null;
          function context() {
            if (!audioContext) audioContext = new AudioContext({latencyHint: 'interactive'});
            if (audioContext.state === 'suspended') audioContext.resume();
            return audioContext;
          }
          page.audioTime = () => (audioContext ? audioContext.currentTime : 0);

          function streamable(format) {
            if (format === 'pcm' || format === 'wav') return 'web audio';
            return window.MediaSource && MediaSource.isTypeSupported(MIME[format]) ? 'mediasource' : 'whole';
          }

          function modeNote() {
            const format = $('format').value;
            const mode = streamable(format);
            $('mode-note').textContent = mode === 'whole'
              ? format + ': this browser cannot play it as it streams, so it plays once complete (pcm, wav' +
                (streamable('mp3') === 'mediasource' ? ' and mp3' : '') + ' play as they are made)'
              : format + ': plays as it is made (' + mode + ')';
          }

          // s16le samples into AudioBuffers scheduled back to back; a WAV header is read first.
          function webAudioPlayer(format, run) {
            const ctx = context();
            let rate = (page.status && page.status.sample_rate) || 24000;
            let pending = new Uint8Array(0);
            let inHeader = format === 'wav';
            let next = 0, first = null, closing = false, stopped = false;
            const sources = new Set();
            let finish;
            const ended = new Promise((resolve) => { finish = resolve; });

            function wavHeader(bytes) {
              const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
              const tag = (at) => String.fromCharCode(bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]);
              if (bytes.length < 12) return -1;
              if (tag(0) !== 'RIFF' || tag(8) !== 'WAVE') throw new Error('the stream is not a WAV file');
              let at = 12;
              while (at + 8 <= bytes.length) {
                const size = view.getUint32(at + 4, true);
                if (tag(at) === 'fmt ' && at + 16 <= bytes.length) rate = view.getUint32(at + 12, true);
                if (tag(at) === 'data') return at + 8;
                at += 8 + size + (size & 1);
              }
              return -1;
            }

            function schedule(samples) {
              const buffer = ctx.createBuffer(1, samples.length, rate);
              buffer.copyToChannel(samples, 0);
              const source = ctx.createBufferSource();
              source.buffer = buffer;
              source.connect(ctx.destination);
              const now = ctx.currentTime;
              if (next < now + 0.02) {
                if (first !== null) run.underruns += 1;
                next = now + (first === null ? 0.1 : 0.02);
              }
              source.start(next);
              if (first === null) {
                first = next;
                run.clockStart = next;
                run.firstSoundMs = performance.now() - run.startedAt + (next - now) * 1000;
              }
              next += buffer.duration;
              run.samplesScheduled += samples.length;
              run.audioSeconds = run.samplesScheduled / rate;
              sources.add(source);
              source.onended = () => {
                sources.delete(source);
                if (!stopped) run.samplesPlayed += samples.length;
                if (closing && sources.size === 0) { run.clockEnd = ctx.currentTime; finish(); }
              };
            }

            return {
              mode: 'web audio',
              push(bytes) {
                const joined = new Uint8Array(pending.length + bytes.length);
                joined.set(pending);
                joined.set(bytes, pending.length);
                let start = 0;
                if (inHeader) {
                  start = wavHeader(joined);
                  if (start < 0) { pending = joined; return; }
                  inHeader = false;
                }
                const count = Math.floor((joined.length - start) / 2);
                const view = new DataView(joined.buffer, joined.byteOffset + start, count * 2);
                const samples = new Float32Array(count);
                for (let i = 0; i < count; i += 1) samples[i] = view.getInt16(i * 2, true) / 32768;
                pending = joined.slice(start + count * 2);
                if (count > 0) schedule(samples);
              },
              playedSeconds() { return first === null ? 0 : Math.max(0, ctx.currentTime - first); },
              end() { closing = true; if (sources.size === 0) finish(); return ended; },
              stop() { stopped = true; for (const s of sources) s.stop(); finish(); },
            };
          }

          // Encoded bytes appended to a MediaSource as they come (mp3 in Chromium).
          function mediaSourcePlayer(format, run) {
            const audio = $('player');
            const source = new MediaSource();
            const queue = [];
            let buffer = null, closing = false, started = false;
            let finish;
            const ended = new Promise((resolve) => { finish = resolve; });
            audio.hidden = false;
            audio.src = URL.createObjectURL(source);
            function pump() {
              if (!buffer || buffer.updating) return;
              if (queue.length) {
                buffer.appendBuffer(queue.shift());
                if (!started) { started = true; audio.play().catch((e) => { run.playError = String(e); }); }
              } else if (closing && source.readyState === 'open') {
                source.endOfStream();
              }
            }
            source.addEventListener('sourceopen', () => {
              buffer = source.addSourceBuffer(MIME[format]);
              buffer.mode = 'sequence';
              buffer.addEventListener('updateend', pump);
              pump();
            }, {once: true});
            audio.addEventListener('playing', () => {
              if (run.firstSoundMs === null) run.firstSoundMs = performance.now() - run.startedAt;
            }, {once: true});
            const rate = (page.status && page.status.sample_rate) || 24000;
            audio.ontimeupdate = () => { run.samplesPlayed = Math.round(audio.currentTime * rate); };
            audio.onended = () => { run.samplesPlayed = Math.round(audio.currentTime * rate); finish(); };
            return {
              mode: 'mediasource',
              push(bytes) { queue.push(bytes); pump(); },
              playedSeconds() { return audio.currentTime; },
              end() {
                closing = true;
                pump();
                return ended.then(() => {
                  run.audioSeconds = audio.duration;
                  run.samplesScheduled = Math.round(audio.duration * rate);
                });
              },
              stop() { audio.pause(); finish(); },
            };
          }

          // Formats the browser cannot append: decoded and played once complete.
          function wholePlayer(format, run) {
            const parts = [];
            let source = null, finish;
            const ended = new Promise((resolve) => { finish = resolve; });
            return {
              mode: 'whole',
              push(bytes) { parts.push(bytes); },
              playedSeconds() { return 0; },
              async end() {
                const ctx = context();
                const data = await new Blob(parts).arrayBuffer();
                const buffer = await ctx.decodeAudioData(data);
                run.samplesScheduled = buffer.length;
                run.audioSeconds = buffer.duration;
                source = ctx.createBufferSource();
                source.buffer = buffer;
                source.connect(ctx.destination);
                source.onended = () => { run.samplesPlayed = buffer.length; finish(); };
                const at = ctx.currentTime + 0.05;
                source.start(at);
                run.firstSoundMs = performance.now() - run.startedAt + 50;
                return ended;
              },
              stop() { if (source) source.stop(); finish(); },
            };
          }

          function offerDownload(parts, format, run) {
            const link = $('download');
            if (link.href) URL.revokeObjectURL(link.href);
            const blob = new Blob(parts, {type: MIME[format].split(';')[0]});
            const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '');
            link.href = URL.createObjectURL(blob);
            link.download = 'chattts-' + stamp + '.' + EXTENSION[format];
            link.textContent = 'Download ' + link.download + ' (' + (blob.size / 1024).toFixed(1) + ' KiB' +
              (format === 'pcm' ? ', raw 24 kHz mono s16le' : '') + ')';
            link.hidden = false;
            run.downloadName = link.download;
            run.downloadBytes = blob.size;
          }

          function progress(run) {
            const parts = [];
            if (run.firstChunkMs !== null) parts.push('first audio after ' + Math.round(run.firstChunkMs) + ' ms');
            parts.push(run.chunks + ' chunks, ' + (run.bytes / 1024).toFixed(1) + ' KiB');
            if (run.audioSeconds) parts.push(run.audioSeconds.toFixed(2) + ' s of audio');
            if (run.responseDoneMs !== null) {
              parts.push('response complete after ' + Math.round(run.responseDoneMs) + ' ms');
            }
            if (run.playedAtDoneSeconds) parts.push(run.playedAtDoneSeconds.toFixed(2) + ' s already played by then');
            if (run.playbackEnded) parts.push('played to the end');
            $('progress').textContent = parts.join(' · ');
          }

          function requestFields() {
            const format = $('format').value;
            const fields = {text: $('text').value, response_format: format, stream_format: 'audio'};
            const voice = $('voice-custom').value.trim() || $('voice').value;
            if (voice) fields.voice = voice;
            for (const knob of page.knobs) {
              const value = knobValue(knob);
              if (value !== undefined) fields[knob.name] = value;
            }
            return fields;
          }

          function stop() {
            const run = page.last;
            if (!run) return;
            run.stopped = true;
            if (run.abort) run.abort.abort();
            if (run.player) run.player.stop();
          }

          async function play() {
            clearError();
            stop();
            const fields = requestFields();
            const format = fields.response_format;
            const run = {
              format, startedAt: performance.now(), bytes: 0, chunks: 0, firstChunkMs: null, responseDoneMs: null,
              firstSoundMs: null, playedAtDoneSeconds: null, samplesScheduled: 0, samplesPlayed: 0, audioSeconds: 0,
              underruns: 0, clockStart: null, clockEnd: null, mode: null, engine: null, status: null, finished: false,
              playbackEnded: false, stopped: false, failed: null,
              downloadName: null, downloadBytes: 0, abort: new AbortController(), player: null,
            };
            page.current = run;
            page.last = run;
            page.runs += 1;
            $('play').disabled = true;
            $('stop').disabled = false;
            $('download').hidden = true;
            if (streamable(format) !== 'mediasource') $('player').hidden = true;
            // The AudioContext is made inside the click, where browsers let it start.
            if (streamable(format) !== 'mediasource') context();
            try {
              const response = await fetch('/v1/tts', {
                method: 'POST', headers: authHeaders({'Content-Type': 'application/json'}), body: serialize(fields),
                signal: run.abort.signal,
              });
              run.status = response.status;
              if (!response.ok) throw await errorOf(response);
              run.engine = response.headers.get('X-Engine');
              const mode = streamable(format);
              run.player = mode === 'web audio' ? webAudioPlayer(format, run)
                : mode === 'mediasource' ? mediaSourcePlayer(format, run) : wholePlayer(format, run);
              run.mode = run.player.mode;
              const reader = response.body.getReader();
              const parts = [];
              for (;;) {
                const {done, value} = await reader.read();
                if (done) break;
                if (run.chunks === 0) run.firstChunkMs = performance.now() - run.startedAt;
                run.chunks += 1;
                run.bytes += value.byteLength;
                parts.push(value);
                run.player.push(value);
                progress(run);
              }
              run.responseDoneMs = performance.now() - run.startedAt;
              run.playedAtDoneSeconds = run.player.playedSeconds();
              run.finished = true;
              offerDownload(parts, format, run);
              if (page.last === run) {
                page.current = null;
                $('play').disabled = false;
              }
              progress(run);
              await run.player.end();
              run.playbackEnded = !run.stopped;
              if (page.last === run) progress(run);
            } catch (error) {
              run.failed = error.message;
              if (error.name === 'AbortError' || run.stopped) {
                if (page.last === run) $('progress').textContent = 'stopped';
              } else if (error instanceof APIError) {
                showError(error, 'The server refused the request');
              } else {
                showError(new APIError(0, {message: String(error.message || error)}),
                  run.chunks ? 'The audio stream broke off' : 'The request failed');
              }
            } finally {
              // A run stopped by a newer Play ends after it began: only the newest one owns the buttons.
              if (page.last === run) {
                page.current = null;
                $('play').disabled = !page.loaded;
                $('stop').disabled = true;
              }
            }
          }

          // ---- wiring

          function useKey() {
            page.key = $('key').value.trim();
            loadAll();
          }

          $('text').addEventListener('input', countText);
          $('format').addEventListener('change', modeNote);
          $('play').addEventListener('click', play);
          $('stop').addEventListener('click', stop);
          $('key-use').addEventListener('click', useKey);
          $('key').addEventListener('keydown', (e) => { if (e.key === 'Enter') useKey(); });
          $('voice-custom').addEventListener('input', () => {
            $('voice').disabled = $('voice-custom').value.trim() !== '';
          });
          countText();
          pollStatus();
          loadAll();
        })();
        """#
}
