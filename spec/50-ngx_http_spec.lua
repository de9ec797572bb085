-- aliyun.live.ngx.http, the cosocket HTTP client, run inside a real nginx (spec/nginx.lua)
-- against the emulator (plain and TLS), the fault server (spec/c/faultserver.c) and a
-- raw responder in the same nginx that writes whatever bytes a case needs.
local helpers = require "helpers"
local nginx = require "nginx"
local cjson = require "cjson.safe"
local core = require "aliyun.live.core"

local BUILD = os.getenv("BUILD") or "build/lua5.4"
local FAULTSERVER = ("%s/%s/spec/faultserver"):format(helpers.root, BUILD)
local SLACK = 2            -- what a loaded machine may add to a timing

-- POST /fetch {requests = {opts…}}: each runs http.request in turn (one handler, so one
-- worker and its connection pool); the answer lists {status, headers, body} or {kind,
-- message, answered} or {raised}, with elapsed seconds and the worker's pid.
local LOCATIONS = [[
location = /fetch { content_by_lua_block {
  local cjson = require "cjson.safe"
  local http = require "aliyun.live.ngx.http"
  ngx.req.read_body()
  local req = cjson.decode(ngx.req.get_body_data() or "") or {}
  local out = {}
  for i, opts in ipairs(req.requests or { req }) do
    for k, v in pairs(opts) do if v == cjson.null then opts[k] = nil end end
    ngx.update_time()
    local t0 = ngx.now()
    local ok, a, b, c, d = pcall(http.request, opts)
    ngx.update_time()
    local r = { elapsed = ngx.now() - t0, pid = ngx.worker.pid() }
    if not ok then r.raised = tostring(a)
    elseif a then r.status, r.headers, r.body = a, b, c
    else r.kind, r.message, r.answered = b, c, d end
    out[i] = r
  end
  ngx.say(cjson.encode(req.requests and out or out[1]))
} }
location = /echo { content_by_lua_block {
  ngx.req.read_body()
  ngx.say(require("cjson").encode({ method = ngx.req.get_method(), uri = ngx.var.request_uri,
    headers = ngx.req.get_headers(), body = ngx.req.get_body_data() or "" }))
} }
location = /paths { content_by_lua_block { ngx.say(package.path, "\n", package.cpath) } }
location = /untrusted { content_by_lua_block {
  ngx.req.read_body()
  local opts = require("cjson").decode(ngx.req.get_body_data())
  local _, kind, msg = require("aliyun.live.ngx.http").request(opts)
  ngx.say(kind, " ", msg)
} lua_ssl_trusted_certificate /etc/ssl/certs/ca-certificates.crt; }
location = /phases {
  set_by_lua_block $in_set { local ok, p = require("aliyun.live.ngx.http").available() return tostring(ok) .. " " .. tostring(p) }
  header_filter_by_lua_block { local ok, p = require("aliyun.live.ngx.http").available() ngx.header["X-Filter"] = tostring(ok) .. " " .. tostring(p) }
  content_by_lua_block {
    local http = require "aliyun.live.ngx.http"
    local _, kind, msg = http.request { host = "127.0.0.1", port = 9 }
    ngx.say(require("cjson").encode({ set = ngx.var.in_set, content = { http.available() },
      init_worker = ngx.shared.t:get("init_worker"), log = ngx.shared.t:get("log") }))
  }
  log_by_lua_block { local http = require "aliyun.live.ngx.http"
    local _, kind, msg = http.request { host = "127.0.0.1", port = 9 }
    ngx.shared.t:set("log", kind .. " " .. msg) }
}
# Raw answers, on a connection it keeps open for more requests (each may name another
# case), so reuse is visible: X-Conn: <nginx connection number>/<request on it>.
location ^~ /raw/ { content_by_lua_block { require("nginx").raw_server() } }
]]

