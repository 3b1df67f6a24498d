-- Put one dead letter back where it came from.
-- KEYS[1]  dead     the dead-letter stream
-- KEYS[2]  target   the pending stream ('pending' mode) or the origin stream ('stream' mode)
-- KEYS[3]  ledger   the key's ledger hash (any key when there is no idempotency key)
-- ARGV[1]  entry    the dead letter's id
-- ARGV[2]  mode     'pending' or 'stream'
-- ARGV[3]  key      the idempotency key ('' when unknown)
-- ARGV[4]  payload  the payload to queue again
-- ARGV[5..] identity field/value pairs for a ledger that expired meanwhile
-- A key that lives again (accepted anew or created since) is not re-queued, which would
-- duplicate it: its dead letter is only dropped, and not counted. Returns 1 replayed, else 0.
if #redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[1]) == 0 then
  return 0
end
if ARGV[2] == 'stream' then
  redis.call('XADD', KEYS[2], '*', 'payload', ARGV[4])
else
  local state = false
  if ARGV[3] ~= '' then
    state = redis.call('HGET', KEYS[3], 'state')
  end
  if state and state ~= 'dead' then
    redis.call('XDEL', KEYS[1], ARGV[1])
    return 0
  end
  local id = redis.call('XADD', KEYS[2], '*', 'key', ARGV[3], 'payload', ARGV[4])
  if ARGV[3] ~= '' then
    redis.call('HSET', KEYS[3], 'state', 'accepted', 'key', ARGV[3], 'entry_id', id,
      'attempts', 0, 'draft', ARGV[4])
    redis.call('HDEL', KEYS[3], 'reason', 'last_attempt_at', 'attempt_ended_at')
    for i = 5, #ARGV, 2 do
      if ARGV[i + 1] ~= '' then
        redis.call('HSETNX', KEYS[3], ARGV[i], ARGV[i + 1])
      end
    end
    redis.call('PERSIST', KEYS[3])
  end
end
redis.call('XDEL', KEYS[1], ARGV[1])
return 1
