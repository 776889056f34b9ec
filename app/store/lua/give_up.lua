-- Stop waiting for a task Rivya never ended (or no longer knows): count its held credits as
-- spent (never refunded: it may have run) and free its in-flight slot. If Rivya reports its end
-- after all, observe.lua corrects the charge to final_credits.
-- KEYS[1]    task hash
-- KEYS[2]    reservations hash
-- KEYS[3..6] spend hashes of the task's day, week, month and total
-- KEYS[7]    the team's settle queue
-- ARGV[1]    task id
-- Returns    the credits counted as spent (-1: the task had ended, or was given up, already)
redis.call('ZREM', KEYS[7], ARGV[1])
local status = redis.call('HGET', KEYS[1], 'status')
if not status or status == 'succeeded' or status == 'failed'
    or redis.call('HEXISTS', KEYS[1], 'given_up') == 1 then
  return -1
end
local entry = redis.call('HGET', KEYS[2], ARGV[1])
local held = entry and tonumber(string.match(entry, '^(%d+)')) or 0
redis.call('HDEL', KEYS[2], ARGV[1])
for i = 3, 6 do
  redis.call('HINCRBY', KEYS[i], 'reserved', -held)
  redis.call('HINCRBY', KEYS[i], 'spent', held)
  redis.call('HINCRBY', KEYS[i], 'tasks_abandoned', 1)
end
redis.call('HSET', KEYS[1], 'given_up', held)
return held