local HTTP = [[
init_worker_by_lua_block {
  local http = require "aliyun.live.ngx.http"
  local ok, phase = http.available()
  local _, kind, msg = http.request { host = "127.0.0.1", port = 9 }
  ngx.shared.t:set("init_worker", tostring(ok) .. " " .. tostring(phase) .. " | " .. kind .. " " .. msg)
}
]]

describe("aliyun.live.ngx.http", function()
  it("loads outside nginx and says cosockets are missing", function()
    local http = require "aliyun.live.ngx.http"
    assert.same({ false, "none" }, { http.available() })
    local s, kind, msg, answered = http.request { host = "127.0.0.1", port = 9 }
    assert.is_nil(s)
    assert.equal("other", kind)
    assert.matches("not running inside nginx", msg)
    assert.is_false(answered)
  end)

  it("raises on wrong option types", function()
    local http = require "aliyun.live.ngx.http"
    for _, opts in ipairs { {}, { host = 1 }, { host = "h", scheme = "ftp" }, { host = "h", port = 0 },
        { host = "h", port = 1.5 }, { host = "h", read_timeout = -1 }, { host = "h", deadline = 0 },
        { host = "h", deadline = 0 / 0 }, { host = "h", verify = "yes" }, { host = "h", headers = "x" },
        { host = "h", keepalive = true }, { host = "h", keepalive = { pool_size = 0 } },
        { host = "h", max_body = "1" }, { host = "h", body = {} }, { host = "h", timeout = 1 } } do
      assert.has_error(function() http.request(opts) end)
    end
    assert.has_error(function() http.request("http://x") end, "aliyun.live.ngx.http.request: expects a table of options")
    assert.has_error(function() http.request { host = "h", ca_file = "/x.pem" } end,
      "aliyun.live.ngx.http.request: 'ca_file' cannot be honoured by cosockets: nginx verifies against the "
      .. "CAs of its lua_ssl_trusted_certificate directive")
  end)
end)

