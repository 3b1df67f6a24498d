-- Put one dead letter back on the pending queue, once: the letter is deleted from the dead
-- letters afterwards (another hash slot in a cluster), and the marker, named after the letter,
-- makes a second try (a retry after a crash in between, a concurrent replay) do nothing.
-- KEYS[1]  pending  the pending stream
-- KEYS[2]  ledger   the key's ledger hash (any key of the same slot when there is none)
-- KEYS[3]  marker   <replayed prefix><dead letter id>
-- KEYS[4]  request  the request-id index entry (KEYS[2] when unknown): names the key again
-- ARGV[1]  keep     seconds the marker is kept
-- ARGV[2]  key      the idempotency key ('' when unknown)
-- ARGV[3]  payload  the payload to queue again
-- ARGV[4..] identity field/value pairs for a ledger that expired meanwhile
-- A key that lives again (accepted anew or created since) is not re-queued, which would
-- duplicate it: its dead letter is only dropped, and not counted. Returns 1 replayed, else 0.
if redis.call('EXISTS', KEYS[3]) == 1 then
  return 0
end
local state = false
if ARGV[2] ~= '' then
  state = redis.call('HGET', KEYS[2], 'state')
end
if state and state ~= 'dead' then
  return 0
end
local id = redis.call('XADD', KEYS[1], '*', 'key', ARGV[2], 'payload', ARGV[3])
if ARGV[2] ~= '' then
  redis.call('HSET', KEYS[2], 'state', 'accepted', 'key', ARGV[2], 'entry_id', id,
    'attempts', 0, 'draft', ARGV[3])
  redis.call('HDEL', KEYS[2], 'reason', 'reason_at', 'last_attempt_at', 'attempt_ended_at')
  for i = 4, #ARGV, 2 do
    if ARGV[i + 1] ~= '' then
      redis.call('HSETNX', KEYS[2], ARGV[i], ARGV[i + 1])
    end
  end
  redis.call('PERSIST', KEYS[2])
  if KEYS[4] ~= KEYS[2] then
    redis.call('SET', KEYS[4], ARGV[2], 'EX', ARGV[1])
  end
end
redis.call('SET', KEYS[3], id, 'EX', ARGV[1])
return 1
