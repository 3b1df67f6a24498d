-- Take (or renew) a lease; one whose holder's process is gone is taken over (see lib_take).
-- KEYS[1]  lease  the lease's key
-- ARGV[1]  owner  who takes it
-- ARGV[2]  ms     its time to live
-- ARGV[3]  alive  the heartbeat key prefix ('' to wait out every holder)
-- Returns 1 when held afterwards (2: taken from a process that is gone), else 0.
--! include lib_take
return take(KEYS[1], ARGV[1], ARGV[2], ARGV[3])
