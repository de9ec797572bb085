-- Hashes, MACs and randomness for signature checking and generated identifiers.
-- HMAC-SHA1 comes from nginx itself (ngx.hmac_sha1); SHA-256, HMAC-SHA256 and random
-- bytes come from OpenSSL's libcrypto, which nginx is linked with, through the FFI.
-- Deliberately small and separate from the client library's crypto.
local ffi = require "ffi"

pcall(ffi.cdef, [[
const void *EVP_sha256(void);
unsigned char *HMAC(const void *evp_md, const void *key, int key_len,
                    const unsigned char *d, size_t n, unsigned char *md,
                    unsigned int *md_len);
unsigned char *SHA256(const unsigned char *d, size_t n, unsigned char *md);
int RAND_bytes(unsigned char *buf, int num);
]])

-- nginx's own symbols include libcrypto's; fall back to loading it by soname.
local lib = ffi.C
if not pcall(function() return lib.EVP_sha256 end) then
  lib = ffi.load("libcrypto.so.3")
end

local M = {}

local md = ffi.new("unsigned char[64]")
local md_len = ffi.new("unsigned int[1]")

local function hex(bin)
  return (bin:gsub(".", function(c) return string.format("%02x", c:byte()) end))
end
M.hex = hex

function M.sha256_hex(data)
  lib.SHA256(data, #data, md)
  return hex(ffi.string(md, 32))
end

function M.hmac_sha256_hex(key, data)
  lib.HMAC(lib.EVP_sha256(), key, #key, data, #data, md, md_len)
  return hex(ffi.string(md, md_len[0]))
end

function M.hmac_sha1_base64(key, data)
  return ngx.encode_base64(ngx.hmac_sha1(key, data))
end

function M.random_bytes(n)
  local buf = ffi.new("unsigned char[?]", n)
  if lib.RAND_bytes(buf, n) ~= 1 then error("RAND_bytes failed") end
  return ffi.string(buf, n)
end

--- A fresh upper-case UUID (version 4), the shape of the service's RequestIds.
function M.uuid()
  local b = { M.random_bytes(16):byte(1, 16) }
  b[7] = b[7] % 16 + 0x40   -- version 4
  b[9] = b[9] % 64 + 0x80   -- RFC 4122 variant
  local h = {}
  for i = 1, 16 do h[i] = string.format("%02X", b[i]) end
  local s = table.concat(h)
  return s:sub(1, 8) .. "-" .. s:sub(9, 12) .. "-" .. s:sub(13, 16) .. "-" ..
         s:sub(17, 20) .. "-" .. s:sub(21, 32)
end

--- n random characters drawn from alphabet (rejection sampling keeps it unbiased).
function M.random_string(n, alphabet)
  local out, k = {}, #alphabet
  local limit = 256 - 256 % k
  while #out < n do
    local bytes = M.random_bytes(n * 2)
    for i = 1, #bytes do
      local v = bytes:byte(i)
      if v < limit then
        local j = v % k + 1
        out[#out + 1] = alphabet:sub(j, j)
        if #out == n then break end
      end
    end
  end
  return table.concat(out)
end

function M.random_base64(nbytes)
  return ngx.encode_base64(M.random_bytes(nbytes))
end

return M
