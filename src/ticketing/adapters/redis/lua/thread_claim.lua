-- Claim a customer's (or a conversation's) thread for an idempotency key (THREAD_WINDOW).
-- KEYS     the thread names' keys (a customer's phone and email; or a conversation)
-- ARGV[1]  key        the idempotency key claiming them
-- ARGV[2]  ttl        milliseconds the claim lasts
-- ARGV[3]  replacing  a holder found dead, gone or closed ('' for none): taken over
-- Returns the key that holds the thread: another one's (nothing changes), or ARGV[1] once
-- every name is set to it.
for i = 1, #KEYS do
  local holder = redis.call('GET', KEYS[i])
  if holder and holder ~= ARGV[1] and holder ~= ARGV[3] then
    return holder
  end
end
for i = 1, #KEYS do
  redis.call('SET', KEYS[i], ARGV[1], 'PX', ARGV[2])
end
return ARGV[1]
