-- Create or update a team's policy hash, atomically refusing the wrong case.
-- KEYS[1]  team hash (gw:{team:<id>}:team)
-- ARGV[1]  "create" (fails if the team exists) or "update" (fails if it does not)
-- ARGV[2…] field, value, field, value, … to set
-- Returns  1 when written, 0 when refused
local exists = redis.call('EXISTS', KEYS[1]) == 1
if (ARGV[1] == 'create' and exists) or (ARGV[1] == 'update' and not exists) then
  return 0
end
local fields = {}
for i = 2, #ARGV do fields[#fields + 1] = ARGV[i] end
if #fields > 0 then redis.call('HSET', KEYS[1], unpack(fields)) end
return 1
