-- An attempt failed and may be retried: back to ACCEPTED with the reason.
-- KEYS[1]  ledger  the key's ledger hash
-- ARGV[1]  reason  why it failed
-- ARGV[2]  at      when (kept as reason_at: the last error's time)
-- Returns 1 when the key was ACCEPTED or CREATING, else 0.
local state = redis.call('HGET', KEYS[1], 'state')
if state == 'accepted' or state == 'creating' then
  redis.call('HSET', KEYS[1], 'state', 'accepted', 'reason', ARGV[1], 'reason_at', ARGV[2])
  return 1
end
return 0
