-- Give a lease back. Only the holder may: a lease that expired and was taken by another
-- stays theirs.
-- KEYS[1]  lease  the lease's key
-- ARGV[1]  owner  who gives it back
-- Returns 1 when it was deleted, else 0.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
