-- Take (or renew) a ticket's lease and read its ledger, in one step. A lease whose holder's
-- process is gone (no heartbeat) is taken over; if that holder was creating the ticket, its
-- attempt ended now at the latest (a process that is gone sends nothing more), so the
-- look-up's grace runs from now.
-- KEYS[1]  lease     the key's lease
-- KEYS[2]  ledger    the key's ledger hash
-- KEYS[3]  beat      the holder's heartbeat key, when known (else any key of the same slot)
-- ARGV[1]  owner     the lease owner
-- ARGV[2]  ms        the lease's time to live
-- ARGV[3]  alive     the heartbeat key prefix ('' to wait out every holder)
-- ARGV[4]  now       when the lease is taken (the attempt end of a dead holder's create)
-- Returns {held, ledger, holder} (ledger empty when the key is unknown); held -1 names the
-- holding process whose heartbeat key must be declared as KEYS[3] (see lib_take).
--! include lib_ledger
--! include lib_take
local held, holder = take(KEYS[1], ARGV[1], ARGV[2], ARGV[3], KEYS[3])
if held == 2 and redis.call('HGET', KEYS[2], 'state') == 'creating'
    and redis.call('HEXISTS', KEYS[2], 'attempt_ended_at') == 0 then
  redis.call('HSET', KEYS[2], 'attempt_ended_at', ARGV[4])
end
return {held, ledger(KEYS[2]), holder or ''}
