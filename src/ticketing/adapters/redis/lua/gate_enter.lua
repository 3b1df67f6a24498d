-- Take a Zoho call slot, fleet-wide.
-- KEYS[1]  slots       sorted set of slot holders scored by their expiry (ms)
-- KEYS[2]  pause       the shared pause (a key with a TTL)
-- KEYS[3]  waiters     sorted set of processes waiting, scored by expiry (ms)
-- KEYS[4..] beats      heartbeat keys of the slot holders this process knows of (a cluster
--                      runs a script only on the keys it declares)
-- ARGV[1]  process     this process's id
-- ARGV[2]  slot        the slot's holder name (<process>:<n>)
-- ARGV[3]  capacity    slots fleet-wide (ZOHO_MAX_CONCURRENCY)
-- ARGV[4]  holder_ms   how long a slot stays taken if its holder dies
-- ARGV[5]  waiter_ms   how long this process counts as waiting
-- ARGV[6]  alive       the heartbeat key prefix ('' : slots of a dead holder only expire)
-- Returns {granted, pause ms left, other processes waiting, holders...}: the holders named
-- last are processes whose heartbeat had to be looked at but was not declared (the caller
-- asks again with their keys). Time is Redis's own, so the
-- clocks of the fleet's hosts do not matter. A slot whose holder died expires with its score,
-- or, given ARGV[6], is freed as soon as its holder's heartbeat is gone.
-- While other processes wait for a slot, a process that holds its fair share already
-- (capacity / processes wanting slots) is refused, so a busy process cannot starve the rest.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
local others = redis.call('ZCARD', KEYS[3])
if redis.call('ZSCORE', KEYS[3], ARGV[1]) then
  others = others - 1
end
local pause = redis.call('PTTL', KEYS[2])
if pause > 0 then
  return {0, pause, others}
end
local capacity = tonumber(ARGV[3])
local unknown = {}
local holders = redis.call('ZRANGE', KEYS[1], 0, -1)
if ARGV[6] and ARGV[6] ~= '' and #holders >= capacity then
  -- Every slot taken: free those of processes that are gone (a holder <name>/<incarnation>
  -- whose heartbeat is missing or another incarnation's) instead of waiting for them to expire.
  local declared = {}
  for i = 4, #KEYS do
    declared[KEYS[i]] = true
  end
  local freed = false
  for _, holder in ipairs(holders) do
    local name, incarnation = string.match(holder, '^(.+)/([^/:]+):%d+$')
    if name and not declared[ARGV[6] .. name] then
      unknown[#unknown + 1] = name
    elseif name then
      local beat = redis.call('GET', ARGV[6] .. name)
      if not beat or string.sub(beat, -#incarnation - 1) ~= ' ' .. incarnation then
        redis.call('ZREM', KEYS[1], holder)
        freed = true
      end
    end
  end
  if freed then
    holders = redis.call('ZRANGE', KEYS[1], 0, -1)
  end
end
local share = capacity
if others > 0 then
  share = math.ceil(capacity / (others + 1))
end
local mine = 0
local prefix = ARGV[1] .. ':'
for _, holder in ipairs(holders) do
  if string.sub(holder, 1, #prefix) == prefix then
    mine = mine + 1
  end
end
if #holders < capacity and mine < share then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[4]), ARGV[2])
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
  redis.call('ZREM', KEYS[3], ARGV[1])
  return {1, 0, others}
end
redis.call('ZADD', KEYS[3], now + tonumber(ARGV[5]), ARGV[1])
redis.call('PEXPIRE', KEYS[3], ARGV[5])
local reply = {0, 0, others}
for _, name in ipairs(unknown) do
  reply[#reply + 1] = name
end
return reply
