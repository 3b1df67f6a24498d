-- A create ended without an answer: note when (the look-up's grace runs from then).
-- KEYS[1]  ledger  the key's ledger hash
-- ARGV[1]  at      when the attempt ended
-- Returns 1 when the key was CREATING, else 0.
if redis.call('HGET', KEYS[1], 'state') == 'creating' then
  redis.call('HSET', KEYS[1], 'attempt_ended_at', ARGV[1])
  return 1
end
return 0
