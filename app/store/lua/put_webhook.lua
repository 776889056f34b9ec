-- Add a team's webhook, within the team's limit, or replace one that exists as it was read
-- (never bringing back one deleted meanwhile, never undoing a change made since: a rotation
-- and an edit at once must not lose the rotation's secret).
-- KEYS[1]  the team's webhooks (id -> JSON)
-- ARGV[1]  the webhook's id     ARGV[2]  its JSON     ARGV[3]  the team's webhooks at most
-- ARGV[4]  1: replace an existing one; 0: add a new one
-- ARGV[5]  the replaced one's updated_ms as read (replace)
-- Returns  1 written, 0 no such webhook (replace), -1 the team has its most (add), 2 changed
--          since it was read (replace: read it again)
local exists = redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1
if ARGV[4] == '1' then
  if not exists then return 0 end
  local stored = cjson.decode(redis.call('HGET', KEYS[1], ARGV[1]))
  if string.format('%.0f', stored.updated_ms) ~= ARGV[5] then return 2 end
elseif not exists and redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[3]) then
  return -1
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
