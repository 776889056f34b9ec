-- Prepended to every script after _money.lua (store/scripts.py). The settlers read only the index
-- of due teams (store/schedule.py), so a script that gives a team work due at `due_ms` (a task to
-- poll, a lost create to look at, an event to deliver) must see the team indexed by then. The
-- team's marker (KeySpace.scheduled) says when it is indexed, as far as its own slot knows: a
-- script returns `due_ms` when the team is not indexed that early (its caller then writes the
-- index: one more round trip, only for a team waking up or needing an earlier look), else -1.
-- The settler that works a team sets the marker to the team's next due time, or deletes it.
-- A marker already SCHEDULE_GRACE_MS past is not trusted: had the team been indexed, a settler
-- would have claimed it and rewritten the marker by then (an index write lost with a process
-- that died right after its script: the team's next work indexes it again).
local SCHEDULE_MARKER_TTL_MS = '86400000'
local SCHEDULE_GRACE_MS = 5000
local function schedule(marker, due_ms, now_ms)
  local at = tonumber(redis.call('GET', marker) or '')
  if at and at <= due_ms and at + SCHEDULE_GRACE_MS >= now_ms then return -1 end
  redis.call('SET', marker, whole(due_ms), 'PX', SCHEDULE_MARKER_TTL_MS)
  return due_ms
end
