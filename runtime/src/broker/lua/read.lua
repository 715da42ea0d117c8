-- KEYS: the stream (`<ns>:r:<stream>`, a list; its format in stream.lua, prepended to this
--       script)
-- ARGV: candidate epoch, the key's time to live in ms (see append.lua), count, after ('' for
--       the newest), now ms, prefix of the bodies' keys
-- Returns {epoch, seq, entries}: the entries that hold the newest `count` events (or the first
-- `count` after `after`), oldest first, each {'<last seq>-0', {'t', ms, 'b', body, 'b', body …}}
-- with the bodies of its run read from the list of the call that stored them (see append.lua).
-- An entry whose bodies expired is left out.
local top = redis.call('LINDEX', KEYS[1], -1)
local epoch, seq = nil, 0
if top then
  local s, _, _, e = state_fields(top)
  epoch, seq = e, tonumber(s)
end
if not epoch then
  -- No stream (or a malformed entry): a new epoch, nothing numbered yet, never renewed; its
  -- entry holds no event (call '0').
  epoch, seq = ARGV[1], 0
  redis.call('DEL', KEYS[1])
  redis.call('RPUSH', KEYS[1], entry_text('0', '0-0', '0', epoch, ARGV[5], ARGV[5], '0', '*'))
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
local count = tonumber(ARGV[3])
-- The entries from the newest back to the first at or before `bound` (a seq): the newest `count`
-- events' (bound: the newest entry's seq less `count`), or those after `after` (bound: `after`).
-- The history holds the dedup window too, which may be many more entries than a read needs: it
-- is read from its end, 64 entries at a time, until the bound or its start.
local bound = tonumber(ARGV[4])
local chunks = {}
local upto = -1
while true do
  local chunk = redis.call('LRANGE', KEYS[1], upto - 63, upto)
  chunks[#chunks + 1] = chunk
  local oldest = chunk[1] and tonumber((entry_fields(chunk[1])))
  if not bound and chunk[#chunk] then
    bound = (tonumber((entry_fields(chunk[#chunk]))) or 0) - count
  end
  if #chunk < 64 or (oldest and bound and oldest <= bound) then
    break
  end
  upto = upto - 64
end
-- Each entry's fields, oldest first, and how many events it holds once read.
local entries = {}
for c = #chunks, 1, -1 do
  for _, e in ipairs(chunks[c]) do
    local last, _, _, _, _, t, call, which = entry_fields(e)
    if last and call ~= '0' then
      -- The seq's text is kept for the reply: Lua's numbers print in %.14g (1e+14).
      entries[#entries + 1] = {tonumber(last), t, call, which, last}
    end
  end
end
local from, to = 1, #entries
if ARGV[4] == '' then
  -- The newest entries: enough for `count` events (a run may hold more).
  local covered = 0
  from = #entries + 1
  while from > 1 and covered < count do
    from = from - 1
    local previous = 0
    if from > 1 then previous = entries[from - 1][1] end
    covered = covered + entries[from][1] - previous
  end
else
  local after = tonumber(ARGV[4])
  while from <= #entries and entries[from][1] <= after do
    from = from + 1
  end
  local covered = 0
  to = from - 1
  while to < #entries and covered < count do
    to = to + 1
    covered = covered + entries[to][1] - math.max(after, (entries[to - 1] or {after})[1])
  end
end
local calls = {}
local out = {}
for k = from, to do
  local _, t, call, which, last = unpack(entries[k])
  local bodies = calls[call]
  if not bodies then
    bodies = redis.call('LRANGE', ARGV[6] .. call, 0, -1)
    calls[call] = bodies
  end
  local expanded = {'t', t}
  local complete = #bodies > 0
  if which == '*' then
    for _, body in ipairs(bodies) do
      expanded[#expanded + 1] = 'b'
      expanded[#expanded + 1] = body
    end
  else
    for i in string.gmatch(which, '%d+') do
      local body = bodies[tonumber(i)]
      if not body then
        complete = false
        break
      end
      expanded[#expanded + 1] = 'b'
      expanded[#expanded + 1] = body
    end
  end
  if complete then
    out[#out + 1] = {last .. '-0', expanded}
  end
end
return {epoch, seq, out}
