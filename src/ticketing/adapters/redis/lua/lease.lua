-- Take (or renew) a ticket's lease and read its ledger, in one step.
-- KEYS[1]  lease     the key's lease
-- KEYS[2]  ledger    the key's ledger hash
-- ARGV[1]  owner     the lease owner
-- ARGV[2]  ms        the lease's time to live
-- Returns {held, ledger} (ledger empty when the key is unknown).
--! include lib_ledger
--! include lib_take
return {take(KEYS[1], ARGV[1], ARGV[2]), ledger(KEYS[2])}
