-- Read the pause and the other processes waiting, without taking anything.
-- KEYS[1]  pause    the shared pause
-- KEYS[2]  waiters  sorted set of processes waiting, scored by expiry (ms)
-- ARGV[1]  process  this process's id
-- Returns {pause ms left, other processes waiting}.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local others = redis.call('ZCOUNT', KEYS[2], now, '+inf')
local mine = redis.call('ZSCORE', KEYS[2], ARGV[1])
if mine and tonumber(mine) >= now then
  others = others - 1
end
return {redis.call('PTTL', KEYS[1]), others}
