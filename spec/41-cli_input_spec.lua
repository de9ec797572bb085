-- aliyun-live resume --from: the two input formats (CSV as RFC 4180 has it, JSON lines),
-- bad lines among good ones, and the failed-items file fed back.
local helpers = require "helpers"
local input = require "aliyun.live.cli.input"

local q = helpers.sh_quote
local bin = helpers.cli_bin
local tmp = os.getenv("ALIYUN_LIVE_TEST_TMP") or "/tmp"

local UNSET = helpers.cli_clean_env   -- none of the user's configuration

local function fields(item) return { item.domain, item.app, item.stream } end

describe("bulk input parsing", function()
  it("reads CSV fields as RFC 4180 quotes them", function()
    local p = input.parse('d.com,app,plain\n"d.com","a,b","say ""hi"""\n'
      .. 'd.com,app,"two\nlines"\nd.com, spaced app ,s p\nd.com,应用,流名 🎥\n')
    assert.equal("csv", p.format)
    assert.is_nil(p.header)
    assert.equal(5, #p.items)
    assert.same({ "d.com", "app", "plain" }, fields(p.items[1]))
    assert.same({ "d.com", "a,b", 'say "hi"' }, fields(p.items[2]))
    assert.same({ "d.com", "app", "two\nlines" }, fields(p.items[3]))
    assert.same({ "d.com", " spaced app ", "s p" }, fields(p.items[4]))
    assert.same({ "d.com", "应用", "流名 🎥" }, fields(p.items[5]))
    -- line numbers count physical lines; raw is the item as written
    assert.same({ 1, 2, 3, 5, 6 }, { p.items[1].line, p.items[2].line, p.items[3].line,
      p.items[4].line, p.items[5].line })
    assert.equal('"d.com","a,b","say ""hi"""', p.items[2].raw)
    assert.equal('d.com,app,"two\nlines"', p.items[3].raw)
  end)

  it("takes a header in any column order, CRLF line ends, a BOM and blank lines", function()
    local p = input.parse("\239\187\191Stream , domain,APP,note\r\n\r\ns1,d.com,a,x\r\n  \r\n"
      .. '"s,2",d.com,a,"y"\r\n')
    assert.equal("Stream , domain,APP,note", p.header)
    assert.equal("\r\n", p.eol)
    assert.equal(2, #p.items)
    assert.same({ "d.com", "a", "s1" }, fields(p.items[1]))
    assert.equal(3, p.items[1].line)
    assert.same({ "d.com", "a", "s,2" }, fields(p.items[2]))
    assert.equal(5, p.items[2].line)
    assert.equal("s1,d.com,a,x", p.items[1].raw)
    assert.equal('domain,app,stream\r\ns1,d.com,a,x\r\n',
      input.render({ header = "domain,app,stream", eol = "\r\n" }, { p.items[1] }))
    assert.equal("", input.render(p, {}))
  end)

  it("one bad line never swallows the next ones", function()
    local p = input.parse(table.concat({
      "d.com,a,s1",
      "d.com,a",                      -- 2 fields
      'd.com,a,"never closed',        -- the quote runs to the end of the text
      "d.com,a,s4",
      'd.com,a,"s5"x',                -- text after the closing quote
      'd.com,a,s"6',                  -- a quote inside an unquoted field
      "d.com,a,s7,",                  -- 4 fields
      "d.com,a,s8",
    }, "\n"))
    local lines, errs = {}, {}
    for _, item in ipairs(p.items) do
      lines[#lines + 1] = item.line
      errs[#errs + 1] = item.err or "ok"
    end
    assert.same({ 1, 2, 3, 4, 5, 6, 7, 8 }, lines)
    assert.equal("ok", errs[1])
    assert.matches("2 fields where 3", errs[2])
    assert.matches("not closed", errs[3])
    assert.equal("ok", errs[4])
    assert.matches("after a closing quote", errs[5])
    assert.matches("quote inside", errs[6])
    assert.matches("4 fields", errs[7])
    assert.equal("ok", errs[8])
    assert.equal('d.com,a,"never closed', p.items[3].raw)
  end)

  it("reads JSON lines, told apart by the first character", function()
    local p = input.parse(' {"domain":"d.com","app":"a","stream":"j\\u00e9","note":1}\n'
      .. '{"domain":"d.com","app":"a"}\n{"domain":"d.com","app":"a","stream":7}\n'
      .. 'd.com,a,s\n["d.com","a","s"]\n\n{"stream":"s,\\"q\\"","app":"a","domain":"d.com"}\r\n'
      .. '{"domain":"d.com","app":"a","stream":{"deep":[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]}}\n')
    assert.equal("jsonl", p.format)
    assert.equal(7, #p.items)
    assert.same({ "d.com", "a", "jé" }, fields(p.items[1]))
    assert.matches('"stream" is missing', p.items[2].err)
    assert.matches('"stream" must be a string', p.items[3].err)
    assert.matches("not JSON", p.items[4].err)
    assert.matches("not a JSON object", p.items[5].err)
    assert.same({ "d.com", "a", 's,"q"' }, fields(p.items[6]))
    assert.equal(7, p.items[6].line)
    assert.equal('{"stream":"s,\\"q\\"","app":"a","domain":"d.com"}', p.items[6].raw)
    assert.truthy(p.items[7].err)
  end)
end)

describe("aliyun-live resume --from", function()
  local emu, dir

  lazy_setup(function()
    emu = helpers.emulator("--qps 100000")
    dir = helpers.run("mktemp -d " .. q(tmp .. "/cli-input-XXXXXX")):match("^(%S+)")
  end)
  lazy_teardown(function()
    emu:stop()
    os.execute("rm -rf " .. q(dir))
  end)
  before_each(function() helpers.reset(emu) end)

  local function write(name, text)
    local f = assert(io.open(dir .. "/" .. name, "wb"))
    f:write(text)
    f:close()
    return dir .. "/" .. name
  end

  local function run(args, stdin)
    local r = helpers.run(("cd %s && %s HOME=%s ALIYUN_LIVE_LIMITER=local ALIBABA_CLOUD_ACCESS_KEY_ID=testid "
      .. "ALIBABA_CLOUD_ACCESS_KEY_SECRET=testsecret %s %s %s --endpoint %s --progress none "
      .. ">out 2>err <%s; echo rc=$?"):format(q(dir), UNSET, q(dir), helpers.lua, bin, args,
      emu.url, stdin or "/dev/null"))
    return helpers.read_file(dir .. "/out"), helpers.read_file(dir .. "/err"),
      tonumber(r:match("rc=(%d+)"))
  end

  -- StreamName → count of OK answers, from the emulator's request log.
  local function resumed()
    local seen = {}
    for _, r in ipairs(helpers.last_requests(emu, 1000)) do
      if r.action == "ResumeLiveStream" and r.code == "OK" then
        local s = r.params.StreamName
        seen[s] = (seen[s] or 0) + 1
      end
    end
    return seen
  end

  it("resumes the good items around bad lines, reports each bad line, keeps them for later", function()
    local csv = table.concat({
      "domain,app,stream",
      "demo.aliyundoc.com,app,s1",
      '"demo.aliyundoc.com","app, with comma","say ""hi"""',
      "demo.aliyundoc.com,app",
      "bad domain,app,s4",
      "demo.aliyundoc.com,应用,流 🎥",
      'demo.aliyundoc.com,app,"open',
      "demo.aliyundoc.com,app,s8",
    }, "\n") .. "\n"
    write("in.csv", csv)
    local out, err, status = run("resume --from in.csv --failed failed.csv")
    assert.equal(1, status, err)   -- some items failed
    local ok_lines = {}
    for l in out:gmatch("[^\n]+") do ok_lines[#ok_lines + 1] = l end
    assert.equal(4, #ok_lines)
    assert.matches("^%x+%-%x+%-%x+%-%x+%-%x+\tdemo%.aliyundoc%.com\tapp\ts1$", ok_lines[1])
    assert.matches("^line 4: SDK%.InvalidParameter: 2 fields", err:match("aliyun%-live: (line 4:[^\n]*)"))
    assert.matches("^line 5 %(bad domain/app/s4%): SDK%.InvalidParameter: 'domain'",
      err:match("aliyun%-live: (line 5 [^\n]*)"))
    assert.matches("^line 7: SDK%.InvalidParameter: a quoted field is not closed",
      err:match("aliyun%-live: (line 7:[^\n]*)"))
    assert.matches("aliyun%-live: resume: 7 items in [%d.]+ s %([%d.]+/s%): 4 resumed, 3 failed %(3 invalid%)\n", err)
    assert.matches("3 items to do again written to failed%.csv", err)
    local seen = resumed()
    assert.same({ s1 = 1, ['say "hi"'] = 1, ["流 🎥"] = 1, s8 = 1 }, seen)
    -- the failed file: the header and the bad lines, as they were written
    assert.equal('domain,app,stream\ndemo.aliyundoc.com,app\nbad domain,app,s4\n'
      .. 'demo.aliyundoc.com,app,"open\n', helpers.read_file(dir .. "/failed.csv"))

    -- fixed by hand, the file goes back in and finishes the job
    write("failed.csv", 'domain,app,stream\ndemo.aliyundoc.com,app,s3\ngood.com,app,s4\n'
      .. 'demo.aliyundoc.com,app,"open"\n')
    out, err, status = run("resume --from failed.csv --failed failed.csv")
    assert.equal(0, status, err)
    assert.equal(3, select(2, out:gsub("\n", "")))
    assert.equal("", helpers.read_file(dir .. "/failed.csv"))
    assert.matches("0 items to do again written to failed%.csv\n", err)
  end)

  it("JSON lines from stdin, with --json output", function()
    write("in.jsonl", '{"domain":"d.com","app":"a","stream":"j1"}\n'
      .. '{"domain":"d.com","app":"a"}\n'
      .. '{"domain":"d.com","app":"a","stream":"j\\u00e9 \\"q\\""}\n')
    local out, err, status = run("resume --from - --failed f.jsonl --json", "in.jsonl")
    assert.equal(1, status, err)
    local cjson = require "cjson"
    local lines = {}
    for l in out:gmatch("[^\n]+") do lines[#lines + 1] = cjson.decode(l) end
    assert.equal(4, #lines)
    local by_line = {}
    for i = 1, 3 do by_line[lines[i].line] = lines[i] end
    assert.equal("resumed", by_line[1].status)
    assert.matches("^%x+%-", by_line[1].RequestId)
    assert.equal("failed", by_line[2].status)
    assert.equal("SDK.InvalidParameter", by_line[2].Code)
    assert.equal('jé "q"', by_line[3].stream)
    assert.same({ total = 3, resumed = 2, failed = 1, invalid = 1, in_flight = 0,
      not_started = 0, interrupted = false }, (function()
        local s = lines[4].summary
        s.seconds = nil
        return s
      end)())
    assert.equal('{"domain":"d.com","app":"a"}\n', helpers.read_file(dir .. "/f.jsonl"))
    assert.equal(1, resumed()['jé "q"'])
  end)

  it("input that is all invalid exits 2 and sends nothing; an empty file is nothing to do", function()
    write("bad.csv", "a,b\nc,d\n")
    local _, err, status = run("resume --from bad.csv")
    assert.equal(2, status, err)
    assert.equal(0, helpers.stats(emu).requests)
    write("empty.csv", "domain,app,stream\n\n")
    local out
    out, err, status = run("resume --from empty.csv --failed f.csv")
    assert.equal(0, status, err)
    assert.equal("", out)
    assert.matches("0 items in", err)
    assert.equal("", helpers.read_file(dir .. "/f.csv"))
  end)

  it("a hostile line cannot reach the terminal raw", function()
    write("esc.csv", "d.com,app,\27[2J\27]0;owned\7\n\27[31mred.com,a,s\n")
    local _, err, status = run("resume --from esc.csv")
    assert.equal(2, status)   -- all invalid
    assert.is_nil(err:find("\27", 1, true))
    assert.is_nil(err:find("\7", 1, true))
    assert.matches("\\x1b%[2J", err)
  end)

  it("--failed must be writable before anything is sent", function()
    write("one.csv", "d.com,a,s\n")
    local _, err, status = run("resume --from one.csv --failed /nonexistent/dir/f.csv")
    assert.equal(2, status)
    assert.matches("%-%-failed: cannot write", err)
    assert.equal(0, helpers.stats(emu).requests)
  end)
end)
