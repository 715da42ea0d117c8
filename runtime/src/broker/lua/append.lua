-- KEYS: meta hash, history stream, dedup key
-- ARGV: body, now ms, max events, ttl s, candidate epoch, offline, header, channel, dedup ttl s
if ARGV[6] == '1' and redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if not redis.call('SET', KEYS[3], '1', 'NX', 'EX', ARGV[9]) then return 0 end
local epoch = redis.call('HGET', KEYS[1], 'epoch')
if not epoch then
  epoch = ARGV[5]
  redis.call('DEL', KEYS[2])
  redis.call('HSET', KEYS[1], 'epoch', epoch, 'seq', 0)
end
local seq = redis.call('HINCRBY', KEYS[1], 'seq', 1)
if tonumber(ARGV[3]) > 0 then
  redis.call('XADD', KEYS[2], 'MAXLEN', ARGV[3], seq .. '-0', 'b', ARGV[1], 't', ARGV[2])
  redis.call('EXPIRE', KEYS[2], ARGV[4])
end
redis.call('EXPIRE', KEYS[1], ARGV[4])
redis.call('PUBLISH', ARGV[8], ARGV[7] .. '\n' .. epoch .. '\n' .. seq .. '\n' .. ARGV[1])
return seq
