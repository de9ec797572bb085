--- `aliyun-live resume --from FILE`: every item of a file, at the quota.
--
-- Items go to client:resume_async in input order, at most `concurrency` unfinished at a
-- time, and this loop drives client:poll itself, so it knows at every moment which
-- items are done, which are in flight (handed to the client, no answer yet: sent or
-- about to be) and which were never started. SIGINT/SIGTERM (core.trap_signals) stop
-- the loop at once: nothing more is handed over or polled, the summary says what is
-- what, and the failed-items file gets every item that is not known to be resumed.
local core = require "aliyun.live.core"
local args = require "aliyun.live.cli.args"
local input = require "aliyun.live.cli.input"
local output = require "aliyun.live.cli.output"
local progress = require "aliyun.live.cli.progress"
local client_of = require "aliyun.live.cli.client"

local type, ipairs, tostring, tonumber, pcall, format, find =
  type, ipairs, tostring, tonumber, pcall, string.format, string.find
local monotonic = core.monotonic
local usage, json, display, one_line = args.usage, output.json, output.display, output.one_line

local _M = {}

local POLL = 0.1   -- seconds per poll: how soon a signal or a progress update is seen

-- Errors every other item would get too (the credentials, the clock, the limiter):
-- after the first, nothing more is started.
local ACCOUNT_LEVEL = {
  ["SDK.MissingCredentials"] = true, ["SDK.CredentialsError"] = true,
  ["SDK.LimiterUnavailable"] = true, ["InvalidAccessKeyId.NotFound"] = true,
  ["InvalidAccessKeyId.Inactive"] = true, SignatureDoesNotMatch = true,
  IncompleteSignature = true, ["InvalidTimeStamp.Expired"] = true,
  ["InvalidTimeStamp.Format"] = true,
}
local function account_level(code)
  return ACCOUNT_LEVEL[code] or find(tostring(code), "^InvalidSecurityToken") ~= nil
end

local function where(item)
  if item.domain then
    return format("line %d (%s/%s/%s)", item.line, display(item.domain), display(item.app),
      display(item.stream))
  end
  return format("line %d", item.line)
end

local ITEM_ORDER = { "line", "domain", "app", "stream", "status", "RequestId", "Code", "Message" }

local function item_json(item)
  local e = item.error
  return json(output.object(ITEM_ORDER, { line = item.line, domain = item.domain,
    app = item.app, stream = item.stream, status = item.status, RequestId = item.request_id
      or (e and e.request_id), Code = e and e.code, Message = e and e.message }))
end

