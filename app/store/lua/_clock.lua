-- Prepended to every script (store/scripts.py). Decisions that compare times written by
-- different replicas (leases, claims, rate buckets, poll times, the resend cut-off) read Redis's
-- own clock, so replicas whose clocks disagree still agree. `given` is "" in production; under
-- a test's fake clock it is that clock's time (microseconds), so tests drive decisions exactly.
local function clock_us(given)
  if given ~= '' then return tonumber(given) end
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000000 + tonumber(t[2])
end

-- A whole number as the text redis.call sends: Redis 7.0 writes a Lua number it is given with
-- "%.17g", the slow way (a tenth of a create's Redis time went to it), and "%d" is cheap. For
-- a figure passed several times (a move's credits to its eight period hashes), made once.
local function whole(n) return string.format('%d', n) end
