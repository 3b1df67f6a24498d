-- A create attempt begins: state CREATING, attempts + 1 (a finished key stays as it is).
-- KEYS[1]  ledger  the key's ledger hash
-- ARGV[1]  at      when the attempt began
-- Returns the ledger, nil for an unknown key.
--! include lib_ledger
if redis.call('EXISTS', KEYS[1]) == 0 then
  return false
end
local state = redis.call('HGET', KEYS[1], 'state')
if state ~= 'created' and state ~= 'dead' then
  redis.call('HSET', KEYS[1], 'state', 'creating', 'last_attempt_at', ARGV[1])
  redis.call('HDEL', KEYS[1], 'attempt_ended_at')
  redis.call('HINCRBY', KEYS[1], 'attempts', 1)
end
return ledger(KEYS[1])
