-- Prepended to every script after _events.lua (store/scripts.py). Budget alerts are an outbox:
-- the script that moves the money writes the event to the team's outbox (a stream) in the same
-- atomic step, due now (_events.lua's ":due" set), and any replica delivers it, at least once,
-- with the same id on every attempt (services/deliveries.py, services/alerts.py). Each is written once per budget and period: its mark is a field of the
-- period's spend hash, so a new period or a new budget is a new line to cross.

local PERIOD_OF = {day = 'day', week = 'week', month = 'month', total = 'total'}
local PERIOD_INDEX = {day = 1, week = 2, month = 3, total = 4}

-- Write an event unless its mark is set; returns the time to index the team at (schedule()),
-- or -1. `fields`: a flat list of field, value for the stream entry.
local function alert_once(period_hash, mark, outbox, marker, now_ms, fields)
  if redis.call('HSETNX', period_hash, 'alerted:' .. mark, now_ms) == 0 then return -1 end
  local id = redis.call('XADD', outbox, '*', unpack(fields))
  redis.call('ZADD', outbox_due(outbox), now_ms, id)  -- due now (_events.lua)
  return schedule(marker, now_ms, now_ms)
end

-- The team's budget as it stands in Redis: budget (nil: none), its period, and the period's id
-- among `stamps` ("day|week|month").
local function budget_of(team_hash, stamps)
  local policy = redis.call('HMGET', team_hash, 'budget_credits', 'budget_period')
  local period = PERIOD_OF[policy[2]] or 'month'
  local ids = {}
  for part in string.gmatch(stamps .. '|total', '([^|]+)') do ids[#ids + 1] = part end
  return tonumber(policy[1]), period, ids[PERIOD_INDEX[period]] or period
end

-- Report each threshold (percent, "80,100") that the money Rivya has really taken for the team
-- in its budget's period (spent, and the holds of tasks Rivya made: attach()) reaches, once.
-- Called where that money moves (a task attached to its reservation, a create charged as spent):
-- a create admitted and then undone, or refused by Rivya, crosses nothing, not even while another
-- create records. `spend`: the four period hashes. Returns the index time or -1.
local function budget_crossings(team_hash, spend, stamps, outbox, marker, thresholds, now_ms)
  if thresholds == '' then return -1 end
  local budget, period, period_id = budget_of(team_hash, stamps)
  if not budget then return -1 end
  local hash = spend[PERIOD_INDEX[period]]
  local held = redis.call('HMGET', hash, 'spent', 'attached')
  local used = (tonumber(held[1]) or 0) + (tonumber(held[2]) or 0)
  local index_at = -1
  for threshold in string.gmatch(thresholds, '%d+') do
    if used * 100 >= budget * tonumber(threshold) then
      local at = alert_once(hash, budget .. ':' .. threshold, outbox, marker, now_ms,
        {'kind', 'threshold', 'threshold', threshold, 'budget', budget, 'used', used,
         'period', period, 'period_id', period_id})
      if at >= 0 then index_at = at end
    end
  end
  return index_at
end
