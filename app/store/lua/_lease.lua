-- Prepended to every script after _alerts.lua (store/scripts.py): the lease on a pending create,
-- defined once. A create whose outcome is unknown (its answer lost, its gateway dead) is resent
-- with its upstream key by one party at a time, the lease holder: its own request, a client's
-- retry (admit.lua) or a resolver (lease_create.lua). Its pending entry (JSON) carries
-- created_ms, lease_until_ms and lease_owner.

-- Give `owner` the lease on `create` for `lease_ms` from now.
local function lease_to(create, owner, lease_ms, now_ms)
  create.lease_until_ms = now_ms + lease_ms
  create.lease_owner = owner
end

-- Take the lease on `create` (decoded from the pending creates hash `pending` under `id`) for
-- `lease_ms` unless someone holds it, or it is too old to resend safely (older than
-- `oldest_ms`: Rivya's idempotency window less a lease). Returns "taken" and the create's new
-- JSON (written), "held" and the ms until its lease ends, or "too_late" (nothing written).
local function take_lease(pending, id, create, owner, lease_ms, oldest_ms, now_ms)
  if create.lease_until_ms > now_ms then return 'held', create.lease_until_ms - now_ms end
  if now_ms - create.created_ms > oldest_ms then return 'too_late' end
  lease_to(create, owner, lease_ms, now_ms)
  local encoded = cjson.encode(create)
  redis.call('HSET', pending, id, encoded)
  return 'taken', encoded
end
