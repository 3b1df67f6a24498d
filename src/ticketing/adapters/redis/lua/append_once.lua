-- Append an entry to a stream once: the second step of a write that spans two hash slots (the
-- first wrote an outbox entry beside the ledger). A marker in the target's slot, named after
-- the outbox entry, makes a second append of the same entry (a retry, an upkeep that found it
-- left by a crash) do nothing.
-- KEYS[1]  stream    the target stream
-- KEYS[2]  marker    {<stream>}:once:<outbox entry id> (standalone: <stream>:once:<id>)
-- ARGV[1]  keep      seconds the marker is kept
-- ARGV[2]  maxlen    approximate cap of the stream ('' for none)
-- ARGV[3]  minid     entries older than this id go ('' to keep them)
-- ARGV[4]  channel   a pub/sub channel the 'payload' field is published on ('' for none)
-- ARGV[5..] field/value pairs of the entry
-- Returns 1 appended, 0 appended before.
if redis.call('EXISTS', KEYS[2]) == 1 then
  return 0
end
local fields = {}
local payload = false
for i = 5, #ARGV, 2 do
  fields[#fields + 1] = ARGV[i]
  fields[#fields + 1] = ARGV[i + 1]
  if ARGV[i] == 'payload' then payload = ARGV[i + 1] end
end
local id
if ARGV[2] ~= '' then
  id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*', unpack(fields))
else
  id = redis.call('XADD', KEYS[1], '*', unpack(fields))
end
if ARGV[3] ~= '' then
  redis.call('XTRIM', KEYS[1], 'MINID', ARGV[3])
end
if ARGV[4] ~= '' and payload then
  redis.call('PUBLISH', ARGV[4], payload)
end
redis.call('SET', KEYS[2], id, 'EX', ARGV[1])
return 1
