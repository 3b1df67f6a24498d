-- Library (included with `--! include lib_outbox`): outbox(key, stream, maxlen, minid,
-- channel, fields) records, in the same atomic step as the ledger change it belongs to, an
-- entry still to be appended to ``stream`` (another hash slot in a cluster): an entry of the
-- outbox stream ``key`` with the target and its limits (fields starting with '_') and the
-- entry's own fields. Returns {outbox id, the outbox entry's fields...}; the caller appends it
-- with append_once.lua and deletes it, and an upkeep appends whatever a crash left.
local function outbox(key, stream, maxlen, minid, channel, fields)
  local record = {'_stream', stream, '_maxlen', maxlen, '_minid', minid, '_channel', channel}
  for i = 1, #fields do
    record[#record + 1] = fields[i]
  end
  local id = redis.call('XADD', key, '*', unpack(record))
  local reply = {id}
  for i = 1, #record do
    reply[#reply + 1] = record[i]
  end
  return reply
end
