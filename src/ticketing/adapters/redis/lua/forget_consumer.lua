-- Delete a consumer of a group, only if it holds nothing at that moment: DELCONSUMER drops
-- what a consumer holds, and a live one may have just read entries.
-- KEYS[1]  stream    the stream
-- ARGV[1]  group     the consumer group
-- ARGV[2]  consumer  the consumer
-- Returns 1 deleted, 0 kept.
if #redis.call('XPENDING', KEYS[1], ARGV[1], '-', '+', 1, ARGV[2]) > 0 then
  return 0
end
redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2])
return 1
