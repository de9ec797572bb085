-- The request engine's behaviour, written once and run on every transport: in the host
-- Lua through libcurl (spec/52), and inside nginx through cosockets. Each scenario
-- sets up the emulator (through `control`, which each side implements its own way),
-- makes one call and reports what came back, so the two sides can be compared.
local _M = {}

local STREAM = { domain = "demo.aliyundoc.com", app = "liveApp", stream = "room42" }

local function outcome(res, err)
  if res then return { ok = true, request_id = res.request_id } end
  return { ok = false, code = err.code, attempts = err.attempts, retryable = err.retryable,
           http_status = err.http_status, has_request_id = err.request_id ~= nil }
end

-- name → function(live, emu_url, control) → outcome. control(method, path, json_text).
_M.scenarios = {
  ok = function(live, url)
    local c = live.new { access_key_id = "testid", access_key_secret = "testsecret",
                         endpoint = url, limiter = false }
    return outcome(c:resume(STREAM))
  end,
  v3_xml = function(live, url)
    local c = live.new { access_key_id = "testid", access_key_secret = "testsecret",
                         endpoint = url, limiter = false, signature = "v3", format = "XML" }
    return outcome(c:resume(STREAM))
  end,
  wrong_secret = function(live, url)
    local c = live.new { access_key_id = "testid", access_key_secret = "nope",
                         endpoint = url, limiter = false }
    return outcome(c:resume(STREAM))
  end,
  throttled_once = function(live, url, control)
    control("POST", "/__emulator/faults", '{"code":"Throttling.User","status":429,"count":1,"retry_after":50}')
    local c = live.new { access_key_id = "testid", access_key_secret = "testsecret",
                         endpoint = url, limiter = false, retry = { base = 0.01, cap = 0.05 } }
    return outcome(c:resume(STREAM))
  end,
  unavailable = function(live, url, control)
    control("POST", "/__emulator/faults", '{"code":"ServiceUnavailable","status":503,"count":5}')
    local c = live.new { access_key_id = "testid", access_key_secret = "testsecret",
                         endpoint = url, limiter = false, retry = { attempts = 3, base = 0.01, cap = 0.02 } }
    local res, err = c:resume(STREAM)
    control("DELETE", "/__emulator/faults")
    return outcome(res, err)
  end,
  timeout = function(live, url, control)
    control("POST", "/__emulator/faults", '{"delay":2}')
    local c = live.new { access_key_id = "testid", access_key_secret = "testsecret",
                         endpoint = url, limiter = false, retry = false, timeout = 0.3 }
    local res, err = c:resume(STREAM)
    control("DELETE", "/__emulator/faults")
    return outcome(res, err)
  end,
  refused = function(live, _, _, dead_url)
    local c = live.new { access_key_id = "testid", access_key_secret = "testsecret",
                         endpoint = dead_url, limiter = false, retry = false }
    return outcome(c:resume(STREAM))
  end,
  bad_input = function(live, url)
    local c = live.new { access_key_id = "testid", access_key_secret = "testsecret",
                         endpoint = url, limiter = false }
    return outcome(c:resume { domain = "a..b", app = "x", stream = "y" })
  end,
  forbid_blocklist = function(live, url)
    local c = live.new { access_key_id = "testid", access_key_secret = "testsecret",
                         endpoint = url, limiter = false }
    assert(c:forbid { domain = "bl.example.com", app = "a", stream = "s1" })
    local page, err = c:blocklist { domain = "bl.example.com" }
    if not page then return outcome(nil, err) end
    return { ok = true, streams = #page.streams, page = page.page }
  end,
}

_M.names = {}
for name in pairs(_M.scenarios) do _M.names[#_M.names + 1] = name end
table.sort(_M.names)

return _M
