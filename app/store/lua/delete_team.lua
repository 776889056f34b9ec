-- Delete a team: its policy hash, its active keys and its webhooks go together, so no key of it
-- passes admission, and no task of it that ends is sent anywhere, once this is answered. Only the generation the caller read is deleted: a team
-- created under the same id since that read is another team, and stays.
-- KEYS[1]  team hash (gw:{team:<id>}:team)
-- KEYS[2]  the team's active keys, of the generation read (gw:{team:<id>}:<generation>:…)
-- KEYS[3]  that generation's webhooks
-- ARGV[1]  that generation ("" for a team from before generations)
-- Returns  1 when the team was deleted, 0 when there was none, -1 when the id is another
--          generation's now (left alone)
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if (redis.call('HGET', KEYS[1], 'generation') or '') ~= ARGV[1] then return -1 end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
return 1
