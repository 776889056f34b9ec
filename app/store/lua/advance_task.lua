-- Record Rivya's latest view of a task, but only ever forward in its lifecycle, so a slow
-- reader holding an older answer can never move a task back or overwrite a terminal state.
-- KEYS[1]  task hash (gw:{team:<id>}:task:<task id>)
-- ARGV[1]  the new status (queued | processing | succeeded | failed)
-- ARGV[2]  the new Rivya task JSON
-- Returns  1 when written, 0 when the stored state is terminal or further on, -1 when no task
local rank = {queued = 0, processing = 1, succeeded = 2, failed = 2}
local current = redis.call('HGET', KEYS[1], 'status')
if not current then return -1 end
local old, new = rank[current] or 0, rank[ARGV[1]] or 0
if old >= 2 or new < old then
  return 0
end
redis.call('HSET', KEYS[1], 'status', ARGV[1], 'upstream', ARGV[2])
return 1
