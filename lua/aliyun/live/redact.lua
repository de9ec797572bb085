--- Keeping secrets out of everything that leaves the library.
--
-- Servers echo what they were sent: SignatureDoesNotMatch carries the server's string
-- to sign, SecurityToken included, percent-encoded once or twice, with upper- or
-- lower-case hex; a form-decoding server turns '+' into a space; some echo a token in
-- base64url or cut it after a few dozen characters. Every error (and every log line,
-- built from errors) passes through here with every secret the call involved.
local core = require "aliyun.live.core"

local type, pairs, ipairs = type, pairs, ipairs
local find, gsub, sub, upper, concat = string.find, string.gsub, string.sub, string.upper,
  table.concat
local pct = core.pct

local _M = {}

local MASK = "***"
local PREFIX = 12         -- a run of this many characters of a secret is a leak
local MAX_DEPTH = 70      -- deeper than any decoded body (the parsers stop at 64)

local forms_cache = setmetatable({}, { __mode = "k" })

local function add(list, seen, s)
  if s and s ~= "" and not seen[s] then
    seen[s] = true
    list[#list + 1] = s
  end
end

-- Every form a secret may come back in; hex escapes in upper case (the text searched is
-- normalized the same way, so any mix of cases matches).
local function forms_of(secrets)
  local list, seen = {}, {}
  for _, s in ipairs(secrets) do
    if type(s) == "string" and s ~= "" then
      local once = pct(s)
      add(list, seen, s)
      add(list, seen, once)
      add(list, seen, pct(once))
      add(list, seen, (gsub(s, "%+", " ")))                            -- form-decoded
      add(list, seen, (gsub(gsub(gsub(s, "%+", "-"), "/", "_"), "=+$", "")))   -- base64url
    end
  end
  table.sort(list, function(a, b) return #a > #b end)   -- longest first
  return list
end

--- The forms of a credentials table's secrets (cached per table).
function _M.forms(creds, extra)
  if not creds then return extra and forms_of(extra) or {} end
  local f = not extra and forms_cache[creds]
  if f then return f end
  local secrets = { creds.access_key_secret, creds.security_token }
  for _, s in ipairs(extra or {}) do secrets[#secrets + 1] = s end
  f = forms_of(secrets)
  if not extra then forms_cache[creds] = f end
  return f
end

-- %xx → %XX, so escapes match whatever case the server used; same length, same
-- positions as the original.
local function normalize(s)
  return (gsub(s, "%%(%x%x)", function(h) return "%" .. upper(h) end))
end

local function common_prefix(s, i, f)
  local n, max = 0, #f
  while n < max and sub(s, i + n, i + n) == sub(f, n + 1, n + 1) do n = n + 1 end
  return n
end

--- s with every occurrence of a secret form — or of a run of PREFIX or more of its
-- first characters — replaced by ***.
function _M.string(s, forms)
  if not forms[1] or s == "" then return s end
  for _, f in ipairs(forms) do
    local norm = normalize(s)
    local probe = sub(f, 1, PREFIX)
    local at = find(norm, probe, 1, true)
    if at then
      local out, last = {}, 1
      while at do
        local n = #probe < PREFIX and #probe or common_prefix(norm, at, f)
        -- A short secret ("b") counts only where it stands alone, or every word that
        -- holds the letter would be masked; a long one wherever a run of it appears.
        if #probe >= PREFIX or not (find(sub(norm, at - 1, at - 1), "^[%w]")
            or find(sub(norm, at + n, at + n), "^[%w]")) then
          out[#out + 1] = sub(s, last, at - 1)
          out[#out + 1] = MASK
          last = at + n
        end
        at = find(norm, probe, at + n, true)
      end
      out[#out + 1] = sub(s, last)
      s = concat(out)
    end
  end
  return s
end

local function redact_table(t, forms, depth, seen)
  if seen[t] then return end
  seen[t] = true
  local renamed
  for k, v in pairs(t) do
    if type(v) == "string" then
      t[k] = _M.string(v, forms)
    elseif type(v) == "table" and depth < MAX_DEPTH then
      redact_table(v, forms, depth + 1, seen)
    end
    if type(k) == "string" then
      local nk = _M.string(k, forms)
      if nk ~= k then
        renamed = renamed or {}
        renamed[k] = nk
      end
    end
  end
  if renamed then
    for k, nk in pairs(renamed) do
      t[nk], t[k] = t[k], nil
    end
  end
end

--- Redact every string of err (keys and values, err.data included) in place.
function _M.error(err, forms)
  if type(err) == "table" and forms[1] then redact_table(err, forms, 0, {}) end
  return err
end

_M.MASK = MASK

return _M
