-- The formats of a stream's keys in Redis, in one place: prepended to append.lua and read.lua
-- (broker/redis.rs), which write and read them.
--
-- A stream's state (`<ns>:s:<stream>`, a string): "<epoch> <seq> <born> <last> <renewed>", the
-- epoch, the last seq numbered, when the epoch started (ms, the numbering node's clock), the
-- newest fan-out entry id numbered ('0-0' for none), and when numbering last renewed the
-- stream's expiries (ms, Redis's clock; 0 for never). Fields are passed and returned as text.
local function state_text(epoch, seq, born, last, renewed)
  return epoch .. ' ' .. seq .. ' ' .. born .. ' ' .. last .. ' ' .. renewed
end
-- The state's fields as text (epoch, seq, born, last, renewed), or nothing when malformed.
local function state_fields(state)
  return string.match(state, '^(%S+) (%d+) (%d+) (%d+%-%d+) (%d+)$')
end
-- A history entry (`<ns>:h:<stream>`, a list): "<the run's last seq> <ms> <call> <events>
-- <last ms>", see append.lua. Fields are passed and returned as text.
local function entry_text(seq, ms, call, events, last_ms)
  return seq .. ' ' .. ms .. ' ' .. call .. ' ' .. events .. ' ' .. last_ms
end
-- The entry's fields as text (seq, ms, call, events, last ms), or nothing when malformed.
local function entry_fields(entry)
  return string.match(entry, '^(%d+) (%d+) (%d+) ([%d,*]+) (%d+)$')
end
