-- Against the official Node.js SDK (@alicloud/openapi-client, installed by bench/run with
-- npm into a temporary prefix, NODE_PATH) on the same fixed-body server (FIXED_URL): the
-- same sequential ResumeLiveStream calls, POST, signed the same way, rounds alternating
-- between our client and bench/node_sdk.js. vs_node_sdk: our calls/s over the SDK's with
-- signature v1 (our default; the SDK's RPC path), vs_node_sdk_v3 with ACS3-HMAC-SHA256
-- (the SDK's default); each the median of the rounds' ratios.
local live = require "aliyun.live"
local core = require "aliyun.live.core"

local fixed = assert(os.getenv("FIXED_URL"))
local ROUNDS = tonumber(os.getenv("BENCH_ROUNDS") or "7")
local N_NODE = tonumber(os.getenv("BENCH_NODE_CALLS") or "2000")
local N = tonumber(os.getenv("BENCH_CALLS") or "4000")
local script = (os.getenv("ALIYUN_LIVE_ROOT") or ".") .. "/bench/node_sdk.js"
local function out(name, value, fmt)
  print(("%s: " .. (fmt or "%.0f")):format(name, value))
end

local stats = require "stats"
local median = stats.median

local function node_rate(sig)
  local p = assert(io.popen(("node '%s' %d %s 2>&1"):format(script, N_NODE, sig)))
  local text = p:read("*a")
  p:close()
  return (assert(tonumber(text:match("calls_per_second: (%d+)")), "node_sdk.js: " .. text))
end

local stream = { domain = "demo.aliyundoc.com", app = "liveApp", stream = "room42" }
for _, sig in ipairs { "v1", "v3" } do
  local c = live.new { access_key_id = "testid", access_key_secret = "testsecret",
                       endpoint = fixed, limiter = false, retry = false, signature = sig }
  for _ = 1, 1000 do assert(c:resume(stream)) end
  local ours, theirs, ratios = {}, {}, {}
  for r = 1, ROUNDS do
    local t0 = core.monotonic()
    for _ = 1, N do assert(c:resume(stream)) end
    ours[r] = N / (core.monotonic() - t0)
    theirs[r] = node_rate(sig)
    ratios[r] = ours[r] / theirs[r]
  end
  c:close()
  local name = sig == "v1" and "vs_node_sdk" or "vs_node_sdk_v3"
  out(name .. "_resume_per_second", median(ours))
  out(name .. "_node_per_second", median(theirs))
  out(name, median(ratios), "%.2f")
  table.sort(ratios)   -- how noisy: the middle half of the rounds
  print(("%s_q1_q3: %.2f..%.2f"):format(name, stats.quartiles(ratios)))
end
