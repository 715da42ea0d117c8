-- Numbers a batch of durable events in the streams one node resolved them to: per stream one
-- read of its state, one history entry for all its new events, one publish for the whole call.
--
-- KEYS: per stream, three: meta hash (epoch, seq, born, last), history stream, numbered list
-- ARGV: [1] now ms, [2] max events, [3] ttl s, [4] candidate epoch, [5] channel,
--       [6] dedup window ms, [7] reattach window ms, [8] reattach max events,
--       [9] E, the number of events, then E fan-out entry ids ('<ms>-<n>'), then E bodies,
--       then per stream: offline ('1': name it only if Redis still holds it), its header (the
--       stream as JSON), and its events as 1-based indexes in fan-out order ("1,3,4").
--
-- Duplicates: every node that serves a user resolves the user's stream, and a batch is retried
-- as a whole after a failure. Nodes number in fan-out order, so an event whose fan-out id is past
-- the stream's `last` is new; one at or before it is looked up (from the newest) in the list of
-- fan-out ids the stream numbered in the last dedup window (kept in numbering order, trimmed
-- by the age in their ids).
--
-- A history entry holds a run of events: its id is the run's last seq ('<seq>-0'), its fields
-- 't' (ms) and one 'b' per event body, oldest first.
--
-- Publishes on the channel: "<streams>\n", per stream "<epoch> <first seq> <indexes> <header>\n",
-- then "<E>\n" and per event "<byte length>\n<body>".
local now = tonumber(ARGV[1])
local max_events = tonumber(ARGV[2])
local events = tonumber(ARGV[9])
local ids_at = 10
local bodies_at = 10 + events
local streams_at = 10 + 2 * events
local lines = {}
local clock = redis.call('TIME')
local oldest = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000) - tonumber(ARGV[6])
local function parse(id)
  local ms, n = string.match(id, '^(%d+)-(%d+)$')
  return tonumber(ms), tonumber(n)
end
local function after(ms, n, last_ms, last_n)
  return ms > last_ms or (ms == last_ms and n > last_n)
end
-- Each event's fan-out id, parsed once for every stream.
local id_ms, id_n = {}, {}
for i = 1, events do
  id_ms[i], id_n[i] = parse(ARGV[ids_at + i - 1])
end
for s = 0, #KEYS / 3 - 1 do
  local meta, history, numbered = KEYS[3 * s + 1], KEYS[3 * s + 2], KEYS[3 * s + 3]
  local a = streams_at + 3 * s
  if not (ARGV[a] == '1' and redis.call('EXISTS', meta) == 0) then
    local picked = {}
    for i in string.gmatch(ARGV[a + 2], '%d+') do
      picked[#picked + 1] = tonumber(i)
    end
    local state = redis.call('HMGET', meta, 'epoch', 'seq', 'born', 'last')
    local epoch, seq, born = state[1], tonumber(state[2] or '0'), tonumber(state[3] or '0')
    local last_ms, last_n = parse(state[4] or '0-0')
    if not epoch then
      epoch, seq, born = ARGV[4], 0, now
      redis.call('DEL', history)
      redis.call('HSET', meta, 'epoch', epoch, 'seq', 0, 'born', now)
    end
    local first = seq + 1
    local entry = {'t', ARGV[1]}
    local taken = {}
    local ids = {}
    local new_ms, new_n = last_ms, last_n
    for _, i in ipairs(picked) do
      local id = ARGV[ids_at + i - 1]
      local ms, n = id_ms[i], id_n[i]
      local fresh = after(ms, n, last_ms, last_n)
        or not redis.call('LPOS', numbered, id, 'RANK', -1)
      if fresh then
        seq = seq + 1
        entry[#entry + 1] = 'b'
        entry[#entry + 1] = ARGV[bodies_at + i - 1]
        taken[#taken + 1] = i
        ids[#ids + 1] = id
        if after(ms, n, new_ms, new_n) then
          new_ms, new_n = ms, n
        end
      end
    end
    if #taken > 0 then
      redis.call('HSET', meta, 'seq', seq, 'last', string.format('%d-%d', new_ms, new_n))
      redis.call('RPUSH', numbered, unpack(ids))
      -- Drop the ids older than the window from the head (they are in numbering order), each
      -- time the stream passes a multiple of 32 events.
      while math.floor(seq / 32) > math.floor((first - 1) / 32) do
        local head = redis.call('LRANGE', numbered, 0, 63)
        local old = 0
        for _, id in ipairs(head) do
          if parse(id) >= oldest then break end
          old = old + 1
        end
        if old > 0 then redis.call('LPOP', numbered, old) end
        if old < 64 then break end
      end
      redis.call('PEXPIRE', numbered, ARGV[6])
      local keep = max_events
      if keep > 0 then
        -- A new epoch keeps every event (up to its own bound) while the other nodes reattach,
        -- so that each replays the epoch from its first event as the first node delivered it.
        if now - born < tonumber(ARGV[7]) then
          keep = math.max(keep, tonumber(ARGV[8]))
        end
        redis.call('XADD', history, 'MINID', math.max(0, seq - keep + 1), seq .. '-0',
          unpack(entry))
        redis.call('EXPIRE', history, ARGV[3])
      end
      redis.call('EXPIRE', meta, ARGV[3])
      lines[#lines + 1] = epoch .. ' ' .. first .. ' ' .. table.concat(taken, ',') .. ' '
        .. ARGV[a + 1] .. '\n'
    end
  end
end
if #lines > 0 then
  local message = {#lines .. '\n', table.concat(lines), events .. '\n'}
  for i = 0, events - 1 do
    local body = ARGV[bodies_at + i]
    message[#message + 1] = #body .. '\n'
    message[#message + 1] = body
  end
  redis.call('PUBLISH', ARGV[5], table.concat(message))
end
return #lines
