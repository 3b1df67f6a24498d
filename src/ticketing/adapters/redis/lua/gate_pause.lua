-- Pause every Zoho call fleet-wide. A pause only ever grows: a shorter Retry-After does not
-- cut it.
-- KEYS[1]  pause  the shared pause
-- ARGV[1]  ms     how long
-- Returns the pause's ms left afterwards.
local left = redis.call('PTTL', KEYS[1])
if left < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])
  return tonumber(ARGV[1])
end
return left
