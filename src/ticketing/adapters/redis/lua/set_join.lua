-- Record where a follow-up goes (THREAD_WINDOW), before anything is sent for it.
-- KEYS[1]  ledger  the key's ledger hash
-- ARGV     field/value pairs ('' deletes the field)
-- Returns 1 when recorded, 0 when the key is unknown or finished (nothing changes).
local state = redis.call('HGET', KEYS[1], 'state')
if state ~= 'accepted' and state ~= 'creating' then
  return 0
end
for i = 1, #ARGV, 2 do
  if ARGV[i + 1] == '' then
    redis.call('HDEL', KEYS[1], ARGV[i])
  else
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
  end
end
return 1
