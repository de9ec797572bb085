-- emulator/run as a process: TLS, shutdown on signals without leftovers, state
-- directory, options, keep-alive.
local S = require "support"

local RUN = S.emulator_dir .. "/run"

-- The nginx master started by a run process, and its workers.
local function nginx_pids(run_pid)
  local out = S.sh("ps -o pid=,comm= --ppid " .. run_pid)
  local master = out:match("(%d+)%s+nginx")
  if not master then return nil end
  local pids = { master }
  for pid in S.sh("ps -o pid= --ppid " .. master):gmatch("%d+") do pids[#pids + 1] = pid end
  return pids
end

local function wait_gone(pids, seconds)
  local deadline = S.now() + seconds
  repeat
    local any = false
    for _, pid in ipairs(pids) do
      if S.alive(pid) then any = true end
    end
    if not any then return true end
    S.sleep(0.05)
  until S.now() > deadline
  return false
end

local function state_dir_of(pids)
  local f = io.open("/proc/" .. pids[1] .. "/cmdline", "rb")
  local cmd = f:read("a"):gsub("%z", " ")
  f:close()
  return cmd:match("%-p (%S+)")
end

local function exists(path)
  local _, code = S.sh("test -e " .. S.q(path))
  return code == 0
end

describe("emulator/run", function()
  it("--tls serves HTTPS with a CA that curl can verify", function()
    local emu = S.start("--tls")
    finally(function() S.stop(emu) end)
    assert.matches("^https://127%.0%.0%.1:%d+$", emu.url)
    assert.is_string(emu.ca_file)
    assert.is_true(exists(emu.ca_file))
    local out, code = S.sh("curl -sS --cacert " .. S.q(emu.ca_file) .. " " .. S.q(emu.url .. "/__emulator/health"))
    assert.equal(0, code)
    assert.matches('"ok":true', out)
    out, code = S.sh("curl -sS --cacert " .. S.q(emu.ca_file) .. " " ..
      S.q("https://localhost:" .. emu.port .. "/__emulator/health") .. " 2>&1")
    assert.equal(0, code, out)
    _, code = S.sh("curl -sS " .. S.q(emu.url .. "/__emulator/health") .. " 2>/dev/null")
    assert.equal(60, code)   -- certificate problem
    -- a signed API call over TLS
    local res = S.v1({ emu = emu, params = S.stream("example.com", "app", "s"),
                       format = "JSON" })
    -- (S.http does not pass the CA; repeat through curl with it)
    assert.is_nil(res.status)
    local p = res.sent
    p.SignatureNonce = S.uuid()
    p.Signature = nil
    p.Signature = S.hmac_sha1_base64("testsecret&", S.v1_string_to_sign("GET", p))
    out = S.sh("curl -sS --cacert " .. S.q(emu.ca_file) .. " " .. S.q(emu.url .. "/?" .. S.encode_query(p)))
    assert.matches('^{"RequestId":"[%x%-]+"}$', out)
  end)

  it("stops on SIGTERM: exit 0, no nginx left, temporary directory removed", function()
    local emu = S.start("")
    local pids = assert(nginx_pids(emu.pid))
    assert.is_true(#pids >= 2)   -- master and worker
    local dir = state_dir_of(pids)
    assert.is_true(exists(dir))
    assert.equal(0, S.stop(emu, "TERM"))
    assert.is_true(wait_gone(pids, 3))
    assert.is_false(exists(dir))
  end)

  it("stops on SIGINT the same way", function()
    local emu = S.start("")
    local pids = assert(nginx_pids(emu.pid))
    assert.equal(0, S.stop(emu, "INT"))
    assert.is_true(wait_gone(pids, 3))
  end)

  it("takes nginx down with it even when killed with SIGKILL", function()
    local emu = S.start("")
    local pids = assert(nginx_pids(emu.pid))
    local dir = state_dir_of(pids)
    S.stop(emu, "KILL")
    assert.is_true(wait_gone(pids, 5))
    S.sleep(0.2)
    assert.is_false(exists(dir))
  end)

  it("keeps a given --state-dir and writes its files there", function()
    local dir = S.tmp_root .. "/state"
    local emu = S.start("--tls --state-dir " .. S.q(dir))
    assert.equal(dir .. "/ca.pem", emu.ca_file)
    assert.is_true(exists(dir .. "/nginx.conf"))
    assert.is_true(exists(dir .. "/error.log"))
    assert.equal(0, S.stop(emu))
    assert.is_true(exists(dir .. "/ca.pem"))
    assert.is_false(exists(dir .. "/nginx.pid"))
  end)

  it("fails with nginx's error log when the port is taken", function()
    local out, code = S.sh(RUN .. " --port " .. S.main.port .. " 2>&1")
    assert.are_not.equal(0, code)
    assert.matches("Address already in use", out)
    assert.is_nil(out:find("listening on", 1, true))
  end)

  it("prints help, and refuses unknown or bad options", function()
    local out, code = S.sh(RUN .. " --help")
    assert.equal(0, code)
    assert.matches("%-%-qps N", out)
    _, code = S.sh(RUN .. " --bogus 2>/dev/null")
    assert.equal(2, code)
    _, code = S.sh(RUN .. " --qps 0 2>/dev/null")
    assert.equal(2, code)
    _, code = S.sh(RUN .. " --key nocolon 2>/dev/null")
    assert.equal(2, code)
    -- numbers that would overflow or make no sense, and keys nginx could not load
    for _, bad in ipairs({ "--qps 99999999999999999999", "--qps 1000000000", "--sts-ttl 315360001",
                           "--metadata-ttl 0", "--uri-ttl 1e3", "--keepalive-timeout 86401",
                           "--throttle-status 600", "--watch-pid 0", "--port 65536",
                           "--key " .. S.q("id:sec\tret"), "--key " .. S.q("id\n:secret") }) do
      out, code = S.sh(RUN .. " " .. bad .. " 2>&1")
      assert.equal(2, code, bad)
      assert.matches("^emulator: bad ", out)
    end
  end)

  it("reuses one connection for API calls (keep-alive)", function()
    local E = S.main
    local urls = {}
    for i = 1, 2 do
      local p = S.stream("example.com", "app", "s")
      p.Action, p.Version, p.Format, p.AccessKeyId = "ResumeLiveStream", "2016-11-01", "JSON", "testid"
      p.SignatureMethod, p.SignatureVersion = "HMAC-SHA1", "1.0"
      p.SignatureNonce, p.Timestamp = S.uuid(), S.iso()
      p.Signature = S.hmac_sha1_base64("testsecret&", S.v1_string_to_sign("GET", p))
      urls[i] = S.q(E.url .. "/?" .. S.encode_query(p))
    end
    local out = S.sh("curl -sv " .. table.concat(urls, " ") .. " 2>&1")
    assert.matches("Re%-using existing connection", out)
    local _, oks = out:gsub('{"RequestId":"[%x%-]+"}', "")
    assert.equal(2, oks)
  end)
end)
