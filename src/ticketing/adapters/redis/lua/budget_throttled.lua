-- Zoho refused a refresh as too many: it counts, and a pause only moves later.
-- KEYS[1]  log       sorted set of counted refreshes (score: ms)
-- KEYS[2]  pause     Zoho's pause, a deadline in ms
-- ARGV[1]  now       ms
-- ARGV[2]  window    ms
-- ARGV[3]  member    a unique member
-- ARGV[4]  until     the pause's end (ms)
-- ARGV[5]  keep_ms   how long to keep the pause key
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
local current = tonumber(redis.call('GET', KEYS[2]) or '0')
if tonumber(ARGV[4]) > current then
  redis.call('SET', KEYS[2], ARGV[4], 'PX', ARGV[5])
end
return 1
