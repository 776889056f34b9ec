-- Prepended to every script after _money.lua (store/scripts.py): a reservation, the credits a
-- create or a task holds until it settles, defined once. store/reservations.py reads the same
-- entry in Python.
--
-- Its entry in the team's reservations hash (reservation or task id -> entry) is
-- "credits|day|week|month|created_ms|model|token|attached|key": the period stamps it counts in;
-- token is the browser token whose own credit cap the credits also count against ("" for none);
-- attached is "1" once the hold is a task's Rivya made (record.lua), counted in the periods'
-- "attached" field while it lasts (attach()); key is the team key whose books the credits are
-- in ("" for none: a hold made before keys had books, settled without them). Entries written
-- before a field existed end before it (model: "unknown").
local function reservation_of(entry)
  local parts = {}
  for part in string.gmatch(entry .. '|', '([^|]*)|') do parts[#parts + 1] = part end
  local model = parts[6]
  if model == nil or model == '' then model = 'unknown' end
  return {
    credits = tonumber(parts[1]) or 0,
    stamps = (parts[2] or '') .. '|' .. (parts[3] or '') .. '|' .. (parts[4] or ''),
    created_ms = parts[5] or '0',
    model = model,
    token = parts[7] or '',
    attached = parts[8] == '1',
    key = parts[9] or '',
  }
end

local function reservation_entry(credits, stamps, created_ms, model, token, attached, key)
  return whole(credits) .. '|' .. stamps .. '|' .. whole(created_ms) .. '|' .. model .. '|'
    .. (token or '') .. '|' .. (attached and '1' or '') .. '|' .. (key or '')
end

-- The reservation held under `id` (nil: none).
local function reservation_at(reservations, id)
  local entry = redis.call('HGET', reservations, id)
  return entry and reservation_of(entry)
end

-- The credits held by tasks Rivya made, per period (the four period hashes of `spend`): with
-- spent, what Rivya has really taken. Budget alerts count these (_alerts.lua), not holds of
-- creates Rivya may yet refuse. `held`: the reservation given up (nil: none).
local function attach(spend, credits)
  local credits_text = whole(credits)
  for i = 1, 4 do redis.call('HINCRBY', spend[i], 'attached', credits_text) end
end
local function detach(spend, held)
  if held and held.attached then attach(spend, -held.credits) end
end

-- Settle a reservation: the one way a hold leaves the books. Its entry is deleted and its credits
-- leave "reserved", `s.spent` credits (default 0: all given back) becoming spent, as one ledger
-- move named `s.event` (_money.lua). `held` is the reservation as read (reservation_at); nil
-- when none is held, and then nothing moves unless `s.always` (a task's end charged with its
-- hold already gone). The books are the four period hashes `s.periods`, the token's hash
-- `s.token_hash` when the credits count against a browser token's cap, and the key's four
-- period hashes `s.key_periods` when they are in a key's books; a task's record names its
-- token, key and model (`s.token`, `s.key`, `s.model`), else the entry does.
-- s: reservations, id, periods, token_hash, key_periods, ledger, event, task ("" if none yet),
--    spent, token, key, model, always. Returns the books moved (nil: none).
local function settle_reservation(held, s)
  redis.call('HDEL', s.reservations, s.id)
  if not held and not s.always then return nil end
  local token = s.token or (held and held.token) or ''
  local key = (held and held.key) or s.key or ''
  local spend = books(s.periods, token, s.token_hash, key, s.key_periods)
  detach(spend, held)
  move(spend, s.ledger, s.event, s.id, s.task or '', s.model or (held and held.model) or 'unknown',
    -(held and held.credits or 0), s.spent or 0)
  return spend
end
