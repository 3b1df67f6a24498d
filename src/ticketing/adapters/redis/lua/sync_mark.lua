-- Move a ticket's status mark (the status last published for it, and how many status events
-- it has had) from one sequence number to the next, unless another process moved it first.
-- KEYS[1]  mark      hash {status, seq}
-- ARGV[1]  expected  the sequence number read before ('0' when there was no mark)
-- ARGV[2]  status    the new status
-- ARGV[3]  seq       the new sequence number
-- ARGV[4]  keep      seconds the mark is kept
-- Returns 1 moved, 0 moved by someone else.
local seq = tonumber(redis.call('HGET', KEYS[1], 'seq') or '0')
if seq ~= tonumber(ARGV[1]) then
  return 0
end
redis.call('HSET', KEYS[1], 'status', ARGV[2], 'seq', ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[4])
return 1
