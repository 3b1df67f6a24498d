-- May a refresh token be used now?
-- KEYS[1]  log      sorted set of counted refreshes (score: ms)
-- KEYS[2]  pause    Zoho's pause, a deadline in ms
-- KEYS[3]  backoff  a hash: failures in a row, and the deadline of the next try in ms
-- ARGV[1]  now      ms
-- ARGV[2]  window   ms
-- ARGV[3]  limit    refreshes per window
-- Returns {granted, used, until, reason, failures}; reason 1 Zoho's pause, 2 the count,
-- 3 the back-off.
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local used = redis.call('ZCARD', KEYS[1])
local failures = tonumber(redis.call('HGET', KEYS[3], 'failures') or '0')
local paused = tonumber(redis.call('GET', KEYS[2]) or '0')
if paused > now then
  return {0, used, paused, 1, failures}
end
if used >= limit then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return {0, used, tonumber(oldest[2]) + window, 2, failures}
end
local retry = tonumber(redis.call('HGET', KEYS[3], 'until') or '0')
if retry > now then
  return {0, used, retry, 3, failures}
end
return {1, used, 0, 0, failures}
