-- aliyun.live inside real nginx (Debian's nginx-light + its Lua module, 2 workers,
-- reuseport): cosockets and ngx.sleep, never a blocked worker; the quota across workers
-- in ngx.shared; the same engine behaviour as the libcurl transport; the example of
-- examples/openresty/. Needs the LuaJIT build of the core (make test builds it).
local live = require "aliyun.live"
local core = require "aliyun.live.core"
local cjson = require "cjson.safe"
local helpers = require "helpers"
local nginx = require "nginx"
local scenarios = require "engine_scenarios"

local function have_luajit_core()
  return helpers.read_file(helpers.root .. "/build/luajit/aliyun/live/core.so") ~= nil
end

-- Runs a scenario inside nginx: the emulator's control endpoints are reached with the
-- cosocket client too.
local LOCATIONS = [[
  location = /scenario {
    content_by_lua_block {
      local live = require "aliyun.live"
      local http = require "aliyun.live.ngx.http"
      local cjson = require "cjson.safe"
      local s = require "engine_scenarios"
      local args = ngx.req.get_uri_args()
      local port = tonumber(args.emu:match(":(%d+)$"))
      local function control(method, path, json)
        return http.request { host = "127.0.0.1", port = port, method = method, path = path,
          body = json, headers = json and { ["Content-Type"] = "application/json" } or nil }
      end
      local out = s.scenarios[args.name](live, args.emu, control, args.dead)
      ngx.say(cjson.encode(out))
    }
  }
  location = /resume {
    content_by_lua_block {
      local live = require "aliyun.live"
      local cjson = require "cjson.safe"
      -- The quota in ngx.shared.aliyun_live, as the default limiter keeps it, with a
      -- 50 ms guard: here the emulator, nginx and 150 clients share two cores, and the
      -- delay between a slot and its arrival can pass the default 10 ms (a real
      -- network's jitter, not a saturated test machine's).
      CLIENT = CLIENT or live.new { access_key_id = "testid", access_key_secret = "testsecret",
        endpoint = ngx.var.arg_emu, retry = { attempts = 1 },
        limiter = live.limiter { rate = 30, store = "ngx:aliyun_live", guard = 0.05 } }
      local res, err = CLIENT:resume { domain = "load.example.com", app = "a",
        stream = ngx.var.arg_s }
      ngx.say(cjson.encode(res and { RequestId = res.request_id }
        or { Code = err.code, Message = err.message, Kind = err.kind }))
    }
  }
  location = /resume_counted {
    content_by_lua_block {
      local live = require "aliyun.live"
      local cjson = require "cjson.safe"
      -- the shared limiter, asked through a wrapper that counts its decisions
      local inner = live.limiter { rate = 30, store = "ngx:aliyun_live", guard = 0.05 }
      COUNTED = COUNTED or live.new { access_key_id = "testid", access_key_secret = "testsecret",
        endpoint = ngx.var.arg_emu, retry = { attempts = 1 },
        limiter = { reserve = function() error("not used") end,
                    try_send = function(_, key, rt)
                      ngx.shared.counts:incr("decisions", 1, 0)
                      return inner:try_send(key, rt)
                    end } }
      local res, err = COUNTED:resume { domain = "load.example.com", app = "a",
        stream = ngx.var.arg_s }
      ngx.say(cjson.encode(res and { RequestId = res.request_id } or { Code = err.code }))
    }
  }
  location = /resume_sts {
    content_by_lua_block {
      local live = require "aliyun.live"
      local cjson = require "cjson.safe"
      -- a role assumed through the client's own transport: cosockets, here
      STS_CLIENT = STS_CLIENT or live.new { endpoint = ngx.var.arg_emu, limiter = false,
        credentials = live.credentials.ram_role_arn { access_key_id = "testid",
          access_key_secret = "testsecret", role_arn = "acs:ram::1234567890:role/ops",
          sts_endpoint = ngx.var.arg_emu } }
      local res, err = STS_CLIENT:resume { domain = "sts.example.com", app = "a",
        stream = ngx.var.arg_s }
      ngx.say(cjson.encode(res and { RequestId = res.request_id } or { Code = err.code,
        Message = err.message }))
    }
  }
  location = /counts {
    content_by_lua_block { ngx.say(ngx.shared.counts:get("decisions") or 0) }
  }
  location = /in_set {
    set_by_lua_block $code {
      local live = require "aliyun.live"
      local c = live.new { access_key_id = "testid", access_key_secret = "testsecret",
        endpoint = ngx.var.arg_emu }
      local _, err = c:resume { domain = "d.com", app = "a", stream = "s" }
      return err.code .. " " .. err.message
    }
    return 200 $code;
  }
  location = /options {
    content_by_lua_block {
      local live = require "aliyun.live"
      local ok, e = pcall(live.new, { access_key_id = "a", access_key_secret = "b",
        ca_file = "/etc/ssl/certs/ca-certificates.crt" })
      ngx.say(tostring(e))
    }
  }
  location = /tls {
    content_by_lua_block {
      local live = require "aliyun.live"
      local cjson = require "cjson.safe"
      local c = live.new { access_key_id = "testid", access_key_secret = "testsecret",
        endpoint = ngx.var.arg_emu, limiter = false, retry = false,
        verify = ngx.var.arg_verify ~= "no" }
      local res, err = c:resume { domain = "d.com", app = "a", stream = "s" }
      ngx.say(cjson.encode(res and { ok = true } or { code = err.code, message = err.message }))
    }
  }
]]

