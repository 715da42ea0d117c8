-- The format of a stream in Redis, in one place: prepended to append.lua and read.lua
-- (broker/redis.rs), which write and read it.
--
-- A stream is one list, `<ns>:r:<stream>`: an entry per run of events numbered together, oldest
-- first, and the last entry carries the stream's state too, so that numbering reads the state
-- and writes it with the run in two commands (LINDEX -1, RPUSH). An entry:
-- "<seq> <last> <renewed> <epoch> <born> <ms> <call> <events>": the run's last seq; the newest
-- fan-out entry id numbered in the stream after the run ('0-0' for none, so it never decreases
-- along the list); when numbering last renewed the stream's expiry (ms, Redis's clock; 0 for
-- never); the stream's epoch; when the epoch started (ms, the numbering node's clock); when the
-- run was numbered (ms, the numbering node's clock); the script call that stored the run's ids
-- and bodies ('0' for the entry of a stream read before anything was numbered in it, which
-- holds no event); and the run's events ('*' for all of the call's, else their 1-based indexes
-- in it). The state comes first: numbering reads only it. Fields are passed and returned as
-- text.
local function entry_text(seq, last, renewed, epoch, born, ms, call, events)
  return seq .. ' ' .. last .. ' ' .. renewed .. ' ' .. epoch .. ' ' .. born .. ' ' .. ms .. ' '
    .. call .. ' ' .. events
end
-- The entry's fields as text (seq, last, renewed, epoch, born, ms, call, events), or nothing
-- when malformed.
local function entry_fields(entry)
  return string.match(entry, '^(%d+) (%d+%-%d+) (%d+) (%S+) (%d+) (%d+) (%d+) ([%d,*]+)$')
end
-- The state an entry carries (seq, last, renewed, epoch, born): its first five fields, or
-- nothing when they are malformed (the rest is not read: numbering needs only these).
local function state_fields(entry)
  return string.match(entry, '^(%d+) (%d+%-%d+) (%d+) (%S+) (%d+) ')
end
