import Foundation
import Synthesis

/// The OpenAPI 3.1 description of the service, served at `/openapi.json`. Kept in the binary (not a resource file)
/// so the one-file deployment serves it too; a test checks that every route is in it.
///
/// The routes and shapes are written out below; the synthesis knobs are not: each engine knob becomes a property
/// of `TTSRequest` (and `seed` of the OpenAI request) from the engine's table, with the limits this server allows,
/// so the document cannot disagree with what the parser accepts.
enum OpenAPIDocument {
    /// - Parameters:
    ///   - keysRequired: the server has a `keysFile`: every operation but the open ones (`/health`, `/ready`, `/`,
    ///     `/v1/status`; `/metrics` unless `metricsRequireKey`) needs the bearer key and may answer 401 and 403.
    ///   - rateLimited: the per-client limits are on: those operations may answer 429.
    static func json(knobs: KnobTable, engineName: String, maxInputCharacters: Int, maxTextCharacters: Int,
                     keysRequired: Bool = false, metricsRequireKey: Bool = false, rateLimited: Bool = true,
                     voices: [String] = [], markup: ServerConfiguration.MarkupPolicy = .refuse) throws -> String {
        guard var document = try JSONSerialization.jsonObject(with: Data(template.utf8)) as? [String: Any],
              var components = document["components"] as? [String: Any],
              var schemas = components["schemas"] as? [String: Any],
              var tts = schemas["TTSRequest"] as? [String: Any], var ttsProperties = tts["properties"] as? [String: Any],
              var openAI = schemas["OpenAISpeechRequest"] as? [String: Any],
              var openAIProperties = openAI["properties"] as? [String: Any]
        else { throw APIError.internalError("the OpenAPI template lost its TTSRequest or OpenAISpeechRequest schema") }
        /// A property of the template with more keywords.
        func extend(_ properties: inout [String: Any], _ key: String, _ more: [String: Any]) {
            properties[key] = (properties[key] as? [String: Any] ?? [:]).merging(more) { $1 }
        }
        for knob in knobs.knobs { ttsProperties[knob.name] = schema(knob, markup: markup) }
        let plain = TextPolicy.schema(markup: markup, promptTags: false)
        extend(&ttsProperties, "text", plain.merging(["maxLength": maxTextCharacters]) { $1 })
        extend(&openAIProperties, "input", plain.merging(["maxLength": maxInputCharacters]) { $1 })
        // Knobs that come in pairs (a sample and its transcript) or exclude each other.
        var needs: [String: [String]] = [:]
        var conflicts: [[String: Any]] = []
        for knob in knobs.knobs {
            if !knob.needs.isEmpty { needs[knob.name] = knob.needs }
            for other in knob.notWith where knob.name < other { conflicts.append(["required": [knob.name, other]]) }
        }
        if !needs.isEmpty { tts["dependentRequired"] = needs }
        if !conflicts.isEmpty { tts["not"] = ["anyOf": conflicts] }
        if var voiceSchema = schemas["Voice"] as? [String: Any] {
            let name: [String: Any] = ["type": "string", "enum": [""] + voices,
                                       "description": "A configured voice or an OpenAI name; empty: the default"]
            let seed: [String: Any] = ["type": "string", "pattern": "^seed:[0-9]{1,19}$"]
            // A voice string is compressed model data: only its format can say what it is (base16384 text).
            let string: [String: Any] = ["type": "string", "format": "chattts-voice", "minLength": 1]
            let forms = [name, seed, string]
            voiceSchema["anyOf"] = forms + [["type": "object", "required": ["id"],
                                             "properties": ["id": ["anyOf": forms]]]]
            schemas["Voice"] = voiceSchema
        }
        extend(&openAIProperties, "model", ["enum": Models.all(engine: engineName)])
        if let seed = knobs["seed"] { openAIProperties[seed.name] = schema(seed) }
        if var paths = document["paths"] as? [String: Any] {
            for (path, value) in paths {
                guard var operations = value as? [String: Any], !ProtectionMiddleware.openPaths.contains(path) else { continue }
                for (method, value) in operations {
                    guard var operation = value as? [String: Any] else { continue }
                    var responses = operation["responses"] as? [String: Any] ?? [:]
                    if keysRequired, path != "/metrics" || metricsRequireKey {
                        operation["security"] = [["bearerAuth": [String]()]]
                        responses["401"] = ["$ref": "#/components/responses/Unauthorized"]
                        responses["403"] = ["$ref": "#/components/responses/Forbidden"]
                    }
                    if rateLimited, path != "/metrics" { responses["429"] = ["$ref": "#/components/responses/TooManyRequests"] }
                    operation["responses"] = responses
                    operations[method] = operation
                }
                paths[path] = operations
            }
            document["paths"] = paths
        }
        // A null optional field is read as absent.
        for (key, value) in ttsProperties where !(tts["required"] as? [String] ?? []).contains(key) {
            ttsProperties[key] = nullable(value as? [String: Any] ?? [:])
        }
        for (key, value) in openAIProperties where !(openAI["required"] as? [String] ?? []).contains(key) {
            openAIProperties[key] = nullable(value as? [String: Any] ?? [:])
        }
        tts["properties"] = ttsProperties
        openAI["properties"] = openAIProperties
        schemas["TTSRequest"] = tts
        schemas["OpenAISpeechRequest"] = openAI
        components["schemas"] = schemas
        document["components"] = components
        let data = try JSONSerialization.data(withJSONObject: document, options: [.sortedKeys, .withoutEscapingSlashes])
        return String(decoding: data, as: UTF8.self)
    }

