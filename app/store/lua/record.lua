-- Attach a reservation to the task Rivya created: store the task, re-key the reservation by task
-- id (it keeps holding its in-flight slot), adopt Rivya's reserved_credits if they differ, close
-- the pending create and complete the idempotency claim. Recording twice is a no-op.
-- KEYS[1]    task hash
-- KEYS[2]    reservations hash
-- KEYS[3]    the team's task index (sorted set, score = created ms)
-- KEYS[4..7] spend hashes of the reservation's day, week, month and total
-- KEYS[8]    the team's settle queue (sorted set: task id -> next poll, ms)
-- KEYS[9]    the idempotency claim hash (unused without a client_request_id)
-- KEYS[10]   pending creates hash
-- ARGV[1]    reservation id          ARGV[2]  task id
-- ARGV[3]    status                  ARGV[4]  Rivya's task JSON
-- ARGV[5]    Rivya's reserved_credits
-- ARGV[6]    client_request_id ("" if none)   ARGV[7]  key id ("" if none)
-- ARGV[8]    created, ms             ARGV[9]  task retention, seconds
-- ARGV[10]   period stamps "day|week|month"
-- ARGV[11]   first poll, ms
-- Returns    the credits now reserved for the task (-1: it was recorded already)
redis.call('HDEL', KEYS[10], ARGV[1])
if ARGV[6] ~= '' and redis.call('HGET', KEYS[9], 'res') == ARGV[1] then
  redis.call('HSET', KEYS[9], 'state', 'done', 'task', ARGV[2])
end
if redis.call('EXISTS', KEYS[1]) == 1 then return -1 end
local entry = redis.call('HGET', KEYS[2], ARGV[1])
local reserved = entry and tonumber(string.match(entry, '^(%d+)')) or 0
local actual = tonumber(ARGV[5])
local delta = actual - reserved
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('HSET', KEYS[2], ARGV[2], actual .. '|' .. ARGV[10] .. '|' .. ARGV[8])
for i = 4, 7 do
  if delta ~= 0 then redis.call('HINCRBY', KEYS[i], 'reserved', delta) end
  redis.call('HINCRBY', KEYS[i], 'tasks_created', 1)
end
redis.call('HSET', KEYS[1], 'status', ARGV[3], 'upstream', ARGV[4], 'client_request_id', ARGV[6],
  'key_id', ARGV[7], 'created_ms', ARGV[8], 'stamps', ARGV[10], 'reserved', actual)
redis.call('EXPIRE', KEYS[1], ARGV[9])
redis.call('ZADD', KEYS[3], ARGV[8], ARGV[2])
redis.call('ZADD', KEYS[8], ARGV[11], ARGV[2])
return actual
