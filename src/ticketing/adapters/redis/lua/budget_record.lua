-- A token was issued: counted, and the accounts server is evidently back.
-- KEYS[1]  log      sorted set of counted refreshes (score: ms)
-- KEYS[2]  backoff  the back-off hash (deleted)
-- ARGV[1]  now      ms
-- ARGV[2]  window   ms
-- ARGV[3]  member   a unique member
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('DEL', KEYS[2])
return 1
