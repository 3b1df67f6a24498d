-- Take (or renew) a lease; one whose holder's process is gone is taken over (see lib_take).
-- KEYS[1]  lease  the lease's key
-- KEYS[2]  beat   the holder's heartbeat key, when known (else any key of the lease's slot)
-- ARGV[1]  owner  who takes it
-- ARGV[2]  ms     its time to live
-- ARGV[3]  alive  the heartbeat key prefix ('' to wait out every holder)
-- Returns 1 when held afterwards (2: taken from a process that is gone), 0 when not, or the
-- holding process's name when its heartbeat key must be declared as KEYS[2].
--! include lib_take
local held, holder = take(KEYS[1], ARGV[1], ARGV[2], ARGV[3], KEYS[2])
if held == -1 then
  return holder
end
return held
