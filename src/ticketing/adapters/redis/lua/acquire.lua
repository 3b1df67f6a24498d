-- Take (or renew) a lease.
-- KEYS[1]  lease  the lease's key
-- ARGV[1]  owner  who takes it
-- ARGV[2]  ms     its time to live
-- Returns 1 when held afterwards, else 0.
--! include lib_take
return take(KEYS[1], ARGV[1], ARGV[2])
