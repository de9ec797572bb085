-- Resume many streams at the quota: lua5.4 examples/resume_many.lua DOMAIN APP STREAM…
--
-- Up to 8 requests in flight, started at the limiter's pace (30/s per account by
-- default), retried when throttled; one line per stream, in the order given.
local live = require "aliyun.live"

local domain, app = arg[1], arg[2]
if not (domain and app and arg[3]) then
  io.stderr:write("usage: resume_many.lua DOMAIN APP STREAM...\n")
  os.exit(2)
end
local list = {}
for i = 3, #arg do list[#list + 1] = { domain = domain, app = app, stream = arg[i] } end

local client = live.new { endpoint = os.getenv("ALIYUN_LIVE_ENDPOINT") }
local entries, summary = client:resume_many(list, {
  concurrency = 8,
  on_progress = function(done, total) io.stderr:write(("\r%d/%d"):format(done, total)) end,
})
io.stderr:write("\n")
for i, e in ipairs(entries) do
  print(list[i].stream, e.ok and e.result.request_id or tostring(e.err))
end
os.exit(summary.failed == 0 and 0 or 1)
