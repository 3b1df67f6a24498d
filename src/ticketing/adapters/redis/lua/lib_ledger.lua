-- Library (included with `--! include lib_ledger`): ledger(key), a ledger hash as a flat
-- field/value list without its draft. The draft is the biggest field and nobody who reads a
-- record needs it back (reading it is the job of RedisTicketStore.draft).
local function ledger(key)
  local all = redis.call('HGETALL', key)
  local out = {}
  for i = 1, #all, 2 do
    if all[i] ~= 'draft' then
      out[#out + 1] = all[i]
      out[#out + 1] = all[i + 1]
    end
  end
  return out
end
