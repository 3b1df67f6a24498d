-- Library (included with `--! include lib_take`): take(key, owner, ms) takes a lease, 1 when
-- held afterwards. Taking a lease the owner already holds renews it (a worker extending its
-- own lease must not be told that someone else has it); anyone else only gets it once it is
-- free or expired. The ticket store's scripts take ticket leases the same way as RedisLeases.
local function take(key, owner, ms)
  if redis.call('GET', key) == owner then
    redis.call('PEXPIRE', key, ms)
    return 1
  end
  if redis.call('SET', key, owner, 'NX', 'PX', ms) then
    return 1
  end
  return 0
end
