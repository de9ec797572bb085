-- Test support for the emulator's specs: starting and stopping emulators, sending
-- HTTP requests with the curl command-line tool, and signing them with the openssl
-- command-line tool. Deliberately independent of the emulator's Lua code and of the
-- client library, so a shared misunderstanding cannot hide.
local cjson = require "cjson.safe"

local S = {}

S.json = cjson

local here = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "."
S.emulator_dir = here:gsub("/spec$", "")
if S.emulator_dir == "spec" then S.emulator_dir = "." end

-- Shell helpers ---------------------------------------------------------------------

function S.q(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

--- Runs a shell command; returns its stdout and exit code.
function S.sh(cmd)
  local p = assert(io.popen(cmd, "r"))
  local out = p:read("a")
  local _, _, code = p:close()
  return out, code
end

local tmp_root = S.sh("mktemp -d /tmp/emulator-spec.XXXXXX"):gsub("%s+$", "")
S.tmp_root = tmp_root
local tmp_seq = 0

function S.tmpfile(contents)
  tmp_seq = tmp_seq + 1
  local path = ("%s/f%d"):format(tmp_root, tmp_seq)
  local f = assert(io.open(path, "wb"))
  f:write(contents or "")
  f:close()
  return path
end

function S.cleanup_tmp()
  os.execute("rm -rf " .. S.q(tmp_root))
end

function S.sleep(seconds)
  os.execute(("sleep %.3f"):format(seconds))
end

function S.now()
  return require("system").gettime()
end

function S.my_pid()
  local f = assert(io.open("/proc/self/stat", "r"))
  local pid = f:read("l"):match("^(%d+)")
  f:close()
  return pid
end

function S.alive(pid)
  local _, code = S.sh("kill -0 " .. pid .. " 2>/dev/null")
  return code == 0
end

-- Crypto via openssl -----------------------------------------------------------------

function S.hmac_sha1_base64(key, data)
  local f = S.tmpfile(data)
  local out = S.sh(("openssl dgst -sha1 -hmac %s -binary %s | base64 -w0"):format(S.q(key), S.q(f)))
  os.remove(f)
  return (out:gsub("%s+$", ""))
end

function S.sha256_hex(data)
  local f = S.tmpfile(data)
  local out = S.sh("openssl dgst -sha256 -r " .. S.q(f))
  os.remove(f)
  return out:match("^(%x+)")
end

function S.hmac_sha256_hex(key, data)
  local f = S.tmpfile(data)
  local out = S.sh(("openssl dgst -sha256 -mac HMAC -macopt key:%s -r %s"):format(S.q(key), S.q(f)))
  os.remove(f)
  return out:match("^(%x+)")
end

function S.uuid()
  local f = assert(io.open("/proc/sys/kernel/random/uuid", "r"))
  local u = f:read("l")
  f:close()
  return u
end

function S.iso(epoch)
  return os.date("!%Y-%m-%dT%H:%M:%SZ", math.floor(epoch or os.time()))
end

--- RFC 3986 percent-encoding with upper-case hex.
function S.pct(s)
  return (tostring(s):gsub("[^A-Za-z0-9%-_%.~]", function(c)
    return ("%%%02X"):format(c:byte())
  end))
end

-- Emulator processes -----------------------------------------------------------------

local running = {}

--- Starts `emulator/run --port 0 ARGS`; returns { pid, url, port, ca_file, log }.
function S.start(args)
  local log = S.tmpfile("")
  local cmd = ("echo $$; exec %s/run --port 0 --watch-pid %s %s 2>>%s"):format(
    S.q(S.emulator_dir), S.my_pid(), args or "", S.q(log))
  local h = assert(io.popen(cmd, "r"))
  local emu = { handle = h, log = log, pid = h:read("l") }
  for line in h:lines() do
    local ca = line:match("^ca%-file: (.+)$")
    if ca then emu.ca_file = ca end
    local url = line:match("^listening on (.+)$")
    if url then
      emu.url = url
      emu.port = tonumber(url:match(":(%d+)$"))
      break
    end
  end
  if not emu.url then
    h:close()
    local f = io.open(log)
    error("emulator did not start: " .. (f and f:read("a") or "?"))
  end
  running[emu] = true
  return emu
end

--- Sends SIGTERM (or sig) and waits for exit; returns the exit code.
function S.stop(emu, sig)
  if not running[emu] then return nil end
  running[emu] = nil
  os.execute(("kill -%s %s 2>/dev/null"):format(sig or "TERM", emu.pid))
  local _, _, code = emu.handle:close()
  return code
end

function S.stop_all()
  for emu in pairs(running) do S.stop(emu) end
end

-- HTTP via curl ----------------------------------------------------------------------

local function parse_response(raw)
  -- Skip interim 1xx blocks, then split head and body.
  local head, body
  repeat
    head, body = raw:match("^(.-)\r\n\r\n(.*)$")
    if not head then return nil end
    raw = body
  until not head:match("^HTTP/[%d.]+ 1%d%d")
  local res = { status = tonumber(head:match("^HTTP/[%d.]+ (%d+)")), headers = {}, body = body }
  for name, value in head:gmatch("\r?\n([^:\r\n]+):%s*([^\r\n]*)") do
    res.headers[name:lower()] = value
  end
  local ctype = res.headers["content-type"] or ""
  if ctype:find("json") then res.json = cjson.decode(body) end
  return res
end

--- opts: method, url (full), headers = { {name, value}, ... }, body, curl (extra args)
function S.http(opts)
  local args = { "curl -sS -i --max-time 15", "-X " .. (opts.method or "GET") }
  for _, h in ipairs(opts.headers or {}) do
    args[#args + 1] = "-H " .. S.q(h[1] .. ": " .. h[2])
  end
  local body_file
  if opts.body then
    body_file = S.tmpfile(opts.body)
    args[#args + 1] = "--data-binary @" .. S.q(body_file)
  end
  if opts.curl then args[#args + 1] = opts.curl end
  args[#args + 1] = S.q(opts.url)
  local out, code = S.sh(table.concat(args, " ") .. " 2>&1")
  if body_file then os.remove(body_file) end
  local res = parse_response(out)
  if not res then return { status = nil, curl_exit = code, raw = out } end
  res.curl_exit = code
  return res
end

function S.get_json(emu, path)
  return S.http({ url = emu.url .. path }).json
end

function S.post_json(emu, path, value, method)
  local body = value and cjson.encode(value) or nil
  if body == "[]" then body = "{}" end
  return S.http({ method = method or "POST", url = emu.url .. path, body = body,
                  headers = { { "Content-Type", "application/json" } } })
end

--- POSTs body (a string, sent as is) to a control path; returns the response.
function S.post_raw(emu, path, body)
  return S.http({ method = "POST", url = emu.url .. path, body = body,
                  headers = { { "Content-Type", "application/json" } } })
end

--- Freezes the emulator's clock at epoch seconds t (fractions cut to the ms).
function S.freeze(emu, t)
  local whole = math.floor(t)
  local iso = S.iso(whole):gsub("Z$", ("." .. "%03dZ"):format(math.floor((t - whole) * 1000)))
  local res = S.post_json(emu, "/__emulator/clock", { now = iso })
  assert(res.status == 200, "freeze failed: " .. tostring(res.body))
end

function S.reset(emu)
  local res = S.post_json(emu, "/__emulator/reset")
  assert(res.status == 200, "reset failed")
end

-- Signed API requests ----------------------------------------------------------------

local function sorted_encoded(pairs_list)
  local enc = {}
  for _, p in ipairs(pairs_list) do enc[#enc + 1] = { S.pct(p[1]), S.pct(p[2]) } end
  table.sort(enc, function(a, b)
    if a[1] ~= b[1] then return a[1] < b[1] end
    return a[2] < b[2]
  end)
  local parts = {}
  for i, e in ipairs(enc) do parts[i] = e[1] .. "=" .. e[2] end
  return table.concat(parts, "&")
end
S.canonical_query = sorted_encoded

local function to_pairs(t)
  local list = {}
  for k, v in pairs(t) do list[#list + 1] = { k, v } end
  table.sort(list, function(a, b) return a[1] < b[1] end)
  return list
end

--- The v1 string to sign of a parameter table (Signature excluded by the caller).
function S.v1_string_to_sign(method, params)
  return method .. "&%2F&" .. S.pct(sorted_encoded(to_pairs(params)))
end

function S.encode_query(params)
  local parts = {}
  for _, p in ipairs(to_pairs(params)) do parts[#parts + 1] = S.pct(p[1]) .. "=" .. S.pct(p[2]) end
  return table.concat(parts, "&")
end

--- Builds and sends a signature v1 request.
--- opts: emu, action, params (operation parameters), version, format (false = omit),
---   key_id, secret, token, method ("GET"/"POST"), via ("query", "form" or "split":
---   operation parameters in the body, common ones in the query), timestamp, nonce,
---   set = { Name = value | false } applied after signing-field defaults, before
---   signing; tamper = { Name = value } applied after signing; signature (override).
function S.v1(opts)
  local emu = opts.emu
  local method = opts.method or "GET"
  local p = {
    Action = opts.action or "ResumeLiveStream",
    Version = opts.version or "2016-11-01",
    AccessKeyId = opts.key_id or "testid",
    SignatureMethod = "HMAC-SHA1",
    SignatureVersion = "1.0",
    SignatureNonce = opts.nonce or S.uuid(),
    Timestamp = opts.timestamp or S.iso(),
  }
  if opts.format ~= false then p.Format = opts.format or "JSON" end
  if opts.token then p.SecurityToken = opts.token end
  for k, v in pairs(opts.params or {}) do p[k] = v end
  for k, v in pairs(opts.set or {}) do p[k] = v or nil end
  local sts = S.v1_string_to_sign(method, p)
  local signature = opts.signature or S.hmac_sha1_base64((opts.secret or "testsecret") .. "&", sts)
  p.Signature = signature
  for k, v in pairs(opts.tamper or {}) do p[k] = v or nil end

  local query, form = p, nil
  if opts.via == "form" then
    query, form = {}, p
  elseif opts.via == "split" then
    query, form = {}, {}
    for k, v in pairs(p) do
      if (opts.params or {})[k] ~= nil then form[k] = v else query[k] = v end
    end
  end
  local url = emu.url .. "/"
  local qs = S.encode_query(query)
  if qs ~= "" then url = url .. "?" .. qs end
  local req = { method = method, url = url, headers = {} }
  if form then
    req.body = S.encode_query(form)
    req.headers[#req.headers + 1] = { "Content-Type", "application/x-www-form-urlencoded" }
  end
  local res = S.http(req)
  res.string_to_sign, res.sent = sts, p
  return res
end

--- Builds and sends a signature V3 request.
--- opts: emu, action, version, params (query), form (table, sent as a form body),
---   key_id, secret, token, method, accept, date, nonce, host, headers (extra
---   { {name, value} } sent and signed), unsigned (extra headers sent, not signed),
---   content_sha256 (override), signature (override)
function S.v3(opts)
  local emu = opts.emu
  local method = opts.method or "GET"
  local body = ""
  local send_headers = {}
  if opts.form then
    body = S.encode_query(opts.form)
    send_headers[#send_headers + 1] = { "Content-Type", "application/x-www-form-urlencoded" }
  end
  local host = opts.host or ("127.0.0.1:" .. emu.port)
  local h = {
    host = host,
    ["x-acs-action"] = opts.action or "ResumeLiveStream",
    ["x-acs-version"] = opts.version or "2016-11-01",
    ["x-acs-date"] = opts.date or S.iso(),
    ["x-acs-signature-nonce"] = opts.nonce or S.uuid(),
    ["x-acs-content-sha256"] = opts.content_sha256 or S.sha256_hex(body),
  }
  if opts.token then h["x-acs-security-token"] = opts.token end
  for _, x in ipairs(opts.headers or {}) do h[x[1]:lower()] = x[2] end
  local names = {}
  for name in pairs(h) do names[#names + 1] = name end
  table.sort(names)
  local lines = {}
  for i, name in ipairs(names) do lines[i] = name .. ":" .. h[name] .. "\n" end
  local query_pairs = to_pairs(opts.params or {})
  local canonical = table.concat({ method, "/", sorted_encoded(query_pairs),
    table.concat(lines), table.concat(names, ";"), h["x-acs-content-sha256"] }, "\n")
  local sts = "ACS3-HMAC-SHA256\n" .. S.sha256_hex(canonical)
  local signature = opts.signature or S.hmac_sha256_hex(opts.secret or "testsecret", sts)
  local auth = ("ACS3-HMAC-SHA256 Credential=%s,SignedHeaders=%s,Signature=%s"):format(
    opts.key_id or "testid", opts.signed_headers or table.concat(names, ";"), signature)
  for _, name in ipairs(names) do
    send_headers[#send_headers + 1] = { name == "host" and "Host" or name, h[name] }
  end
  for _, x in ipairs(opts.unsigned or {}) do send_headers[#send_headers + 1] = x end
  send_headers[#send_headers + 1] = { "Authorization", auth }
  if opts.accept then send_headers[#send_headers + 1] = { "Accept", opts.accept } end
  local url = emu.url .. "/"
  local qs = S.encode_query(opts.params or {})
  if qs ~= "" then url = url .. "?" .. qs end
  local res = S.http({ method = method, url = url, headers = send_headers,
                       body = opts.form and body or nil })
  res.canonical_request, res.string_to_sign = canonical, sts
  return res
end

--- The stream parameters of Resume/Forbid.
function S.stream(domain, app, stream, extra)
  local p = { DomainName = domain, AppName = app, StreamName = stream, LiveStreamType = "publisher" }
  for k, v in pairs(extra or {}) do p[k] = v end
  return p
end

--- Text of the first <name> element of an XML body.
function S.xml_field(body, name)
  return body:match("<" .. name .. ">(.-)</" .. name .. ">")
end

--- Asserts an API error in the answer's format: status, Code, and a fresh RequestId.
function S.assert_error(res, status, code, format)
  assert(res.status == status, ("want HTTP %s %s, got %s: %s"):format(
    status, code, tostring(res.status), tostring(res.body or res.raw)))
  if format == "XML" then
    assert(res.headers["content-type"]:find("text/xml", 1, true), "not XML: " .. res.body)
    assert(res.body:find("^<%?xml version='1.0' encoding='UTF%-8'%?><Error>"), res.body)
    assert(S.xml_field(res.body, "Code") == code, res.body)
    assert(S.xml_field(res.body, "RequestId"):match("^%x+%-%x+%-%x+%-%x+%-%x+$"), res.body)
    assert(S.xml_field(res.body, "HostId") and S.xml_field(res.body, "Recommend"), res.body)
  else
    assert(res.json, "not JSON: " .. tostring(res.body))
    assert(res.json.Code == code, ("want %s, got %s"):format(code, tostring(res.json.Code)))
    assert(type(res.json.Message) == "string" and res.json.Message ~= "", "no Message")
    assert(res.json.RequestId:match("^%x+%-%x+%-%x+%-%x+%-%x+$"), "bad RequestId")
    assert(res.json.HostId and res.json.Recommend, "no HostId/Recommend")
  end
  return res
end

function S.assert_ok(res)
  assert(res.status == 200, ("want 200, got %s: %s"):format(tostring(res.status),
    tostring(res.body or res.raw)))
  return res
end

return S
