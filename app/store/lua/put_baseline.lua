-- Store the reconciliation baseline (a global key, in a slot of its own on Redis Cluster).
-- KEYS[1]  the baseline (a JSON string)
-- ARGV[1]  the baseline, JSON
-- ARGV[2]  "nx": only if there is none (racing replicas restoring it); "if": only if the one
--          stored was set at ARGV[3] (racing replicas replacing it: one does); "": always
-- ARGV[3]  "if": the set_at_ms of the baseline expected there
-- Returns  1 when stored, 0 when not (one was there already; another was there)
if ARGV[2] == 'nx' then
  if redis.call('SET', KEYS[1], ARGV[1], 'NX') then return 1 end
  return 0
end
if ARGV[2] == 'if' then
  local current = redis.call('GET', KEYS[1])
  if not current then return 0 end
  if string.format('%.0f', cjson.decode(current).set_at_ms) ~= ARGV[3] then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1])
return 1
