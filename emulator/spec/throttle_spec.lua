-- Flow control at --qps per account/Action (temporary keys count for the account that
-- issued them), x-acs-retry-after, and the exact max_per_second statistic. Uses its
-- own emulator with a small limit.
local S = require "support"
local T = require "sts_support"

-- Signs n ResumeLiveStream URLs (distinct nonces) for key/secret (and STS token).
local function signed_urls(emu, n, key_id, secret, action, token)
  local out = {}
  for i = 1, n do
    local p = S.stream("example.com", "app", "s")
    p.Action = action or "ResumeLiveStream"
    p.Version = "2016-11-01"
    p.Format = "JSON"
    p.AccessKeyId = key_id or "testid"
    p.SignatureMethod = "HMAC-SHA1"
    p.SignatureVersion = "1.0"
    p.SignatureNonce = S.uuid()
    p.Timestamp = S.iso()
    p.SecurityToken = token
    if p.Action ~= "ResumeLiveStream" and p.Action ~= "ForbidLiveStream" then
      p.AppName, p.StreamName, p.LiveStreamType = nil, nil, nil
    end
    p.Signature = S.hmac_sha1_base64((secret or "testsecret") .. "&", S.v1_string_to_sign("GET", p))
    out[i] = emu.url .. "/?" .. S.encode_query(p)
  end
  return out
end

