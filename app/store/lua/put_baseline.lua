-- Store the reconciliation baseline (a global key, in a slot of its own on Redis Cluster).
-- KEYS[1]  the baseline (a JSON string)
-- ARGV[1]  the baseline, JSON
-- ARGV[2]  "nx": only if there is none (racing replicas restoring it), "": always
-- Returns  1 when stored, 0 when one was there already ("nx")
if ARGV[2] == 'nx' then
  if redis.call('SET', KEYS[1], ARGV[1], 'NX') then return 1 end
  return 0
end
redis.call('SET', KEYS[1], ARGV[1])
return 1
