-- Numbers a batch of durable events in the streams one node resolved them to. The bodies are
-- stored once per call; each stream gets one state read, one history entry naming its run of
-- events, and the call publishes one message.
--
-- KEYS: per stream, three: meta hash (epoch, seq, born, last), history list, numbered list
-- ARGV: [1] now ms, [2] max events, [3] ttl s, [4] candidate epoch, [5] channel,
--       [6] dedup window ms, [7] reattach window ms, [8] reattach max events,
--       [9] prefix of the bodies' keys, [10] E, the number of events,
--       then E fan-out entry ids ('<ms>-<n>', ascending), then E bodies,
--       then per stream: offline ('1': name it only if Redis still holds it), its header (the
--       stream as JSON), and its events: '' for all E, else 1-based indexes ("1,3,4").
--
-- The call's bodies go to one list, '<prefix><call>' (the call numbered by INCR of '<prefix>n'),
-- kept for ttl s plus a minute: as long as an entry that names them can be read.
-- A history entry holds a run of events: "<the run's last seq> <ms> <call> <events>", events
-- '*' for all of the call's list, else their 1-based indexes in it. The history is a list (a
-- Redis Stream preallocates 4 KiB per key), trimmed from its head so that at least max events
-- remain, each time the stream passes a multiple of 32 events.
--
-- Duplicates: every node that serves a user resolves the user's stream, and a batch is retried
-- as a whole after a failure. Nodes number in fan-out order, so an event whose fan-out id is past
-- the stream's `last` is new; one at or before it is looked up (from the newest) in the list of
-- fan-out ids the stream numbered in the last dedup window (kept in numbering order, trimmed
-- by the age in their ids). For an event older than the window (its node was away) the list
-- cannot tell: it is not numbered, and the stream is returned as unsure, for the node to tell
-- its connections to resync.
--
-- Returns the 0-based indexes of the unsure streams.
--
-- Publishes on the channel: "<streams>\n", per stream "<epoch> <first seq> <events> <header>\n"
-- (events '*' for all), then "<E>\n" and per event "<byte length>\n<body>".
local now = tonumber(ARGV[1])
local max_events = tonumber(ARGV[2])
local events = tonumber(ARGV[10])
local ids_at = 11
local bodies_at = ids_at + events
local streams_at = bodies_at + events
local unsure = {}
local call = nil
local stored = false
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
local every = {}
for i = 1, events do
  every[i] = i
end
for s = 0, #KEYS / 3 - 1 do
  local meta, history, numbered = KEYS[3 * s + 1], KEYS[3 * s + 2], KEYS[3 * s + 3]
  local a = streams_at + 3 * s
  if not (ARGV[a] == '1' and redis.call('EXISTS', meta) == 0) then
    local list = ARGV[a + 2]
    local picked = every
    if list ~= '' then
      picked = {}
      for i in string.gmatch(list, '%d+') do
        picked[#picked + 1] = tonumber(i)
      end
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
    local newest = picked[#picked]
    local taken
    if after(id_ms[picked[1]], id_n[picked[1]], last_ms, last_n) then
      -- The common case: all are past the last one numbered (the ids ascend).
      taken = picked
      seq = seq + #picked
      if picked == every then
        redis.call('RPUSH', numbered, unpack(ARGV, ids_at, ids_at + events - 1))
      else
        local ids = {}
        for j, i in ipairs(picked) do
          ids[j] = ARGV[ids_at + i - 1]
        end
        redis.call('RPUSH', numbered, unpack(ids))
      end
    else
      taken = {}
      local ids = {}
      for _, i in ipairs(picked) do
        local id = ARGV[ids_at + i - 1]
        if after(id_ms[i], id_n[i], last_ms, last_n) then
          taken[#taken + 1] = i
          ids[#ids + 1] = id
        elseif id_ms[i] < oldest + 1000 then
          -- Older than the window (with a second's margin): the list no longer tells, and
          -- the event is left out.
          if unsure[#unsure] ~= s then
            unsure[#unsure + 1] = s
          end
        elseif not redis.call('LPOS', numbered, id, 'RANK', -1) then
          taken[#taken + 1] = i
          ids[#ids + 1] = id
        end
      end
      seq = seq + #taken
      if #taken > 0 then
        redis.call('RPUSH', numbered, unpack(ids))
        if not after(id_ms[newest], id_n[newest], last_ms, last_n) then
          newest = nil
        end
      end
    end
    if #taken > 0 then
      if not call then
        call = tostring(redis.call('INCR', ARGV[9] .. 'n'))
      end
      if newest then
        redis.call('HSET', meta, 'seq', seq, 'last', ARGV[ids_at + newest - 1])
      else
        redis.call('HSET', meta, 'seq', seq)
      end
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
      local which = list
      if taken ~= picked then
        which = table.concat(taken, ',')
      end
      local keep = max_events
      if keep > 0 then
        -- A new epoch keeps every event (up to its own bound) while the other nodes reattach,
        -- so that each replays the epoch from its first event as the first node delivered it.
        if now - born < tonumber(ARGV[7]) then
          keep = math.max(keep, tonumber(ARGV[8]))
        end
        local star = which
        if star == '' then
          star = '*'
        end
        redis.call('RPUSH', history, tostring(seq) .. ' ' .. ARGV[1] .. ' ' .. call .. ' ' .. star)
        local threshold = seq - keep + 1
        if threshold > 1 and math.floor(seq / 32) > math.floor((first - 1) / 32) then
          while true do
            local head = redis.call('LRANGE', history, 0, 15)
            local old = 0
            for _, e in ipairs(head) do
              if tonumber(string.match(e, '^%d+')) >= threshold then break end
              old = old + 1
            end
            if old > 0 then redis.call('LPOP', history, old) end
            if old < 16 then break end
          end
        end
        stored = true
        redis.call('EXPIRE', history, ARGV[3])
      end
      redis.call('EXPIRE', meta, ARGV[3])
      if which == '' then
        which = '*'
      end
      lines[#lines + 1] = epoch
      lines[#lines + 1] = ' '
      lines[#lines + 1] = tostring(first)
      lines[#lines + 1] = ' '
      lines[#lines + 1] = which
      lines[#lines + 1] = ' '
      lines[#lines + 1] = ARGV[a + 1]
      lines[#lines + 1] = '\n'
    end
  end
end
if not call then
  return unsure
end
if stored then
  local key = ARGV[9] .. call
  redis.call('RPUSH', key, unpack(ARGV, bodies_at, bodies_at + events - 1))
  redis.call('EXPIRE', key, tonumber(ARGV[3]) + 60)
end
local message = {tostring(#lines / 8), '\n', table.concat(lines), tostring(events), '\n'}
for i = 0, events - 1 do
  local body = ARGV[bodies_at + i]
  message[#message + 1] = tostring(#body)
  message[#message + 1] = '\n'
  message[#message + 1] = body
end
redis.call('PUBLISH', ARGV[5], table.concat(message))
return unsure