    /// A property that may also be null.
    static func nullable(_ property: [String: Any]) -> [String: Any] {
        var out = property
        if let ref = property["$ref"] {
            out["$ref"] = nil
            out["anyOf"] = [["$ref": ref], ["type": "null"]]
        } else if let type = property["type"] as? String {
            out["type"] = [type, "null"]
            if let values = property["enum"] as? [Any] { out["enum"] = values + [NSNull()] }
        }
        return out
    }

    /// A knob as a JSON Schema property.
    static func schema(_ knob: Knob, markup: ServerConfiguration.MarkupPolicy = .refuse) -> [String: Any] {
        var out: [String: Any]
        switch knob.kind {
        case .number(let r, let lowerOpen):
            out = ["type": "number", lowerOpen ? "exclusiveMinimum" : "minimum": r.lowerBound, "maximum": r.upperBound]
        case .integer(let r): out = ["type": "integer", "minimum": r.lowerBound, "maximum": r.upperBound]
        case .unsigned: out = ["type": "integer", "minimum": 0, "maximum": UInt64.max]
        case .boolean: out = ["type": "boolean"]
        case .text(let n):
            // Every text knob is held to the text's rules; prompt tags are what a prompt knob holds.
            out = TextPolicy.schema(markup: markup, promptTags: knob.name.hasSuffix("prompt"))
                .merging(["type": "string", "maxLength": n]) { $1 }
            if let format = knob.format { out["format"] = format }
        case .choice(let names): out = ["type": "string", "enum": names]
        }
        switch knob.defaultValue {
        case .number(let d)?: out["default"] = d
        case .integer(let i)?: out["default"] = i
        case .unsigned(let u)?: out["default"] = u
        case .boolean(let b)?: out["default"] = b
        case .text(let s)?: out["default"] = s
        case nil: break
        }
        var doc = knob.doc
        if let unit = knob.unit { doc += " (\(unit))" }
        if let other = knob.notAbove { doc += "; at most \(other)" }
        if let absent = knob.absentMeaning { doc += "; absent: \(absent)" }
        out["description"] = doc
        return out
    }

