-- Prepended to every script after _schedule.lua (store/scripts.py). Webhook events: the script that
-- ends a task writes its event to the team's outbox in the same atomic step, one entry per
-- webhook of the team that takes the event and is not stopped, each due now (the outbox's
-- ":due" sorted set), so a task that ended always has its events, whatever dies after. The
-- deliveries (services/deliveries.py) send each at least once. A webhook with more than
-- WEBHOOK_MAX_BACKLOG events waiting is stopped here: its receiver is not taking them.

local function outbox_due(outbox) return outbox .. ':due' end
local function outbox_backlog(outbox) return outbox .. ':backlog' end

local function takes(event_types, event_type)
  for _, wanted in ipairs(event_types or {}) do
    if wanted == event_type then return true end
  end
  return false
end

-- Write `event_type` of `task_id` for each webhook that takes it; returns the time to index the
-- team at (schedule()), or -1. `webhooks`: the team's webhooks hash (its stopped ones are in
-- the hash named with ":disabled").
local function announce(webhooks, outbox, marker, now_ms, event_type, task_id)
  local index_at = -1
  local hooks = redis.call('HGETALL', webhooks)
  if #hooks == 0 then return -1 end
  local disabled = webhooks .. ':disabled'
  for i = 2, #hooks, 2 do
    local hook = cjson.decode(hooks[i])
    if takes(hook.event_types, event_type) and redis.call('HEXISTS', disabled, hook.id) == 0 then
      local waiting = redis.call('HINCRBY', outbox_backlog(outbox), hook.id, 1)
      if waiting > WEBHOOK_MAX_BACKLOG then
        redis.call('HINCRBY', outbox_backlog(outbox), hook.id, -1)
        redis.call('HSET', disabled, hook.id, 'backlog')
      else
        local id = redis.call('XADD', outbox, '*', 'kind', 'webhook', 'webhook', hook.id,
          'type', event_type, 'task', task_id, 'at', now_ms)
        redis.call('ZADD', outbox_due(outbox), now_ms, id)
        local at = schedule(marker, now_ms, now_ms)
        if at >= 0 then index_at = at end
      end
    end
  end
  return index_at
end
