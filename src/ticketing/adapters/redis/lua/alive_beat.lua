-- Renew a heartbeat. Only its holder may; one that lapsed (it expired while Redis was out of
-- reach, or Redis lost it) is set again, unless another process holds the name now.
-- KEYS[1]  alive  the name's heartbeat key
-- ARGV[1]  value  this process's heartbeat value
-- ARGV[2]  ms     the heartbeat's time to live
-- Returns 1 renewed, 2 set again after a lapse, 0 held by another process.
local held = redis.call('GET', KEYS[1])
if held == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if held == false then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 2
end
return 0
