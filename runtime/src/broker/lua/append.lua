-- KEYS: meta hash, history stream, dedup key
-- ARGV: body, now ms, max events, ttl s, candidate epoch, offline, header, channel, dedup ttl s,
--       reattach window ms, reattach max events
if ARGV[6] == '1' and redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if not redis.call('SET', KEYS[3], '1', 'NX', 'EX', ARGV[9]) then return 0 end
local epoch = redis.call('HGET', KEYS[1], 'epoch')
if not epoch then
  epoch = ARGV[5]
  redis.call('DEL', KEYS[2])
  redis.call('HSET', KEYS[1], 'epoch', epoch, 'seq', 0, 'born', ARGV[2])
end
local seq = redis.call('HINCRBY', KEYS[1], 'seq', 1)
local keep = tonumber(ARGV[3])
if keep > 0 then
  -- A new epoch keeps every event (up to its own bound) while the other nodes reattach, so
  -- that each replays the epoch from its first event as the first node delivered it.
  local born = tonumber(redis.call('HGET', KEYS[1], 'born') or '0')
  if tonumber(ARGV[2]) - born < tonumber(ARGV[10]) then
    keep = math.max(keep, tonumber(ARGV[11]))
  end
  redis.call('XADD', KEYS[2], 'MAXLEN', keep, seq .. '-0', 'b', ARGV[1], 't', ARGV[2])
  redis.call('EXPIRE', KEYS[2], ARGV[4])
end
redis.call('EXPIRE', KEYS[1], ARGV[4])
redis.call('PUBLISH', ARGV[8], ARGV[7] .. '\n' .. epoch .. '\n' .. seq .. '\n' .. ARGV[1])
return seq
