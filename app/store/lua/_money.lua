-- Prepended to every script after _rate.lua (store/scripts.py, which also defines
-- LEDGER_MAX_ENTRIES and TOKEN_CREDITS_TTL). Every change to a team's spent or reserved credits
-- goes through move(): the period hashes, the per-model figures and the append-only ledger
-- change together, inside the script that decides the change, so they can never disagree and
-- the ledger costs no round trip.

-- The hashes a move changes: the four period hashes (a table: day, week, month, total), the
-- token's own credits hash when the credits count against a browser token's cap (token ~= ""),
-- and the four period hashes of the key they count against (key ~= ""): its books close as the
-- team's do, and its budget, if it has one, is checked against them (admit.lua).
local function books(periods, token, token_hash, key, key_periods)
  local hashes = {periods[1], periods[2], periods[3], periods[4]}
  if token and token ~= '' then
    hashes[#hashes + 1] = token_hash
    redis.call('EXPIRE', token_hash, TOKEN_CREDITS_TTL)
  end
  if key and key ~= '' then
    for i = 1, 4 do hashes[#hashes + 1] = key_periods[i] end
  end
  return hashes
end

-- spend: the four period hashes (day, week, month, total), in that order, then the token's and
--        the key's (books()).
-- event:  reserve, release, settle, adjust, reclaim, abandon, give_up, correct, orphan,
--         unreserved (a task recorded with no live reservation: an anomaly) or unpriced (a task
--         Rivya ended without a valid final_credits, charged what it held: an anomaly).
-- ref:    the reservation or task id the money belongs to; task: the task id, "" if none yet.
-- reserved, spent: the changes, in credits.
-- The total hash also keeps monotonic sums per model for Prometheus counters. Each move's net
-- (reserved + spent) either brings credits onto the team's books (sum:reserved: a hold, or a
-- charge beyond any hold) or takes them off unspent (sum:released: a hold given back, a charge
-- refunded); so reserved - released = what the team holds and has spent now. Charges and
-- charges taken back are sum:settled and sum:refunded (settled - refunded = spent).
-- Moves that mean the books may not match Rivya's (store/ledger.py's SUSPECT_EVENTS).
local SUSPECT_EVENTS = {unreserved = true, abandon = true, give_up = true, correct = true,
  reclaim = true, orphan = true, unpriced = true}
local SUSPECTS_MAX_ENTRIES = 10000

local function move(spend, ledger, event, ref, task, model, reserved, spent)
  local reserved_text, spent_text = whole(reserved), whole(spent)
  for _, key in ipairs(spend) do
    if reserved ~= 0 then redis.call('HINCRBY', key, 'reserved', reserved_text) end
    if spent ~= 0 then
      redis.call('HINCRBY', key, 'spent', spent_text)
      redis.call('HINCRBY', key, 'spent:' .. model, spent_text)
    end
  end
  local total, net = spend[4], reserved + spent
  if net > 0 then redis.call('HINCRBY', total, 'sum:reserved:' .. model, whole(net)) end
  if net < 0 then redis.call('HINCRBY', total, 'sum:released:' .. model, whole(-net)) end
  if spent > 0 then redis.call('HINCRBY', total, 'sum:settled:' .. model, spent_text) end
  if spent < 0 then redis.call('HINCRBY', total, 'sum:refunded:' .. model, whole(-spent)) end
  redis.call('HINCRBY', total, 'events:' .. event, '1')
  local id = redis.call('XADD', ledger, 'MAXLEN', '~', whole(LEDGER_MAX_ENTRIES), '*',
    'event', event, 'ref', ref, 'task', task, 'model', model, 'reserved', reserved_text,
    'spent', spent_text)
  if SUSPECT_EVENTS[event] then
    -- Indexed apart, under the same id, so a reconciliation finds every suspect since its
    -- baseline however long the ledger has grown. Its name is the ledger's and ":suspects"
    -- (KeySpace.suspects): the same hash tag, so the same slot as the ledger it indexes.
    redis.call('XADD', ledger .. ':suspects', 'MAXLEN', '~', SUSPECTS_MAX_ENTRIES, id,
      'event', event, 'ref', ref, 'task', task, 'model', model, 'reserved', reserved_text,
      'spent', spent_text)
  end
end
