-- An attempt failed and may be retried: back to ACCEPTED with the reason.
-- KEYS[1]  ledger  the key's ledger hash
-- ARGV[1]  reason  why it failed
-- Returns 1 when the key was ACCEPTED or CREATING, else 0.
local state = redis.call('HGET', KEYS[1], 'state')
if state == 'accepted' or state == 'creating' then
  redis.call('HSET', KEYS[1], 'state', 'accepted', 'reason', ARGV[1])
  return 1
end
return 0
