-- Complete a ticket: ledger CREATED (or APPENDED, for a follow-up; KEYS[5] then names its
-- comment), its queue entry gone, the created event appended to the
-- created stream and published at once when that stream is declared (KEYS[8]: one server,
-- where every key is at hand), else put in the outbox (a cluster, where the created stream is
-- in another slot: the caller appends and publishes it with append_once.lua).
-- KEYS[1]  ledger     the key's ledger hash
-- KEYS[2]  pending    the pending stream
-- KEYS[3]  outbox     the outbox stream
-- KEYS[4]  lease      the key's lease
-- KEYS[5]  owner_key  holds the key the helpdesk ticket was recorded for
-- KEYS[6]  jobs       the attachment jobs stream: a job is queued when the draft has files
-- KEYS[7]  request    the request-id index entry (KEYS[1] when the request id is unknown):
--                     kept as long as the ledger from here, if it names this key or nothing
-- KEYS[8]  created    the created-event stream (optional, see above)
-- ARGV[1]  group      the pending stream's consumer group
-- ARGV[2]  event      the encoded created event
-- ARGV[3]  maxlen     approximate cap of the created stream
-- ARGV[4]  retention  seconds a finished key is remembered
-- ARGV[5]  channel    the created-event pub/sub channel
-- ARGV[6]  n          how many field/value pairs follow to set
-- ARGV[7]  owner      the lease owner ('' for none)
-- ARGV[8]  key        the idempotency key
-- ARGV[9]  oldest     the oldest created-event id kept
-- ARGV[10] created    the created-event stream
-- ARGV[11..] n field/value pairs to set ('' deletes), then pairs to set only where absent
-- A ticket recorded for another key is refused (that key is returned, nothing changes);
-- otherwise the owner's lease is given back. Events older than the retention go (exactly:
-- each call drops only what aged since). Returns 1 (appended) or the outbox entry (see
-- lib_outbox) when done, 0 when already created, or the other key.
--! include lib_outbox
local taken = redis.call('GET', KEYS[5])
if taken and taken ~= ARGV[8] then
  return taken
end
if ARGV[7] ~= '' and redis.call('GET', KEYS[4]) == ARGV[7] then
  redis.call('DEL', KEYS[4])
end
local state = redis.call('HGET', KEYS[1], 'state')
if state == 'created' or state == 'appended' then
  return 0
end
local i = 11
for _ = 1, tonumber(ARGV[6]) do
  if ARGV[i + 1] == '' then
    redis.call('HDEL', KEYS[1], ARGV[i])
  else
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
  end
  i = i + 2
end
while i < #ARGV do
  if ARGV[i + 1] ~= '' then
    redis.call('HSETNX', KEYS[1], ARGV[i], ARGV[i + 1])
  end
  i = i + 2
end
-- The draft goes (its description is the biggest field); who asked stays, for the two-way
-- sync's events about this ticket (TicketLedger.customer).
local draft = redis.call('HGET', KEYS[1], 'draft')
if draft then
  local ok, decoded = pcall(cjson.decode, draft)
  if ok and type(decoded) == 'table' and type(decoded['customer']) == 'table' then
    redis.call('HSET', KEYS[1], 'customer', cjson.encode(decoded['customer']))
  end
  -- Its files go on the ticket after: one job, queued in this same step.
  if ok and type(decoded) == 'table' and type(decoded['attachments']) == 'table'
      and #decoded['attachments'] > 0 then
    local joined = '0'
    if redis.call('HGET', KEYS[1], 'state') == 'appended' then
      joined = '1'
    end
    redis.call('XADD', KEYS[6], '*', 'key', ARGV[8],
      'ticket_id', redis.call('HGET', KEYS[1], 'ticket_id'), 'joined', joined,
      'attachments', cjson.encode(decoded['attachments']))
  end
end
redis.call('HDEL', KEYS[1], 'draft', 'reason', 'reason_at')
redis.call('EXPIRE', KEYS[1], ARGV[4])
redis.call('SET', KEYS[5], ARGV[8], 'EX', ARGV[4])
if KEYS[7] ~= KEYS[1] then
  local indexed = redis.call('GET', KEYS[7])
  if not indexed or indexed == ARGV[8] then
    redis.call('SET', KEYS[7], ARGV[8], 'EX', ARGV[4])
  end
end
local entry = redis.call('HGET', KEYS[1], 'entry_id')
if entry then
  redis.call('XACK', KEYS[2], ARGV[1], entry)
  redis.call('XDEL', KEYS[2], entry)
end
if KEYS[8] then
  redis.call('XADD', KEYS[8], 'MAXLEN', '~', ARGV[3], '*', 'payload', ARGV[2])
  redis.call('XTRIM', KEYS[8], 'MINID', ARGV[9])
  redis.call('PUBLISH', ARGV[5], ARGV[2])
  return 1
end
return outbox(KEYS[3], ARGV[10], ARGV[3], ARGV[9], ARGV[5], {'payload', ARGV[2]})