-- Sends the URLs back to back over one connection; returns { {status, retry_after} }.
local function burst(urls)
  local args = { "curl -sS --max-time 20 -w '%{http_code} %header{x-acs-retry-after}\\n'" }
  for _, u in ipairs(urls) do args[#args + 1] = "-o /dev/null " .. S.q(u) end
  local out = S.sh(table.concat(args, " "))
  local results = {}
  for status, retry in out:gmatch("(%d+) ?(%d*)\n") do
    results[#results + 1] = { status = tonumber(status), retry_after = tonumber(retry) }
  end
  assert(#results == #urls, "burst: " .. out)
  return results
end

describe("throttling", function()
  local emu
  setup(function() emu = S.start("--qps 3 --throttle-status 400 --key other:othersecret") end)
  teardown(function() S.stop(emu) end)
  before_each(function() S.reset(emu) end)

  it("admits --qps requests per second per key/action and throttles the rest", function()
    local results = burst(signed_urls(emu, 6))
    for i = 1, 3 do
      assert.equal(200, results[i].status)
      assert.is_nil(results[i].retry_after)
    end
    for i = 4, 6 do
      assert.equal(400, results[i].status)   -- --throttle-status 400
      assert.is_true(results[i].retry_after >= 1 and results[i].retry_after <= 1000)
    end
    local stats = S.get_json(emu, "/__emulator/stats")
    assert.equal(3, stats.codes.OK)
    assert.equal(3, stats.codes["Throttling.User"])
    assert.equal(6, stats.max_per_second["testid/ResumeLiveStream"])
    assert.equal(6, stats.requests)
  end)

  it("answers Throttling.User with the service's message", function()
    burst(signed_urls(emu, 3))
    local res = S.v1({ emu = emu, params = S.stream("example.com", "app", "s") })
    S.assert_error(res, 400, "Throttling.User", "JSON")
    assert.equal("Request was denied due to user flow control.", res.json.Message)
    assert.matches("^%d+$", res.headers["x-acs-retry-after"])
  end)

  it("counts each account and each Action separately", function()
    local urls = signed_urls(emu, 3)
    for _, u in ipairs(signed_urls(emu, 3, "other", "othersecret")) do urls[#urls + 1] = u end
    for _, u in ipairs(signed_urls(emu, 3, "testid", "testsecret", "DescribeLiveStreamsBlockList")) do
      urls[#urls + 1] = u
    end
    for _, r in ipairs(burst(urls)) do assert.equal(200, r.status) end
    local stats = S.get_json(emu, "/__emulator/stats")
    assert.equal(3, stats.max_per_second["testid/ResumeLiveStream"])
    assert.equal(3, stats.max_per_second["other/ResumeLiveStream"])
    assert.equal(3, stats.max_per_second["testid/DescribeLiveStreamsBlockList"])
  end)

  -- Bursts 3 URLs for each key; returns how many were admitted and throttled.
  local function shared_burst(keys)
    local urls = {}
    for _, k in ipairs(keys) do
      for _, u in ipairs(signed_urls(emu, 3, k.key_id, k.secret, nil, k.token)) do urls[#urls + 1] = u end
    end
    local ok, throttled = 0, 0
    for _, r in ipairs(burst(urls)) do
      if r.status == 200 then ok = ok + 1 elseif r.status == 400 then throttled = throttled + 1 end
    end
    return ok, throttled
  end

  local function only_key(stats, want, n)
    local keys = {}
    for k in pairs(stats.max_per_second) do
      if k:find("/ResumeLiveStream$") then keys[#keys + 1] = k end
    end
    assert.same({ want }, keys)
    assert.equal(n, stats.max_per_second[want])
  end

  it("counts STS keys against the account that assumed the role: one budget", function()
    local function assume(key_id, secret)
      local c = S.assert_ok(S.v1({ emu = emu, action = "AssumeRole", version = "2015-04-01", key_id = key_id,
        secret = secret, params = { RoleArn = "acs:ram::1:role/r", RoleSessionName = "quota" } })).json.Credentials
      return { key_id = c.AccessKeyId, secret = c.AccessKeySecret, token = c.SecurityToken }
    end
    local a, b = assume("testid", "testsecret"), assume("testid", "testsecret")
    S.reset(emu)   -- issued keys stay valid; the statistics start afresh
    local ok, throttled = shared_burst({ { key_id = "testid", secret = "testsecret" }, a, b })
    assert.equal(3, ok)
    assert.equal(6, throttled)
    only_key(S.get_json(emu, "/__emulator/stats"), "testid/ResumeLiveStream", 9)
    -- another account's STS key has its own budget
    local c = assume("other", "othersecret")
    ok = shared_burst({ c })
    assert.equal(3, ok)
  end)

  it("counts ECS-role, OIDC and credentials-URI keys against the default account", function()
    local m = S.json.decode(S.http({ url = emu.url .. "/latest/meta-data/ram/security-credentials/EcsRamRoleTest" }).body)
    local u = S.json.decode(T.uri(emu).body)
    local keys = {
      { key_id = m.AccessKeyId, secret = m.AccessKeySecret, token = m.SecurityToken },
      T.oidc_key(emu),
      { key_id = u.AccessKeyId, secret = u.AccessKeySecret, token = u.SecurityToken },
    }
    S.reset(emu)
    local ok, throttled = shared_burst(keys)
    assert.equal(3, ok)
    assert.equal(6, throttled)
    only_key(S.get_json(emu, "/__emulator/stats"), "testid/ResumeLiveStream", 9)
  end)

  it("throttles AssumeRoleWithOIDC on the default account", function()
    local urls = {}
    for i = 1, 4 do
      urls[i] = emu.url .. "/?" .. S.encode_query({ Action = "AssumeRoleWithOIDC", Version = "2015-04-01",
        Format = "JSON", Timestamp = S.iso(), RoleArn = T.ROLE, OIDCProviderArn = T.PROVIDER,
        OIDCToken = T.jwt(T.claims()), RoleSessionName = "quota" })
    end
    local results = burst(urls)
    for i = 1, 3 do assert.equal(200, results[i].status) end
    assert.equal(400, results[4].status)
    assert.is_true(results[4].retry_after >= 1)
    assert.equal(4, S.get_json(emu, "/__emulator/stats").max_per_second["testid/AssumeRoleWithOIDC"])
  end)

  it("frees a slot after x-acs-retry-after; throttled requests take no quota", function()
    local results = burst(signed_urls(emu, 6))
    local wait = results[6].retry_after
    S.sleep(wait / 1000 + 0.05)
    -- if the 3 throttled requests had been counted, these would be throttled too
    for _, r in ipairs(burst(signed_urls(emu, 3))) do assert.equal(200, r.status) end
  end)

  it("measures max_per_second over sliding one-second windows, exactly", function()
    local first = signed_urls(emu, 2)
    local second = signed_urls(emu, 2)
    burst(first)
    S.sleep(1.1)
    burst(second)
    local stats = S.get_json(emu, "/__emulator/stats")
    assert.equal(2, stats.max_per_second["testid/ResumeLiveStream"])
    assert.equal(4, stats.codes.OK)
  end)

  it("counts requests in max_per_second whatever their outcome", function()
    local urls = signed_urls(emu, 2, "testid", "wrongsecret")
    burst(urls)
    local stats = S.get_json(emu, "/__emulator/stats")
    assert.equal(2, stats.max_per_second["testid/ResumeLiveStream"])
    assert.equal(2, stats.codes.SignatureDoesNotMatch)
  end)

  it("takes a new limit and status from /__emulator/config", function()
    S.assert_ok(S.post_json(emu, "/__emulator/config", { qps = 1, throttle_status = 429 }))
    local results = burst(signed_urls(emu, 2))
    assert.equal(200, results[1].status)
    assert.equal(429, results[2].status)
    S.reset(emu)   -- back to --qps 3 --throttle-status 400
    local cfg = S.get_json(emu, "/__emulator/config")
    assert.equal(3, cfg.qps)
    assert.equal(400, cfg.throttle_status)
  end)

  it("defaults to 30 per second and HTTP 429 on the shared emulator", function()
    local E = S.main
    S.reset(E)
    local cfg = S.get_json(E, "/__emulator/config")
    assert.equal(30, cfg.qps)
    assert.equal(429, cfg.throttle_status)
    local results = burst(signed_urls(E, 32))
    local ok, throttled = 0, 0
    for _, r in ipairs(results) do
      if r.status == 200 then ok = ok + 1 elseif r.status == 429 then throttled = throttled + 1 end
    end
    -- signing 32 URLs takes time, but the burst itself is far below one second
    assert.equal(30, ok)
    assert.equal(2, throttled)
    S.reset(E)
  end)
end)
