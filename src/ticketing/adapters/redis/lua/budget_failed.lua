-- The accounts server failed: one more failure in a row, and the next try's deadline.
-- KEYS[1]  backoff  a hash: failures in a row, and the deadline of the next try in ms
-- ARGV[1]  now      ms
-- ARGV[2]  first    the first delay (ms)
-- ARGV[3]  cap      the longest delay (ms)
-- ARGV[4]  jitter   a number in [0, 1)
-- ARGV[5]  keep_ms  how long to keep the key after the deadline
-- Same rule as ports.backoff_delay. Returns the failures in a row.
local failures = redis.call('HINCRBY', KEYS[1], 'failures', 1)
local exponent = math.min(failures - 1, 30)
local delay = math.min(tonumber(ARGV[3]), tonumber(ARGV[2]) * 2 ^ exponent)
delay = math.floor(delay * (0.5 + tonumber(ARGV[4]) / 2))
local retry = tonumber(ARGV[1]) + delay
redis.call('HSET', KEYS[1], 'until', retry)
redis.call('PEXPIRE', KEYS[1], delay + tonumber(ARGV[5]))
return failures
