-- Accept a ticket: queue a new idempotency key once, or answer with the known key's ledger.
-- KEYS[1]  ledger    the key's ledger hash
-- KEYS[2]  pending   the pending stream
-- KEYS[3]  lease     the key's lease
-- KEYS[4]  request   the request-id index: <request prefix><request id> -> the key
-- ARGV[1]  key       the idempotency key
-- ARGV[2]  payload   the encoded draft
-- ARGV[3]  owner     lease owner to take the lease for ('' for none)
-- ARGV[4]  lease_ms  the lease's time to live
-- ARGV[5]  keep      seconds the request-id index is kept (the ledger's retention)
-- ARGV[6..] fields    ledger field/value pairs
-- Returns {0, 0, ledger} for a known key, {1, leased} for a new one.
--! include lib_ledger
if redis.call('EXISTS', KEYS[1]) == 1 then
  return {0, 0, ledger(KEYS[1])}
end
local id = redis.call('XADD', KEYS[2], '*', 'key', ARGV[1], 'payload', ARGV[2])
redis.call('HSET', KEYS[1], 'entry_id', id, unpack(ARGV, 6))
redis.call('SET', KEYS[4], ARGV[1], 'EX', ARGV[5])
local leased = 0
if ARGV[3] ~= '' and redis.call('SET', KEYS[3], ARGV[3], 'NX', 'PX', ARGV[4]) then
  leased = 1
end
return {1, leased}
