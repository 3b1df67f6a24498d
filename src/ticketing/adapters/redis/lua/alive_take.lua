-- Take a process name over from the heartbeat seen: a previous incarnation of this process
-- (same host, same pid namespace, its pid gone) whose heartbeat has not expired yet.
-- KEYS[1]  alive   the name's heartbeat key
-- ARGV[1]  seen    the heartbeat value that was read (the dead holder's)
-- ARGV[2]  value   this process's heartbeat value
-- ARGV[3]  ms      the heartbeat's time to live
-- Returns 1 taken, 0 when the heartbeat changed meanwhile (someone else holds the name).
local held = redis.call('GET', KEYS[1])
if held == false or held == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return 1
end
return 0
