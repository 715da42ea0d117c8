-- KEYS: meta hash, history stream
-- ARGV: candidate epoch, ttl s, count, after ('' for the newest), now ms
local epoch = redis.call('HGET', KEYS[1], 'epoch')
if not epoch then
  epoch = ARGV[1]
  redis.call('DEL', KEYS[2])
  redis.call('HSET', KEYS[1], 'epoch', epoch, 'seq', 0, 'born', ARGV[5])
end
redis.call('EXPIRE', KEYS[1], ARGV[2])
redis.call('EXPIRE', KEYS[2], ARGV[2])
local seq = tonumber(redis.call('HGET', KEYS[1], 'seq'))
local entries
if ARGV[4] == '' then
  entries = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', ARGV[3])
else
  entries = redis.call('XRANGE', KEYS[2], (tonumber(ARGV[4]) + 1) .. '-0', '+', 'COUNT', ARGV[3])
end
return {epoch, seq, entries}