--- Run the bulk resume; ctx: opts, out, err (writers); client: the client to use.
-- Returns the exit status.
function _M.run(ctx, client)
  local opts = ctx.opts
  if opts.domain or opts.app or opts.stream then
    usage("--from does not go with --domain, --app, --stream", "resume")
  end
  local mode = args.choice(opts, "progress", { "auto", "bar", "lines", "none" }, "resume") or "auto"
  local interval = args.number(opts, "progress-interval", 0.05, 86400, false, "resume")
  local concurrency = args.number(opts, "concurrency", 1, 16, true, "resume") or 16
  local failed_path = opts.failed
  if failed_path then
    local ok, werr = input.writable(failed_path)
    if not ok then usage("--failed: cannot write " .. display(werr), "resume") end
  end
  local text, rerr = input.read(opts.from)
  if not text then usage("--from: cannot read " .. display(rerr), "resume") end
  local parsed = input.parse(text)
  text = nil   -- luacheck: ignore (let it go)
  local items = parsed.items
  local total = #items
  if mode == "auto" then mode = progress.stderr_is_terminal() and "bar" or "lines" end

  core.trap_signals()
  local out, err = ctx.out, ctx.err
  local prog = progress.new { mode = mode, total = total, out = err, clock = monotonic,
    interval = interval }
  local n = { done = 0, ok = 0, failed = 0, invalid = 0 }
  local window, nexti, finished = 0, 1, {}
  local stop, abort   -- the signal; the account-level error

  local function complete(item, res, e)
    item.done = true
    if res then
      item.status, item.request_id = "resumed", res.request_id
      n.ok = n.ok + 1
    else
      item.status, item.error = "failed", e
      n.failed = n.failed + 1
      if e.code == "SDK.InvalidParameter" then n.invalid = n.invalid + 1 end
      if not abort and account_level(e.code) then abort = e end
    end
    n.done = n.done + 1
    finished[#finished + 1] = item
  end

  local function start(item)
    if item.err then
      return complete(item, nil, { code = "SDK.InvalidParameter", message = item.err })
    end
    item.sent = true
    window = window + 1
    local ok, op, e = pcall(client.resume_async, client,
      { domain = item.domain, app = item.app, stream = item.stream },
      function(res, cb_err)
        window = window - 1
        complete(item, res, cb_err)
      end)
    if not ok or not op then
      window = window - 1
      item.sent = nil
      if not ok then e = { code = "SDK.InvalidParameter", message = one_line(op) } end
      complete(item, nil, type(e) == "table" and e or { code = "SDK.Error", message = tostring(e) })
    end
  end

  local function report()
    if #finished == 0 then return end
    prog:clear()
    for _, item in ipairs(finished) do
      if item.status == "resumed" then
        if opts.json then
          out:write(item_json(item), "\n")
        else
          out:write(item.request_id, "\t", display(item.domain), "\t", display(item.app), "\t",
            display(item.stream), "\n")
        end
      else
        if opts.json then out:write(item_json(item), "\n") end
        local e = item.error
        err:write("aliyun-live: ", where(item), ": ",
          one_line(e.code and (e.code .. ": " .. tostring(e.message)) or tostring(e)),
          e.request_id and (" (RequestId " .. display(e.request_id) .. ")") or "", "\n")
      end
    end
    finished = {}
    out:flush()
  end

  -- How many items may be unfinished at once. It doubles while the window holds the
  -- run back (fewer completions per second than the limiter allows) and shrinks by one
  -- while the limiter does, so that few items wait inside the client, where an
  -- interruption would leave their outcome unknown. Without a limiter: --concurrency.
  local quota = not opts["no-limit"] and (tonumber(opts.rate) or 30) / (1 + client_of.GUARD) or nil
  local limit = quota and math.min(2, concurrency) or concurrency
  local t0 = monotonic()
  local tick, tick_done, held = t0, 0, false
  local function adapt(now)
    local dt = now - tick
    if not quota or dt < 1 then return end
    local x = (n.done - tick_done) / dt
    if held and x < 0.92 * quota and limit < concurrency then
      limit = math.min(concurrency, limit * 2)
    elseif dt < 2 then
      return
    elseif x >= 0.97 * quota and limit > 1 then
      limit = limit - 1
    end
    tick, tick_done, held = now, n.done, false
  end

  while true do
    stop = core.interrupted()
    if stop then break end
    adapt(monotonic())
    if window >= limit and nexti <= total then held = true end
    while nexti <= total and window < limit and not abort do
      start(items[nexti])
      nexti = nexti + 1
    end
    report()
    prog:update(n.done, n.failed)
    if window == 0 and (nexti > total or abort) then break end
    -- A raise from inside the client must not lose the record of what was done.
    local ok, perr = pcall(client.poll, client, POLL)
    if not ok then
      abort = abort or { code = "SDK.Error", message = one_line(perr) }
      err:write("aliyun-live: resume: SDK.Error: ", one_line(perr), "\n")
      break
    end
  end
  report()
  local elapsed = monotonic() - t0
  prog:clear()

  -- What is not known to be resumed, in input order.
  local left, in_flight, not_started = {}, 0, 0
  for _, item in ipairs(items) do
    if not item.done then
      if item.sent then
        item.status, in_flight = "in_flight", in_flight + 1
      else
        item.status, not_started = "not_started", not_started + 1
      end
      if opts.json then out:write(item_json(item), "\n") end
    end
    if item.status ~= "resumed" then left[#left + 1] = item end
  end

  local lines = {}
  local counts = format("%d resumed, %d failed%s", n.ok, n.failed,
    n.invalid > 0 and format(" (%d invalid)", n.invalid) or "")
  if in_flight > 0 then
    counts = counts .. format(", %d in flight (outcome unknown; resuming them again is harmless)",
      in_flight)
  end
  if not_started > 0 then counts = counts .. format(", %d not started", not_started) end
  if stop then
    lines[1] = format("interrupted by %s after %.1f s: %d of %d items: %s", stop, elapsed,
      n.done, total, counts)
  elseif abort then
    lines[1] = format("stopped after %.1f s: %s: %d of %d items: %s", elapsed,
      abort.code == "SDK.Error" and "an error inside the client"
        or (tostring(abort.code) .. " fails every request"), n.done, total, counts)
  else
    lines[1] = format("%d items in %.1f s (%.1f/s): %s", total, elapsed,
      elapsed > 0 and n.done / elapsed or 0, counts)
  end
  local status = stop and 130 or (n.failed > 0 or in_flight + not_started > 0) and 1 or 0
  if status == 1 and total > 0 and n.invalid == total then status = 2 end

  if failed_path then
    local ok, werr = input.write(failed_path, input.render(parsed, left))
    if ok then
      lines[#lines + 1] = format("%d item%s to do again written to %s%s", #left,
        #left == 1 and "" or "s", display(failed_path),
        #left > 0 and " (feed it back with --from)" or "")
    else
      lines[#lines + 1] = format("cannot write the failed items to %s: %s", display(failed_path),
        one_line(werr))
      if status == 0 then status = 1 end
    end
  elseif #left > 0 and (stop or abort) then
    lines[#lines + 1] = "--failed FILE would have kept the items that are not done"
  end
  if opts.json then
    out:write(json { summary = output.object({ "total", "resumed", "failed", "invalid",
      "in_flight", "not_started", "interrupted", "stopped_by", "seconds" }, { total = total,
      resumed = n.ok, failed = n.failed, invalid = n.invalid, in_flight = in_flight,
      not_started = not_started, interrupted = stop or false,
      stopped_by = abort and abort.code or nil,
      seconds = math.floor(elapsed * 1000 + 0.5) / 1000 }) }, "\n")
  end
  local wok, werr = out:flush()
  if not wok then
    lines[#lines + 1] = "cannot write to stdout (" .. one_line(werr) .. "): some RequestIds were lost"
    if status == 0 then status = 1 end
  end
  for _, l in ipairs(lines) do err:write("aliyun-live: resume: ", l, "\n") end
  return status
end

return _M