    static let template = #"""
    {
      "openapi": "3.1.0",
      "info": {
        "title": "chattts-swift speech service",
        "version": "1.0.0",
        "description": "ChatTTS text to speech. /v1/audio/speech follows OpenAI's contract so the official clients work unchanged; /v1/tts exposes every ChatTTS knob. Audio is 24 kHz mono. Errors are {\"error\": {\"message\", \"type\", \"param\", \"code\"}}."
      },
      "paths": {
        "/v1/audio/speech": {
          "post": {
            "summary": "Speech from text (OpenAI-compatible)",
            "operationId": "createSpeech",
            "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/OpenAISpeechRequest"}}}},
            "parameters": [{"$ref": "#/components/parameters/RequestTimeout"}],
            "responses": {
              "200": {"$ref": "#/components/responses/Audio"},
              "400": {"$ref": "#/components/responses/BadRequest"},
              "413": {"$ref": "#/components/responses/TooLarge"},
              "415": {"$ref": "#/components/responses/UnsupportedMediaType"},
              "503": {"$ref": "#/components/responses/Unavailable"}
            }
          }
        },
        "/v1/tts": {
          "post": {
            "summary": "Speech from text with every ChatTTS parameter",
            "operationId": "createTTS",
            "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/TTSRequest"}}}},
            "parameters": [{"$ref": "#/components/parameters/RequestTimeout"}],
            "responses": {
              "200": {"$ref": "#/components/responses/Audio"},
              "400": {"$ref": "#/components/responses/BadRequest"},
              "413": {"$ref": "#/components/responses/TooLarge"},
              "415": {"$ref": "#/components/responses/UnsupportedMediaType"},
              "503": {"$ref": "#/components/responses/Unavailable"}
            }
          }
        },
        "/v1/models": {
          "get": {
            "summary": "Models this server accepts",
            "operationId": "listModels",
            "responses": {"200": {"description": "Model list", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/List"}}}}}
          }
        },
        "/v1/models/{id}": {
          "get": {
            "summary": "One model",
            "operationId": "getModel",
            "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
            "responses": {
              "200": {"description": "Model", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Model"}}}},
              "404": {"$ref": "#/components/responses/NotFound"}
            }
          }
        },
        "/v1/voices": {
          "get": {
            "summary": "Voices from the configuration, and OpenAI's voice names",
            "operationId": "listVoices",
            "responses": {"200": {"description": "Voice list", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/List"}}}}}
          }
        },
        "/health": {
          "get": {
            "summary": "Liveness: the process answers",
            "operationId": "health",
            "responses": {"200": {"description": "Alive", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Status"}}}}}
          }
        },
        "/ready": {
          "get": {
            "summary": "Readiness: model loaded, warm-up done, not draining",
            "operationId": "ready",
            "responses": {
              "200": {"description": "Ready", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Status"}}}},
              "503": {"description": "Starting, warming up or draining", "headers": {"Retry-After": {"schema": {"type": "integer"}}}, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Status"}}}}
            }
          }
        },
        "/metrics": {
          "get": {
            "summary": "Prometheus metrics",
            "operationId": "metrics",
            "responses": {"200": {"description": "Prometheus text format 0.0.4", "content": {"text/plain": {"schema": {"type": "string"}}}}}
          }
        },
        "/": {
          "get": {
            "summary": "The web page: text, voice, knobs and format, streamed playback, download, a live status panel",
            "operationId": "webPage",
            "responses": {"200": {"description": "One self-contained HTML document (inline script and style, allowed by hash in its Content-Security-Policy)", "headers": {"Content-Security-Policy": {"required": true, "schema": {"type": "string"}}}, "content": {"text/html": {"schema": {"type": "string"}}}}}
          }
        },
        "/v1/status": {
          "get": {
            "summary": "Readiness, load and limits as one JSON object (the web page's live panel); open like /health",
            "operationId": "status",
            "responses": {"200": {"description": "Server status", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ServerStatus"}}}}}
          }
        },
        "/openapi.json": {
          "get": {
            "summary": "This document",
            "operationId": "openapi",
            "responses": {"200": {"description": "OpenAPI 3.1", "content": {"application/json": {"schema": {"type": "object"}}}}}
          }
        }
      },
      "components": {
        "securitySchemes": {
          "bearerAuth": {"type": "http", "scheme": "bearer", "description": "An API key from `chattts keys add NAME`, needed when the server has a keysFile."}
        },
        "parameters": {
          "RequestTimeout": {
            "name": "X-Request-Timeout", "in": "header", "required": false,
            "description": "Seconds until the first audio byte; may lower the server's requestTimeout, not raise it. A request whose estimated wait is longer is answered 503 at once.",
            "schema": {"type": "number", "exclusiveMinimum": 0, "maximum": 1000000}
          }
        },
        "schemas": {
          "Voice": {
            "description": "A voice name from the voices file, an OpenAI voice name (alloy, ash, ...: fixed seed voices unless the file defines them), seed:N (the official ChatTTS voice of seed N; seed voices and the OpenAI names need the model's speaker statistics), or a ChatTTS voice string. The object form {\"id\": ...} is accepted too."
          },
          "ResponseFormat": {
            "type": "string",
            "enum": ["mp3", "opus", "flac", "wav", "pcm"],
            "description": "opus is Ogg Opus; pcm is raw 24 kHz mono s16le. OpenAI's aac is answered 400 (no encoder in this build)."
          },
          "StreamFormat": {
            "type": "string",
            "enum": ["audio", "sse"],
            "description": "Absent: the whole file with Content-Length and X-Audio-Seconds. audio: the encoded bytes as they are made (chunked; X-Audio-Seconds as a trailer). sse: text/event-stream of {\"type\": \"speech.audio.delta\", \"audio\": base64} events, then {\"type\": \"speech.audio.done\", \"usage\": {...}}."
          },
          "OpenAISpeechRequest": {
            "type": "object",
            "required": ["model", "input", "voice"],
            "properties": {
              "model": {"type": "string", "description": "All run the same model: the engine's name or one of OpenAI's."},
              "input": {"type": "string", "minLength": 1, "description": "Text to speak; at most the server's maxInputCharacters. Split into utterances like /v1/tts text."},
              "voice": {"$ref": "#/components/schemas/Voice"},
              "response_format": {"$ref": "#/components/schemas/ResponseFormat", "default": "mp3"},
              "speed": {"type": "number", "minimum": 0.25, "maximum": 4.0, "default": 1.0, "description": "Mapped to ChatTTS's [speed_N] prompt with N = round(5 + 2 log2(speed)) clamped to 0...9: 0.25 -> 1, 0.5 -> 3, 1 -> 5, 2 -> 7, 4 -> 9."},
              "stream_format": {"$ref": "#/components/schemas/StreamFormat"},
              "instructions": {"type": "string", "description": "Accepted for compatibility; ChatTTS does not use it."}
            }
          },
          "TTSRequest": {
            "type": "object",
            "required": ["text"],
            "additionalProperties": false,
            "properties": {
              "text": {"type": "string", "minLength": 1, "description": "Text to speak; at most the server's maxTextCharacters. A long text is split into utterances (at newlines, after 。 and after '. ', then at commas or spaces) that keep one voice."},
              "voice": {"$ref": "#/components/schemas/Voice", "description": "Default: the server's defaultVoice, else no speaker."},
              "response_format": {"$ref": "#/components/schemas/ResponseFormat", "default": "wav"},
              "stream_format": {"$ref": "#/components/schemas/StreamFormat"}
            }
          },
          "SpeechEvent": {
            "description": "One server-sent event of stream_format sse: its data is JSON, {\"type\": \"speech.audio.delta\", \"audio\": base64} for each piece of audio, then {\"type\": \"speech.audio.done\", \"usage\": {\"input_tokens\", \"output_tokens\", \"total_tokens\"}}, or {\"type\": \"error\", \"error\": {...}} when the synthesis fails after the stream started.",
            "type": "object",
            "required": ["data"],
            "properties": {
              "event": {"type": "string", "const": "message"},
              "data": {
                "type": "string",
                "contentMediaType": "application/json",
                "contentSchema": {
                  "type": "object",
                  "required": ["type"],
                  "properties": {
                    "type": {"type": "string", "enum": ["speech.audio.delta", "speech.audio.done", "error"]},
                    "audio": {"type": "string", "contentEncoding": "base64"},
                    "usage": {"type": "object", "properties": {"input_tokens": {"type": "integer"}, "output_tokens": {"type": "integer"}, "total_tokens": {"type": "integer"}}},
                    "error": {"type": "object"}
                  }
                }
              }
            }
          },
          "Error": {
            "type": "object",
            "required": ["error"],
            "properties": {
              "error": {
                "type": "object",
                "required": ["message", "type", "param", "code"],
                "properties": {
                  "message": {"type": "string", "description": "Names the field and the limit it broke."},
                  "type": {"type": "string", "enum": ["invalid_request_error", "server_error"]},
                  "param": {"type": ["string", "null"], "description": "The request field at fault."},
                  "code": {"type": ["string", "null"], "description": "e.g. missing_field, out_of_range, invalid_type, unknown_field, unsupported_format, model_not_found, invalid_voice, markup_not_allowed, control_character, prompt_tag_in_text, string_above_max_length, invalid_json, invalid_header, body_too_large, unsupported_media_type, method_not_allowed, missing_api_key, invalid_api_key, revoked_api_key, rate_limit_exceeded, too_many_concurrent_requests, queue_full, queue_timeout, overloaded, deadline_exceeded, out_of_memory, draining, unknown_route."}
                }
              }
            }
          },
          "Model": {
            "type": "object",
            "properties": {"id": {"type": "string"}, "object": {"const": "model"}, "created": {"type": "integer"}, "owned_by": {"type": "string"}}
          },
          "List": {
            "type": "object",
            "properties": {"object": {"const": "list"}, "data": {"type": "array", "items": {"type": "object"}}}
          },
          "ServerStatus": {
            "type": "object",
            "required": ["status", "ready", "draining", "engine", "model", "version", "sample_rate", "uptime_seconds", "queue_depth", "active_batch", "running_requests", "max_batch", "max_queue", "steps_per_second", "real_time_factor", "estimated_wait_seconds", "steps_total", "audio_seconds_total", "completed_requests", "max_text_characters", "max_input_characters", "keys_required"],
            "properties": {
              "status": {"type": "string", "enum": ["starting", "warming_up", "ready", "draining"], "description": "What /ready says, in words."},
              "ready": {"type": "boolean", "description": "True when /ready answers 200."},
              "draining": {"type": "boolean", "description": "A graceful shutdown began: new syntheses are refused."},
              "engine": {"type": "string", "description": "chattts, or espeak (no model files)."},
              "model": {"type": "string", "description": "The model id /v1/models lists first."},
              "version": {"type": "string"},
              "sample_rate": {"type": "integer", "description": "Hz of the audio (pcm is this rate, mono s16le)."},
              "uptime_seconds": {"type": "number", "minimum": 0},
              "queue_depth": {"type": "integer", "minimum": 0, "description": "Requests waiting for a batch slot."},
              "active_batch": {"type": "integer", "minimum": 0, "description": "Sequences in the running batch."},
              "running_requests": {"type": "integer", "minimum": 0, "description": "Synthesis requests accepted and not finished: queued, in the batch or still sending."},
              "max_batch": {"type": "integer", "minimum": 1},
              "max_queue": {"type": "integer", "minimum": 0},
              "steps_per_second": {"type": "number", "minimum": 0, "description": "Engine steps per second over the last busy second (0 when idle)."},
              "real_time_factor": {"type": "number", "minimum": 0, "description": "Seconds of computation per second of audio over the last busy period (below 1 is faster than real time; 0 before any)."},
              "estimated_wait_seconds": {"type": "number", "minimum": 0, "description": "The wait for a new request's first audio the scheduler estimates now."},
              "steps_total": {"type": "integer", "minimum": 0},
              "audio_seconds_total": {"type": "number", "minimum": 0},
              "completed_requests": {"type": "integer", "minimum": 0},
              "max_text_characters": {"type": "integer", "minimum": 1, "description": "Longest text of /v1/tts."},
              "max_input_characters": {"type": "integer", "minimum": 1, "description": "Longest input of /v1/audio/speech."},
              "keys_required": {"type": "boolean", "description": "Every route but /health, /ready, / and /v1/status needs Authorization: Bearer KEY."}
            },
            "additionalProperties": false
          },
          "Status": {
            "type": "object",
            "properties": {"status": {"type": "string", "enum": ["ok", "starting", "warming_up", "ready", "draining"]}}
          }
        },
        "responses": {
          "Audio": {
            "description": "Audio in the requested format (or server-sent events with stream_format sse).",
            "headers": {
              "X-Request-ID": {"schema": {"type": "string"}, "description": "The request's ID, echoed or generated."},
              "X-Audio-Seconds": {"schema": {"type": "number"}, "description": "Seconds of audio (a trailer when streamed)."},
              "X-Text-Segments": {"schema": {"type": "integer", "minimum": 1}, "description": "Utterances the text was split into."},
              "X-Removed-Characters": {"schema": {"type": "string"}, "description": "Characters left out because the model cannot say them: each percent-encoded UTF-8, comma-separated. Absent when none."}
            },
            "content": {
              "audio/mpeg": {"schema": {"type": "string", "format": "binary"}},
              "audio/ogg": {"schema": {"type": "string", "format": "binary"}},
              "audio/flac": {"schema": {"type": "string", "format": "binary"}},
              "audio/wav": {"schema": {"type": "string", "format": "binary"}},
              "audio/pcm": {"schema": {"type": "string", "format": "binary"}},
              "text/event-stream": {"schema": {"$ref": "#/components/schemas/SpeechEvent"}}
            }
          },
          "BadRequest": {
            "description": "Invalid input; param names the field and message the limit.",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
          },
          "NotFound": {
            "description": "Unknown route or model.",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
          },
          "Unavailable": {
            "description": "Queue full, estimated wait over the deadline (overloaded), queue wait or deadline over, memory, still warming up (not_ready: /ready is 503), or shutting down.",
            "headers": {"Retry-After": {"required": true, "schema": {"type": "integer", "minimum": 1}, "description": "Seconds to wait before retrying."}},
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
          },
          "TooLarge": {
            "description": "The body is larger than its route's limit (maxBodyBytes, or maxTTSBodyBytes on /v1/tts).",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
          },
          "UnsupportedMediaType": {
            "description": "The body is not JSON (Content-Type other than application/json).",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
          },
          "Unauthorized": {
            "description": "No API key, or an unknown one (the server has a keysFile).",
            "headers": {"WWW-Authenticate": {"required": true, "schema": {"type": "string"}}},
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
          },
          "Forbidden": {
            "description": "The API key was revoked.",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
          },
          "TooManyRequests": {
            "description": "Past the client's rate limit (rate_limit_exceeded) or its concurrent syntheses (too_many_concurrent_requests).",
            "headers": {
              "Retry-After": {"required": true, "schema": {"type": "integer", "minimum": 1}, "description": "Seconds to wait before retrying."},
              "RateLimit-Limit": {"schema": {"type": "integer"}, "description": "The burst: requests a client may send at once."},
              "RateLimit-Remaining": {"schema": {"type": "integer"}, "description": "Requests left now."},
              "RateLimit-Reset": {"schema": {"type": "integer"}, "description": "Seconds until the bucket is full again."}
            },
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
          }
        }
      }
    }
    """#
}
