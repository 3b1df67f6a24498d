-- Library (included with `--! include lib_take`): take(key, owner, ms[, alive]) takes a lease,
-- 1 when held afterwards, 2 when it was taken from a process that is gone. Taking a lease the
-- owner already holds renews it (a worker extending its own lease must not be told that
-- someone else has it); anyone else only gets it once it is free or expired, or, given
-- ``alive`` (the heartbeat key prefix), once its holder's process is gone: an owner
-- ``<process>/<incarnation>/<token>`` whose heartbeat ``<alive><process>`` is missing or is
-- another incarnation's (a process restarted under the same name: its value ends with its
-- own incarnation). An owner without a process (an older version's) is waited out. The
-- ticket store's scripts take ticket leases the same way as RedisLeases.
local function take(key, owner, ms, alive)
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
    local beat = holder and redis.call('GET', alive .. holder)
    if holder and (not beat or string.sub(beat, -#incarnation - 1) ~= ' ' .. incarnation) then
      redis.call('SET', key, owner, 'PX', ms)
      return 2
    end
  end
  return 0
end
