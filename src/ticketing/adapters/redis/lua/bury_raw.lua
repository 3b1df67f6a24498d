-- A dead letter for a raw message, unless the same message is in the dead letters already.
-- KEYS[1]  dead       the dead-letter stream
-- KEYS[2]  digest     <dead>:raw:<digest>, the message's letter id
-- KEYS[3]  old_index  <dead>:raw, the hash that held every digest before (removed)
-- ARGV[1]  reason     why it was buried
-- ARGV[2]  payload    the message (cut to the limit)
-- ARGV[3]  failed_at  when
-- ARGV[4]  origin     the stream a replay puts it back on
-- ARGV[5]  retention  seconds the digest is remembered
-- ARGV[6]  maxlen     approximate cap of the dead-letter stream
-- The consumer that buried it may have died before acknowledging it, and a pub/sub copy
-- reaches every instance. The digest key names the message's letter and expires with the
-- retention; a letter replayed (deleted) or trimmed away since no longer counts.
-- Returns 1 buried, 0 already there.
redis.call('UNLINK', KEYS[3])
local known = redis.call('GET', KEYS[2])
if known and #redis.call('XRANGE', KEYS[1], known, known) > 0 then
  return 0
end
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[6], '*', 'key', '', 'reason', ARGV[1],
  'payload', ARGV[2], 'failed_at', ARGV[3], 'origin', ARGV[4])
redis.call('SET', KEYS[2], id, 'EX', ARGV[5])
return 1