describe("aliyun.live.ngx.http inside nginx", function()
  local emu, tls, faults, srv

  lazy_setup(function()
    emu = helpers.emulator("--qps 1000")
    tls = helpers.emulator("--tls --qps 1000")
    local f = io.open(FAULTSERVER, "rb")
    assert(f, FAULTSERVER .. " is missing: run `make test-bins`")
    f:close()
    faults = helpers.spawn(FAULTSERVER .. " --port 0", "listening on (http://[%d%.]+:%d+)")
    faults.port = tonumber(faults.match:match(":(%d+)$"))
    srv = nginx.start { locations = LOCATIONS, http = HTTP, shared_dicts = { t = "1m" },
                        trusted_certificate = tls.ca_file }
  end)
  lazy_teardown(function()
    for _, h in ipairs { srv, faults, tls, emu } do h:stop() end
  end)

  local function fetch(opts)
    local status, res = srv:post_json("/fetch", opts)
    assert.equal(200, status, tostring(res) .. srv:error_log():sub(-2000))
    assert.is_table(res, tostring(res))
    return res
  end

  local function set_fault(name)
    assert.equal(200, (helpers.curl(helpers.sh_quote(faults.match .. "/__fault/" .. name))))
  end

  local function fault_stats()
    local _, body = helpers.curl(helpers.sh_quote(faults.match .. "/__stats"))
    return assert(cjson.decode(body))
  end

  local function signed_path(e, extra)
    local live = require "aliyun.live"
    local c = live.new { access_key_id = "testid", access_key_secret = "testsecret", endpoint = e.url,
                         limiter = false }
    local p = c:presign("ResumeLiveStream", { DomainName = "demo.aliyundoc.com", AppName = "liveApp",
      StreamName = "room" .. math.random(1e6), LiveStreamType = "publisher" }, { method = "GET" })
    c:close()
    return assert(p.url:match("^https?://[^/]+(/.*)$")), extra
  end

  describe("against the emulator", function()
    it("GETs a control endpoint: status, lower-case headers, body", function()
      local r = fetch { host = "127.0.0.1", port = emu.port, path = "/__emulator/stats" }
      assert.equal(200, r.status, r.message)
      assert.matches("^application/json", r.headers["content-type"])
      assert.is_nil(r.headers["Content-Type"])
      assert.is_number(cjson.decode(r.body).requests)
    end)

    it("sends a signed request the emulator accepts", function()
      local r = fetch { host = "127.0.0.1", port = emu.port, path = signed_path(emu) }
      assert.equal(200, r.status, r.body or r.message)
      assert.is_string(cjson.decode(r.body).RequestId)
    end)

    it("HTTPS with verification: SNI and the name checked against the trusted CA", function()
      local r = fetch { scheme = "https", host = "127.0.0.1", port = tls.port, server_name = "localhost",
                        path = signed_path(tls) }
      assert.equal(200, r.status, r.message)
      assert.is_string(cjson.decode(r.body).RequestId)
    end)

    it("a wrong name → tls, and an IP host names the fix", function()
      local r = fetch { scheme = "https", host = "127.0.0.1", port = tls.port, server_name = "wrong.example" }
      assert.equal("tls", r.kind, r.message)
      assert.is_false(r.answered)
      assert.matches("host mismatch", r.message)
      r = fetch { scheme = "https", host = "127.0.0.1", port = tls.port }
      assert.equal("tls", r.kind, r.message)
      assert.matches("set server_name", r.message)
      -- The lua-resty-core path that raises instead of answering is caught too.
      for _ = 1, 5 do
        assert.equal("tls", fetch({ scheme = "https", host = "127.0.0.1", port = tls.port,
                                    server_name = "wrong.example" }).kind)
      end
    end)

    it("an untrusted CA → tls", function()
      -- Its own pool: a connection verified elsewhere is not handshaken again.
      local status, body = srv:post_json("/untrusted", { scheme = "https", host = "127.0.0.1", port = tls.port,
        server_name = "localhost", pool = "untrusted" })
      assert.equal(200, status, srv:error_log():gsub("[^\n]*%[info%][^\n]*\n", ""))
      assert.matches("^tls TLS handshake with https://127.0.0.1:%d+ failed: .*certificate", body)
    end)

    it("verify = false is honoured", function()
      local r = fetch { scheme = "https", host = "127.0.0.1", port = tls.port, server_name = "wrong.example",
                        verify = false, path = "/__emulator/stats" }
      assert.equal(200, r.status, r.message)
    end)

    it("plain HTTP to the TLS port fails without hanging", function()
      local r = fetch { host = "127.0.0.1", port = tls.port, path = "/", read_timeout = 2 }
      assert.is_true(r.status == 400 or r.kind ~= nil)
      assert.is_true(r.elapsed < 2 + SLACK)
    end)
  end)

  describe("requests it builds", function()
    it("headers as a list or a map, Host and Content-Length added", function()
      local r = fetch { host = "127.0.0.1", port = srv.port, method = "POST", path = "/echo?a=1&b=%20",
        headers = { { "Content-Type", "application/x-www-form-urlencoded" }, { "X-Acs-Thing", 42 } },
        body = "x=1&y=2" }
      local e = cjson.decode(r.body)
      assert.equal("POST", e.method)
      assert.equal("/echo?a=1&b=%20", e.uri)
      assert.equal("x=1&y=2", e.body)
      assert.equal("127.0.0.1:" .. srv.port, e.headers.host)
      assert.equal("7", e.headers["content-length"])
      assert.equal("42", e.headers["x-acs-thing"])
      r = fetch { host = "127.0.0.1", port = srv.port, path = "/echo", headers = { Host = "example.com",
        ["X-Map"] = "v" } }
      e = cjson.decode(r.body)
      assert.equal("GET", e.method)
      assert.equal("example.com", e.headers.host)
      assert.equal("v", e.headers["x-map"])
      assert.is_nil(e.headers["content-length"])
    end)

    it("refuses CR/LF in a header value before sending anything", function()
      set_fault("ok")
      for _, v in ipairs { "a\r\nX-Injected: 1", "a\nb", "a\rb", "a\0b" } do
        local r = fetch { host = "127.0.0.1", port = faults.port, headers = { { "X-Bad", v } } }
        assert.equal("other", r.kind)
        assert.matches("header X%-Bad holds CR, LF or NUL", r.message)
        assert.is_false(r.answered)
      end
      for _, o in ipairs { { path = "/a b" }, { path = "nope" }, { path = "/\r\n" }, { method = "GE T" },
          { headers = { { "Bad Name", "v" } } }, { host = "a/b" }, { body = "x", headers = { ["Content-Length"] = "5" } },
          { headers = { ["Transfer-Encoding"] = "chunked" } } } do
        o.host = o.host or "127.0.0.1"
        o.port = faults.port
        local r = fetch(o)
        assert.equal("other", r.kind, cjson.encode(o))
      end
      assert.equal(0, fault_stats().requests)
      local r = fetch { host = "127.0.0.1", port = faults.port, headers = { { "X-Bad", {} } } }
      assert.matches("must be a string or a number", r.raised)
    end)
  end)

  describe("against the fault server: the libcurl transport's kinds", function()
    -- kind and answered as src/transport/http.c reports them for the same fault.
    local CASES = {
      { fault = "reset",        kind = "recv",    answered = false },
      { fault = "reset-body",   kind = "recv",    answered = true },
      { fault = "hang",         kind = "timeout", answered = false, slow = true },
      { fault = "trickle",      kind = "timeout", answered = true, slow = true },
      { fault = "short",        kind = "partial", answered = true },
      { fault = "huge",         kind = "too_big", answered = true },
      { fault = "huge-chunked", kind = "too_big", answered = true },
    }
    for _, case in ipairs(CASES) do
      it(case.fault .. " → " .. case.kind, function()
        set_fault(case.fault)
        -- As the libcurl specs configure it: 1 s for the whole exchange.
        local r = fetch { host = "127.0.0.1", port = faults.port, path = "/?Format=JSON", deadline = 1,
                          connect_timeout = 1 }
        assert.equal(case.kind, r.kind, r.message or r.status)
        assert.equal(case.answered, r.answered)
        assert.matches("^" .. case.kind .. " from http://127%.0%.0%.1:%d+: ", r.message)
        assert.is_nil(r.message:find("Format", 1, true))         -- never the path or query
        assert.is_true(r.elapsed < 1 + SLACK, ("took %.2f s"):format(r.elapsed))
        if case.slow then assert.is_true(r.elapsed >= 0.9, ("took %.2f s"):format(r.elapsed)) end
        set_fault("ok")
        assert.equal(200, fetch({ host = "127.0.0.1", port = faults.port }).status)
      end)
    end

    it("a complete error answer is an answer (html502), on the same connection", function()
      set_fault("html502")
      local r = fetch { requests = { { host = "127.0.0.1", port = faults.port },
                                     { host = "127.0.0.1", port = faults.port } } }
      assert.equal(502, r[1].status)
      assert.matches("502 Bad Gateway", r[2].body)
      assert.equal(1, fault_stats().connections)
    end)

    it("connection refused → connect, nothing answered", function()
      local r = fetch { host = "127.0.0.1", port = helpers.free_port() }
      assert.equal("connect", r.kind)
      assert.is_false(r.answered)
      assert.matches("connection refused", r.message)
    end)

    it("the deadline bounds a trickling server that the read timeout never stops", function()
      set_fault("trickle")
      local r = fetch { host = "127.0.0.1", port = faults.port, read_timeout = 30, deadline = 1.5 }
      assert.equal("timeout", r.kind)
      assert.is_true(r.answered)
      assert.matches("1.5s deadline passed", r.message)
      assert.is_true(r.elapsed >= 1.45 and r.elapsed < 1.5 + SLACK, ("took %.2f s"):format(r.elapsed))
    end)

    it("keeps one connection for many answers, and a new one after a broken answer", function()
      set_fault("ok")
      local reqs = {}
      for i = 1, 10 do reqs[i] = { host = "127.0.0.1", port = faults.port, pool = "ka-spec" } end
      local r = fetch { requests = reqs }
      for i = 1, 10 do assert.equal(200, r[i].status) end
      local s = fault_stats()
      assert.equal(10, s.requests)
      assert.equal(1, s.connections)
      -- keepalive = false: the connection it used (kept or new) is closed after it.
      set_fault("ok")
      r = fetch { requests = { reqs[1], reqs[1], { host = "127.0.0.1", port = faults.port, pool = "ka-spec",
        keepalive = false }, reqs[1], reqs[1] } }
      s = fault_stats()
      for i = 1, 5 do assert.equal(200, r[i].status, cjson.encode(r[i])) end
      assert.equal(5, s.requests)
      assert.equal(2, s.connections)
    end)
  end)

  describe("framing, against raw answers", function()
    local function raw(cases, opts)
      local reqs = {}
      for i, c in ipairs(cases) do
        reqs[i] = { host = "127.0.0.1", port = srv.port, path = "/raw/" .. c, pool = "raw", read_timeout = 3 }
        for k, v in pairs(opts or {}) do reqs[i][k] = v end
      end
      return fetch { requests = reqs }
    end
    local function conn(r) return r.headers and r.headers["x-conn"] end

    it("keeps an HTTP/1.1 connection, closes after HTTP/1.0 or Connection: close", function()
      local r = raw { "ok11", "ok11", "ok10", "ok11", "close11", "ok11", "ok10ka", "ok11" }
      local id = {}
      for i, x in ipairs(r) do
        assert.equal(200, x.status, x.message)
        id[i] = conn(x):match("^(%d+)/")
      end
      assert.equal("ok", r[1].body)
      assert.equal(id[1], id[2])
      assert.equal(id[2], id[3])                    -- the 1.0 answer came on the kept one…
      assert.not_equal(id[3], id[4])                -- …which was closed after it
      assert.not_equal(id[5], id[6])
      assert.equal(id[7], id[8])                    -- 1.0 with keep-alive stays open
    end)

    it("chunked bodies with extensions and trailers; interim 1xx answers skipped", function()
      local r = raw { "chunked", "interim", "ok11", "lf" }
      assert.equal("hello world", r[1].body)
      assert.equal(200, r[2].status)
      assert.equal("ok", r[2].body)
      assert.equal(conn(r[1]):match("^%d+"), conn(r[3]):match("^%d+"))
      assert.equal("ok", r[4].body)
    end)

    it("no body for 204, 304 and HEAD, whatever Content-Length says", function()
      local r = raw { "nocontent", "notmodified", "ok11" }
      assert.equal(204, r[1].status)
      assert.equal("", r[1].body)
      assert.equal(304, r[2].status)
      assert.equal("", r[2].body)
      assert.equal(conn(r[1]):match("^%d+"), conn(r[3]):match("^%d+"))
      r = raw({ "head", "head" }, { method = "HEAD" })
      assert.equal("", r[1].body)
      assert.equal("1000", r[1].headers["content-length"])
      assert.equal(conn(r[1]):match("^%d+"), conn(r[2]):match("^%d+"))
    end)

    it("a body that ends with the connection is complete; the connection is not kept", function()
      local r = raw { "untilclose", "extra", "ok11" }
      assert.equal(200, r[1].status, r[1].message)
      assert.equal(("z"):rep(5000), r[1].body)
      assert.equal("ok", r[2].body)
      assert.not_equal(conn(r[2]):match("^%d+"), conn(r[3]):match("^%d+"))   -- extra bytes: not reused
    end)

    it("malformed answers → protocol; cut ones → partial; oversized → too_big", function()
      local cases = { badstatus = "protocol", garbage = "protocol", badchunk = "protocol",
                      twocl = "protocol", switching = "protocol", badcl = "protocol", cutchunk = "partial",
                      bighead = "too_big", cutlength = "partial", cuthead = "recv" }
      for name, kind in pairs(cases) do
        local r = raw { name }
        assert.equal(kind, r[1].kind, name .. ": " .. tostring(r[1].message or r[1].status))
        assert.is_true(r[1].answered, name)
      end
      local r = raw({ "chunked", "ok11" }, { max_body = 5 })
      assert.equal("too_big", r[1].kind)
      assert.matches("larger than 5 bytes", r[1].message)
      assert.equal("ok", r[2].body)
      r = raw({ "untilclose" }, { max_body = 4999 })
      assert.equal("too_big", r[1].kind)
    end)
  end)

  it("runs the checkout's modules and the LuaJIT build, nothing of the host Lua's", function()
    local _, body = srv:get("/paths")
    local path, cpath = body:match("^(.-)\n(.-)\n$")
    local root = helpers.run("cd " .. helpers.sh_quote(helpers.root) .. " && pwd"):match("^(.-)\n")
    assert.equal(1, path:find(root .. "/lua/?.lua;", 1, true))
    assert.equal(1, cpath:find(root .. "/build/luajit/?.so;", 1, true))
    assert.is_nil(cpath:find("5.4", 1, true))
  end)

  it("says in which phases cosockets are missing, and what to do", function()
    local _, body, head = srv:get("/phases")
    local t = assert(cjson.decode(body), body)
    assert.equal("false set", t.set)
    assert.same({ true }, t.content)
    assert.matches("X%-Filter: false header_filter", head)
    assert.matches("^false init_worker | other cosockets are not available in nginx's init_worker phase: "
      .. ".*ngx%.timer%.at", t.init_worker)
    _, body = srv:get("/phases")                    -- the log phase of the first request ran by now
    assert.matches("^other cosockets are not available in nginx's log phase", cjson.decode(body).log)
  end)

  it("keeps the worker responsive: /ping answers quickly while 50 slow requests are in flight", function()
    helpers.reset(emu)
    assert.equal(200, (helpers.fault(emu, { delay = 3, count = 50 })))
    local reqs = {}
    for i = 1, 50 do
      reqs[i] = { path = "/fetch", json = { host = "127.0.0.1", port = emu.port, path = signed_path(emu),
                                            read_timeout = 10 } }
    end
    local batch = srv:parallel(reqs, { background = true })
    local deadline = core.monotonic() + 10
    while helpers.stats(emu).requests < 50 and core.monotonic() < deadline do core.sleep(0.05) end
    assert.equal(50, helpers.stats(emu).requests, "the 50 requests did not all reach the emulator")
    local times, t_end = {}, core.monotonic() + 2
    while core.monotonic() < t_end do
      local out = helpers.run(("curl -s -o /dev/null -H 'Connection: close' -w '%%{http_code} %%{time_total}' %s")
        :format(helpers.sh_quote(srv.url .. "/ping")))
      local code, t = out:match("^(%d+) ([%d.]+)")
      assert.equal("200", code)
      times[#times + 1] = tonumber(t)
    end
    assert.equal(0, helpers.stats(emu).codes.OK or 0, "the slow requests ended before the pings")
    table.sort(times)
    local median, worst = times[math.ceil(#times / 2)], times[#times]
    print(("\n/ping under 50 slow requests: %d pings, median %.1f ms, max %.1f ms")
      :format(#times, median * 1000, worst * 1000))
    assert.is_true(#times >= 10)
    assert.is_true(worst < 0.1, ("worst /ping %.1f ms"):format(worst * 1000))
    local results, pids = batch:wait(), {}
    for i, r in ipairs(results) do
      assert.equal(200, r.status, i)
      assert.equal(200, r.json.status, r.json.message)
      assert.is_true(r.json.elapsed >= 2.9, r.json.elapsed)
      pids[r.json.pid] = true
    end
    local n = 0
    for _ in pairs(pids) do n = n + 1 end
    assert.equal(2, n, "reuseport spread the requests over both workers")
  end)
end)