describe("inside nginx", function()
  if not have_luajit_core() then
    it("needs build/luajit (make LUA_VERSION=5.1 LUA_PC=luajit LUA=luajit)", function()
      error("build/luajit/aliyun/live/core.so is missing")
    end)
    return
  end

  local emu, srv, dead

  lazy_setup(function()
    emu = helpers.emulator()
    dead = "http://127.0.0.1:" .. helpers.free_port()
    srv = nginx.start { locations = LOCATIONS, shared_dicts = { aliyun_live = "1m", counts = "1m" } }
  end)
  lazy_teardown(function()
    if srv then srv:stop() end
    emu:stop()
  end)
  before_each(function() helpers.reset(emu) end)

  local function in_nginx(name)
    local status, out = srv:get(("/scenario?name=%s&emu=%s&dead=%s"):format(name, emu.url, dead))
    assert.equal(200, status, out .. srv:error_log())
    return assert(cjson.decode(out), out)
  end

  local function control(method, path, json) return helpers.control(emu, method, path, json) end

  for _, name in ipairs(scenarios.names) do
    it("behaves as with libcurl: " .. name, function()
      local here = scenarios.scenarios[name](live, emu.url, control, dead)
      helpers.reset(emu)
      local there = in_nginx(name)
      here.request_id, there.request_id = nil, nil
      assert.same(here, there)
    end)
  end

  it("keeps every worker responsive and the quota across workers, 150 slow resumes", function()
    helpers.fault(emu, { delay = 0.3, count = 150 })
    local reqs = {}
    for i = 1, 150 do reqs[i] = ("/resume?emu=%s&s=s%d"):format(emu.url, i) end
    local load = srv:parallel(reqs, { background = true, timeout = 60 })
    -- while the resumes wait on the emulator and the limiter, /ping answers at once
    local worst, pings = 0, 0
    local t_end = core.monotonic() + 3
    while core.monotonic() < t_end do
      local out = helpers.run(("curl -s -o /dev/null -w '%%{time_total}' %s"):format(
        helpers.sh_quote(srv.url .. "/ping")))
      local t = tonumber(out)
      if t then
        pings = pings + 1
        if t > worst then worst = t end
      end
    end
    local results = load.wait()
    local ok, failures = 0, {}
    for i, r in ipairs(results) do
      if r.json and r.json.RequestId then ok = ok + 1
      else failures[#failures + 1] = ("%d: %s %s"):format(i, r.status, r.body) end
    end
    assert.equal(150, ok, table.concat(failures, "; "))
    local stats = helpers.stats(emu)
    assert.is_true(stats.max_per_second["testid/ResumeLiveStream"] <= 30,
      "max_per_second " .. tostring(stats.max_per_second["testid/ResumeLiveStream"]))
    assert.is_nil(stats.codes["Throttling.User"])
    assert.is_true(pings > 20, "only " .. pings .. " pings")
    assert.is_true(worst < 0.1, ("a ping took %.3f s"):format(worst))
    print(("\n  nginx, 150 slow resumes: %d pings meanwhile, the slowest %.1f ms; at most %d "
      .. "in a second at the server"):format(pings, worst * 1000,
      stats.max_per_second["testid/ResumeLiveStream"]))
  end)

  it("assumes a role through cosockets, once per worker", function()
    local reqs = {}
    for i = 1, 6 do reqs[i] = ("/resume_sts?emu=%s&s=s%d"):format(emu.url, i) end
    local results = srv:parallel(reqs, { timeout = 30 })
    for _, r in ipairs(results) do assert.truthy(r.json and r.json.RequestId, r.body) end
    local stats = helpers.stats(emu)
    -- one AssumeRole per worker at most (each has its provider), every resume signed
    -- with the role's temporary key
    assert.is_true(stats.codes.OK >= 7 and stats.codes.OK <= 8, tostring(stats.codes.OK))
    local roles = 0
    for _, r in ipairs(helpers.last_requests(emu, 20)) do
      if r.params.Action == "AssumeRole" then roles = roles + 1
      else assert.matches("^STS%.", r.params.AccessKeyId) end
    end
    assert.is_true(roles >= 1 and roles <= 2, roles .. " AssumeRole")
  end)

  it("asks the limiter once or twice per resume sent, 90 waiting at once", function()
    local reqs = {}
    for i = 1, 90 do reqs[i] = ("/resume_counted?emu=%s&s=s%d"):format(emu.url, i) end
    local results = srv:parallel(reqs, { timeout = 60 })
    local ok = 0
    for _, r in ipairs(results) do if r.json and r.json.RequestId then ok = ok + 1 end end
    assert.equal(90, ok)
    local _, decisions = srv:get("/counts")
    decisions = tonumber(decisions)
    -- each waiting request asked at each wake-up: about 1,400 decisions for 90 sent;
    -- now a worker's line has one asking (two workers: up to two per slot and worker)
    assert.is_true(decisions <= 4 * 90, decisions .. " decisions for 90 sent")
    print(("\n  nginx, 90 resumes waiting at once: %d limiter decisions"):format(decisions))
    assert.is_true(helpers.stats(emu).max_per_second["testid/ResumeLiveStream"] <= 30)
  end)

  it("fails at once, naming the phase, where cosockets do not exist", function()
    local status, out = srv:get("/in_set?emu=" .. emu.url)
    assert.equal(200, status)
    assert.matches("^SDK%.NoCosockets .*set.*ngx%.timer%.at", out)
    assert.equal(0, helpers.stats(emu).requests)
  end)

  it("refuses ca_file, which cosockets cannot honour", function()
    local _, out = srv:get("/options")
    assert.matches("lua_ssl_trusted_certificate", out)
  end)

  it("reports TLS verification failures as SDK.TLSError, and honours verify = false", function()
    local tls = helpers.emulator("--tls")
    local _, out = srv:get("/tls?emu=" .. tls.url)
    assert.equal("SDK.TLSError", cjson.decode(out).code, out)
    _, out = srv:get("/tls?verify=no&emu=" .. tls.url)
    assert.is_true(cjson.decode(out).ok, out)
    tls:stop()
  end)

  it("names lua_shared_dict when the default limiter has nowhere to live", function()
    local bare = nginx.start { locations = [[
      location = /new { content_by_lua_block {
        local ok, e = pcall(require("aliyun.live").new, { access_key_id = "a", access_key_secret = "b" })
        ngx.say(tostring(e))
      } }
    ]] }
    local _, out = bare:get("/new")
    bare:stop()
    assert.matches("lua_shared_dict aliyun_live", out)
  end)
end)

describe("examples/openresty", function()
  it("resumes a stream over HTTP and answers JSON errors", function()
    if not have_luajit_core() then error("build/luajit/aliyun/live/core.so is missing") end
    local h = helpers.spawn(helpers.root .. "/examples/openresty/run",
      "listening on (http://[%d%.]+:%d+)", 30)
    local url = h.match
    local status, body = helpers.curl("-X POST " .. helpers.sh_quote(url
      .. "/streams/demo.aliyundoc.com/liveApp/room42/resume"))
    assert.equal(200, status, body)
    assert.matches('^{"RequestId":"[%x%-]+"}', body)
    status, body = helpers.curl("-X POST " .. helpers.sh_quote(url .. "/streams/a..b/x/y/resume"))
    assert.equal(400, status)
    assert.equal("SDK.InvalidParameter", cjson.decode(body).Code)
    status = helpers.curl(helpers.sh_quote(url .. "/streams/d.com/x/y/resume"))   -- GET
    assert.equal(403, status)
    assert.is_true(h:stop())
  end)
end)
