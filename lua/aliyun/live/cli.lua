--- The `aliyun-live` command (bin/aliyun-live); docs/cli.md describes it in full.
--
--   aliyun-live resume    --domain D --app A --stream S [options]
--   aliyun-live resume    --from FILE|- [--failed FILE] [options]
--   aliyun-live forbid    --domain D --app A --stream S [--resume-time T] [--oneshot]
--   aliyun-live blocklist --domain D [--page N] [--page-size N] [--all]
--   aliyun-live call      ACTION [Name=Value …]
--   aliyun-live presign   ACTION [Name=Value …]
--   aliyun-live live      ACTION --Name Value …      (the official aliyun CLI's form)
--   aliyun-live help [COMMAND] | COMMAND --help | --version
--
-- Exit status: 0 success; 1 an API or network failure (in bulk: some items failed);
-- 2 a usage error or invalid input, whoever finds it (this parser or the library);
-- 130 interrupted. Errors are one line on stderr naming the error code.
--
-- The modules under aliyun.live.cli: args (parsing), help (texts), client (options →
-- client: credentials, endpoint, limiter), commands (the single-request commands),
-- bulk (resume --from), input (CSV and JSON lines), progress, output (JSON, writes).
local live = require "aliyun.live"
local args = require "aliyun.live.cli.args"
local help = require "aliyun.live.cli.help"
local output = require "aliyun.live.cli.output"

local type, tostring, pcall, io = type, tostring, pcall, io
local gsub = string.gsub

local _M = { _VERSION = live._VERSION }

local function run(argv, out, err)
  local a = args.parse(argv)
  local cmd, opts = a.command, a.opts
  local ctx = { opts = opts, positional = a.positional, params = a.params, out = out, err = err }
  if cmd == "help" or opts.help then
    local topic = cmd == "help" and a.positional[1] or (cmd ~= "help" and cmd) or nil
    local text = help.text(topic)
    if not text then args.usage("no help on that: the commands are " .. table.concat(args.ORDER, ", ")) end
    out:write(text)
    return 0
  end
  if cmd == "version" then
    out:write(opts.json and (output.json { Version = live._VERSION } .. "\n")
      or ("aliyun-live " .. live._VERSION .. "\n"))
    return 0
  end
  local commands = require "aliyun.live.cli.commands"
  if cmd == "resume" and opts.from then
    local client, e = require("aliyun.live.cli.client").new(opts, "ResumeLiveStream", "resume")
    if not client then return commands.fail(ctx, e) end
    return require("aliyun.live.cli.bulk").run(ctx, client)
  end
  return commands[cmd](ctx)
end

-- A message raised by the library (bad input it refuses by raising), as one line
-- without the file:line where it was raised.
local function raised(e)
  local s = tostring(e)
  s = gsub(s, "^[^\n]-%.lua:%d+: ", "")
  s = gsub(s, "^aliyun%.live%.[%w_]+: ", "")
  return output.one_line(s)
end

--- main(argv [, out, errout]) → exit status. out and errout default to io.stdout and
-- io.stderr; anything with write (and flush) will do.
function _M.main(argv, out, errout)
  local o, e = output.writer(out or io.stdout), output.writer(errout or io.stderr)
  local ok, status = pcall(run, argv or {}, o, e)
  if not ok then
    local x = status
    if args.is_usage(x) then
      e:write("aliyun-live: SDK.InvalidParameter: ", output.one_line(x.message),
        x.command and (" (see 'aliyun-live help " .. x.command .. "')") or " (see 'aliyun-live help')",
        "\n")
    else
      e:write("aliyun-live: SDK.InvalidParameter: ", raised(x), "\n")
    end
    status = 2
  end
  local fok, ferr = o:flush()
  if not fok and status == 0 then
    e:write("aliyun-live: cannot write to stdout (", output.one_line(ferr), ")\n")
    status = 1
  end
  e:flush()
  return type(status) == "number" and status or 1
end

return _M
