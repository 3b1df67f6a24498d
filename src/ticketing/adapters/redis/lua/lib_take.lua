-- Library (included with `--! include lib_take`): take(key, owner, ms, alive, beat) takes a
-- lease: 1 when held afterwards, 2 when it was taken from a process that is gone, 0 when not,
-- and -1, <holder> when the holder's heartbeat must be looked at but ``beat`` is not its key
-- (the caller calls again with that key declared: a cluster runs a script only on the keys it
-- declares). Taking a lease the owner already holds renews it (a worker extending its own lease
-- must not be told that someone else has it); anyone else only gets it once it is free or
-- expired, or, given ``alive`` (the heartbeat key prefix), once its holder's process is gone:
-- an owner ``<process>/<incarnation>/<token>`` whose heartbeat ``<alive><process>`` (declared
-- as ``beat``) is missing or is another incarnation's (a process restarted under the same
-- name: its value ends with its own incarnation). An owner without a process (an older
-- version's) is waited out. The ticket store's scripts take ticket leases the same way as
-- RedisLeases.
local function take(key, owner, ms, alive, beat)
  local held = redis.call('GET', key)
  if held == owner then
    redis.call('PEXPIRE', key, ms)
    return 1
  end
  if not held then
    redis.call('SET', key, owner, 'PX', ms)
    return 1
  end
  if alive and alive ~= '' then
    local holder, incarnation = string.match(held, '^(.+)/([^/]+)/[^/]+$')
    if holder then
      if alive .. holder ~= beat then
        return -1, holder
      end
      local value = redis.call('GET', beat)
      if not value or string.sub(value, -#incarnation - 1) ~= ' ' .. incarnation then
        redis.call('SET', key, owner, 'PX', ms)
        return 2
      end
    end
  end
  return 0
end
