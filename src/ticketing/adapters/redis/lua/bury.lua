-- Bury a ticket: the ledger DEAD (when that is right), the queue entry gone, its dead letter
-- in the outbox (the caller appends it to the dead letters with append_once.lua).
-- KEYS[1]  ledger     the key's ledger hash
-- KEYS[2]  pending    the pending stream
-- KEYS[3]  outbox     the outbox stream
-- KEYS[4]  request    the request-id index entry (KEYS[1] when unknown): expires with the
--                     ledger when it names this key
-- ARGV[1]  group      the pending stream's consumer group
-- ARGV[2]  key        the idempotency key ('' when unknown)
-- ARGV[3]  reason     why it was buried
-- ARGV[4]  failed_at  when
-- ARGV[5]  retention  seconds a finished key is remembered
-- ARGV[6]  entry      the queue entry ('entry' mode)
-- ARGV[7]  payload    the entry's payload ('entry' mode)
-- ARGV[8]  mode       'key' or 'entry'
-- ARGV[9]  maxlen     approximate cap of the dead-letter stream
-- ARGV[10] dead       the dead-letter stream
-- Mode 'key' buries the ledger's own entry and draft (-1: unknown key, 0: the key is already
-- finished). Mode 'entry' buries one queue entry with the payload given and marks the ledger
-- dead only if that entry is the ledger's own and the key is not finished. Returns the outbox
-- entry (see lib_outbox) when buried.
--! include lib_outbox
local exists = redis.call('EXISTS', KEYS[1]) == 1
local state = false
local own = false
if exists then
  state = redis.call('HGET', KEYS[1], 'state')
  own = redis.call('HGET', KEYS[1], 'entry_id')
end
local finished = state == 'created' or state == 'dead'
local entry = ARGV[6]
local payload = ARGV[7]
if ARGV[8] == 'key' then
  if not exists then
    return -1
  end
  if finished then
    return 0
  end
  entry = own or ''
  payload = redis.call('HGET', KEYS[1], 'draft') or ''
  if payload == '' and entry ~= '' then
    local found = redis.call('XRANGE', KEYS[2], entry, entry)
    if #found > 0 then
      local f = found[1][2]
      for j = 1, #f, 2 do
        if f[j] == 'payload' then payload = f[j + 1] end
      end
    end
  end
end
if exists and not finished and (ARGV[8] == 'key' or own == entry) then
  redis.call('HSET', KEYS[1], 'state', 'dead', 'reason', ARGV[3], 'reason_at', ARGV[4])
  redis.call('HDEL', KEYS[1], 'draft')
  redis.call('EXPIRE', KEYS[1], ARGV[5])
  if KEYS[4] ~= KEYS[1] and redis.call('GET', KEYS[4]) == ARGV[2] then
    redis.call('EXPIRE', KEYS[4], ARGV[5])
  end
end
if entry ~= '' then
  redis.call('XACK', KEYS[2], ARGV[1], entry)
  redis.call('XDEL', KEYS[2], entry)
end
return outbox(KEYS[3], ARGV[10], ARGV[9], '', '', {'key', ARGV[2], 'reason', ARGV[3],
  'payload', payload, 'failed_at', ARGV[4], 'origin', 'pending'})
