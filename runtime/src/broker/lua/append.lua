-- Numbers a batch of durable events in the streams one node resolved them to. The bodies and
-- the fan-out ids are stored once per call; each stream gets one state read, one state write and
-- one history entry naming its run of events (three commands), and the call publishes one
-- message.
--
-- A stream's state is one string (its format, and the history entries', in stream.lua, which
-- is prepended to this script). One GET and one SET (which renews the key's expiry, or keeps it:
-- KEEPTTL) cost less than a hash's HMGET and HSET.
--
-- KEYS: per stream, two: its state (`<ns>:s:<stream>`, a string, above) and its history
--       (`<ns>:h:<stream>`, a list, below)
-- ARGV: [1] now ms, [2] max events, [3] the keys' time to live in ms (the longer of max age and
--       the dedup window, plus the renewal period), [4] candidate epoch, [5] channel, [6] dedup
--       window ms, [7] reattach window ms, [8] reattach max events, [9] prefix of the calls'
--       keys, [10] E, the number of events, [11] renewal period ms,
--       then E fan-out entry ids ('<ms>-<n>', ascending), then E bodies,
--       then per stream: offline ('1': name it only if Redis still holds it), its header (the
--       stream as JSON), and its events: '' for all E, else 1-based indexes ("1,3,4").
--
-- A call is numbered by INCR of '<prefix>n'. Its fan-out ids go to one string,
-- '<prefix><call>:i' (space-separated, in the events' order), kept for the dedup window and a
-- minute; its bodies, when the history keeps events, to one list, '<prefix><call>', kept for
-- the ttl plus a minute (a history entry whose bodies are gone is not read).
--
-- A history entry holds a run of events: "<the run's last seq> <ms> <call> <events> <last ms>":
-- the numbering node's clock, the call, its events ('*' for all of the call's, else their
-- 1-based indexes in it), and the ms of the stream's `last` after the run (so it never
-- decreases along the list). The history is a list (a Redis Stream preallocates 4 KiB per key),
-- trimmed from its head each time its length reaches a multiple of 16 entries (RPUSH's reply:
-- no command of its own): an entry goes when it holds no event of the newest `keep` and its
-- `last ms` is older than the dedup window. A trim leaves the entries of at most `keep` events
-- and of the window, and at most 16 are pushed before the next one.
--
-- Duplicates: every node that serves a user resolves the user's stream, and a batch is retried
-- as a whole after a failure. Nodes number in fan-out order, so an event whose fan-out id is past
-- the stream's `last` is new; one at or before it, within the dedup window, is looked up in the
-- history, from its newest entry: each entry's call names its ids (read once per call), its
-- events which of them the stream took. The look-up stops at the first entry whose `last ms` is
-- older than the window (it and the entries before it hold no id that recent). So the history,
-- kept for the window, is also the record of what the stream numbered: one entry per stream and
-- call, where a list of the ids per stream cost one more command and a copy of the ids. For an
-- event older than the window (its node was away) the history cannot tell: it is not numbered,
-- and the stream is returned as unsure, for the node to tell its connections to resync.
--
-- Expiries: a stream's keys are given the ttl when its state's `renewed` (Redis's clock, ms) is a
-- renewal period old or more, and `renewed` is set then; a history this call creates gets its
-- expiry at once. Whoever else sets the expiry of the state or the history (the read script, a
-- node's keep-alive) sets the same ttl, so after every numbering each key lives at least the
-- longer of max age and the dedup window more; numbering alone keeps it at most a renewal period
-- beyond that.
--
-- Returns the 0-based indexes of the unsure streams.
--
-- Publishes on the channel: "<streams>\n", per stream "<epoch> <first seq> <events> <header>\n"
-- (events '*' for all), then "<E>\n" and per event "<byte length>\n<body>".
local now = tonumber(ARGV[1])
local max_events = tonumber(ARGV[2])
local events = tonumber(ARGV[10])
local period = tonumber(ARGV[11])
local ids_at = 12
local bodies_at = ids_at + events
local streams_at = bodies_at + events
local unsure = {}
local call = nil
local stored = false
local lines = {}
local clock = redis.call('TIME')
local at = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local oldest = at - tonumber(ARGV[6])
-- A call's fan-out ids are looked up for the dedup window after it, and a minute more.
local ids_ttl = tonumber(ARGV[6]) + 60000
local reattach_ms, reattach_events = tonumber(ARGV[7]), tonumber(ARGV[8])
-- The numbers read from the streams' states, and the numbers written as text, memoized for the
-- call: a broadcast's streams share most of them, and Lua's own conversions (strtod, and
-- tostring's float format) were a fifth of the script's instructions per stream.
local numbers, texts, ids = {}, {}, {}
-- `tonumber`, memoized for the call.
local function number(text)
  local n = numbers[text]
  if not n then
    n = tonumber(text)
    numbers[text] = n
  end
  return n
end
-- A number as its integer's text, memoized for the call (`tostring` prints %.14g: 1e+14).
local function text(n)
  local t = texts[n]
  if not t then
    t = string.format('%d', n)
    texts[n] = t
  end
  return t
end
local function parse(id)
  local ms, n = string.match(id, '^(%d+)-(%d+)$')
  return tonumber(ms), tonumber(n)
end
-- `parse`, memoized for the call (the streams' `last`: a broadcast's streams share it).
local function parse_last(id)
  local parsed = ids[id]
  if not parsed then
    parsed = {parse(id)}
    ids[id] = parsed
  end
  return parsed[1], parsed[2]
end
local function after(ms, n, last_ms, last_n)
  return ms > last_ms or (ms == last_ms and n > last_n)
end
-- The fan-out ids of call `c` (its events' order), from the key the call wrote them to
-- (`<prefix><call>:i`, above), memoized.
local calls_ids = {}
local function ids_of(c)
  local list = calls_ids[c]
  if not list then
    list = {}
    local text = redis.call('GET', ARGV[9] .. c .. ':i')
    if text then
      for id in string.gmatch(text, '%S+') do
        list[#list + 1] = id
      end
    end
    calls_ids[c] = list
  end
  return list
end
-- Which of `count` ids (the set `wanted`, each at `since` ms or later) the stream's history `key`
-- names: its entries are read from the newest, 16 at a time, until all are found, an entry whose
-- `last` is older than `since` (the entries before it hold older ids only), or the list ends.
local function numbered_of(key, wanted, count, since)
  local found = {}
  local to = -1
  while count > 0 do
    local chunk = redis.call('LRANGE', key, to - 15, to)
    for k = #chunk, 1, -1 do
      local _, _, c, which, last_ms = entry_fields(chunk[k])
      if c then
        if tonumber(last_ms) < since then
          return found
        end
        local ids = ids_of(c)
        local function check(id)
          if id and wanted[id] and not found[id] then
            found[id] = true
            count = count - 1
          end
        end
        if which == '*' then
          for _, id in ipairs(ids) do
            check(id)
          end
        else
          for i in string.gmatch(which, '%d+') do
            check(ids[tonumber(i)])
          end
        end
        if count == 0 then
          break
        end
      end
    end
    if #chunk < 16 then break end
    to = to - 16
  end
  return found
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
for s = 0, #KEYS / 2 - 1 do
  local meta, history = KEYS[2 * s + 1], KEYS[2 * s + 2]
  local a = streams_at + 3 * s
  local state = redis.call('GET', meta)
  if state or ARGV[a] ~= '1' then
    local list = ARGV[a + 2]
    local picked = every
    if list ~= '' then
      picked = {}
      for i in string.gmatch(list, '%d+') do
        picked[#picked + 1] = tonumber(i)
      end
    end
    -- The state's fields as text: one match, then each number through a memo (a broadcast's
    -- streams share their seq, last and renewed); `born` is converted only when needed.
    local epoch, seq, born, last, renewed
    if state then
      epoch, seq, born, last, renewed = state_fields(state)
    end
    local last_ms, last_n
    if epoch then
      last_ms, last_n = parse_last(last)
    end
    if not last_ms then
      epoch, seq, born, last, renewed = ARGV[4], '0', ARGV[1], '0-0', '0'
      last_ms, last_n = 0, 0
      redis.call('DEL', history)
    end
    seq, renewed = number(seq), number(renewed)
    -- Whether this call renews the stream's expiries (also when Redis's clock went back).
    local renew = at - renewed >= period or at < renewed
    local first = seq + 1
    local newest = picked[#picked]
    local taken
    if after(id_ms[picked[1]], id_n[picked[1]], last_ms, last_n) then
      -- The common case: all are past the last one numbered (the ids ascend).
      taken = picked
    else
      -- The events at or before `last`, within the window: looked up all at once.
      local wanted, count = {}, 0
      for _, i in ipairs(picked) do
        if not after(id_ms[i], id_n[i], last_ms, last_n) and id_ms[i] >= oldest + 1000 then
          wanted[ARGV[ids_at + i - 1]] = true
          count = count + 1
        end
      end
      local found = {}
      if count > 0 then
        found = numbered_of(history, wanted, count, oldest + 1000)
      end
      taken = {}
      for _, i in ipairs(picked) do
        local id = ARGV[ids_at + i - 1]
        if after(id_ms[i], id_n[i], last_ms, last_n) then
          taken[#taken + 1] = i
        elseif id_ms[i] < oldest + 1000 then
          -- Older than the window (with a second's margin): the list no longer tells, and
          -- the event is left out.
          if unsure[#unsure] ~= s then
            unsure[#unsure + 1] = s
          end
        elseif not found[id] then
          taken[#taken + 1] = i
        end
      end
      if not after(id_ms[newest], id_n[newest], last_ms, last_n) then
        newest = nil
      end
    end
    seq = seq + #taken
    if #taken > 0 then
      if not call then
        call = text(redis.call('INCR', ARGV[9] .. 'n'))
        redis.call('SET', ARGV[9] .. call .. ':i',
          table.concat(ARGV, ' ', ids_at, ids_at + events - 1), 'PX', ids_ttl)
      end
      if newest then
        last = ARGV[ids_at + newest - 1]
        last_ms = id_ms[newest]
      end
      if renew then
        redis.call('SET', meta, state_text(epoch, text(seq), born, last, text(at)), 'PX', ARGV[3])
      else
        redis.call('SET', meta, state_text(epoch, text(seq), born, last, text(renewed)), 'KEEPTTL')
      end
      local which = list
      if taken ~= picked then
        which = table.concat(taken, ',')
      end
      if which == '' then
        which = '*'
      end
      local keep = max_events
      if keep > 0 then
        stored = true
        -- A new epoch keeps every event (up to its own bound) while the other nodes reattach,
        -- so that each replays the epoch from its first event as the first node delivered it.
        if now - number(born) < reattach_ms then
          keep = math.max(keep, reattach_events)
        end
      end
      local entries = redis.call('RPUSH', history,
        entry_text(text(seq), ARGV[1], call, which, text(last_ms)))
      local threshold = seq - keep + 1
      if threshold > 1 and entries % 16 == 0 then
        while true do
          local head = redis.call('LRANGE', history, 0, 15)
          local old = 0
          for _, e in ipairs(head) do
            local entry_seq, _, _, _, last_of = entry_fields(e)
            if not entry_seq or tonumber(entry_seq) >= threshold or tonumber(last_of) >= oldest then
              break
            end
            old = old + 1
          end
          if old > 0 then redis.call('LPOP', history, old) end
          if old < 16 then break end
        end
      end
      if renew or entries == 1 then
        redis.call('PEXPIRE', history, ARGV[3])
      end
      local n = #lines
      lines[n + 1], lines[n + 2], lines[n + 3], lines[n + 4] = epoch, ' ', text(first), ' '
      lines[n + 5], lines[n + 6], lines[n + 7], lines[n + 8] = which, ' ', ARGV[a + 1], '\n'
    end
  end
end
if not call then
  return unsure
end
if stored then
  local key = ARGV[9] .. call
  redis.call('RPUSH', key, unpack(ARGV, bodies_at, bodies_at + events - 1))
  redis.call('PEXPIRE', key, tonumber(ARGV[3]) + 60000)
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
