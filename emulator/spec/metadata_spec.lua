-- The ECS instance metadata endpoints for RAM-role credentials.
local S = require "support"
local E = S.main

local PREFIX = "/latest/meta-data/ram/security-credentials/"

local function put_token(emu, ttl)
  local h = {}
  if ttl then h[1] = { "X-aliyun-ecs-metadata-token-ttl-seconds", tostring(ttl) } end
  return S.http({ method = "PUT", url = emu.url .. "/latest/api/token", headers = h })
end

local function get(emu, path, token)
  local h = {}
  if token then h[1] = { "X-aliyun-ecs-metadata-token", token } end
  return S.http({ url = emu.url .. path, headers = h })
end

describe("ECS metadata", function()
  before_each(function() S.reset(E) end)
  after_each(function() S.reset(E) end)

  it("serves the role name and working temporary credentials", function()
    local role = get(E, PREFIX)
    assert.equal(200, role.status)
    assert.equal("EcsRamRoleTest", role.body)
    local res = get(E, PREFIX .. "EcsRamRoleTest")
    assert.equal(200, res.status)
    local c = S.json.decode(res.body)
    assert.equal("Success", c.Code)
    assert.matches("^STS%.", c.AccessKeyId)
    assert.is_string(c.AccessKeySecret)
    assert.is_string(c.SecurityToken)
    assert.matches("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%dZ$", c.Expiration)
    assert.matches("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%dZ$", c.LastUpdated)
    S.assert_ok(S.v1({ emu = E, params = S.stream("example.com", "app", "s"),
      key_id = c.AccessKeyId, secret = c.AccessKeySecret, token = c.SecurityToken }))
    -- the same credentials while they are fresh
    local again = S.json.decode(get(E, PREFIX .. "EcsRamRoleTest").body)
    assert.equal(c.AccessKeyId, again.AccessKeyId)
  end)

  it("accepts a valid session token and refuses an invalid one with 401", function()
    local tok = put_token(E, 21600)
    assert.equal(200, tok.status)
    assert.is_true(#tok.body >= 20)
    assert.equal(200, get(E, PREFIX, tok.body).status)
    assert.equal(200, get(E, PREFIX .. "EcsRamRoleTest", tok.body).status)
    assert.equal(401, get(E, PREFIX, "not-a-token").status)
    assert.equal(401, get(E, PREFIX .. "EcsRamRoleTest", "not-a-token").status)
  end)

  it("validates the token lifetime header", function()
    for _, ttl in ipairs({ 0, 21601, "x" }) do
      assert.equal(400, put_token(E, ttl).status)
    end
    assert.equal(400, put_token(E, nil).status)
    assert.equal(200, put_token(E, 1).status)
  end)

  it("lets a token expire, by the server clock", function()
    local t0 = os.time()
    S.freeze(E, t0)
    local tok = put_token(E, 1).body
    assert.equal(200, get(E, PREFIX, tok).status)
    S.freeze(E, t0 + 0.999)
    assert.equal(200, get(E, PREFIX, tok).status)
    S.freeze(E, t0 + 1)
    assert.equal(401, get(E, PREFIX, tok).status)
  end)

  it("answers 404 for an unknown role or path", function()
    assert.equal(404, get(E, PREFIX .. "OtherRole").status)
    assert.equal(404, get(E, "/latest/meta-data/instance-id").status)
  end)

  it("rotates credentials according to metadata_ttl, each living its whole ttl", function()
    S.assert_ok(S.post_json(E, "/__emulator/config", { metadata_ttl = 2 }))
    local t0 = os.time()
    S.freeze(E, t0 + 0.5)
    local a = S.json.decode(get(E, PREFIX .. "EcsRamRoleTest").body)
    assert.equal(S.iso(t0 + 2), a.Expiration)   -- t0 + 2.5, shown rounded down
    assert.equal(S.iso(t0), a.LastUpdated)
    local o = { emu = E, params = S.stream("example.com", "app", "s"), timestamp = S.iso(t0 + 2),
                key_id = a.AccessKeyId, secret = a.AccessKeySecret, token = a.SecurityToken }
    S.freeze(E, t0 + 1.25)   -- less than half the lifetime gone: the same key
    assert.equal(a.AccessKeyId, S.json.decode(get(E, PREFIX .. "EcsRamRoleTest").body).AccessKeyId)
    S.freeze(E, t0 + 2.25)   -- past half: a new key; the old one lives on until t0 + 2.5
    local b = S.json.decode(get(E, PREFIX .. "EcsRamRoleTest").body)
    assert.are_not.equal(a.AccessKeyId, b.AccessKeyId)
    S.assert_ok(S.v1(o))
    S.freeze(E, t0 + 2.5)
    S.assert_error(S.v1(o), 400, "InvalidSecurityToken.Expired", "JSON")
    S.assert_ok(S.v1({ emu = E, params = S.stream("example.com", "app", "s"), timestamp = S.iso(t0 + 2),
      key_id = b.AccessKeyId, secret = b.AccessKeySecret, token = b.SecurityToken }))
  end)
end)

describe("ECS metadata with --imds-token-required and --ecs-role", function()
  local emu
  setup(function() emu = S.start("--imds-token-required --ecs-role MyRole") end)
  teardown(function() S.stop(emu) end)

  it("requires a token", function()
    assert.equal(401, get(emu, PREFIX).status)
    local tok = put_token(emu, 60).body
    local role = get(emu, PREFIX, tok)
    assert.equal(200, role.status)
    assert.equal("MyRole", role.body)
    assert.equal(200, get(emu, PREFIX .. "MyRole", tok).status)
    assert.equal(404, get(emu, PREFIX .. "EcsRamRoleTest", tok).status)
  end)
end)
