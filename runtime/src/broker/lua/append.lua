-- Numbers a batch of durable events in the streams one node resolved them to. The bodies and
-- the fan-out ids are stored once per call; each stream gets two commands, its last entry read
-- (which carries its state) and one entry pushed (its run of events and its new state), and
-- the call publishes one message.
--
-- KEYS: the streams (`<ns>:r:<stream>`, lists; their format in stream.lua, prepended to this
--       script): first those the node serves, then those it names offline (each numbered only
--       if Redis still holds it).
-- ARGV: [1] now ms, [2] max events, [3] the keys' time to live in ms (the longer of max age and
--       the dedup window, plus the renewal period), [4] candidate epoch, [5] channel, [6] dedup
--       window ms, [7] reattach window ms, [8] reattach max events, [9] prefix of the calls'
--       keys, [10] E, the number of events, [11] renewal period ms, [12] how many of the KEYS
--       the node serves, [13] P, how many streams take only some of the events,
--       then E fan-out entry ids ('<ms>-<n>', ascending), then E bodies, then P pairs: a
--       stream's 1-based index in KEYS and its events' 1-based indexes ("1,3,4"). Every other
--       stream takes all E.
--
-- A call is numbered by INCR of '<prefix>n'. Its fan-out ids go to one string,
-- '<prefix><call>:i' (space-separated, in the events' order), kept for the dedup window and a
-- minute; its bodies, when the history keeps events, to one list, '<prefix><call>', kept for
-- the ttl plus a minute (an entry whose bodies are gone is not read).
--
-- The history: an entry names a run by its call and its events. The list is trimmed from its
-- head each time its length reaches a multiple of 16 entries (RPUSH's reply: no command of its
-- own): an entry goes when it holds no event of the newest `keep` and its `last` is older than
-- the dedup window, and the last entry never goes. A trim leaves the entries of at most `keep`
-- events and of the window, and at most 16 are pushed before the next one.
--
-- Duplicates: every node that serves a user resolves the user's stream, and a batch is retried
-- as a whole after a failure. Nodes number in fan-out order, so an event whose fan-out id is past
-- the stream's `last` is new; one at or before it, within the dedup window, is looked up in the
-- history, from its newest entry: each entry's call names its ids (read once per call), its
-- events which of them the stream took. The look-up stops at the first entry whose `last` is
-- older than the window (it and the entries before it hold no id that recent). So the history,
-- kept for the window, is also the record of what the stream numbered. For an event older than
-- the window (its node was away) the history cannot tell: it is not numbered, and the stream is
-- returned as unsure, for the node to tell its connections to resync.
--
-- Expiry: a stream's key is given the ttl when its `renewed` (Redis's clock, ms) is a renewal
-- period old or more, and `renewed` is set then; a key this call creates gets its expiry at
-- once. Whoever else sets the key's expiry (the read script, a node's keep-alive) sets the same
-- ttl, so after every numbering the key lives at least the longer of max age and the dedup
-- window more; numbering alone keeps it at most a renewal period beyond that.
--
-- Returns the 0-based indexes (in KEYS) of the unsure streams.
--
-- Publishes on the channel: "<streams>\n", per stream "<epoch> <first seq> <events> <key's
-- byte length> <key>\n" (events '*' for all), then "<E>\n" and per event "<byte length>\n<body>".
local now = tonumber(ARGV[1])
local now_text = ARGV[1]
local max_events = tonumber(ARGV[2])
local events = tonumber(ARGV[10])
local period = tonumber(ARGV[11])
local served = tonumber(ARGV[12])
local ids_at = 14
local bodies_at = ids_at + events
local lists_at = bodies_at + events
local unsure = {}
local call = nil
local stored = false
-- The message's lines, one per stream numbered (one string each: fewer table writes).
local lines, line_count = {}, 0
local clock = redis.call('TIME')
local at = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local oldest = at - tonumber(ARGV[6])
-- A call's fan-out ids are looked up for the dedup window after it, and a minute more.
local ids_ttl = tonumber(ARGV[6]) + 60000
local reattach_ms, reattach_events = tonumber(ARGV[7]), tonumber(ARGV[8])
-- The numbers read from the streams' entries, the numbers written as text, and the fan-out ids
-- parsed, memoized for the call: a broadcast's streams share most of them, and Lua's own
-- conversions (strtod, and tostring's float format) were a fifth of the script's instructions
-- per stream. The loop over the streams below looks them up inline: a Lua function call costs
-- more than the look-up.
local numbers, texts, ids = {}, {}, {}
-- `tonumber`, memoized.
local function number(text)
  local n = numbers[text]
  if not n then
    n = tonumber(text)
    numbers[text] = n
  end
  return n
end
-- A number as its integer's text, memoized (`tostring` prints %.14g: 1e+14).
local function text(n)
  local t = texts[n]
  if not t then
    t = string.format('%d', n)
    texts[n] = t
  end
  return t
end
-- A fan-out id ('<ms>-<n>') as {ms, n}, memoized.
local function parse(id)
  local parsed = ids[id]
  if not parsed then
    local ms, n = string.match(id, '^(%d+)-(%d+)$')
    parsed = {tonumber(ms), tonumber(n)}
    ids[id] = parsed
  end
  return parsed
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
-- Which of `count` ids (the set `wanted`, each at `since` ms or later) the stream `key` names:
-- its entries are read from the newest, 16 at a time, until all are found, an entry whose
-- `last` is older than `since` (the entries before it hold older ids only), or the list ends.
local function numbered_of(key, wanted, count, since)
  local found = {}
  local to = -1
  while count > 0 do
    local chunk = redis.call('LRANGE', key, to - 15, to)
    for k = #chunk, 1, -1 do
      local _, last, _, _, _, _, c, which = entry_fields(chunk[k])
      if c then
        if parse(last)[1] < since then
          return found
        end
        local ids = {}
        if c ~= '0' then
          ids = ids_of(c)
        end
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
  local parsed = parse(ARGV[ids_at + i - 1])
  id_ms[i], id_n[i] = parsed[1], parsed[2]
end
local every = {}
for i = 1, events do
  every[i] = i
end
-- The streams that take only some of the events: their lists, by index in KEYS.
local lists = {}
for p = lists_at, #ARGV - 1, 2 do
  lists[tonumber(ARGV[p])] = ARGV[p + 1]
end
-- Of `picked` (the events of stream `s`, at index `key`), those it has not numbered yet, when
-- the first is at or before the stream's `last` (`last_ms`, `last_n`); and whether the newest of
-- them is past `last`.
local function not_numbered(s, key, picked, last_ms, last_n)
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
    found = numbered_of(key, wanted, count, oldest + 1000)
  end
  local taken = {}
  for _, i in ipairs(picked) do
    local id = ARGV[ids_at + i - 1]
    if after(id_ms[i], id_n[i], last_ms, last_n) then
      taken[#taken + 1] = i
    elseif id_ms[i] < oldest + 1000 then
      -- Older than the window (with a second's margin): the list no longer tells, and the
      -- event is left out.
      if unsure[#unsure] ~= s - 1 then
        unsure[#unsure + 1] = s - 1
      end
    elseif not found[id] then
      taken[#taken + 1] = i
    end
  end
  local newest = picked[#picked]
  return taken, after(id_ms[newest], id_n[newest], last_ms, last_n)
end
local none = {0, 0}
for s = 1, #KEYS do
  local key = KEYS[s]
  local top = redis.call('LINDEX', key, -1)
  if top or s <= served then
    -- The state: one match, then each number through a memo (a broadcast's streams share
    -- their seq, last and renewed); `born` is converted only when needed.
    local seq, last, renewed, epoch, born
    if top then
      seq, last, renewed, epoch, born = state_fields(top)
    end
    local parsed
    if epoch then
      parsed = ids[last] or parse(last)
    else
      -- No stream (or a malformed entry): a new epoch, nothing numbered yet, never renewed.
      if top then
        redis.call('DEL', key)
      end
      seq, last, renewed, epoch, born = '0', '0-0', '0', ARGV[4], now_text
      parsed = none
    end
    local last_ms, last_n = parsed[1], parsed[2]
    local first = numbers[seq] or number(seq)
    local renewed_at = numbers[renewed] or number(renewed)
    -- Whether this call renews the stream's expiry (also when Redis's clock went back).
    local renew = at - renewed_at >= period or at < renewed_at
    local list = lists[s]
    local picked, newest = every, events
    if list then
      picked = {}
      for i in string.gmatch(list, '%d+') do
        picked[#picked + 1] = tonumber(i)
      end
      newest = picked[#picked]
    end
    local taken, past = picked, true
    local i = picked[1]
    if id_ms[i] < last_ms or (id_ms[i] == last_ms and id_n[i] <= last_n) then
      -- Not the common case (all past the last one numbered: the ids ascend).
      taken, past = not_numbered(s, key, picked, last_ms, last_n)
    end
    local count = #taken
    if count > 0 then
      if not call then
        call = text(redis.call('INCR', ARGV[9] .. 'n'))
        redis.call('SET', ARGV[9] .. call .. ':i',
          table.concat(ARGV, ' ', ids_at, ids_at + events - 1), 'PX', ids_ttl)
      end
      if past then
        last = ARGV[ids_at + newest - 1]
      end
      if renew then
        renewed = texts[at] or text(at)
      end
      local which = '*'
      if taken ~= picked then
        which = table.concat(taken, ',')
      elseif list then
        which = list
      end
      local keep = max_events
      if keep > 0 then
        stored = true
        -- A new epoch keeps every event (up to its own bound) while the other nodes reattach,
        -- so that each replays the epoch from its first event as the first node delivered it.
        if now - (numbers[born] or number(born)) < reattach_ms then
          keep = math.max(keep, reattach_events)
        end
      end
      local seq_now = first + count
      first = first + 1
      local entries = redis.call('RPUSH', key,
        entry_text(texts[seq_now] or text(seq_now), last, renewed, epoch, born, now_text, call,
          which))
      local threshold = seq_now - keep + 1
      if threshold > 1 and entries % 16 == 0 then
        -- Entries that may go: all but the last.
        local left = entries - 1
        while left > 0 do
          local head = redis.call('LRANGE', key, 0, math.min(left, 16) - 1)
          local old = 0
          for _, e in ipairs(head) do
            local entry_seq, last_of = entry_fields(e)
            if not entry_seq or tonumber(entry_seq) >= threshold or parse(last_of)[1] >= oldest then
              break
            end
            old = old + 1
          end
          if old > 0 then redis.call('LPOP', key, old) end
          left = left - old
          if old < 16 then break end
        end
      end
      if renew or entries == 1 then
        redis.call('PEXPIRE', key, ARGV[3])
      end
      local length = #key
      line_count = line_count + 1
      lines[line_count] = epoch .. ' ' .. (texts[first] or text(first)) .. ' ' .. which .. ' '
        .. (texts[length] or text(length)) .. ' ' .. key .. '\n'
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
local message = {text(line_count), '\n', table.concat(lines), text(events), '\n'}
for i = 0, events - 1 do
  local body = ARGV[bodies_at + i]
  message[#message + 1] = text(#body)
  message[#message + 1] = '\n'
  message[#message + 1] = body
end
redis.call('PUBLISH', ARGV[5], table.concat(message))
return unsure
